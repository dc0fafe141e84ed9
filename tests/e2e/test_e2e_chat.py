"""``cowork chat``: the REPL in a pseudo-terminal (pexpect), with piped stdin, and against a
separately started ``cowork serve``."""

from __future__ import annotations

import asyncio
import io
import re
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from e2e_support import COWORK, MODEL, Cowork
from fakemodel import FakeModelServer, hang, reply, text, tool_call
from rich.console import Console

from cowork.cli import chat as chat_cli
from cowork.client import Client, CoworkError
from cowork.protocol.rpc import ErrorCode

pexpect = pytest.importorskip("pexpect", reason="pexpect is needed to drive cowork in a pseudo-terminal")

PROMPT = r"cowork(\[[a-z-]+\])?>"  # prompt_toolkit draws the space after it as a cursor move
APPROVAL = re.escape("allow? [y] once")
CPR = re.escape("\x1b[6n")  # prompt_toolkit asks the terminal where the cursor is; answer so it does not wait
SESSION_ID = re.compile(r"session (ses_[0-9a-f]{32})")
ANSI = re.compile(r"\x1b(\[[0-9;?]*[ -/]*[@-~]|\][^\x07]*\x07|[()][A-Z0-9]|[=>])")


class Chat:
    """``cowork chat`` in a pty; ``.seen`` is everything it printed (escape codes removed)."""

    def __init__(self, cw: Cowork, *args: str) -> None:
        self.log = io.StringIO()
        self.child = pexpect.spawn(
            COWORK, ["chat", "--dir", str(cw.workspace), "--model", MODEL, *args],
            env=cw.env(TERM="xterm", NO_COLOR=None), cwd=str(cw.workspace), encoding="utf-8",
            timeout=20, dimensions=(50, 200),
        )
        self.child.logfile_read = self.log
        self.mark = 0

    @property
    def seen(self) -> str:
        return ANSI.sub("", self.log.getvalue())

    def since_mark(self) -> str:
        """What was printed since the last :meth:`send`."""
        return ANSI.sub("", self.log.getvalue()[self.mark:])

    def expect(self, pattern: str) -> str:
        """Wait for ``pattern`` (a regex), answering cursor-position requests on the way."""
        try:
            while self.child.expect([CPR, pattern]) == 0:
                self.child.send("\x1b[1;1R")
        except (pexpect.TIMEOUT, pexpect.EOF) as exc:
            raise AssertionError(f"no {pattern!r} in what cowork chat printed:\n{self.tidy()[-3000:]}") from exc
        return self.child.after

    def prompt(self) -> None:
        """Wait for a new prompt. prompt_toolkit starts each one by asking where the cursor is, and
        redraws the prompt as the line is edited, so the prompt's text alone could be an old one."""
        try:
            self.child.expect(CPR)
        except (pexpect.TIMEOUT, pexpect.EOF) as exc:
            raise AssertionError(f"no new prompt; cowork chat printed:\n{self.tidy()[-3000:]}") from exc
        self.child.send("\x1b[1;1R")
        self.expect(PROMPT)

    def tidy(self) -> str:
        return re.sub(r"\s*\n\s*\n\s*", "\n", self.seen)  # without the blank lines of redraws

    def send(self, line: str) -> None:
        """Type ``line`` and Enter at the prompt."""
        self.mark = len(self.log.getvalue())
        self.child.send(line + "\r")

    def do(self, line: str, *patterns: str) -> str:
        """Send ``line``, wait for each of ``patterns`` in turn, then for the prompt; returns
        what was printed meanwhile."""
        self.send(line)
        for p in patterns:
            self.expect(p)
        self.prompt()
        return self.since_mark()

    def finish(self) -> int:
        while self.child.expect([CPR, pexpect.EOF]) == 0:
            self.child.send("\x1b[1;1R")
        self.child.close()
        return self.child.exitstatus


@pytest.fixture
def chat(cw: Cowork):
    made: list[Chat] = []

    def start(*args: str) -> Chat:
        c = Chat(cw, *args)
        made.append(c)
        return c

    yield start
    for c in made:
        if c.child.isalive():
            c.child.terminate(force=True)


def test_conversation_commands_and_sessions(cw: Cowork, srv: FakeModelServer, chat) -> None:
    srv.script(
        reply(text("Hi there, I am the fake model.")),
        reply(tool_call("write", {"path": "a.txt", "content": "approved\n"})),
        reply(text("Wrote a.txt.")),
        reply(tool_call("bash", {"command": "echo ran > b.txt"})),
        reply(text("Ran the command.")),
        reply(text("Second session answer.")),
    )
    c = chat()
    first = SESSION_ID.search(c.expect(SESSION_ID.pattern)).group(1)  # type: ignore[union-attr]
    c.prompt()

    # A message streams an answer.
    out = c.do("hello", re.escape("Hi there, I am the fake model."), "done")
    assert "1 requests" in out

    # A write needs approval: answered inline.
    c.send("write a.txt")
    c.expect(APPROVAL)
    assert not (cw.workspace / "a.txt").exists()
    c.send("y")
    c.expect(re.escape("Wrote a.txt."))
    c.prompt()
    assert "allowed once" in c.since_mark()
    assert (cw.workspace / "a.txt").read_text() == "approved\n"

    # /mode yolo: bash runs without asking.
    c.do("/mode yolo", "mode: yolo")
    out = c.do("run it", re.escape("Ran the command."))
    assert "allow?" not in out
    assert (cw.workspace / "b.txt").read_text() == "ran\n"

    # Catalogue commands, help, an unknown command.
    out = c.do("/tools", "permission")
    assert re.search(r"bash\s+allow", out) and re.search(r"write\s+allow", out), out
    out = c.do("/models", "usable")
    assert re.search(r"openai:\S+(?: \(default\))?(?: \*)?\s+yes\b", out), out  # usable: OPENAI_BASE_URL is set
    assert re.search(r"anthropic:\S+\s+no\b", out), out  # no key in the test environment
    assert f"this session uses {MODEL}" in out
    out = c.do("/help", re.escape("/resume ID"))
    assert "/sessions" in out and "/exit" in out
    out = c.do("/foo", "unknown command /foo")
    assert "/help" in out

    # A second session, then back to the first one.
    out = c.do("/new", SESSION_ID.pattern)
    second = SESSION_ID.search(out).group(1)  # type: ignore[union-attr]
    assert second != first and "yolo" in out
    c.do("another question", re.escape("Second session answer."))
    out = c.do("/sessions", re.escape(second[:12]))  # ids shortened to a unique prefix
    assert first[:12] in out and "hello" in out  # the first one is titled by its first message
    out = c.do(f"/resume {first[:12]}", re.escape(f"session {first}"))
    assert "› hello" in out and "Hi there, I am the fake model." in out and "Wrote a.txt." in out
    assert "Second session answer." not in out
    out = c.do("/mode default", "mode: default")

    c.send("/exit")
    assert c.finish() == 0, c.seen
    assert len(srv.requests) == 6
    history = (cw.home / "chat_history").read_text()
    assert "+hello" in history and "+/mode yolo" in history


def test_ctrl_c_interrupts_a_turn_and_the_chat_goes_on(cw: Cowork, srv: FakeModelServer, chat) -> None:
    slow = "Counting slowly: " + " ".join(str(i) for i in range(400))
    srv.script(
        reply(tool_call("write", {"path": "c.txt", "content": "c\n"})),
        reply(text(slow, chunk_size=2), delay=0.05),  # ~40 s if nobody stops it
        reply(text("Back again.")),
    )
    c = chat()
    c.prompt()
    c.send("write c.txt, then count")
    c.expect(APPROVAL)
    c.send("y")  # the Ctrl-C after an approval prompt must still interrupt (the prompt took SIGINT over)
    c.expect("Counting slowly")
    sent = time.monotonic()
    c.child.sendintr()
    c.expect("interrupted")
    c.prompt()
    assert time.monotonic() - sent < 5
    assert "interrupting" in c.since_mark()
    assert (cw.workspace / "c.txt").read_text() == "c\n"

    c.do("are you there?", re.escape("Back again."))

    # Ctrl-C at the prompt clears the line (nothing is sent); Ctrl-D on an empty line quits.
    c.child.send("never sent")
    c.child.sendintr()
    c.prompt()
    c.child.sendeof()
    assert c.finish() == 0, c.seen
    assert len(srv.requests) == 3
    assert all("never sent" not in str(r) for r in srv.requests)


def test_piped_stdin_is_a_script(cw: Cowork, srv: FakeModelServer) -> None:
    srv.script(
        reply(text("Scripted answer.")),
        reply(tool_call("write", {"path": "denied.txt", "content": "no\n"})),
        reply(text("Could not write.")),
        reply(tool_call("write", {"path": "yes.txt", "content": "yes\n"})),
        reply(text("Wrote yes.txt.")),
        reply(text("Continued.")),
    )
    res = cw.run("chat", "--dir", str(cw.workspace), "--model", MODEL,
                 input="hello\nwrite denied.txt\n/mode yolo\nwrite yes.txt\n/bogus\n/sessions\n")
    assert res.code == 0, res.explain()
    assert "Scripted answer." in res.stdout and "Wrote yes.txt." in res.stdout
    assert "nobody at a terminal could approve it" in res.stdout  # no terminal: the approval is denied
    assert not (cw.workspace / "denied.txt").exists()
    assert (cw.workspace / "yes.txt").read_text() == "yes\n"
    assert "unknown command /bogus" in res.stdout
    session_id = SESSION_ID.search(res.stdout).group(1)  # type: ignore[union-attr]

    # --continue replays the conversation, then goes on in the same session.
    res = cw.run("chat", "--dir", str(cw.workspace), "--continue", input="and now?\n/exit\nnot read\n")
    assert res.code == 0, res.explain()
    assert f"session {session_id}" in res.stdout
    replay, _, live = res.stdout.partition("› and now?")
    assert "Scripted answer." in replay and "Wrote yes.txt." in replay
    assert "Continued." in live
    assert len(srv.requests) == 6


def test_chat_with_a_separate_server(cw: Cowork, srv: FakeModelServer) -> None:
    srv.script(hang(seconds=30), reply(text("Answer from the server.")))
    # The first turn must still run when the chat below has started and answered (seconds on a busy
    # machine): the suite's 2 s stream timeout would end the hang early with a retry.
    cw.extra_env["COWORK_STREAM_TIMEOUT"] = "60"
    server = cw.popen("serve", "--port", "0", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        line = server.stdout.readline()  # type: ignore[union-attr]
        match = re.search(r"listening on (http://\S+)", line)
        assert match, line
        url = match.group(1)
        chat = ["chat", "--server", url, "--dir", str(cw.workspace)]
        no_model = {"OPENAI_BASE_URL": None}  # the model runs in the server, not in the chat

        # Another client's turn is running in the session: a message is refused, the chat goes on.
        with Client(url) as client:
            info = client.create_session(str(cw.workspace), model=MODEL)
            client.start_turn(info.id, "a long job")
            srv.wait_for_requests(1, timeout=10)
            res = cw.run(*chat, "--session", info.id, input="hello\n/models\n", env=no_model)
            assert client.interrupt_turn(info.id)
        assert res.code == 0, res.explain()
        assert "a turn is running in this session" in res.stdout
        assert "already has a running turn" in res.stdout and "usable" in res.stdout

        res = cw.run(*chat, "--continue", input="hi server\n", env=no_model)
        assert res.code == 0, res.explain()
        assert f"session {info.id}" in res.stdout
        assert "› a long job" in res.stdout and "interrupted" in res.stdout  # the replay
        assert "Answer from the server." in res.stdout
    finally:
        server.terminate()
        server.communicate(timeout=10)
    assert len(srv.requests) == 2


def test_repl_reports_refused_turns_and_completes_arguments() -> None:
    """In-process: what the REPL prints for errors the server answers, and what Tab offers."""
    class Refusing:
        async def start_turn(self, session_id: str, text: str) -> None:
            raise CoworkError(ErrorCode.MODEL_CONFIG, "openai:gpt-x needs OPENAI_API_KEY")

        async def skills_get(self, **params: object) -> None:  # `/nope` is looked up as a skill first
            raise CoworkError(ErrorCode.NOT_FOUND, "no skill named 'nope'")

    class Lines:
        def __init__(self, *lines: str) -> None:
            self.lines = list(lines)

        async def read(self) -> str | None:
            return self.lines.pop(0) if self.lines else None

    buf = io.StringIO()
    console = Console(file=buf, width=120)
    chat = chat_cli.Chat(Refusing(), Path("/tmp"), console, console)  # type: ignore[arg-type]
    chat.session, chat.sub = SimpleNamespace(id="ses_1", title="t", mode="default"), object()  # type: ignore[assignment]
    assert asyncio.run(chat_cli.repl(chat, Lines("hello", "/mode sideways", "/nope", "/exit", "never read"))) == 0
    printed = buf.getvalue()
    assert "error: openai:gpt-x needs OPENAI_API_KEY" in printed
    assert "usage: /mode default|accept-edits|read-only|plan|yolo" in printed
    assert "unknown command /nope" in printed and "/resume" in printed

    chat.session_choices = [("ses_abc", "first"), ("ses_abd", "second")]
    chat.model_choices = [("openai:gpt-5.1", ""), ("local:smollm2-135m", "")]
    assert [c[0] for c in chat_cli.complete(chat, "/mo")] == ["/model ", "/models", "/mode "]
    assert [c[0] for c in chat_cli.complete(chat, "/resume ses_ab")] == ["ses_abc", "ses_abd"]
    assert [(c[0], c[1]) for c in chat_cli.complete(chat, "/model loc")] == [("local:smollm2-135m", -3)]
    assert [c[0] for c in chat_cli.complete(chat, "/mode ")] == ["default", "accept-edits", "read-only", "plan", "yolo"]
    assert list(chat_cli.complete(chat, "hello /mo")) == []


def test_unknown_server_or_session_is_a_usage_error(cw: Cowork) -> None:
    res = cw.run("chat", "--dir", str(cw.workspace), "--session", "ses_nope", input="")
    assert res.code == 2 and "ses_nope" in res.stderr, res.explain()
