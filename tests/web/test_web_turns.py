"""A turn driven from the browser: create a session, send a message, answer its approvals (once,
deny with a reason the model then reads, two pages racing, keyboard only), and see the live
transcript survive a dropped WebSocket with no gap and no duplicate."""

from __future__ import annotations

import json
import time
from pathlib import Path

from fakemodel import FakeModelServer, reply, text, tool_call
from web_support import Cowork, shot, tid

CARD_PENDING = tid("approval-card", state="pending")


def wait_turn(page, status: str = "completed", n: int = 1) -> None:
    page.wait_for_selector(f'{tid("turn")}:nth-of-type({n})[data-status="{status}"]')


def tool_messages(fake: FakeModelServer) -> list[str]:
    """The tool results the model was sent, in the last request."""
    return [m.get("content") or "" for m in fake.requests[-1]["messages"] if m.get("role") == "tool"]


def test_create_a_session_and_run_a_turn_that_writes_edits_and_runs_a_command(
        cowork: Cowork, fake: FakeModelServer, new_page, workspace: Path) -> None:
    fake.script(
        reply(tool_call("write", {"path": "notes.md", "content": "# Notes\n\nfirst line\n"})),
        reply(tool_call("edit", {"path": "notes.md", "old_string": "first line", "new_string": "edited line"})),
        reply(tool_call("bash", {"command": "wc -l notes.md | tee count.txt"})),
        reply(text("Wrote **notes.md**, edited it and counted its lines:\n\n```python\nprint('3 lines')\n```\n")),
    )
    page = new_page(f"{cowork.url}/new?workspace={workspace}")
    page.fill(tid("new-title"), "Notes for the web test")
    page.select_option(tid("new-mode"), "default")
    page.click(tid("new-create"))
    page.wait_for_selector(tid("session-view"))
    assert page.text_content(tid("session-title")) == "Notes for the web test"
    assert page.text_content(tid("session-workspace")) == str(workspace)

    page.fill(tid("composer-input"), "Write notes.md, edit it, count its lines")
    page.keyboard.press("Enter")

    for tool in ("write", "edit", "bash"):
        card = page.wait_for_selector(f'{CARD_PENDING}[aria-label="approval: {tool}"]')
        if tool == "edit":
            assert "edited line" in card.text_content()  # the diff the edit would make
            shot(page, "approval")
        if tool == "bash":
            assert "$ wc -l notes.md | tee count.txt" in card.text_content()
        card.query_selector(tid("approval-once")).click()

    wait_turn(page)
    assert (workspace / "notes.md").read_text() == "# Notes\n\nedited line\n"
    assert (workspace / "count.txt").read_text() == "3 notes.md\n"
    rows = page.query_selector_all(tid("tool-call"))
    assert [(r.get_attribute("data-tool"), r.get_attribute("data-status")) for r in rows] == [
        ("write", "completed"), ("edit", "completed"), ("bash", "completed")]
    # The command's output, behind its one-line summary.
    rows[2].query_selector(tid("tool-call-summary")).click()
    details = page.wait_for_selector(f'{tid("tool-call", tool="bash")} {tid("tool-call-details")}')
    assert "3 notes.md" in details.text_content() and "exit 0" in details.text_content()
    answer = page.query_selector(tid("assistant-message"))
    assert answer.query_selector("strong").text_content() == "notes.md"
    assert answer.query_selector("pre code.hljs") is not None  # the code block, highlighted
    footer = page.text_content(tid("turn-footer"))
    assert " in" in footer and " out" in footer  # tokens per turn
    shot(page, "session")


def test_approve_one_call_and_deny_another_with_a_reason_the_model_reads(
        cowork: Cowork, fake: FakeModelServer, new_page, workspace: Path) -> None:
    (workspace / "build").mkdir()
    (workspace / "build" / "keep.txt").write_text("needed\n")
    fake.script(
        reply(tool_call("write", {"path": "a.txt", "content": "A\n"})),
        reply(tool_call("bash", {"command": "rm -rf build"})),
        reply(text("Understood: build stays.")),
    )
    sid = cowork.create_session(workspace, title="deny test")
    page = new_page(f"{cowork.url}/sessions/{sid}")
    page.fill(tid("composer-input"), "write a.txt then clean up")
    page.click(tid("send"))
    page.wait_for_selector(f'{CARD_PENDING}[aria-label="approval: write"] {tid("approval-once")}').click()
    bash = page.wait_for_selector(f'{CARD_PENDING}[aria-label="approval: bash"]')
    bash.query_selector(tid("approval-deny")).click()
    page.fill(tid("approval-reason"), "build/ holds release files: never delete it")
    page.click(tid("approval-deny-confirm"))
    answered = page.wait_for_selector(f'[aria-label="approval: bash"] {tid("approval-answered-by")}')
    assert "Denied in cowork-web" in answered.text_content()
    assert "never delete it" in answered.text_content()
    wait_turn(page)

    assert (workspace / "a.txt").read_text() == "A\n"
    assert (workspace / "build" / "keep.txt").exists()
    results = tool_messages(fake)
    assert len(results) == 2 and "never delete it" in results[1], results
    assert page.get_attribute(tid("tool-call", tool="bash"), "data-status") == "denied"


def test_two_pages_race_to_answer_one_approval_and_the_first_answer_wins(
        cowork: Cowork, fake: FakeModelServer, new_page, workspace: Path) -> None:
    fake.script(reply(tool_call("write", {"path": "once.txt", "content": "1\n"})), reply(text("done")))
    sid = cowork.create_session(workspace, title="race")
    first = new_page(f"{cowork.url}/sessions/{sid}")
    second = new_page(f"{cowork.url}/sessions/{sid}")
    first.fill(tid("composer-input"), "write once.txt")
    first.keyboard.press("Enter")
    for page in (first, second):
        page.wait_for_selector(f"{CARD_PENDING} {tid('approval-once')}")
    # Both pages click at the same wall-clock moment, each from its own renderer process.
    at = int(time.time() * 1000) + 400
    for page in (first, second):
        page.evaluate("""at => setTimeout(() => document.querySelector(
            '[data-testid="approval-card"][data-state="pending"] [data-testid="approval-once"]').click(),
            at - Date.now())""", at)
    for page in (first, second):
        done = page.wait_for_selector(tid("approval-answered-by"))
        assert "Allowed once in cowork-web" in done.text_content()
        wait_turn(page)
    assert (workspace / "once.txt").read_text() == "1\n"
    events = cowork.rest("GET", f"/sessions/{sid}/events", params={"follow": "false"}).text
    resolved = [json.loads(line[5:]) for line in events.splitlines()
                if line.startswith("data:") and '"approval.resolved"' in line]
    assert len(resolved) == 1, resolved  # one answer counted; the other page was told it lost
    assert resolved[0]["answered_by"].startswith("cowork-web")
    # A card stays a moment saying who answered, then goes on every page.
    for page in (first, second):
        page.wait_for_selector(tid("approval-card"), state="detached", timeout=6000)


def test_a_dropped_websocket_mid_stream_resumes_with_no_gap_and_no_duplicate(
        cowork: Cowork, fake: FakeModelServer, new_page, workspace: Path) -> None:
    words = " ".join(f"word{i:03d}" for i in range(150))
    fake.script(reply(text(words, chunk_size=6), delay=0.02))  # ~190 chunks over ~4 s
    sid = cowork.create_session(workspace, title="stream", mode="yolo")
    page = new_page(f"{cowork.url}/sessions/{sid}")
    other = new_page(f"{cowork.url}/sessions/{sid}")  # a second tab stays in step
    page.fill(tid("composer-input"), "stream something long")
    page.keyboard.press("Enter")
    page.wait_for_function("""() => {
        const m = document.querySelector('[data-testid="assistant-message"]');
        return m && m.textContent.includes('word010');
    }""")
    page.evaluate("coworkClient.dropConnection()")
    page.wait_for_selector(tid("connection-banner", status="reconnecting"))
    assert not page.text_content(tid("assistant-message")).strip().endswith("word149")
    page.wait_for_selector('[data-testid="app"][data-status="open"]')
    for p in (page, other):
        wait_turn(p)
        assert p.text_content(tid("assistant-message")).strip() == words
        assert len(p.query_selector_all(tid("assistant-message"))) == 1
        assert len(p.query_selector_all(tid("turn"))) == 1
    last = page.get_attribute(tid("session-view"), "data-last-seq")
    assert last == other.get_attribute(tid("session-view"), "data-last-seq")
    info = cowork.rest("GET", f"/sessions/{sid}").json()["session"]
    assert int(last) == info["last_seq"]


def test_keyboard_alone_sends_approves_denies_and_interrupts(
        cowork: Cowork, fake: FakeModelServer, new_page, workspace: Path) -> None:
    fake.script(
        reply(tool_call("write", {"path": "k.txt", "content": "keyboard\n"})),
        reply(tool_call("bash", {"command": "rm k.txt"})),
        reply(text("ok")),
        reply(text(" ".join(["slow"] * 400), chunk_size=4), delay=0.05),
    )
    sid = cowork.create_session(workspace, title="keys")
    page = new_page(f"{cowork.url}/sessions/{sid}")
    page.wait_for_selector("#composer-input")  # the session view is up (a busy machine renders it late)
    page.locator("body").press("/")  # `/` goes to the composer
    assert page.evaluate("document.activeElement.id") == "composer-input"
    page.keyboard.type("write k.txt")
    page.keyboard.press("Enter")
    page.wait_for_selector(f'{CARD_PENDING}[aria-label="approval: write"]')
    page.keyboard.press("Alt+KeyY")
    page.wait_for_selector(f'{CARD_PENDING}[aria-label="approval: bash"]')
    page.keyboard.press("Alt+KeyN")
    page.wait_for_selector(f'{tid("approval-reason")}:focus')
    page.keyboard.type("keep the file")
    page.keyboard.press("Enter")
    wait_turn(page)
    assert (workspace / "k.txt").read_text() == "keyboard\n"
    assert "keep the file" in tool_messages(fake)[1]

    page.locator("body").press("/")
    page.keyboard.type("now stream slowly")
    page.keyboard.press("Enter")
    page.wait_for_selector(tid("interrupt"))
    page.wait_for_selector(f'{tid("turn")}:nth-of-type(2) {tid("assistant-message")}')
    page.focus(tid("composer-input"))
    page.keyboard.press("Escape")
    wait_turn(page, "interrupted", 2)
    # Focus is visible: the focused control draws an outline.
    page.keyboard.press("Tab")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("", "none"), outline
