"""An MCP server (stdio) written with the SDK's MCPServer that misbehaves on purpose, for cowork's
MCP client tests. ``python fault.py [--slow SECONDS] [--fail-start]``; its tools:

- ``echo(text)``: returns the text (readOnlyHint).
- ``write_note(text)``: returns "noted" (no annotations: MCP's defaults, destructive).
- ``crash()``: the process exits at once (the call never gets an answer).
- ``hang(seconds)``: sleeps ``seconds`` before answering.
- ``env(name)``: the value of an environment variable in the server, or "<unset>".
- ``picture()``: an image (a 1×1 PNG) and a text resource.
- ``grow()``: adds a tool ``extra`` and sends notifications/tools/list_changed.
- ``shout(lines)``: writes ``lines`` long lines to stderr.
- ``fail()``: a tool error (isError).
- ``structured()``: structured content only.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import sys
import time

import mcp_types as types
from mcp.server.mcpserver import Context, MCPServer

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==")

parser = argparse.ArgumentParser()
parser.add_argument("--slow", type=float, default=0.0)
parser.add_argument("--fail-start", action="store_true")
opts = parser.parse_args()

print(f"fault server starting (pid {os.getpid()})", file=sys.stderr, flush=True)
if opts.fail_start:
    print("fault server: refusing to start", file=sys.stderr, flush=True)
    sys.exit(3)
if opts.slow:
    time.sleep(opts.slow)

server = MCPServer("fault", instructions="A server for tests.")


@server.tool(annotations=types.ToolAnnotations(read_only_hint=True, open_world_hint=False))
def echo(text: str) -> str:
    """Return the text."""
    return text


@server.tool()
def write_note(text: str) -> str:
    """Pretend to write a note."""
    return "noted"


@server.tool()
def crash() -> str:
    """Exit the server process."""
    print("fault server: crashing on purpose", file=sys.stderr, flush=True)
    os._exit(1)


@server.tool()
async def hang(seconds: float) -> str:
    """Sleep, then answer."""
    await asyncio.sleep(seconds)
    return "woke up"


@server.tool()
def env(name: str) -> str:
    """An environment variable's value."""
    return os.environ.get(name, "<unset>")


@server.tool()
def picture() -> list[types.ContentBlock]:
    """An image and a text resource."""
    return [
        types.TextContent(text="here is a picture"),
        types.ImageContent(data=base64.b64encode(PNG).decode(), mime_type="image/png"),
        types.EmbeddedResource(resource=types.TextResourceContents(uri="note://1", text="the note", mime_type="text/plain")),
    ]


@server.tool()
async def grow(ctx: Context) -> str:
    """Add the tool extra and tell the client."""

    def extra() -> str:
        """A tool that appeared later."""
        return "extra!"

    server.add_tool(extra, name="extra")
    await ctx.session.send_tool_list_changed()
    return "grown"


@server.tool()
def shout(lines: int) -> str:
    """Write many lines to stderr."""
    for i in range(lines):
        print(f"shouting line {i:05d} " + "x" * 80, file=sys.stderr)
    sys.stderr.flush()
    return "shouted"


@server.tool()
def fail() -> str:
    """Always fails."""
    raise ValueError("this tool always fails")


@server.tool(structured_output=True)
def structured() -> dict[str, int]:
    """Structured content."""
    return {"answer": 42}


@server.resource("note://readme", mime_type="text/plain")
def readme() -> str:
    """A readme."""
    return "read me, please"


@server.prompt()
def review(topic: str, tone: str = "kind") -> str:
    """Ask for a review."""
    return f"Please review {topic} in a {tone} tone."


if __name__ == "__main__":
    server.run("stdio")
