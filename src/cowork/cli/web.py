"""``cowork web``: the web UI in a browser.

Without ``--server`` it uses the cowork server already listening on ``--host:--port`` (default
``127.0.0.1:8765``, what ``cowork serve`` binds) when there is one, else starts one in this process
and serves until Ctrl-C, like ``cowork serve``. With ``--dir`` it creates a session in that folder
(with ``--model`` and ``--mode``) and opens it; without, it opens the session list. The URL is always
printed; ``--no-open`` only prints it. A token is never put in the URL: on a server that needs one
the page asks for it (docs/web.md). Exit codes: 0 done (or stopped with Ctrl-C), 2 usage error
(missing folder, unusable model, unreachable ``--server``, address in use by something else).
"""

from __future__ import annotations

import asyncio
import errno
import threading
import time
import webbrowser
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

import httpx
import typer

from .common import err, out, usage_error
from .options import ServerOpt, TokenOpt, workspace_of

HOST_DEFAULT, PORT_DEFAULT = "127.0.0.1", 8765
MODES = ("default", "accept-edits", "read-only", "plan", "yolo")


def _http_url(server: str) -> str:
    """``ws://h:p/ws`` or ``http://h:p`` -> ``http://h:p`` (the page's origin)."""
    url = server.rstrip("/")
    if url.startswith(("ws://", "wss://")):
        url = "http" + url[2:]
    return url.removesuffix("/ws")


def _ws_url(http_url: str) -> str:
    return "ws" + http_url[4:] + "/ws"


def _is_cowork(http_url: str) -> bool:
    """True when a cowork server answers ``GET /api/v1/health`` at ``http_url``."""
    try:
        r = httpx.get(http_url + "/api/v1/health", timeout=2)
        return r.status_code in (200, 503) and "version" in r.json()
    except (httpx.HTTPError, ValueError):
        return False


def _page(http_url: str, workspace: Path | None, model: str | None, mode: str | None, token: str | None) -> str:
    """The URL to open: a new session in ``workspace`` (created over the protocol), else the list.
    Raises typer.Exit (usage error) when the server refuses the session."""
    if workspace is None:
        return http_url + "/"
    from ..client import ConnectionLost, CoworkError
    from ..client.sync import Client

    try:
        with Client(_ws_url(http_url), token=token, client_name="cowork-web-cli", reconnect=False) as client:
            session = client.create_session(str(workspace), model=model, mode=mode)  # type: ignore[arg-type]
    except (CoworkError, ConnectionLost) as exc:
        raise usage_error(getattr(exc, "message", None) or str(exc)) from None
    return f"{http_url}/sessions/{quote(session.id, safe='')}"


def _show(url: str, open_browser: bool) -> None:
    out.print(f"cowork web: {url}", highlight=False, soft_wrap=True)
    if open_browser and not webbrowser.open(url):
        out.print("no browser could be started here: open the address above in one", highlight=False)


def web(
    dir: Annotated[Path | None, typer.Option("--dir", "-C", help="Create a session in this folder and open it.")] = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
    host: Annotated[str, typer.Option(help="Address of the server to use or start.")] = HOST_DEFAULT,
    port: Annotated[int, typer.Option(help="Port of the server to use or start; 0 starts one on a free port.")] = PORT_DEFAULT,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Model of the new session (provider:model).")] = None,
    mode: Annotated[str | None, typer.Option(help=f"Mode of the new session: {', '.join(MODES)}.")] = None,
    no_open: Annotated[bool, typer.Option("--no-open", help="Print the address; do not start a browser.")] = False,
) -> None:
    """Open the web UI (starting a server when none is running) — watch, steer, approve and undo in a browser."""
    if mode is not None and mode not in MODES:
        raise usage_error(f"unknown mode {mode!r}: one of {', '.join(MODES)}")
    workspace = None
    if dir is not None:
        workspace = workspace_of(dir)
        if not workspace.is_dir():
            raise usage_error(f"no such folder: {workspace}")
    if server:
        url = _http_url(server)
        if not _is_cowork(url):
            raise usage_error(f"no cowork server answers at {url}")
        _show(_page(url, workspace, model, mode, token), not no_open)
        return

    from .inprocess import listen
    from .inprocess import serve as serve_forever

    try:
        auth, sock, token_lines = listen(host, port)
    except OSError as exc:
        existing = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
        if exc.errno == errno.EADDRINUSE and port and _is_cowork(existing):
            out.print(f"using the cowork server already listening on {existing}", highlight=False)
            _show(_page(existing, workspace, model, mode, token), not no_open)
            return
        raise usage_error(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise usage_error(str(exc)) from None

    def ready(url: str) -> None:
        out.print(f"cowork serve: listening on {url}; Ctrl-C stops it", highlight=False)
        for line in token_lines:
            out.print(line, highlight=False)
        threading.Thread(target=_open_when_up, args=(url,), name="cowork web", daemon=True).start()

    def _open_when_up(url: str) -> None:
        deadline = time.monotonic() + 30
        while not _is_cowork(url) and time.monotonic() < deadline:  # ready() runs just before serving
            time.sleep(0.05)
        try:
            _show(_page(url, workspace, model, mode, getattr(auth, "full_token", None)), not no_open)
        except typer.Exit:
            err.print("could not create the session (see above); the server keeps running", highlight=False)
        except Exception as exc:  # noqa: BLE001 - the server runs on; say what failed
            err.print(f"could not open the web UI: {exc}", highlight=False)

    asyncio.run(serve_forever(auth, sock, None, None, ready))
