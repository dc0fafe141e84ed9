"""Subagents in the browser: a turn fans out to three subagents; the tree shows each one's status,
their approvals appear in the parent's page labelled with the subagent's task and are answered there,
and each spawn_agent call links to its subagent's own session."""

from __future__ import annotations

from pathlib import Path

from fakemodel import FakeModelServer
from fanout_script import TASKS, fan_out
from web_support import Cowork, shot, tid


def wait_count(page, selector: str, n: int, timeout_s: float = 15) -> None:
    """Wait until ``selector`` matches ``n`` elements (the page's CSP forbids wait_for_function)."""
    for _ in range(int(timeout_s * 20)):
        if len(page.query_selector_all(selector)) == n:
            return
        page.wait_for_timeout(50)
    raise AssertionError(f"{selector} matched {len(page.query_selector_all(selector))}, not {n}")


def test_subagents_show_as_a_tree_and_their_approvals_are_answered_in_the_parents_page(
        cowork: Cowork, fake: FakeModelServer, new_page, workspace: Path) -> None:
    fake.handler = fan_out(wait_timeout=60)
    sid = cowork.create_session(workspace, title="fan out")
    page = new_page(f"{cowork.url}/sessions/{sid}")
    page.fill(tid("composer-input"), "Fan out the three writes")
    page.click(tid("send"))
    pending = '[data-testid="approval-card"][data-state="pending"]'
    # one card per subagent, in the parent's page: all three wait at once
    wait_count(page, pending, 3)
    tree = page.wait_for_selector(tid("agent-tree"))
    wait_count(page, f'{tid("agent-tree")} [data-status="waiting_approval"]', 3)
    assert "3 working" in tree.text_content()
    titles = sorted(c.query_selector(".approval-title").text_content() for c in page.query_selector_all(pending))
    assert titles == [f"Subagent “{t}”: bash wants to run" for t in TASKS.values()]
    shot(page, "subagents")
    for _ in range(3):
        page.wait_for_selector(f"{pending} {tid('approval-once')}").click()
        page.wait_for_timeout(100)
    page.wait_for_selector(f'{tid("turn")}[data-status="completed"]', timeout=20_000)
    for name in TASKS:
        assert (workspace / f"{name}.txt").read_text() == f"{name}\n"
    rows = page.query_selector_all(f'{tid("tool-call", tool="spawn_agent")} {tid("subagent")}')
    assert [r.get_attribute("data-status") for r in rows] == ["completed"] * 3
    # a spawn_agent call links to its subagent's own session, which opens like any other
    child = rows[0].get_attribute("data-session-id")
    rows[0].click()
    page.wait_for_selector(f'{tid("session-view")}[data-session-id="{child}"]')
    page.wait_for_selector(f'{tid("tool-call", tool="bash")}[data-status="completed"]')
    assert "report: wrote" in page.text_content(tid("assistant-message"))
