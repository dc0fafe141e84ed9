"""The web UI's routes: the single page at ``/``, ``/new``, ``/schedules/new``, ``/settings``, ``/memory`` and ``/sessions/{id}``,
and its files under ``/assets/`` (``server/web/`` in the package: no CDN, nothing fetched at run
time). The UI is a thin client of the protocol (``/ws``); this module only serves files.

Every answer here carries a strict Content-Security-Policy (scripts and styles only from this
server, no inline script, no eval, no plugins, no framing, connections only back to this origin)
plus ``nosniff``, ``no-referrer``, ``X-Frame-Options: DENY`` and a same-origin opener policy. The
Host and Origin checks of :mod:`.guard` run before these routes as before every other.
See docs/web.md, "Security model", and https://www.w3.org/TR/CSP3/.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

WEB_DIR = Path(__file__).with_name("web")
"""The UI's files: ``index.html``, ``css/``, ``js/`` and the vendored libraries in ``vendor/``."""

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
"""Sent with every UI answer. ``connect-src 'self'`` covers ``ws://`` and ``wss://`` to this same
host and port in CSP Level 3 browsers (https://www.w3.org/TR/CSP3/#match-url-to-source-list)."""

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}

PAGES = ("/", "/new", "/schedules/new", "/settings", "/memory", "/sessions/{session_id}")
"""Paths that answer with the single page (``index.html``); the page reads its route from the URL."""


def _secure(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    return response


class _Assets(StaticFiles):
    """Static files with the security headers; revalidated on every load (``no-cache``: the file
    names carry no content hash, so an upgraded cowork must not serve a stale script)."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers["Cache-Control"] = "no-cache"
        return _secure(response)


def install(app: FastAPI) -> None:
    """Add the page and ``/assets/`` routes to ``app``. Raises RuntimeError when the package was
    installed without its web files (``index.html`` missing)."""
    index = WEB_DIR / "index.html"
    if not index.is_file():
        raise RuntimeError(f"the web UI's files are missing from the package: {index}")

    async def page(request: Request) -> Response:
        return _secure(FileResponse(index, media_type="text/html; charset=utf-8",
                                    headers={"Cache-Control": "no-cache"}))

    for path in PAGES:
        app.add_api_route(path, page, methods=["GET"], include_in_schema=False)
    # gzip for browsers that ask (all do): the page's scripts are ~170 kB compressed, ~550 kB not
    app.mount("/assets", GZipMiddleware(_Assets(directory=WEB_DIR, follow_symlink=False), minimum_size=1024),
              name="assets")
