"""The web UI under attack, in a real browser: untrusted model text and tool output run nothing,
a page on another origin cannot drive cowork (CSRF), a name rebound to 127.0.0.1 is refused (DNS
rebinding), and a read-only token gets a redacted view whose controls are hidden and refused."""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from fakemodel import FakeModelServer, reply, text, tool_call
from server_support import MODEL
from web_support import EVIL_HOST, REBIND_HOST, Cowork, shot, start_cowork, tid

PAYLOADS = """Here are some dangerous things:

<script>window.__pwned = 'script'</script>
<img src="x" onerror="window.__pwned = 'img'">
<svg onload="window.__pwned = 'svg'"><circle r="1"/></svg>
<iframe src="javascript:window.__pwned = 'iframe'"></iframe>
<a href="javascript:window.__pwned = 'raw-a'" id="raw-link">raw link</a>

[markdown link](javascript:window.__pwned='md-link') and [data](data:text/html,<script>alert(1)</script>)

`<b>code stays text</b>`
"""


def test_model_text_and_tool_output_with_script_payloads_run_nothing(
        cowork: Cowork, fake: FakeModelServer, new_page, workspace: Path) -> None:
    evil_output = "<img src=x onerror=\"window.__pwned='output'\"><script>window.__pwned='output-script'</script>"
    fake.script(
        reply(tool_call("bash", {"command": f"printf '%s' '{evil_output}'"})),
        reply(tool_call("write", {"path": "<img src=x onerror=alert(1)>.md", "content": "<script>x</script>"})),
        reply(text(PAYLOADS)),
    )
    sid = cowork.create_session(workspace, title="<img src=x onerror=\"window.__pwned='title'\">", mode="yolo")
    page = new_page(f"{cowork.url}/sessions/{sid}")
    page.fill(tid("composer-input"), "<script>window.__pwned='user'</script> show me")
    page.keyboard.press("Enter")
    page.wait_for_selector(f'{tid("turn")}[data-status="completed"]')
    for row in page.query_selector_all(tid("tool-call-summary")):
        row.click()  # render arguments and output
    page.wait_for_selector(f'{tid("tool-call-details")} >> text=output-script')
    page.click("text=markdown link")
    page.click("text=raw link")
    page.wait_for_timeout(300)

    assert page.evaluate("window.__pwned") is None
    found = page.evaluate("""() => {
        const root = document.getElementById('root');
        const bad = [];
        for (const el of root.querySelectorAll('*')) {
            if (['SCRIPT', 'IFRAME', 'OBJECT', 'EMBED'].includes(el.tagName)) bad.push(el.tagName);
            for (const a of el.attributes) {
                if (a.name.startsWith('on')) bad.push(el.tagName + ' ' + a.name);
                if (['href', 'src', 'action', 'formaction'].includes(a.name) && /^\\s*(javascript|data):/i.test(a.value)) bad.push(el.tagName + ' ' + a.value);
            }
        }
        return bad;
    }""")
    assert found == []
    answer = page.text_content(tid("assistant-message"))
    assert "<b>code stays text</b>" in answer  # shown as text, not markup
    assert "window.__pwned='user'" in page.text_content(tid("user-message"))
    assert "window.__pwned='title'" in page.text_content(tid("session-title"))
    assert (workspace / "<img src=x onerror=alert(1)>.md").exists()


class _Site(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def other_site(folder: Path) -> Iterator[int]:
    """A static web server for ``folder`` on a free loopback port: another origin."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Site, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


ATTACK = """<!doctype html><meta charset="utf-8"><title>evil</title><script>
window.results = {};
(async () => {
  const target = %(target)s, body = JSON.stringify({workspace: %(workspace)s, model: %(model)s, title: 'csrf'});
  try {  // a "simple" request: no preflight, so only the server can refuse it
    const r = await fetch(target + '/api/v1/sessions', {method: 'POST', mode: 'no-cors',
      headers: {'Content-Type': 'text/plain'}, body});
    results.post = r.type;
  } catch (e) { results.post = 'error'; }
  try { results.read = await (await fetch(target + '/api/v1/sessions')).text(); } catch (e) { results.read = 'blocked'; }
  results.ws = await new Promise((done) => {
    const ws = new WebSocket(target.replace('http:', 'ws:') + '/ws');
    ws.onopen = () => { ws.send(JSON.stringify({jsonrpc: '2.0', id: 1, method: 'session/create', params: JSON.parse(body)})); done('open'); };
    ws.onerror = () => done('refused');
  });
  results.done = true;
})();
</script>"""


def test_a_page_on_another_origin_cannot_post_or_open_a_websocket(
        cowork: Cowork, new_page, workspace: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "attack.html").write_text(ATTACK % {
        "target": json.dumps(cowork.url), "workspace": json.dumps(str(workspace)), "model": json.dumps(MODEL)})
    with other_site(site) as port:
        page = new_page(f"http://{EVIL_HOST}:{port}/attack.html", wait_connected=False)
        page.wait_for_function("window.results && window.results.done")
        results = page.evaluate("window.results")
    assert results["ws"] == "refused", results
    assert results["read"] == "blocked", results  # no CORS headers: the answer is not readable either
    sessions = cowork.rest("GET", "/sessions").json()["sessions"]
    assert sessions == [], sessions


def test_a_name_rebound_to_loopback_is_refused(cowork: Cowork, new_page, workspace: Path) -> None:
    port = urlsplit(cowork.url).port
    page = new_page(f"http://{REBIND_HOST}:{port}/", wait_connected=False)
    assert page.evaluate("document.body.textContent").count("-32005") == 1  # FORBIDDEN: the Host is not ours
    status = page.evaluate("""async (ws) => (await fetch('/api/v1/sessions', {method: 'POST',
        headers: {'Content-Type': 'application/json'}, body: JSON.stringify({workspace: ws, model: 'openai:fake'})})).status""",
                           str(workspace))
    assert status == 403
    assert cowork.rest("GET", "/sessions").json()["sessions"] == []


@pytest.fixture
def remote_cowork(home: Path, fake: FakeModelServer, tmp_path: Path) -> Iterator[Cowork]:
    """``cowork serve --host 0.0.0.0``: every client needs a token; reached here at 127.0.0.1."""
    c = start_cowork(home, fake.base_url, tmp_path / "logs", "--host", "0.0.0.0")
    c.url = c.url.replace("0.0.0.0", "127.0.0.1")
    yield c
    c.stop()


def test_a_read_only_token_gets_a_redacted_view_with_its_controls_hidden_and_refused(
        remote_cowork: Cowork, fake: FakeModelServer, new_page, workspace: Path, home: Path) -> None:
    full = (home / "server-token").read_text().strip()
    read_only = (home / "server-token-read-only").read_text().strip()
    auth = {"Authorization": f"Bearer {full}"}
    fake.script(reply(tool_call("write", {"path": "secret-plan.txt", "content": "x"})), reply(text("done")))
    r = remote_cowork.rest("POST", "/sessions", headers=auth,
                           json={"workspace": str(workspace), "model": MODEL, "title": "private title"})
    sid = r.json()["session"]["id"]
    remote_cowork.rest("POST", f"/sessions/{sid}/turns", headers=auth,
                       json={"input": [{"type": "text", "text": "my private words"}]})

    page = new_page(f"{remote_cowork.url}/sessions/{sid}", wait_connected=False)
    page.wait_for_selector(tid("token-prompt"))  # asked once, never in a URL
    page.fill(tid("token-input"), read_only)
    page.click(tid("token-submit"))
    page.wait_for_selector('[data-testid="app"][data-status="open"][data-read-only="true"]')
    assert read_only not in page.url
    assert page.evaluate("sessionStorage.getItem('cowork.token')") == read_only
    card = page.wait_for_selector(tid("approval-card", state="pending"))
    shot(page, "read-only")

    assert page.is_visible(tid("read-only-badge")) and page.is_visible(tid("composer-readonly"))
    for control in ("approval-once", "approval-deny", "composer-input", "new-session", "rename", "fork",
                    "delete", "mode-select", "rewind-turn"):
        assert page.query_selector(tid(control)) is None, control
    assert card.query_selector("button") is None
    shown = page.text_content("#root")
    for private in ("private title", "my private words", str(workspace)):
        assert private not in shown, private
    assert "[redacted]" in page.text_content(tid("session-title"))
    # The server refuses what the hidden controls would have sent.
    codes = page.evaluate("""async ([sid, approvalId]) => {
        const out = [];
        for (const [m, p] of [['turn/start', {sessionId: sid, input: [{type: 'text', text: 'x'}]}],
                              ['session/update', {sessionId: sid, title: 'mine'}],
                              ['approval/respond', {approvalId, decision: 'once'}]]) {
            try { await coworkClient.call(m, p); out.push('ok'); } catch (e) { out.push(e.code); }
        }
        return out;
    }""", [sid, card.get_attribute("data-approval-id")])
    assert codes == [-32003, -32003, -32003], codes
    assert not (workspace / "secret-plan.txt").exists()

    # A second tab of the same browser tab group needs the token again: it lives in this tab only.
    other = new_page(f"{remote_cowork.url}/", wait_connected=False)
    other.wait_for_selector(tid("token-prompt"))
