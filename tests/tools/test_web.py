"""web_fetch against a real HTTP server on 127.0.0.1 (no other network)."""

from __future__ import annotations

import errno
import http.server
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import cowork.tools.web as web
from cowork.tools import get_tool
from cowork.tools.base import ToolContext, ToolError, ToolResult

PAGE = b"""<!doctype html><html><head><title>Test page</title>
<style>body { color: red }</style><script>var secret = "do not show";</script></head>
<body><h1>Main title</h1><p>Some <b>bold</b> text and a <a href="/next">link</a>.</p>
<ul><li>one</li><li>two</li></ul><noscript>enable js</noscript></body></html>"""


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def send(self, status: int, ctype: str | None, body: bytes, length: bool = True) -> None:
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        if length:
            self.send_header("Content-Length", str(len(body)))
        else:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        path = self.path
        if path == "/html":
            self.send(200, "text/html; charset=utf-8", PAGE)
        elif path == "/text":
            self.send(200, "text/plain; charset=utf-8", "plain text, ünïcode\n".encode())
        elif path == "/latin1":
            self.send(200, "text/plain; charset=iso-8859-1", "caf\xe9".encode("latin-1"))
        elif path == "/json":
            self.send(200, "application/json", json.dumps({"a": [1, 2]}).encode())
        elif path == "/image":
            self.send(200, "image/png", b"\x89PNG\r\n\x1a\n" + b"\0" * 100)
        elif path == "/big":
            self.send(200, "text/plain", b"x" * (6 * 1024 * 1024))
        elif path == "/big-stream":  # no Content-Length: the client must stop on its own
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Connection", "close")
            self.end_headers()
            try:
                for _ in range(12 * 1024):
                    self.wfile.write(b"y" * 1024)
            except (BrokenPipeError, ConnectionResetError):
                pass
        elif path == "/long":
            self.send(200, "text/plain", b"abcdefghij" * 100)
        elif path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/text")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif path.startswith("/loop"):
            n = int(path.removeprefix("/loop") or 0)
            self.send_response(302)
            self.send_header("Location", f"/loop{n + 1}")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif path == "/missing":
            self.send(404, "text/html", b"<html><body><p>No such page</p></body></html>")
        elif path == "/boom":
            self.send(500, "text/plain", b"internal failure")
        elif path == "/slow":
            time.sleep(3)
            self.send(200, "text/plain", b"late")
        else:
            self.send(404, "text/plain", b"unknown route")


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


async def fetch(url: str, **kwargs) -> ToolResult:
    tool = get_tool("web_fetch")
    ctx = ToolContext(workspace=Path.cwd())
    return await tool.run(tool.Args.model_validate({"url": url, **kwargs}), ctx)


async def test_html_becomes_markdown(server: str) -> None:
    res = await fetch(f"{server}/html")
    assert not res.is_error
    assert res.output.startswith(f"URL: {server}/html\nContent-Type: text/html\n\n")
    assert "# Main title" in res.output
    assert "**bold**" in res.output and "[link](/next)" in res.output
    assert "- one" in res.output and "- two" in res.output
    assert "secret" not in res.output and "color: red" not in res.output
    assert "enable js" not in res.output
    assert res.metadata["status"] == 200


async def test_text_and_json_as_is(server: str) -> None:
    res = await fetch(f"{server}/text")
    assert res.output.endswith("\n\nplain text, ünïcode\n")
    res = await fetch(f"{server}/json")
    assert res.output.endswith('\n\n{"a": [1, 2]}')
    res = await fetch(f"{server}/latin1")
    assert res.output.endswith("\n\ncafé")


async def test_redirect_followed_and_loop_refused(server: str) -> None:
    res = await fetch(f"{server}/redirect")
    assert res.output.startswith(f"URL: {server}/text\n") and "plain text" in res.output
    with pytest.raises(ToolError, match="too many redirects"):
        await fetch(f"{server}/loop")


async def test_binary_types_refused(server: str) -> None:
    with pytest.raises(ToolError, match="image/png"):
        await fetch(f"{server}/image")


async def test_big_bodies_refused(server: str) -> None:
    with pytest.raises(ToolError, match="5 MiB limit"):
        await fetch(f"{server}/big")
    with pytest.raises(ToolError, match="5 MiB limit; stopped reading"):
        await fetch(f"{server}/big-stream")


async def test_max_length_truncates_with_note(server: str) -> None:
    res = await fetch(f"{server}/long", max_length=25)
    body = res.output.split("\n\n", 1)[1]
    assert body == "abcdefghijabcdefghijabcde\n\n[truncated: showing 25 of 1,000 characters]"


async def test_http_errors_are_error_results(server: str) -> None:
    res = await fetch(f"{server}/missing")
    assert res.is_error and res.output.startswith(f"HTTP 404 Not Found from {server}/missing")
    assert "No such page" in res.output and res.metadata["status"] == 404
    res = await fetch(f"{server}/boom")
    assert res.is_error and "HTTP 500" in res.output and "internal failure" in res.output


async def test_total_timeout(server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(web, "TOTAL_TIMEOUT_S", 0.5)
    started = time.monotonic()
    with pytest.raises(ToolError, match="timed out"):
        await fetch(f"{server}/slow")
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("url", ["ftp://example.com/x", "file:///etc/passwd", "javascript:1",
                                 "example.com/page", "http://"])
async def test_bad_urls_refused(url: str) -> None:
    with pytest.raises(ToolError):
        await fetch(url)


async def test_connection_refused() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    with pytest.raises(ToolError, match="could not connect to 127.0.0.1: connection refused"):
        await fetch(f"http://127.0.0.1:{port}/")


def _wrapped(os_error: OSError) -> httpx.ConnectError:
    """An httpx.ConnectError chained to an OS error, as httpx raises it."""
    try:
        try:
            raise os_error
        except OSError as inner:
            raise httpx.ConnectError(str(inner)) from inner
    except httpx.ConnectError as outer:
        return outer


def test_offline_messages() -> None:
    dns = _wrapped(socket.gaierror(socket.EAI_NONAME, "Name or service not known"))
    assert web.describe_connect_error(dns, "example.com").startswith(
        "could not resolve host example.com: Name or service not known (are you offline"
    )
    unreachable = _wrapped(OSError(errno.ENETUNREACH, "Network is unreachable"))
    assert web.describe_connect_error(unreachable, "example.com") == (
        "could not connect to example.com: network unreachable (are you offline?)"
    )
    plain = httpx.ConnectError("[Errno -3] Temporary failure in name resolution")
    assert "could not resolve host example.com" in web.describe_connect_error(plain, "example.com")


def test_html_to_markdown_strips_scripts() -> None:
    md = web.html_to_markdown("<h2>T</h2><script>alert(1)</script><p>a</p><style>p{}</style>")
    assert md == "## T\n\na"
