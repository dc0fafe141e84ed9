"""The views around a turn, in a real browser: the session list (sessions from any client, search,
workspace filter, deep links, an unknown id, rename, fork, delete), settings (models, keys that
are never shown back, server status), the context panel (skills with shadowing, `/NAME request`,
an MCP server from PyPI), the 360 px layout and the dark theme."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from fakemodel import FakeModelServer, reply, text
from web_support import Cowork, shot, tid


def titles(page) -> list[str]:
    return [e.text_content() for e in page.query_selector_all(f'{tid("session-item")} .session-title')]


def wait_titles(page, expected: list[str]) -> None:
    page.wait_for_function("""expected => JSON.stringify([...document.querySelectorAll(
        '[data-testid="session-item"] .session-title')].map((e) => e.textContent)) === JSON.stringify(expected)""",
                           arg=expected)


def test_session_list_search_filter_deep_links_and_session_actions(
        cowork: Cowork, new_page, workspace: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    first = cowork.create_session(workspace, title="alpha report")
    cowork.create_session(other, title="beta fix")
    page = new_page(f"{cowork.url}/")
    wait_titles(page, ["beta fix", "alpha report"])  # newest first
    # A session started by another client appears without a reload.
    cowork.create_session(workspace, title="gamma from the CLI")
    wait_titles(page, ["gamma from the CLI", "beta fix", "alpha report"])

    page.fill(tid("session-search"), "BETA")
    wait_titles(page, ["beta fix"])
    page.fill(tid("session-search"), "nothing like this")
    page.wait_for_selector("text=No session matches.")
    page.fill(tid("session-search"), "")
    page.select_option(tid("workspace-filter"), str(workspace))
    wait_titles(page, ["gamma from the CLI", "alpha report"])

    # Deep links open a session; an unknown id says so.
    page.goto(f"{cowork.url}/sessions/{first}")
    assert page.wait_for_selector(tid("session-title")).text_content() == "alpha report"
    assert page.get_attribute(f'{tid("session-item")}[aria-current="page"]', "data-session-id") == first
    page.goto(f"{cowork.url}/sessions/ses_doesnotexist")
    assert "No such session" in page.wait_for_selector(tid("session-missing")).text_content()
    page.goto(f"{cowork.url}/sessions/{'x' * 300}")
    page.wait_for_selector(tid("session-missing"))

    page.goto(f"{cowork.url}/sessions/{first}")
    page.click(tid("rename"))
    page.fill(tid("rename-input"), "alpha report, final")
    page.keyboard.press("Enter")
    page.wait_for_selector(f'{tid("session-title")}:has-text("alpha report, final")')
    assert cowork.rest("GET", f"/sessions/{first}").json()["session"]["title"] == "alpha report, final"
    page.click(tid("fork"))
    page.wait_for_function("id => !location.pathname.endsWith(id)", arg=first)
    fork_id = page.url.rsplit("/", 1)[1]
    page.wait_for_selector(f'{tid("session-view")}[data-session-id="{fork_id}"]')
    page.once("dialog", lambda d: d.accept())
    page.click(tid("delete"))
    page.wait_for_url(f"{cowork.url}/")
    assert cowork.rest("GET", f"/sessions/{fork_id}").status_code == 404
    page.select_option(tid("workspace-filter"), "")
    page.wait_for_selector(f'{tid("session-item")}[data-session-id="{first}"]')
    assert page.query_selector(f'{tid("session-item")}[data-session-id="{fork_id}"]') is None


def test_a_workspace_the_server_cannot_use_is_refused_with_its_reason(cowork: Cowork, new_page, tmp_path: Path) -> None:
    page = new_page(f"{cowork.url}/new")
    page.fill(tid("new-workspace"), str(tmp_path / "no-such-folder"))
    page.click(tid("new-create"))
    assert "no-such-folder" in page.wait_for_selector(tid("new-error")).text_content()
    assert cowork.rest("GET", "/sessions").json()["sessions"] == []


def test_settings_list_models_set_and_remove_a_key_never_shown_back_and_show_the_sandbox(
        cowork: Cowork, new_page) -> None:
    page = new_page(f"{cowork.url}/settings")
    assert page.wait_for_selector(tid("model-row", model="openai:fake")).is_visible()
    page.wait_for_selector(tid("sandbox-status"))
    assert page.query_selector_all(tid("status-check"))
    row = tid("provider-row", provider="anthropic")
    page.fill(f"{row} {tid('key-input')}", "sk-ant-test-never-shown")
    page.click(f"{row} {tid('key-save')}")
    page.wait_for_selector(f'{tid("providers-note")}:has-text("Saved the key of anthropic")')
    assert "stored" in page.text_content(f"{row} {tid('provider-key-state')}")
    assert page.input_value(f"{row} {tid('key-input')}") == ""
    shot(page, "settings")
    page.reload()
    page.wait_for_selector(f"{row} {tid('key-remove')}")
    assert "sk-ant-test-never-shown" not in page.content()
    assert "sk-ant-test-never-shown" not in cowork.rest("GET", "/keys").text
    page.click(f"{row} {tid('key-remove')}")
    page.wait_for_selector(f'{tid("providers-note")}:has-text("Removed the stored key of anthropic")')
    assert page.query_selector(f"{row} {tid('key-remove')}") is None


def test_context_panel_lists_skills_with_shadowing_runs_a_skill_by_name_and_shows_an_mcp_server(
        cowork: Cowork, fake: FakeModelServer, new_page, workspace: Path, home: Path) -> None:
    skill = workspace / ".cowork" / "skills" / "pdf"
    skill.mkdir(parents=True)
    (skill / "SKILL.md").write_text("---\nname: pdf\ndescription: Our own PDF rules for this project.\n---\n\n"
                                    "Always say PROJECT-PDF-RULES when you handle a PDF.\n")
    time_server = Path(sys.executable).parent / "mcp-server-time"  # mcp-server-time from PyPI
    (home / "mcp.json").write_text(json.dumps(
        {"mcpServers": {"time": {"command": str(time_server), "args": ["--local-timezone", "UTC"]}}}))
    fake.script(reply(text("Done with the PDF.")))
    sid = cowork.create_session(workspace, title="context")
    page = new_page(f"{cowork.url}/sessions/{sid}")
    page.click(tid("toggle-context"))
    panel = page.wait_for_selector(tid("context-panel"))
    page.wait_for_selector(tid("skill", name="pdf", offered="true"))
    page.wait_for_selector(tid("skill", name="pdf", offered="false"))
    assert "Our own PDF rules" in page.text_content(tid("skill", name="pdf", offered="true"))
    assert "hidden by" in page.text_content(tid("skill", name="pdf", offered="false"))
    page.wait_for_selector(tid("mcp-server", name="time", status="ready"), timeout=30_000)
    page.click(f'{tid("mcp-server", name="time")} summary')
    assert "get_current_time" in page.text_content(tid("mcp-server", name="time"))
    shot(page, "context")

    page.click(f'{tid("skill", name="pdf", offered="true")} {tid("skill-use")}')
    page.wait_for_function("() => document.activeElement.id === 'composer-input'")
    assert page.input_value(tid("composer-input")) == "/pdf "
    page.keyboard.type("extract page 2 of report.pdf")
    page.keyboard.press("Enter")
    page.wait_for_selector(f'{tid("turn")}[data-status="completed"]')
    sent = [m["content"] for m in fake.requests[-1]["messages"] if m["role"] == "user"][-1]
    sent = sent if isinstance(sent, str) else json.dumps(sent)
    assert "extract page 2 of report.pdf" in sent and "PROJECT-PDF-RULES" in sent
    assert panel.is_visible()


def test_a_360px_screen_and_the_dark_theme(cowork: Cowork, fake: FakeModelServer, new_page, workspace: Path) -> None:
    fake.script(reply(text("A short answer with `code` and a list:\n\n- one\n- two\n")))
    sid = cowork.create_session(workspace, title="small screen")
    page = new_page(f"{cowork.url}/sessions/{sid}", viewport={"width": 360, "height": 740}, has_touch=True)
    page.fill(tid("composer-input"), "hello from a phone")
    page.click(tid("send"))
    page.wait_for_selector(f'{tid("turn")}[data-status="completed"]')
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    assert not page.is_visible(tid("session-list"))  # the sidebar folds away
    shot(page, "mobile")
    page.click('button[aria-controls="sidebar"]')
    page.wait_for_selector(f'{tid("session-list")} {tid("session-item")}', state="visible")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360

    dark = new_page(f"{cowork.url}/sessions/{sid}", color_scheme="dark")
    dark.wait_for_selector(f'{tid("turn")}[data-status="completed"]')
    light = new_page(f"{cowork.url}/sessions/{sid}", color_scheme="light")
    background = "getComputedStyle(document.body).backgroundColor"
    assert dark.evaluate(background) != light.evaluate(background)
    shot(dark, "dark")


def test_a_connection_that_never_answers_is_dropped_and_tried_again(cowork: Cowork, browser) -> None:
    """The first WebSocket opens but its ``initialize`` is never answered (a proxy or a server that
    hangs): the page does not stay on "Connecting" for ever; the next connection goes through."""
    ctx = browser.new_context()
    attempts: list[str] = []

    def route(ws) -> None:
        attempts.append(ws.url)
        if len(attempts) > 1:
            ws.connect_to_server()  # from the second attempt on: the real server
        # the first: accepted, then silence

    try:
        page = ctx.new_page()
        page.route_web_socket("**/ws", route)
        page.goto(f"{cowork.url}/")
        page.wait_for_selector(tid("connection-banner", status="connecting"))
        page.wait_for_selector('[data-testid="app"][data-status="open"]', timeout=20_000)
        assert len(attempts) == 2
    finally:
        ctx.close()
