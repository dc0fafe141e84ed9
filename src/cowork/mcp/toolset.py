"""MCP servers' tools as cowork tools: ``mcp__SERVER__TOOL``, the server's JSON schema, traits
from the tool's annotations, results made readable, and ``mcp_resources``.

- **Names**: ``mcp__SERVER__TOOL`` with every character outside ``[A-Za-z0-9_-]`` replaced by
  ``_``, at most 64 characters (a longer name is cut and ends with a short hash of the full one).
- **Arguments**: the model is offered the server's ``inputSchema`` as is; a call's arguments are
  validated against it with ``jsonschema`` before the policy decides, so a bad call is answered
  with what is wrong (``count: 'x' is not of type 'integer'``).
- **Traits** (:class:`~cowork.tools.base.ToolTraits`): ``readOnlyHint`` → ``read_only``,
  ``destructiveHint`` → ``destructive``, ``openWorldHint`` → ``open_world``, with MCP's defaults
  when absent (not read-only, destructive, open world). A stdio server's mutating tools are
  checkpointed (they run on this machine and may change the workspace).
- **Results**: text as is; images, audio and embedded resources are saved in the workspace under
  ``.cowork/artifacts/SESSION/`` and the output names the path (``read`` can open it; a text
  resource's text is shown inline too); ``structuredContent`` is rendered as JSON when there is no
  text; ``isError`` makes a failed result. The engine caps the output (``ToolContext.max_output_chars``).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import copy
import json
import mimetypes
import uuid
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import mcp_types as types
from jsonschema import exceptions as jsonschema_exceptions
from jsonschema import validators
from mcp import MCPError
from pydantic import ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from ..engine.extensions import ContextSection
from ..tools.base import (
    READ_ONLY,
    Tool,
    ToolArgs,
    ToolContext,
    ToolError,
    ToolResult,
    ToolTraits,
    plural,
    truncate_middle,
)
from .manager import McpManager, McpUnavailable, ServerHandle, _clean, tool_name

def traits_of(tool: types.Tool, *, local: bool) -> ToolTraits:
    """The tool's :class:`ToolTraits` from its annotations (MCP's defaults when absent);
    ``local``: the server runs on this machine (stdio), so a mutating call is checkpointed."""
    a = tool.annotations
    read_only = bool(a is not None and a.read_only_hint)
    destructive = True if a is None or a.destructive_hint is None else bool(a.destructive_hint)
    open_world = True if a is None or a.open_world_hint is None else bool(a.open_world_hint)
    return ToolTraits(read_only=read_only, destructive=destructive and not read_only, open_world=open_world,
                      checkpoint=local and not read_only)


def args_model(schema: dict[str, Any], name: str) -> type[ToolArgs]:
    """A :class:`ToolArgs` model that accepts what ``schema`` (a JSON Schema, any draft it names;
    2020-12 otherwise) accepts, keeping every argument as given (``model_dump()`` returns them),
    and refuses the rest with the schema's own words."""
    try:
        cls = validators.validator_for(schema, default=validators.Draft202012Validator)
        cls.check_schema(schema)
        validator: Any = cls(schema)
    except jsonschema_exceptions.SchemaError:
        validator = None  # a server's broken schema: let the server judge the arguments

    class McpArgs(ToolArgs):
        model_config = ConfigDict(extra="allow")

        @model_validator(mode="before")
        @classmethod
        def _against_schema(cls, data: Any) -> Any:
            if validator is None:
                return data
            errors = sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
            if errors:
                said = "; ".join((f"{'.'.join(map(str, e.absolute_path))}: " if e.absolute_path else "") + e.message
                                 for e in errors[:5])
                more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
                raise PydanticCustomError("json_schema", "{problems}", {"problems": said + more})
            return data

    McpArgs.__name__ = McpArgs.__qualname__ = f"Args_{name}"
    return McpArgs


class McpTool(Tool):
    """One tool of one MCP server (an instance per server tool; see the module docstring)."""

    def __init__(self, handle: ServerHandle, tool: types.Tool) -> None:
        self.handle = handle
        self.server_tool = tool.name
        self.name = tool_name(handle.name, tool.name)  # type: ignore[misc]
        title = tool.annotations.title if tool.annotations is not None and tool.annotations.title else tool.title
        head = f"{title}: " if title and title not in (tool.description or "") else ""
        self.description = f"{head}{tool.description or tool.name} (MCP server {handle.name})"  # type: ignore[misc]
        self._schema = dict(tool.input_schema or {"type": "object"})
        self._schema.setdefault("type", "object")
        self.Args = args_model(self._schema, self.name)  # type: ignore[misc]
        self.traits = traits_of(tool, local=handle.config.transport == "stdio")  # type: ignore[misc]

    def parameters_schema(self) -> dict[str, Any]:  # type: ignore[override]
        """The server's ``inputSchema`` as it gave it (a copy)."""
        return copy.deepcopy(self._schema)

    async def run(self, args: Any, ctx: ToolContext) -> ToolResult:
        arguments = args.model_dump()
        try:
            result = await self.handle.call_tool(self.server_tool, arguments)
        except McpUnavailable as exc:
            raise ToolError(str(exc)) from None
        except MCPError as exc:
            raise ToolError(f"The MCP server {self.handle.name!r} refused the call of {self.server_tool}: {exc}") from None
        output, saved = await asyncio.to_thread(render_content, result.content, result.structured_content, ctx,
                                                f"{self.handle.name}-{self.server_tool}")
        output = truncate_middle(output, ctx.max_output_chars)
        lines = output.strip().splitlines()
        first = lines[0][:100] if lines else ""
        if len(first) < 8 and len(lines) > 1:  # "{" of a JSON answer says nothing
            first = f"{plural(len(lines), 'line')} of output"
        summary = ("error: " + first) if result.is_error else (first or "done")
        metadata: dict[str, Any] = {"mcp": {"server": self.handle.name, "tool": self.server_tool}}
        if saved:
            metadata["artifacts"] = saved
        return ToolResult(output=output or ("(the tool reported an error)" if result.is_error else "(no output)"),
                          is_error=bool(result.is_error), summary=summary, metadata=metadata)


def artifacts_dir(ctx: ToolContext) -> Path:
    """Where a session's MCP files go: ``WORKSPACE/.cowork/artifacts/SESSION`` (inside the
    workspace, so ``read`` reaches it)."""
    return ctx.workspace / ".cowork" / "artifacts" / _clean(ctx.session_id or "no-session")


def _save(data: bytes, mime: str | None, ctx: ToolContext, stem: str) -> str:
    folder = artifacts_dir(ctx)
    folder.mkdir(parents=True, exist_ok=True)
    ext = (mimetypes.guess_extension(mime or "") or ".bin") if mime else ".bin"
    path = folder / f"{_clean(stem)}-{uuid.uuid4().hex[:8]}{ext}"
    path.write_bytes(data)
    return path.relative_to(ctx.workspace).as_posix()


def _decode(b64: str) -> bytes:
    try:
        return base64.b64decode(b64, validate=False)
    except (binascii.Error, ValueError):
        return b64.encode()


def render_content(content: Sequence[Any], structured: Any, ctx: ToolContext, stem: str) -> tuple[str, list[str]]:
    """The text a model reads for MCP content blocks, and the workspace-relative paths of the files
    saved for binary blocks (see the module docstring)."""
    parts: list[str] = []
    saved: list[str] = []
    has_text = False
    for block in content:
        if isinstance(block, types.TextContent):
            parts.append(block.text)
            has_text = True
        elif isinstance(block, (types.ImageContent, types.AudioContent)):
            data = _decode(block.data)
            path = _save(data, block.mime_type, ctx, stem)
            saved.append(path)
            parts.append(f"[{block.type} ({block.mime_type}, {len(data):,} bytes) saved to {path}]")
        elif isinstance(block, types.EmbeddedResource):
            res = block.resource
            if isinstance(res, types.TextResourceContents):
                path = _save(res.text.encode(), res.mime_type or "text/plain", ctx, stem)
                saved.append(path)
                parts.append(f"[resource {res.uri} saved to {path}]\n{res.text}")
                has_text = True
            else:
                data = _decode(res.blob)
                path = _save(data, res.mime_type, ctx, stem)
                saved.append(path)
                parts.append(f"[resource {res.uri} ({res.mime_type or 'binary'}, {len(data):,} bytes) saved to {path}]")
        elif isinstance(block, types.ResourceLink):
            what = f" ({block.description})" if block.description else ""
            parts.append(f"[resource link {block.uri}: {block.name}{what}; read it with mcp_resources]")
        else:
            parts.append(f"[{getattr(block, 'type', 'unknown')} content not shown]")
    if structured is not None and not has_text:
        parts.append(json.dumps(structured, indent=2, ensure_ascii=False, default=str))
    return "\n".join(parts), saved


class ResourcesArgs(ToolArgs):
    action: Literal["list", "read"] = Field("list", description="list the resources, or read one")
    server: str | None = Field(None, description="the MCP server (list: all when omitted; read: required "
                                                 "when several servers are connected)")
    uri: str | None = Field(None, description="read: the resource's URI as listed")


class ResourcesTool(Tool):
    """``mcp_resources``: list and read the resources of the connected MCP servers."""

    name = "mcp_resources"
    description = ("List the resources the connected MCP servers offer (action=list), or read one by its URI "
                   "(action=read, with server and uri). Binary contents are saved to a file in the workspace.")
    Args = ResourcesArgs
    traits = replace(READ_ONLY, open_world=True)

    def __init__(self, manager: McpManager) -> None:
        self.manager = manager

    def _servers(self, ctx: ToolContext) -> list[ServerHandle]:
        return [h for h in self.manager.handles(ctx.workspace)
                if h.status == "ready" and (c := h.capabilities()) is not None and c.resources is not None]

    async def run(self, args: Any, ctx: ToolContext) -> ToolResult:
        servers = self._servers(ctx)
        if args.server is not None:
            servers = [h for h in servers if h.name == args.server]
            if not servers:
                known = ", ".join(h.name for h in self._servers(ctx)) or "none"
                raise ToolError(f"No connected MCP server {args.server!r} offers resources (servers with resources: {known}).")
        if not servers:
            raise ToolError("No connected MCP server offers resources.")
        if args.action == "list":
            lines: list[str] = []
            for h in servers:
                try:
                    found = await h.request("listing the resources", lambda c: c.list_resources())
                except (McpUnavailable, MCPError) as exc:
                    lines.append(f"{h.name}: {exc}")
                    continue
                for r in found.resources:
                    extra = " · ".join(filter(None, [r.mime_type, r.description]))
                    lines.append(f"{h.name}\t{r.uri}\t{r.name}" + (f"\t{extra}" if extra else ""))
            out = "\n".join(lines) or "No resources."
            return ToolResult(output=out, summary=f"{len(lines)} resources")
        if not args.uri:
            raise ToolError("action=read needs uri (list the resources first).")
        if len(servers) > 1:
            raise ToolError(f"Say which server: {', '.join(h.name for h in servers)}.")
        h = servers[0]
        try:
            got = await h.request(f"reading {args.uri}", lambda c: c.read_resource(args.uri))
        except McpUnavailable as exc:
            raise ToolError(str(exc)) from None
        except MCPError as exc:
            raise ToolError(f"The MCP server {h.name!r} could not read {args.uri}: {exc}") from None
        blocks = [types.EmbeddedResource(resource=c) if isinstance(c, types.BlobResourceContents)
                  else types.TextContent(text=c.text) for c in got.contents]
        output, saved = await asyncio.to_thread(render_content, blocks, None, ctx, f"{h.name}-resource")
        return ToolResult(output=truncate_middle(output, ctx.max_output_chars), summary=args.uri[:100],
                          metadata={"artifacts": saved} if saved else {})


class McpToolset:
    """The tools of the MCP servers in force for a session's workspace (``name`` ``mcp``).

    Listing them is what brings a workspace's project servers up (when they may run); a server's
    tools appear once it is ready, and ``version`` follows :attr:`McpManager.version`."""

    name = "mcp"

    def __init__(self, manager: McpManager) -> None:
        self.manager = manager
        self._cache: dict[tuple[int, int], list[McpTool]] = {}  # (id(handle), tools_version) → tools
        self._resources = ResourcesTool(manager)

    @property
    def version(self) -> int:
        return self.manager.version

    def tools_of(self, handle: ServerHandle) -> list[McpTool]:
        """The offered tools of a ready server (its config's allowed/denied filters applied)."""
        key = (id(handle), handle.tools_version)
        found = self._cache.get(key)
        if found is None:
            for k in [k for k in self._cache if k[0] == id(handle)]:
                del self._cache[k]
            seen: set[str] = set()
            found = []
            for t in handle.tools:
                if not handle.config.offers(t.name):
                    continue
                tool = McpTool(handle, t)
                if tool.name in seen:
                    continue
                seen.add(tool.name)
                found.append(tool)
            self._cache[key] = found
        return found

    def tool_names(self, handle: ServerHandle) -> list[str]:
        return [t.name for t in self.tools_of(handle)]

    def tools(self, session_id: str, workspace: Path) -> Sequence[Tool]:
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # outside the event loop: list what is known without starting anything
            handles = self.manager.known(workspace)
        else:
            handles = self.manager.handles(workspace)
        out: list[Tool] = []
        with_resources = False
        for h in handles:
            if h.status != "ready":
                continue
            out.extend(self.tools_of(h))
            caps = h.capabilities()
            with_resources = with_resources or (caps is not None and caps.resources is not None)
        if with_resources:
            out.append(self._resources)
        return out


class McpContext:
    """A turn's note on the MCP servers (``kind`` ``mcp``): which are ready, which failed and why,
    which wait for approval, and the servers' own instructions. Gathering it also brings the
    workspace's servers up and waits, at most their ``startup_timeout``, for those still starting,
    so a turn sees the tools of servers that start in time and never waits longer."""

    name = "mcp"
    MAX_INSTRUCTIONS = 2000

    def __init__(self, manager: McpManager, toolset: McpToolset) -> None:
        self.manager = manager
        self.manager_tools = toolset.tools_of

    async def _prepare(self, workspace: Path) -> list[ContextSection]:
        await self.manager.wait_starting(workspace)
        lines: list[str] = []
        notes: list[str] = []
        for entry, handle, status, reason in self.manager.sync(workspace):
            state = status or (handle.status if handle is not None else "failed")
            if state == "disabled":
                continue
            if state == "ready" and handle is not None:
                prefix = tool_name(entry.name, "x")[:-1]
                lines.append(f"- {entry.name}: ready ({len(self.manager_tools(handle))} tools, named {prefix}…)")
                if handle.instructions:
                    notes.append(f"## {entry.name}\n{handle.instructions.strip()[: self.MAX_INSTRUCTIONS]}")
            else:
                why = reason if status is not None else (handle.error if handle is not None else None)
                lines.append(f"- {entry.name}: {state}" + (f" ({why})" if why else ""))
        if not lines:
            return []
        text = "\n".join(lines) + ("\n\n" + "\n\n".join(notes) if notes else "")
        return [ContextSection(kind="mcp", title="MCP servers", text=text)]

    def sections(self, session_id: str, workspace: Path, prompt: str | None) -> Sequence[ContextSection]:
        loop = self.manager.loop
        if loop is None or loop.is_closed():
            return []
        future = asyncio.run_coroutine_threadsafe(self._prepare(workspace), loop)
        try:
            return future.result(timeout=700)
        except Exception:
            future.cancel()
            return []

    def notes_for_paths(self, session_id: str, workspace: Path, paths: Sequence[Path]) -> Sequence[ContextSection]:
        return []
