"""read, write, edit, ls and glob against real files in a temporary workspace."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from cowork.tools import BUILTIN_TOOLS, get_tool
from cowork.tools.base import Tool, ToolContext, ToolError, ToolResult
from cowork.tools.files import MAX_FILE_BYTES


async def call(name: str, ctx: ToolContext, **kwargs) -> ToolResult:
    tool = get_tool(name)
    assert tool is not None
    return await tool.run(tool.Args.model_validate(kwargs), ctx)


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*")) if p.is_file() and not p.is_symlink()
    }


# --------------------------------------------------------------------------------- registry


def test_registry_order_and_shape() -> None:
    assert list(BUILTIN_TOOLS) == [
        "bash", "read", "write", "edit", "move", "glob", "grep", "ls", "web_fetch", "todo_write", "propose_plan",
    ]
    assert get_tool("nope") is None
    mutating = {name for name, tool in BUILTIN_TOOLS.items() if tool.mutating}
    assert mutating == {"bash", "write", "edit", "move"}
    for name, tool in BUILTIN_TOOLS.items():
        assert isinstance(tool, Tool) and tool.name == name and len(tool.description) > 40
        schema = tool.parameters_schema()
        assert schema["type"] == "object" and schema["additionalProperties"] is False
        for prop, spec in schema["properties"].items():
            assert spec.get("description"), f"{name}.{prop} has no description"


def test_unknown_arguments_are_rejected() -> None:
    with pytest.raises(ValidationError):
        get_tool("read").Args.model_validate({"path": "a", "lines": 3})
    with pytest.raises(ValidationError):
        get_tool("read").Args.model_validate({"path": "a", "offset": 0})


# ------------------------------------------------------------------------------------- read


async def test_read_cat_n_format(ws: Path, ctx: ToolContext) -> None:
    (ws / "a.txt").write_text("alpha\nbeta\n\tgamma\n")
    res = await call("read", ctx, path="a.txt")
    assert not res.is_error
    assert res.output == "     1\talpha\n     2\tbeta\n     3\t\tgamma"


async def test_read_offset_limit_and_note(ws: Path) -> None:
    ctx = ToolContext(workspace=ws, max_output_chars=100_000)
    (ws / "n.txt").write_text("".join(f"line {i}\n" for i in range(1, 5235)))
    res = await call("read", ctx, path="n.txt")
    lines = res.output.split("\n")
    assert lines[0] == "     1\tline 1" and lines[1999] == "  2000\tline 2000"
    assert lines[-1] == "[showing lines 1-2000 of 5,234; use offset to read more]"
    res = await call("read", ctx, path="n.txt", offset=5230, limit=10)
    assert res.output.split("\n") == [f"{i:>6}\tline {i}" for i in range(5230, 5235)] + [
        "[showing lines 5230-5234 of 5,234; use offset to read more]"
    ]
    res = await call("read", ctx, path="n.txt", offset=10, limit=2)
    assert res.output.startswith("    10\tline 10\n    11\tline 11\n[showing lines 10-11")


async def test_read_whole_small_file_has_no_note(ws: Path, ctx: ToolContext) -> None:
    (ws / "a.txt").write_text("one\ntwo")  # no final newline
    res = await call("read", ctx, path="a.txt")
    assert res.output == "     1\tone\n     2\ttwo"


async def test_read_offset_past_end(ws: Path, ctx: ToolContext) -> None:
    (ws / "a.txt").write_text("one\ntwo\n")
    with pytest.raises(ToolError, match="offset 3 is past the end .* 2 lines"):
        await call("read", ctx, path="a.txt", offset=3)


async def test_read_long_lines_are_cut(ws: Path, ctx: ToolContext) -> None:
    (ws / "long.txt").write_text("x" * 5000 + "\nshort\n")
    res = await call("read", ctx, path="long.txt")
    first, second = res.output.split("\n")
    assert first.startswith("     1\t" + "x" * 2000 + " [... line cut, 3,000 more characters]")
    assert "x" * 2001 not in first
    assert second == "     2\tshort"


async def test_read_respects_output_budget(ws: Path) -> None:
    (ws / "wide.txt").write_text(("y" * 1500 + "\n") * 100)
    ctx = ToolContext(workspace=ws, max_output_chars=10_000)
    res = await call("read", ctx, path="wide.txt")
    assert len(res.output) <= 10_000
    assert "use offset to read more" in res.output.splitlines()[-1]


async def test_read_empty_file(ws: Path, ctx: ToolContext) -> None:
    (ws / "empty.txt").write_text("")
    res = await call("read", ctx, path="empty.txt")
    assert not res.is_error and "empty" in res.output


async def test_read_refusals(ws: Path, ctx: ToolContext) -> None:
    (ws / "dir").mkdir()
    with pytest.raises(ToolError, match="is a directory.*use ls"):
        await call("read", ctx, path="dir")
    with pytest.raises(ToolError, match="not found"):
        await call("read", ctx, path="missing.txt")
    (ws / "nul.bin").write_bytes(b"abc\0def" * 10)
    with pytest.raises(ToolError, match=r"binary file \(70 bytes\); not shown"):
        await call("read", ctx, path="nul.bin")
    (ws / "latin1.txt").write_bytes("caf\xe9\n".encode("latin-1"))
    with pytest.raises(ToolError, match="binary file"):
        await call("read", ctx, path="latin1.txt")


async def test_read_huge_file(ws: Path, ctx: ToolContext) -> None:
    line = "0123456789" * 10 + "\n"
    with open(ws / "huge.log", "w") as f:
        for i in range(MAX_FILE_BYTES // len(line) + 10):
            f.write(f"{i:08d} {line}")
    size = (ws / "huge.log").stat().st_size
    assert size > MAX_FILE_BYTES
    with pytest.raises(ToolError) as err:
        await call("read", ctx, path="huge.log")
    msg = str(err.value)
    assert f"{size:,} bytes" in msg and "offset" in msg and "grep" in msg
    # an explicit window is streamed instead
    res = await call("read", ctx, path="huge.log", offset=50_000, limit=3)
    lines = res.output.split("\n")
    assert lines[0] == f" 50000\t{50_000 - 1:08d} {line.rstrip()}"
    assert len(lines) == 4 and "use offset to read more" in lines[3]


async def test_read_escapes_refused(ws: Path, outside: Path, ctx: ToolContext) -> None:
    (ws / "link").symlink_to(outside / "secret.txt")
    (ws / "outdir").symlink_to(outside, target_is_directory=True)
    for path in ["../outside/secret.txt", "../../etc/passwd", str(outside / "secret.txt"),
                 "link", "outdir/secret.txt"]:
        with pytest.raises(ToolError, match="outside the workspace"):
            await call("read", ctx, path=path)


# ------------------------------------------------------------------------------------ write


async def test_write_creates_with_parents(ws: Path, ctx: ToolContext) -> None:
    res = await call("write", ctx, path="a/b/c.txt", content="one\ntwo\n")
    assert (ws / "a" / "b" / "c.txt").read_text() == "one\ntwo\n"
    assert res.output == "Wrote 2 lines to a/b/c.txt (new file)"
    assert res.metadata["path"] == "a/b/c.txt"
    diff = res.metadata["diff"]
    assert diff.startswith("--- a/a/b/c.txt\n+++ b/a/b/c.txt\n") and "+one\n+two\n" in diff


async def test_write_overwrite_reports_diff(ws: Path, ctx: ToolContext) -> None:
    (ws / "f.txt").write_text("keep\nold\n")
    res = await call("write", ctx, path="f.txt", content="keep\nnew\nmore")
    assert (ws / "f.txt").read_text() == "keep\nnew\nmore"
    assert "overwrote" in res.output and "Wrote 3 lines to f.txt" in res.output
    diff = res.metadata["diff"]
    assert "-old\n" in diff and "+new\n" in diff and " keep\n" in diff
    assert "\\ No newline at end of file" in diff


async def test_write_preserves_exact_bytes(ws: Path, ctx: ToolContext) -> None:
    await call("write", ctx, path="crlf.txt", content="a\r\nb\r\nünï\r\n")
    assert (ws / "crlf.txt").read_bytes() == "a\r\nb\r\nünï\r\n".encode()


async def test_write_refusals(ws: Path, ctx: ToolContext) -> None:
    (ws / "dir").mkdir()
    with pytest.raises(ToolError, match="is a directory"):
        await call("write", ctx, path="dir", content="x")
    with pytest.raises(ToolError, match="is a directory"):
        await call("write", ctx, path="", content="x")
    with pytest.raises(ToolError, match="over the 10.0 MiB write limit"):
        await call("write", ctx, path="big.txt", content="x" * (MAX_FILE_BYTES + 1))
    assert not (ws / "big.txt").exists()
    (ws / "file").write_text("x")
    with pytest.raises(ToolError, match="not a directory"):
        await call("write", ctx, path="file/child.txt", content="x")


async def test_write_escapes_write_nothing_outside(ws: Path, outside: Path, ctx: ToolContext) -> None:
    (ws / "link").symlink_to(outside / "secret.txt")
    (ws / "outdir").symlink_to(outside, target_is_directory=True)
    (ws / "dangling").symlink_to(outside / "new.txt")
    before = snapshot(outside)
    for path in ["../outside/pwned.txt", "../../pwned.txt", str(outside / "pwned.txt"),
                 "link", "outdir/pwned.txt", "outdir/deeper/pwned.txt", "dangling"]:
        with pytest.raises(ToolError, match="outside the workspace"):
            await call("write", ctx, path=path, content="pwned")
    assert snapshot(outside) == before
    assert not (outside / "deeper").exists() and not (outside / "new.txt").exists()
    assert not (ws.parent / "pwned.txt").exists()


async def test_write_through_symlinked_dir_inside_workspace(ws: Path, ctx: ToolContext) -> None:
    (ws / "real").mkdir()
    (ws / "alias").symlink_to(ws / "real", target_is_directory=True)
    res = await call("write", ctx, path="alias/x.txt", content="hi\n")
    assert (ws / "real" / "x.txt").read_text() == "hi\n"
    assert res.metadata["path"] == "real/x.txt"


# ------------------------------------------------------------------------------------- edit


async def test_edit_replaces_once_with_diff(ws: Path, ctx: ToolContext) -> None:
    (ws / "m.py").write_text("def f():\n    return 1\n\ndef g():\n    return 2\n")
    res = await call("edit", ctx, path="m.py", old_string="return 1", new_string="return 10")
    assert (ws / "m.py").read_text() == "def f():\n    return 10\n\ndef g():\n    return 2\n"
    assert res.output.startswith("Edited m.py: replaced 1 occurrence\n")
    assert "-    return 1\n+    return 10\n" in res.output
    assert res.metadata == {"diff": res.metadata["diff"], "path": "m.py"}
    assert res.metadata["diff"].startswith("--- a/m.py\n+++ b/m.py\n")


async def test_edit_multiple_matches(ws: Path, ctx: ToolContext) -> None:
    (ws / "m.txt").write_text("x = 1\ny = 2\nx = 1\n\nx = 1\n")
    with pytest.raises(ToolError) as err:
        await call("edit", ctx, path="m.txt", old_string="x = 1", new_string="x = 3")
    msg = str(err.value)
    assert "3 times" in msg and "lines 1, 3, 5" in msg and "replace_all" in msg
    assert (ws / "m.txt").read_text() == "x = 1\ny = 2\nx = 1\n\nx = 1\n"
    res = await call("edit", ctx, path="m.txt", old_string="x = 1", new_string="x = 3",
                     replace_all=True)
    assert (ws / "m.txt").read_text() == "x = 3\ny = 2\nx = 3\n\nx = 3\n"
    assert "replaced 3 occurrences" in res.output


async def test_edit_not_found_with_whitespace_hint(ws: Path, ctx: ToolContext) -> None:
    (ws / "m.py").write_text("class A:\n    def f(self):\n        pass\n")
    with pytest.raises(ToolError) as err:
        await call("edit", ctx, path="m.py", old_string="def f(self):\n    pass",
                   new_string="def f(self):\n    return 1")
    assert "not found" in str(err.value) and "line 2" in str(err.value)
    with pytest.raises(ToolError) as err:
        await call("edit", ctx, path="m.py", old_string="class  A:", new_string="class B:")
    assert "whitespace is ignored" in str(err.value)
    with pytest.raises(ToolError) as err:
        await call("edit", ctx, path="m.py", old_string="class Z", new_string="class B")
    assert "not found" in str(err.value) and "whitespace" not in str(err.value)


async def test_edit_refusals(ws: Path, ctx: ToolContext) -> None:
    (ws / "m.txt").write_text("abc\n")
    with pytest.raises(ToolError, match="not found"):
        await call("edit", ctx, path="nope.txt", old_string="a", new_string="b")
    with pytest.raises(ToolError, match="old_string is empty"):
        await call("edit", ctx, path="m.txt", old_string="", new_string="b")
    with pytest.raises(ToolError, match="identical"):
        await call("edit", ctx, path="m.txt", old_string="abc", new_string="abc")
    (ws / "b.bin").write_bytes(b"abc\0\xff")
    with pytest.raises(ToolError, match="binary"):
        await call("edit", ctx, path="b.bin", old_string="abc", new_string="x")
    assert (ws / "b.bin").read_bytes() == b"abc\0\xff"
    (ws / "d").mkdir()
    with pytest.raises(ToolError, match="directory"):
        await call("edit", ctx, path="d", old_string="a", new_string="b")


async def test_edit_keeps_crlf_and_deletes(ws: Path, ctx: ToolContext) -> None:
    (ws / "w.txt").write_bytes(b"one\r\ntwo\r\nthree\r\n")
    await call("edit", ctx, path="w.txt", old_string="two\r\n", new_string="")
    assert (ws / "w.txt").read_bytes() == b"one\r\nthree\r\n"


async def test_edit_escapes_refused(ws: Path, outside: Path, ctx: ToolContext) -> None:
    (ws / "link").symlink_to(outside / "secret.txt")
    for path in ["link", "../outside/secret.txt", str(outside / "secret.txt")]:
        with pytest.raises(ToolError, match="outside the workspace"):
            await call("edit", ctx, path=path, old_string="top", new_string="no")
    assert (outside / "secret.txt").read_text() == "top secret\n"


# --------------------------------------------------------------------------------------- ls


async def test_ls_sorted_dirs_first_sizes_links(ws: Path, ctx: ToolContext) -> None:
    (ws / "zdir").mkdir()
    (ws / "adir").mkdir()
    (ws / "b.txt").write_text("x" * 10)
    (ws / "a.bin").write_bytes(b"\0" * 2048)
    (ws / "c-link").symlink_to("b.txt")
    res = await call("ls", ctx)
    assert res.output.split("\n") == [
        "adir/", "zdir/", "a.bin  (2.0 KiB)", "b.txt  (10 B)", "c-link -> b.txt",
    ]
    assert res.summary == "5 entries"


async def test_ls_subdir_empty_and_errors(ws: Path, outside: Path, ctx: ToolContext) -> None:
    (ws / "sub" / "inner").mkdir(parents=True)
    res = await call("ls", ctx, path="sub")
    assert res.output == "inner/"
    res = await call("ls", ctx, path="sub/inner")
    assert "empty" in res.output
    (ws / "f.txt").write_text("x")
    with pytest.raises(ToolError, match="not a directory"):
        await call("ls", ctx, path="f.txt")
    with pytest.raises(ToolError, match="not found"):
        await call("ls", ctx, path="nope")
    (ws / "outdir").symlink_to(outside, target_is_directory=True)
    for path in ["..", "../outside", str(outside), "outdir", "/"]:
        with pytest.raises(ToolError, match="outside the workspace"):
            await call("ls", ctx, path=path)


async def test_ls_caps_entries(ws: Path, ctx: ToolContext) -> None:
    for i in range(1005):
        (ws / f"f{i:04d}").write_text("")
    res = await call("ls", ctx)
    lines = res.output.split("\n")
    assert len(lines) == 1001 and lines[-1].startswith("[showing 1000 of 1,005 entries")


# ------------------------------------------------------------------------------------- glob


async def test_glob_recursive_newest_first(ws: Path, ctx: ToolContext) -> None:
    (ws / "src" / "pkg").mkdir(parents=True)
    files = ["top.py", "src/a.py", "src/pkg/b.py", "src/notes.md"]
    now = time.time()
    for i, rel in enumerate(files):
        (ws / rel).write_text("x")
        os.utime(ws / rel, (now - 100 + i, now - 100 + i))
    res = await call("glob", ctx, pattern="**/*.py")
    assert res.output.split("\n") == ["src/pkg/b.py", "src/a.py", "top.py"]
    res = await call("glob", ctx, pattern="*.py")
    assert res.output == "top.py"
    res = await call("glob", ctx, pattern="*.py", path="src")
    assert res.output == "src/a.py"  # workspace-relative even with a path
    res = await call("glob", ctx, pattern="src/**")
    assert set(res.output.split("\n")) == {"src/a.py", "src/pkg/b.py", "src/notes.md"}


async def test_glob_skips_git_and_reports_no_match(ws: Path, ctx: ToolContext) -> None:
    (ws / ".git" / "objects").mkdir(parents=True)
    (ws / ".git" / "objects" / "x.py").write_text("x")
    (ws / ".github").mkdir()
    (ws / ".github" / "ci.py").write_text("x")
    res = await call("glob", ctx, pattern="**/*.py")
    assert res.output == ".github/ci.py"
    res = await call("glob", ctx, pattern="**/*.rs")
    assert not res.is_error and "No files match" in res.output


async def test_glob_cap(ws: Path, ctx: ToolContext) -> None:
    for i in range(1003):
        (ws / f"f{i}.txt").write_text("")
    res = await call("glob", ctx, pattern="*.txt")
    lines = res.output.split("\n")
    assert len(lines) == 1001 and lines[-1] == "[showing 1000 of 1,003 files; narrow the pattern]"


async def test_glob_never_leaves_workspace(ws: Path, outside: Path, ctx: ToolContext) -> None:
    (ws / "in.txt").write_text("x")
    (ws / "outdir").symlink_to(outside, target_is_directory=True)
    (ws / "outfile.txt").symlink_to(outside / "secret.txt")
    (ws / "alias.txt").symlink_to(ws / "in.txt")
    for pattern in ["../*", "../outside/*.txt", "**/../../*"]:
        with pytest.raises(ToolError, match=r"'\.\.'"):
            await call("glob", ctx, pattern=pattern)
    with pytest.raises(ToolError, match="absolute"):
        await call("glob", ctx, pattern=str(outside / "*.txt"))
    for path in ["..", "outdir", str(outside)]:
        with pytest.raises(ToolError, match="outside the workspace"):
            await call("glob", ctx, pattern="*", path=path)
    res = await call("glob", ctx, pattern="**/*")
    assert sorted(res.output.split("\n")) == ["alias.txt", "in.txt"]
    res = await call("glob", ctx, pattern="outdir/*")
    assert "No files match" in res.output


async def test_fifo_is_refused_not_blocking(ws: Path, ctx: ToolContext) -> None:
    os.mkfifo(ws / "pipe")
    with pytest.raises(ToolError, match="not a regular file"):
        await call("read", ctx, path="pipe")
    with pytest.raises(ToolError, match="not a regular file"):
        await call("write", ctx, path="pipe", content="x")
    with pytest.raises(ToolError, match="not a regular file"):
        await call("edit", ctx, path="pipe", old_string="a", new_string="b")
