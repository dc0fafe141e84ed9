"""``/context`` and ``/init`` in ``cowork chat`` (the real console script, its in-process server
extended as ``cowork serve`` is, and the scripted model): with piped stdin, and in a
pseudo-terminal where ``/init`` asks before an existing AGENTS.md is rewritten."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from e2e_support import COWORK, MODEL, Cowork
from fakemodel import FakeModelServer, reply, text, tool_call

from cowork.cli.chat import INIT_PROMPT


@pytest.fixture
def srv():
    with FakeModelServer() as s:
        yield s


@pytest.fixture
def cw(tmp_path: Path, srv: FakeModelServer) -> Cowork:
    return Cowork(tmp_path, srv)


def _user_text(body: dict) -> str:
    return "\n".join(m["content"] if isinstance(m["content"], str) else str(m["content"])
                     for m in body["messages"] if m["role"] == "user")


def test_context_lists_what_is_loaded_and_init_keeps_an_existing_file(cw: Cowork, srv: FakeModelServer) -> None:
    (cw.workspace / "AGENTS.md").write_text("Use tabs.\n" + "y" * 40_000)
    cw.home.mkdir(parents=True, exist_ok=True)
    (cw.home / "AGENTS.md").write_text("Be brief.\n")
    res = cw.run("chat", "--dir", str(cw.workspace), "--model", MODEL, input="/context\n/init\n/help\n")
    assert res.code == 0, res.explain()
    out = " ".join(res.stdout.split())
    assert "User instructions" in out and str(cw.home / "AGENTS.md") in out and "10 chars" in out
    assert "Project instructions" in out and str(cw.workspace / "AGENTS.md") in out
    assert re.search(r"Project instructions \S+ 32,\d{3} chars truncated", out), out
    assert "exists. Ask the agent to review and rewrite it? (no terminal to ask: no)" in out
    assert "AGENTS.md left as it is" in out
    assert "/init [NOTES]" in out and "/context" in out  # /help lists both
    assert srv.requests == []  # /init started no turn
    assert (cw.workspace / "AGENTS.md").read_text().startswith("Use tabs.")


def test_init_asks_the_agent_to_write_agents_md(cw: Cowork, srv: FakeModelServer) -> None:
    (cw.workspace / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
    written = "# AGENTS.md\n\nRun `pytest -q`.\n"
    srv.script(reply(tool_call("write", {"path": "AGENTS.md", "content": written})), reply(text("Wrote AGENTS.md.")))
    res = cw.run("chat", "--dir", str(cw.workspace), "--model", MODEL, "--mode", "yolo",
                 input="/context\n/init the tests live in tests/\n/context\n")
    assert res.code == 0, res.explain()
    before, _, after = res.stdout.partition("Wrote AGENTS.md.")
    assert "no AGENTS.md (or CLAUDE.md) in this workspace: /init writes one" in " ".join(before.split())
    assert "Project instructions" not in before
    assert (cw.workspace / "AGENTS.md").read_text() == written
    asked = _user_text(srv.requests[0])
    assert asked.startswith(INIT_PROMPT) and "Build, test and lint commands" in asked
    assert asked.endswith("The user adds: the tests live in tests/") and "already" not in asked
    assert "Project instructions" in after and f"{len(written)} chars" in after  # loaded from now on
    assert "no AGENTS.md" not in after


pexpect = pytest.importorskip("pexpect", reason="pexpect is needed to drive cowork in a pseudo-terminal")
CPR = re.escape("\x1b[6n")
ANSI = re.compile(r"\x1b(\[[0-9;?]*[ -/]*[@-~]|\][^\x07]*\x07|[()][A-Z0-9]|[=>])")


def test_init_at_a_terminal_asks_before_rewriting(cw: Cowork, srv: FakeModelServer) -> None:
    (cw.workspace / "AGENTS.md").write_text("Old rules.\n")
    srv.script(reply(text("Reviewed AGENTS.md.")))
    log = io.StringIO()
    child = pexpect.spawn(COWORK, ["chat", "--dir", str(cw.workspace), "--model", MODEL],
                          env=cw.env(TERM="xterm", NO_COLOR=None), cwd=str(cw.workspace), encoding="utf-8",
                          timeout=30, dimensions=(50, 200))
    child.logfile_read = log

    def expect(pattern: str) -> None:
        try:
            while child.expect([CPR, pattern]) == 0:
                child.send("\x1b[1;1R")
        except (pexpect.TIMEOUT, pexpect.EOF) as exc:
            raise AssertionError(f"no {pattern!r} in:\n{ANSI.sub('', log.getvalue())[-3000:]}") from exc

    try:
        expect(r"cowork>")
        child.send("/init\r")
        expect(re.escape("Ask the agent to review and rewrite it? [y/N]"))
        child.send("n\r")
        expect("AGENTS.md left as it is")
        child.send("/init\r")
        expect(re.escape("[y/N]"))
        child.send("y\r")
        expect("Reviewed AGENTS.md.")
        expect(r"cowork>")
        child.sendeof()
        child.expect(pexpect.EOF)
    finally:
        child.terminate(force=True)
    [request] = srv.requests
    asked = _user_text(request)
    assert asked.startswith(INIT_PROMPT) and "There is an AGENTS.md already: read it first" in asked
    assert "Old rules." in " ".join(m["content"] for m in request["messages"] if m["role"] == "system")
