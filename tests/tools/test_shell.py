"""bash: real processes, timeouts, cancellation, output bounds and process-tree cleanup (in the
default sandbox; tests/sandbox covers each backend)."""

from __future__ import annotations

import asyncio
import os
import re
import time
import tracemalloc
from dataclasses import replace
from pathlib import Path

import pytest
from procs import alive, marked

from cowork.tools import get_tool
from cowork.tools.base import ToolContext, ToolError, ToolResult
from cowork.tools.shell import KEEP_BYTES, _Output


async def bash(ctx: ToolContext, command: str, **kwargs) -> ToolResult:
    tool = get_tool("bash")
    return await tool.run(tool.Args.model_validate({"command": command, **kwargs}), ctx)


def wait_gone(marker: str, within: float = 1.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not marked(marker):
            return True
        time.sleep(0.02)
    return not marked(marker)


async def read_pid(path: Path, within: float = 5.0) -> int:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        text = path.read_text().strip() if path.exists() else ""
        if text.endswith(";"):
            return int(text[:-1])
        await asyncio.sleep(0.02)
    raise AssertionError(f"{path} was never written")


async def test_exit_code_output_and_summary(ctx: ToolContext) -> None:
    res = await bash(ctx, "echo out; echo err >&2; exit 3")
    assert not res.is_error  # a non-zero exit is for the model to read, not a failure
    assert res.output == "exit code: 3\nout\nerr\n"
    assert res.metadata["exit_code"] == 3 and res.metadata["sandbox"] in ("bwrap", "landlock")
    assert re.fullmatch(r"exit 3 · 2 lines · \d+\.\ds", res.summary)
    res = await bash(ctx, "true")
    assert res.output == "exit code: 0\n(no output)" and res.metadata["exit_code"] == 0


async def test_environment_cwd_and_stdin(ws: Path, ctx: ToolContext) -> None:
    res = await bash(ctx, 'echo "$COWORK"; pwd; cat; echo "stdin rc=$?"; touch made.txt')
    assert res.output == f"exit code: 0\n1\n{ws}\nstdin rc=0\n"
    assert (ws / "made.txt").exists()


async def test_invalid_utf8_is_replaced(ctx: ToolContext) -> None:
    res = await bash(ctx, r"printf 'a\xffb\n'")
    assert res.output == "exit code: 0\na\ufffdb\n"


async def test_timeout_bounds(ctx: ToolContext) -> None:
    with pytest.raises(ToolError, match="maximum of 600"):
        await bash(ctx, "true", timeout=601)
    with pytest.raises(ToolError, match="at least 1"):
        await bash(ctx, "true", timeout=0)
    with pytest.raises(ToolError, match="empty"):
        await bash(ctx, "   ")


async def test_timeout_kills_the_process_group(ws: Path, ctx: ToolContext) -> None:
    started = time.monotonic()
    res = await bash(ctx, "echo before; sleep 987.11 & echo \"$!;\" > child.pid; sleep 10", timeout=1)
    elapsed = time.monotonic() - started
    assert 0.9 < elapsed < 3
    assert res.is_error
    assert "timed out after 1 s" in res.output and "before" in res.output
    await read_pid(ws / "child.pid")
    assert wait_gone("987.11"), "background sleep survived the timeout"


async def test_cancellation_kills_the_group_and_reraises(ws: Path, ctx: ToolContext) -> None:
    task = asyncio.create_task(bash(ctx, 'sleep 987.12 & echo "$!;" > child.pid; wait'))
    await read_pid(ws / "child.pid")
    assert marked("987.12")
    started = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - started < 2
    assert wait_gone("987.12"), "child survived cancellation"


async def test_background_child_holding_stdout_does_not_hang(ws: Path, ctx: ToolContext) -> None:
    started = time.monotonic()
    res = await bash(ctx, 'sleep 987.13 & echo "$!;" > child.pid; echo done')
    assert time.monotonic() - started < 3
    assert res.output == "exit code: 0\ndone\n"
    await read_pid(ws / "child.pid")
    assert wait_gone("987.13")


async def test_detached_background_job_is_left_running_without_sandbox(ws: Path) -> None:
    ctx = ToolContext(workspace=ws, sandbox="off")  # in a sandbox, background jobs end with the command
    started = time.monotonic()
    res = await bash(ctx, 'sleep 30 > /dev/null 2>&1 & echo "$!;" > child.pid')
    assert time.monotonic() - started < 1.5 and res.metadata["exit_code"] == 0
    child = await read_pid(ws / "child.pid")
    try:
        assert alive(child)
    finally:
        os.kill(child, 9)


async def test_large_output_is_truncated_in_the_middle(ctx: ToolContext) -> None:
    res = await bash(ctx, "seq 1 300000")
    assert len(res.output) <= ctx.max_output_chars
    assert res.output.startswith("exit code: 0\n1\n2\n3\n")
    assert res.output.endswith("299999\n300000\n")
    assert "characters truncated" in res.output
    assert res.summary.startswith("exit 0 · 300,000 lines")


async def test_endless_output_is_bounded_and_killed(ctx: ToolContext) -> None:
    tracemalloc.start()
    try:
        started = time.monotonic()
        res = await bash(ctx, "yes", timeout=2)
        elapsed = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < 5
    assert peak < 4 * KEEP_BYTES + 8 * 1024 * 1024, f"peak {peak:,} bytes"
    assert res.is_error and "timed out after 2 s" in res.output
    assert len(res.output) <= ctx.max_output_chars
    assert "truncated" in res.output and res.output.count("y\n") > 100


def test_output_buffer_keeps_head_and_tail_only() -> None:
    out = _Output()
    chunk = b"0123456789abcdef\n" * 4000  # 68 KB
    for _ in range(200):  # ~13.6 MB through the buffer
        out.feed(chunk)
    out.feed(b"THE END\n")
    assert len(out.head) == KEEP_BYTES and len(out.tail) <= 2 * KEEP_BYTES
    assert out.total == 200 * len(chunk) + 8 and out.lines == 800_001
    text = out.text()
    assert text.startswith("0123456789abcdef\n") and text.endswith("THE END\n")
    assert "bytes of output omitted" in text and len(text) < 2 * KEEP_BYTES + 200


def test_output_buffer_small_output_is_exact() -> None:
    out = _Output()
    out.feed(b"abc")
    out.feed(b"def\n")
    assert out.text() == "abcdef\n" and out.lines == 1


async def test_credentials_are_not_in_the_command_environment(ctx: ToolContext, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-very-secret")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp-secret")
    monkeypatch.setenv("HARMLESS_SETTING", "visible")
    res = await bash(ctx, "env")
    assert "sk-very-secret" not in res.output and "ghp-secret" not in res.output
    assert "HARMLESS_SETTING" not in res.output  # the sandbox passes an allow-list only
    assert "COWORK=1" in res.output and "PATH=" in res.output
    res = await bash(replace(ctx, sandbox="off"), "env")
    assert "sk-very-secret" not in res.output and "ghp-secret" not in res.output
    assert "HARMLESS_SETTING=visible" in res.output
