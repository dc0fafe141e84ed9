"""The ``web_fetch`` tool: GET a URL and return it as text (HTML converted to Markdown).

httpx, markdownify and BeautifulSoup are imported on first use so importing the tool registry
stays cheap.
"""

from __future__ import annotations

import asyncio
import errno
import re
import socket
from typing import TYPE_CHECKING

from pydantic import Field

from cowork.tools.base import Tool, ToolArgs, ToolContext, ToolError, ToolResult, ToolTraits

if TYPE_CHECKING:
    import httpx

MAX_BODY_BYTES = 5 * 1024 * 1024
"""Largest response body read (bytes); bigger ones are refused."""
CONNECT_TIMEOUT_S = 10.0
TOTAL_TIMEOUT_S = 30.0
MAX_REDIRECTS = 5
USER_AGENT = "cowork/0.1 (+web_fetch)"
_TEXT_TYPES = ("application/json", "application/xml", "application/javascript",
               "application/xhtml+xml", "application/ld+json", "application/x-ndjson")


class WebFetchArgs(ToolArgs):
    url: str = Field(description="Absolute http:// or https:// URL to fetch.")
    max_length: int = Field(
        20000, ge=1, description="Maximum characters of content to return; the rest is cut."
    )


def _is_textual(content_type: str) -> bool:
    return (content_type.startswith("text/") or content_type in _TEXT_TYPES
            or content_type.endswith(("+json", "+xml")))


def html_to_markdown(html: str | bytes) -> str:
    """Markdown of an HTML document, without scripts, styles and other non-content elements."""
    from bs4 import BeautifulSoup
    from markdownify import MarkdownConverter

    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style", "noscript", "template", "iframe", "svg"]):
        tag.decompose()
    text = MarkdownConverter(heading_style="ATX", bullets="-").convert_soup(soup)
    text = re.sub(r"[ \t]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def describe_connect_error(exc: BaseException, host: str) -> str:
    """One sentence for a failed connection, from the OS error under httpx's exception."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, socket.gaierror):
            return (f"could not resolve host {host}: {seen.strerror or seen} "
                    "(are you offline, or is the name misspelled?)")
        if isinstance(seen, OSError) and seen.errno is not None:
            if seen.errno == errno.ECONNREFUSED:
                return f"could not connect to {host}: connection refused (is the server running?)"
            if seen.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
                return f"could not connect to {host}: network unreachable (are you offline?)"
        seen = seen.__cause__ or seen.__context__
    message = str(exc)
    low = message.lower()
    if "name or service not known" in low or "nodename nor servname" in low \
            or "temporary failure in name resolution" in low or "getaddrinfo" in low:
        return f"could not resolve host {host}: {message} (are you offline, or is the name misspelled?)"
    if "connection refused" in low:
        return f"could not connect to {host}: connection refused (is the server running?)"
    if "unreachable" in low:
        return f"could not connect to {host}: network unreachable (are you offline?)"
    return f"could not connect to {host}: {message or type(exc).__name__}"


async def _read_capped(resp: httpx.Response, cap: int) -> bytes | None:
    """The body, or None once more than ``cap`` bytes arrive (reading stops there)."""
    body = bytearray()
    async for chunk in resp.aiter_bytes():
        body += chunk
        if len(body) > cap:
            return None
    return bytes(body)


def _decode(resp: httpx.Response, body: bytes) -> str:
    return body.decode(resp.charset_encoding or "utf-8", errors="replace")


class WebFetchTool(Tool):
    """Fetch a web page or text resource."""

    name = "web_fetch"
    description = (
        "Fetch a URL with HTTP GET and return its content as text: HTML pages are converted to "
        "Markdown, plain text and JSON are returned as they are; images and other binary types "
        "are refused. Follows up to 5 redirects; bodies over 5 MiB are refused. Output is cut "
        "to `max_length` characters."
    )
    Args = WebFetchArgs
    traits = ToolTraits(read_only=True, destructive=False, open_world=True, url_arg="url")

    async def run(self, args: WebFetchArgs, ctx: ToolContext) -> ToolResult:
        import httpx

        try:
            url = httpx.URL(args.url.strip())
        except httpx.InvalidURL as exc:
            raise ToolError(f"invalid URL {args.url!r}: {exc}") from None
        if url.scheme not in ("http", "https"):
            raise ToolError(f"only http:// and https:// URLs can be fetched, not {args.url!r}")
        if not url.host:
            raise ToolError(f"invalid URL {args.url!r}: no host")
        host = url.host
        timeout = httpx.Timeout(TOTAL_TIMEOUT_S, connect=CONNECT_TIMEOUT_S)
        try:
            async with asyncio.timeout(TOTAL_TIMEOUT_S):
                async with httpx.AsyncClient(
                    timeout=timeout, follow_redirects=True, max_redirects=MAX_REDIRECTS,
                    headers={"User-Agent": USER_AGENT, "Accept": "text/html, text/*;q=0.9, "
                             "application/json;q=0.9, */*;q=0.5"},
                ) as client:
                    async with client.stream("GET", url) as resp:
                        return await self._handle(resp, args)
        except TimeoutError:
            raise ToolError(f"timed out fetching {args.url} (limit {TOTAL_TIMEOUT_S:.0f} s)") from None
        except httpx.TooManyRedirects:
            raise ToolError(f"too many redirects (more than {MAX_REDIRECTS}) fetching {args.url}") from None
        except httpx.ConnectError as exc:
            raise ToolError(describe_connect_error(exc, host)) from None
        except httpx.TimeoutException:
            raise ToolError(f"timed out fetching {args.url}") from None
        except httpx.HTTPError as exc:
            raise ToolError(f"fetching {args.url} failed: {exc or type(exc).__name__}") from None

    async def _handle(self, resp: httpx.Response, args: WebFetchArgs) -> ToolResult:
        final = str(resp.url)
        ctype = resp.headers.get("content-type", "").split(";")[0].strip().lower()
        length = resp.headers.get("content-length", "")
        if length.isdigit() and int(length) > MAX_BODY_BYTES:
            raise ToolError(f"response from {final} is {int(length):,} bytes, over the "
                            f"{MAX_BODY_BYTES // (1024 * 1024)} MiB limit")
        if resp.status_code >= 400:
            body = await _read_capped(resp, 64 * 1024) or b""
            snippet = _decode(resp, body)
            if ctype in ("text/html", "application/xhtml+xml"):
                snippet = html_to_markdown(snippet)
            snippet = snippet.strip()[:2000]
            text = f"HTTP {resp.status_code} {resp.reason_phrase} from {final}"
            return ToolResult(
                f"{text}\n\n{snippet}" if snippet else text, is_error=True,
                summary=f"HTTP {resp.status_code}", metadata={"status": resp.status_code},
            )
        if ctype and not _is_textual(ctype):
            raise ToolError(f"{final} is {ctype}, which cannot be shown as text")
        body = await _read_capped(resp, MAX_BODY_BYTES)
        if body is None:
            raise ToolError(f"response from {final} is over the "
                            f"{MAX_BODY_BYTES // (1024 * 1024)} MiB limit; stopped reading")
        if not ctype and b"\0" in body[:8192]:
            raise ToolError(f"{final} returned binary content without a content type")
        if ctype in ("text/html", "application/xhtml+xml") or (
                not ctype and body.lstrip()[:15].lower().startswith((b"<!doctype html", b"<html"))):
            content = html_to_markdown(_decode(resp, body) if resp.charset_encoding else body)
        else:
            content = _decode(resp, body)
        total = len(content)
        if total > args.max_length:
            content = (f"{content[: args.max_length]}\n\n[truncated: showing {args.max_length:,} "
                       f"of {total:,} characters]")
        header = f"URL: {final}\nContent-Type: {ctype or 'unknown'}\n\n"
        return ToolResult(
            header + (content or "(empty response)"),
            summary=f"HTTP {resp.status_code} · {total:,} chars",
            metadata={"status": resp.status_code, "url": final},
        )
