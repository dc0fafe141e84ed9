"""The MCP servers of a cowork server: each one connected in the background, watched, and
restarted with backoff when it fails.

:class:`McpManager` reads the configuration (:mod:`cowork.mcp.config`) for the user and, as
sessions use them, for each workspace; it keeps one :class:`ServerHandle` per running server
(user servers are shared by every workspace; a project server belongs to its workspace). A
handle's supervisor task connects with the official SDK (``mcp.Client``, the initialize
handshake) over stdio, Streamable HTTP or HTTP+SSE, lists the tools, and then waits for the
connection to end: a server that exits or cannot be reached is marked ``failed`` with the reason
and retried after 1, 2, 4 … 60 seconds. ``notifications/tools/list_changed`` lists the tools again.
:attr:`McpManager.version` grows whenever what any server offers changes.

stdio servers run with the environment ``bash`` gets (:func:`cowork.sandbox.environment.scrubbed_env`:
no provider keys, no tokens) plus only the variables their ``env`` names, and their stderr goes to
``$COWORK_HOME/logs/mcp/NAME.log`` (a project server's log is ``NAME-WORKSPACEHASH.log``), rotated
to ``.log.1`` past 1 MiB.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import re
import threading
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import anyio
import mcp_types as types
from mcp import Client, MCPError, StdioServerParameters
from mcp.client.sse import sse_client
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from ..config import cowork_home
from ..policy import is_trusted
from ..protocol import rpc
from ..sandbox.environment import scrubbed_env
from . import config as cfg

log = logging.getLogger(__name__)

Status = Literal["starting", "ready", "failed", "disabled", "needs_approval", "untrusted"]

LOG_CAP = 1 << 20
"""Bytes a server's log may reach before it is rotated (to ``NAME.log.1``) at the next start."""

BACKOFF_MAX = 60.0
"""Longest wait in seconds between two attempts to start a failed server."""


class McpUnavailable(Exception):
    """A server cannot serve a request now (not running, crashed, timed out); the message says why
    in words a model or a person can act on."""


def _auth_for(name: str, url: str, home: Path | None) -> Any:
    """The OAuth handler (an ``httpx2.Auth``) for an HTTP server from :mod:`cowork.mcp.oauth`,
    when that module is installed: it sends the stored token of ``cowork mcp login NAME`` (and
    refreshes it), and turns a 401 into "run cowork mcp login NAME". None without it."""
    try:
        from . import oauth  # type: ignore[attr-defined]
    except ImportError:
        return None
    try:
        return oauth.auth_for(name, url, home=home, always=True)
    except TypeError:  # an older signature: (name, url)
        return oauth.auth_for(name, url)
    except Exception as exc:
        log.warning("OAuth for MCP server %s is unusable: %s", name, exc)
        return None


class _WatchedRead:
    """A transport's read stream that sets ``lost`` when the stream ends (the server exited or
    the connection closed)."""

    def __init__(self, inner: Any, lost: asyncio.Event) -> None:
        self._inner = inner
        self._lost = lost

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def receive(self) -> Any:
        try:
            return await self._inner.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            self._lost.set()
            raise

    def __aiter__(self) -> _WatchedRead:
        return self

    async def __anext__(self) -> Any:
        try:
            return await self._inner.__anext__()
        except (StopAsyncIteration, anyio.ClosedResourceError):
            self._lost.set()
            raise

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def __aenter__(self) -> _WatchedRead:
        await self._inner.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> Any:
        self._lost.set()
        return await self._inner.__aexit__(*exc)


@contextlib.asynccontextmanager
async def _watched(transport: Any, lost: asyncio.Event) -> AsyncIterator[Any]:
    async with transport as (read, write):
        yield _WatchedRead(read, lost), write


@contextlib.asynccontextmanager
async def _streamable(url: str, headers: Mapping[str, str], auth: Any) -> AsyncIterator[Any]:
    async with create_mcp_http_client(headers=dict(headers) or None, auth=auth) as http:
        async with streamable_http_client(url, http_client=http) as streams:
            yield streams


def _tail(path: Path, lines: int = 3) -> str:
    try:
        with path.open("rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - 4096))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    found = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("--- ")]
    return " | ".join(found[-lines:])


def _describe(exc: BaseException) -> str:
    """One line for an exception of a connection attempt (unwrapping exception groups)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    text = str(exc) or type(exc).__name__
    if isinstance(exc, FileNotFoundError):
        text = f"command not found: {exc.filename or text}"
    return text.splitlines()[0][:300] if text else type(exc).__name__


def _rotate(path: Path, extra: int) -> bool:
    """Move ``path`` to ``PATH.1`` (replacing it) when it holds more than :data:`LOG_CAP` bytes
    (counting ``extra`` about to be written); True when it did."""
    try:
        if path.stat().st_size + extra <= LOG_CAP:
            return False
        os.replace(path, path.with_name(path.name + ".1"))
        return True
    except OSError:
        return False


class _StderrLog:
    """A pipe for a server's stderr (``writer``, given to the process) whose other end a thread
    copies line by line into the log file, rotating it past :data:`LOG_CAP` bytes, so a chatty
    server never fills the disk. The thread ends when every copy of the write end is closed
    (the server exited and :meth:`close` ran)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        read_fd, write_fd = os.pipe()
        self.writer = os.fdopen(write_fd, "w", encoding="utf-8")
        self._thread = threading.Thread(target=self._copy, args=(read_fd,), name=f"mcp-log:{path.name}", daemon=True)
        self._thread.start()

    def _copy(self, read_fd: int) -> None:
        with os.fdopen(read_fd, "rb") as source:
            for line in source:
                if len(line) > 8192:
                    line = line[:8192] + b"...\n"
                _rotate(self.path, len(line))
                with contextlib.suppress(OSError), self.path.open("ab") as f:
                    f.write(line)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.writer.close()

    def join(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for the copy to reach the end (the server exited)."""
        self._thread.join(timeout)

    def __enter__(self) -> _StderrLog:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


@dataclass
class Attempt:
    """When the supervisor tries again (for ``mcp/list``)."""

    number: int = 0
    retry_at: float | None = None


class ServerHandle:
    """One configured server, connected (or trying to be) by a background task.

    Attributes:
        entry: its configuration. workspace: the workspace of a project server (None: user).
        status: ``starting``, ``ready`` or ``failed`` once started (``disabled``… are decided by
            the manager before a handle starts). error: why it failed, else None.
        tools: the server's tools as it listed them (all of them; the config's filters apply later).
        transport: the transport that worked (``stdio``, ``http``, ``sse``).
        instructions: what the server's initialize result told clients, if anything.
        log_path: where its stderr and connection errors go.
    """

    def __init__(self, manager: McpManager, entry: cfg.ServerEntry, workspace: Path | None) -> None:
        assert entry.config is not None
        self.manager = manager
        self.entry = entry
        self.config: cfg.ServerConfig = entry.config
        self.workspace = workspace
        self.status: Status = "starting"
        self.error: str | None = None
        self.tools: list[types.Tool] = []
        self.tools_version = 0
        self.transport: str | None = None
        self.instructions: str | None = None
        self.client: Client | None = None
        self.attempt = Attempt()
        self.started_at: float | None = None
        self.ready_in: float | None = None
        self._task: asyncio.Task[None] | None = None
        self._lost = asyncio.Event()
        self._wake = asyncio.Event()
        self._ready = asyncio.Event()
        self._settled = asyncio.Event()  # ready or failed at least once since the last (re)start
        self._closing = False
        self._refresh: asyncio.Task[None] | None = None
        self._teardown: asyncio.Task[None] | None = None  # a connection given up on, still closing
        suffix = "" if workspace is None else "-" + hashlib.sha256(str(workspace).encode()).hexdigest()[:8]
        self.log_path = manager.log_dir / f"{entry.name}{suffix}.log"

    @property
    def name(self) -> str:
        return self.entry.name

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the supervisor task (once)."""
        if self._task is None or self._task.done():
            self._closing = False
            self._task = asyncio.get_running_loop().create_task(self._supervise(), name=f"mcp:{self.name}")

    async def restart(self) -> None:
        """Drop the connection (if any) and connect again now, without waiting for the backoff."""
        await self.stop()
        self.attempt = Attempt()
        self._settled.clear()
        self.client = None
        self._set("starting")
        self.start()

    async def stop(self) -> None:
        """Disconnect and stop the supervisor (the server process is ended by the SDK)."""
        self._closing = True
        self._lost.set()
        self._wake.set()
        task, self._task = self._task, None
        if task is not None and not task.done():
            await asyncio.wait({task}, timeout=3)  # a ready connection closes by itself (the SDK ends the process)
            if not task.done():
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._refresh is not None:
            self._refresh.cancel()
        teardown, self._teardown = self._teardown, None
        if teardown is not None and not teardown.done():  # let the SDK end the server's process
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait({teardown}, timeout=10)

    async def wait_settled(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the server to be ready or to have failed; True if it is ready."""
        if self.status != "starting":
            return self.status == "ready"
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._settled.wait()
        return self.status == "ready"

    def _set(self, status: Status, error: str | None = None) -> None:
        self.status, self.error = status, error
        if status == "ready":
            self._ready.set()
        else:
            self._ready.clear()
        if status in ("ready", "failed"):
            self._settled.set()
        self.manager.bump()

    async def _supervise(self) -> None:
        while not self._closing:
            teardown: asyncio.Task[None] | None = None
            self._lost.clear()
            self._wake.clear()
            self._set("starting")
            self.attempt.retry_at = None
            self.started_at = time.monotonic()
            connection = asyncio.create_task(self._connection(), name=f"mcp:{self.name}:connection")
            ready = asyncio.create_task(self._ready.wait())
            try:
                await asyncio.wait({connection, ready}, timeout=self.config.startup_timeout,
                                   return_when=asyncio.FIRST_COMPLETED)
            except asyncio.CancelledError:
                connection.cancel()
                ready.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await connection
                raise
            ready.cancel()
            if self.status == "ready":
                self.attempt.number = 0
                try:
                    await connection
                except asyncio.CancelledError:
                    connection.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await connection  # the SDK ends the server's process before we go
                    raise
                except BaseException as exc:  # noqa: BLE001 - any failure of the connection is reported
                    error = _describe(exc)
                else:
                    error = None
                if self._closing:
                    break
                if self.status == "ready" and not self._wake.is_set():  # it went away by itself
                    stdio = self.config.transport == "stdio"
                    base = "the server exited" if stdio else "the connection was lost"
                    error = f"{base}: {error}" if error else base
                    tail = _tail(self.log_path) if stdio else ""
                    if tail:
                        error += f" (stderr: {tail})"
                elif self._wake.is_set():
                    continue  # restart() asked for a new connection now
            else:
                if not connection.done():
                    connection.cancel()
                    error = f"did not start within {self.config.startup_timeout:g} s"
                    teardown = self._teardown = connection  # awaited once the failure is told (it may take seconds)
                else:
                    exc = connection.exception()
                    error = _describe(exc) if exc is not None else "the server closed the connection while starting"
                tail = _tail(self.log_path) if self.config.transport == "stdio" else ""
                if tail and tail not in error:
                    error += f" (stderr: {tail})"
            if self._closing:
                break
            self.client = None
            self.tools = []
            self.tools_version += 1
            delay = min(BACKOFF_MAX, 2.0 ** self.attempt.number)
            self.attempt.number += 1
            self.attempt.retry_at = time.time() + delay
            self._set("failed", f"{error}; retrying in {delay:g} s" if error else f"retrying in {delay:g} s")
            self._log(f"failed: {error}; retrying in {delay:g} s")
            if teardown is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await teardown
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()
        self.client = None

    def _log(self, line: str) -> None:
        with contextlib.suppress(OSError):
            with self.log_path.open("a", encoding="utf-8") as f:
                f.write(f"--- {datetime.now(timezone.utc):%Y-%m-%dT%H:%M:%SZ} {line}\n")

    def _open_log(self) -> _StderrLog:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        _rotate(self.log_path, 0)
        self._log(f"starting {self.name}")
        return _StderrLog(self.log_path)

    def _transports(self, errlog: Any) -> list[tuple[str, Any]]:
        c = self.config
        if c.transport == "stdio":
            assert c.command is not None
            env = {**scrubbed_env(os.environ), **c.env}
            params = StdioServerParameters(command=c.command, args=c.args, env=env, cwd=c.cwd)
            return [("stdio", lambda: stdio_client(params, errlog=errlog))]
        assert c.url is not None
        url = c.url
        auth = _auth_for(self.name, url, self.manager._home)
        http = ("http", lambda: _streamable(url, c.headers, auth))
        sse = ("sse", lambda: sse_client(url, headers=dict(c.headers) or None, auth=auth))
        return {"http": [http], "sse": [sse]}.get(c.transport or "", [http, sse])

    async def _connection(self) -> None:
        """Connect, list the tools, be ready, and return when the connection ends."""
        stderr_log = self._open_log()
        try:
            await self._connect(stderr_log.writer)
        finally:
            stderr_log.close()
            with contextlib.suppress(Exception):  # let the copy thread write the server's last words
                await asyncio.to_thread(stderr_log.join, 1.0)

    async def _connect(self, errlog: Any) -> None:
        """Try the transports in order; connected, be ready until the connection ends."""
        errors: list[str] = []
        for kind, make in self._transports(errlog):
            self._lost.clear()  # a failed attempt before this one closed its own stream
            try:
                async with Client(_watched(make(), self._lost), mode="legacy",
                                  message_handler=self._on_message, cache=None,
                                  client_info=types.Implementation(name="cowork", version="0")) as client:
                    self.client = client
                    self.transport = kind
                    self.instructions = client.instructions
                    await self._list_tools(client)
                    self.ready_in = time.monotonic() - (self.started_at or time.monotonic())
                    self._log(f"ready over {kind} with {len(self.tools)} tools in {self.ready_in:.2f} s")
                    self._set("ready")
                    await self._lost.wait()
                    return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.status == "ready":
                    raise
                errors.append(f"{kind}: {_describe(exc)}")
                self._log(f"{kind} connection failed: {_describe(exc)}")
            finally:
                self.client = None
        raise ConnectionError("; ".join(errors) if len(errors) > 1 else errors[0].split(": ", 1)[1])

    async def _list_tools(self, client: Client) -> None:
        found: list[types.Tool] = []
        cursor = None
        for _ in range(100):
            page = await client.list_tools(cursor=cursor)
            found.extend(page.tools)
            cursor = page.next_cursor
            if not cursor:
                break
        self.tools = found
        self.tools_version += 1
        self.manager.bump()

    async def _on_message(self, message: Any) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            client = self.client
            if client is not None:
                self._refresh = asyncio.get_running_loop().create_task(self._relist(client))

    async def _relist(self, client: Client) -> None:
        try:
            async with asyncio.timeout(self.config.startup_timeout):
                await self._list_tools(client)
            self._log(f"tools changed: {', '.join(t.name for t in self.tools)}")
        except Exception as exc:
            self._log(f"listing the tools again failed: {_describe(exc)}")

    # -- requests ---------------------------------------------------------------------------------

    def _connected(self) -> Client:
        client = self.client
        if self.status != "ready" or client is None:
            why = f"{self.status}: {self.error}" if self.error else self.status
            raise McpUnavailable(f"the MCP server {self.name!r} is not running ({why}); its log: {self.log_path}")
        return client

    async def request(self, what: str, call: Any, timeout: float | None = None) -> Any:
        """Run ``call(client)`` against the connected server within ``timeout`` seconds (default
        the config's ``tool_timeout``). Raises McpUnavailable (not running, crashed during the call,
        timed out) or MCPError (the server answered with an error)."""
        client = self._connected()
        limit = self.config.tool_timeout if timeout is None else timeout
        try:
            async with asyncio.timeout(limit):
                return await call(client)
        except TimeoutError:
            raise McpUnavailable(f"{what} on the MCP server {self.name!r} timed out after {limit:g} s "
                                 "(tool_timeout in its config)") from None
        except MCPError as exc:
            if exc.code == types.CONNECTION_CLOSED or self._lost.is_set():
                self._lost.set()
                raise McpUnavailable(f"the MCP server {self.name!r} stopped during {what} (it is being "
                                     f"restarted; its log: {self.log_path})") from None
            if "timed out" in str(exc).lower():
                raise McpUnavailable(f"{what} on the MCP server {self.name!r} timed out after {limit:g} s "
                                     "(tool_timeout in its config)") from None
            raise
        except (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError) as exc:
            self._lost.set()
            raise McpUnavailable(f"the MCP server {self.name!r} could not be reached during {what}: "
                                 f"{_describe(exc)} (it is being restarted)") from None

    async def call_tool(self, tool: str, arguments: dict[str, Any]) -> types.CallToolResult:
        """Call the server's ``tool`` (its own name). Raises McpUnavailable, MCPError."""
        limit = self.config.tool_timeout
        return await self.request(f"the call of {tool}", lambda c: c.call_tool(tool, arguments,
                                                                              read_timeout_seconds=limit))

    def capabilities(self) -> types.ServerCapabilities | None:
        client = self.client
        if client is None:
            return None
        try:
            return client.server_capabilities
        except RuntimeError:
            return None


@dataclass(frozen=True)
class Place:
    """The servers in force for one workspace (or none: the user's only), as last loaded."""

    signature: tuple[Any, ...]
    loaded: cfg.LoadedConfig
    trusted: bool
    trust_error: str | None



class UnknownServer(LookupError):
    """No MCP server of that name is configured for the workspace (the protocol's NOT_FOUND)."""

class McpManager:
    """Every MCP server of one cowork server (see the module docstring).

    ``home``: cowork's state folder (default ``$COWORK_HOME``). Call :meth:`start` in the event
    loop (``Runtime.open`` does, through the extension), :meth:`close` at the end.
    """

    def __init__(self, home: Path | None = None) -> None:
        self._home = home
        self.version = 0
        self._handles: dict[tuple[str | None, str], ServerHandle] = {}
        self._places: dict[str | None, Place] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._stopping: set[asyncio.Task[Any]] = set()  # servers whose config went away, stopping

    @property
    def home(self) -> Path:
        return self._home or cowork_home()

    @property
    def log_dir(self) -> Path:
        return self.home / "logs" / "mcp"

    def bump(self) -> None:
        self.version += 1

    async def start(self) -> None:
        """Start the user's enabled servers in the background (never waits for them)."""
        self.loop = asyncio.get_running_loop()
        self.sync(None)

    async def close(self) -> None:
        """Stop every server."""
        self._closed = True
        handles, self._handles = list(self._handles.values()), {}
        await asyncio.gather(*(h.stop() for h in handles), *self._stopping, return_exceptions=True)

    # -- what is in force -------------------------------------------------------------------------

    def _place(self, workspace: Path | None) -> Place:
        key = None if workspace is None else str(workspace)
        sig = cfg.signature(workspace, self._home)
        place = self._places.get(key)
        if place is None or place.signature != sig:
            loaded = cfg.load(workspace, self._home)
            for problem in loaded.problems:
                log.warning("MCP configuration: %s", problem)
            place = Place(sig, loaded, False, None)
        trusted, trust_error = False, None
        if workspace is not None:
            try:
                trusted = is_trusted(workspace, self._home)
            except ValueError as exc:
                trust_error = str(exc)
        place = Place(place.signature, place.loaded, trusted, trust_error)
        self._places[key] = place
        return place

    def _gate(self, entry: cfg.ServerEntry, workspace: Path | None, place: Place) -> tuple[Status | None, str | None]:
        """Why ``entry`` must not run (status and reason), or (None, None) when it may."""
        if entry.error is not None or entry.config is None:
            return "failed", entry.error
        if not entry.enabled:
            return "disabled", None
        if entry.scope == "project":
            assert workspace is not None
            if not place.trusted:
                why = place.trust_error or f"the workspace {workspace} is not trusted (cowork trust {workspace})"
                return "untrusted", why
            try:
                approved = cfg.is_approved(workspace, entry.name, entry.digest, self._home)
            except ValueError as exc:
                return "needs_approval", str(exc)
            if not approved:
                return "needs_approval", (f"a project server needs approving once for this workspace "
                                          f"(cowork mcp approve {entry.name} --dir {workspace})")
        return None, None

    def sync(self, workspace: Path | None) -> list[tuple[cfg.ServerEntry, ServerHandle | None, Status | None, str | None]]:
        """Reload the configuration if its files changed and start, restart or stop servers to match.

        Returns the servers in force for ``workspace`` (None: the user's only), each as
        ``(entry, handle or None, status when it may not run or None, reason)``. Must run in the
        event loop (it starts tasks)."""
        if self._closed:
            return []
        user = self._place(None)
        wanted: dict[tuple[str | None, str], cfg.ServerEntry] = {}
        out = []
        place = self._place(workspace) if workspace is not None else user
        wkey = None if workspace is None else str(workspace)
        for entry in place.loaded.servers.values():
            key = (None if entry.scope == "user" else wkey, entry.name)
            status, reason = self._gate(entry, workspace, place)
            if status is None:
                wanted[key] = entry
            out.append((entry, key, status, reason))
        # the user's servers run whatever workspace asked, unless gated themselves
        for entry in user.loaded.servers.values():
            key = (None, entry.name)
            if self._gate(entry, None, user)[0] is None:
                wanted[key] = entry
        stale = [k for k, h in self._handles.items()
                 if (k[0] is None or k[0] == wkey) and (k not in wanted or wanted[k].digest != h.entry.digest
                                                        or wanted[k].config != h.config)]
        for key in stale:
            handle = self._handles.pop(key)
            self._spawn(handle.stop())
            self.bump()
        for key, entry in wanted.items():
            if key not in self._handles:
                handle = ServerHandle(self, entry, None if key[0] is None else Path(key[0]))
                self._handles[key] = handle
                handle.start()
                self.bump()
        return [(entry, self._handles.get(key) if status is None else None, status, reason)
                for entry, key, status, reason in out]

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._stopping.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            self._stopping.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.warning("stopping an MCP server failed: %s", t.exception())

        task.add_done_callback(done)

    def known(self, workspace: Path | None) -> list[ServerHandle]:
        """The handles already made for ``workspace`` (user ones included), without reading the
        configuration or starting anything (safe outside the event loop)."""
        key = None if workspace is None else str(workspace)
        return [h for k, h in self._handles.items() if k[0] in (None, key)]

    def handles(self, workspace: Path | None) -> list[ServerHandle]:
        """The running (or starting) servers in force for ``workspace``, in config order."""
        return [h for _, h, _, _ in self.sync(workspace) if h is not None]

    def handle(self, name: str, workspace: Path | None) -> ServerHandle:
        """The running server ``name`` in force for ``workspace``. Raises UnknownServer naming the
        servers when there is none, ValueError saying why it is not running."""
        for entry, handle, status, reason in self.sync(workspace):
            if entry.name == name:
                if handle is None:
                    raise ValueError(f"MCP server {name!r} is {status}" + (f": {reason}" if reason else ""))
                return handle
        raise UnknownServer(self._unknown(name, workspace))

    def _unknown(self, name: str, workspace: Path | None) -> str:
        names = [e.name for e, *_ in self.sync(workspace)]
        return f"no MCP server {name!r}" + (f"; configured: {', '.join(names)}" if names else
                                              " (none is configured: cowork mcp add)")

    async def wait_starting(self, workspace: Path | None) -> None:
        """Wait, at most each server's ``startup_timeout``, for the servers still starting."""
        starting = [h for h in self.handles(workspace) if h.status == "starting"]
        now = time.monotonic()

        def left(h: ServerHandle) -> float:  # the supervisor gives up at started_at + startup_timeout
            return max(0.0, (h.started_at or now) + h.config.startup_timeout - now) + 0.25

        if starting:
            await asyncio.gather(*(h.wait_settled(left(h)) for h in starting))

    # -- the protocol methods (mcp/…) -------------------------------------------------------------

    def _entry(self, entry: cfg.ServerEntry, handle: ServerHandle | None, status: Status | None,
               reason: str | None, tool_names: Any) -> rpc.McpServerEntry:
        config = entry.config
        transport = None
        if config is not None:
            transport = (handle.transport if handle is not None and handle.transport else config.transport) or "http"
        return rpc.McpServerEntry(
            name=entry.name, scope=entry.scope, source=str(entry.file), transport=transport,
            status=status or (handle.status if handle is not None else "failed"),
            error=reason if status is not None else (handle.error if handle is not None else None),
            tools=list(tool_names(handle)) if handle is not None and handle.status == "ready" else [],
            log_path=str(handle.log_path) if handle is not None else None,
            enabled=entry.enabled)

    async def list_servers(self, workspace: Path | None, tool_names: Any) -> list[rpc.McpServerEntry]:
        """``mcp/list``: every server in force for ``workspace`` with its status.
        ``tool_names(handle)`` gives the model-facing names of a ready server's tools."""
        return [self._entry(e, h, s, r, tool_names) for e, h, s, r in self.sync(workspace)]

    def _find(self, name: str, workspace: Path | None) -> tuple[cfg.ServerEntry, ServerHandle | None, Status | None, str | None]:
        for row in self.sync(workspace):
            if row[0].name == name:
                return row
        raise UnknownServer(self._unknown(name, workspace))

    async def restart(self, name: str, workspace: Path | None, tool_names: Any) -> rpc.McpServerEntry:
        """``mcp/restart``: reconnect ``name`` now and wait (up to its startup timeout) for it.
        Raises ValueError for an unknown server or one that may not run."""
        handle = self.handle(name, workspace)
        await handle.restart()
        await handle.wait_settled(handle.config.startup_timeout + 0.25)
        return self._entry(*self._find(name, workspace), tool_names)

    async def enable(self, name: str, enabled: bool, workspace: Path | None, tool_names: Any) -> rpc.McpServerEntry:
        """``mcp/enable``: write ``enabled`` into the server's config file (it starts or stops)."""
        entry = self._find(name, workspace)[0]
        await asyncio.to_thread(cfg.set_enabled, entry.file, name, enabled)
        return self._entry(*self._find(name, workspace), tool_names)

    async def approve(self, name: str, workspace: Path, tool_names: Any) -> rpc.McpServerEntry:
        """``mcp/approve``: approve project server ``name`` (as configured now) for ``workspace``.
        Raises ValueError when it is not a project server of that workspace."""
        entry = self._find(name, workspace)[0]
        if entry.scope != "project":
            raise ValueError(f"MCP server {name!r} is a user server ({entry.file}): only project servers need approving")
        await asyncio.to_thread(cfg.approve, workspace, name, entry.digest, self._home)
        return self._entry(*self._find(name, workspace), tool_names)

    async def prompts(self, workspace: Path | None) -> list[rpc.McpPromptEntry]:
        """``mcp/prompts``: the prompts of the ready servers that offer prompts."""
        out: list[rpc.McpPromptEntry] = []
        for handle in self.handles(workspace):
            caps = handle.capabilities() if handle.status == "ready" else None
            if caps is None or caps.prompts is None:
                continue
            try:
                found = await handle.request("listing the prompts", lambda c: c.list_prompts(),
                                             timeout=handle.config.startup_timeout)
            except (McpUnavailable, MCPError) as exc:
                log.warning("MCP server %s: %s", handle.name, exc)
                continue
            for p in found.prompts:
                out.append(rpc.McpPromptEntry(
                    server=handle.name, name=p.name, command=prompt_command(handle.name, p.name),
                    description=p.description or "",
                    arguments=[rpc.McpPromptArgument(name=a.name, description=a.description or "",
                                                     required=bool(a.required)) for a in p.arguments or []]))
        return out

    async def prompt(self, server: str, name: str, arguments: Mapping[str, str],
                     workspace: Path | None) -> rpc.McpPromptResult:
        """``mcp/prompt``: the messages of prompt ``name`` of ``server`` with ``arguments``, and
        their text joined (what a client sends as the user's message). Raises ValueError."""
        handle = self.handle(server, workspace)
        try:
            got = await handle.request(f"getting the prompt {name}", lambda c: c.get_prompt(name, dict(arguments)),
                                       timeout=handle.config.tool_timeout)
        except McpUnavailable as exc:
            raise ValueError(str(exc)) from None
        except MCPError as exc:
            raise ValueError(f"MCP server {server!r} refused the prompt {name!r}: {exc}") from None
        messages = [rpc.McpPromptMessage(role=m.role, text=_content_text(m.content)) for m in got.messages]
        return rpc.McpPromptResult(description=got.description or "", messages=messages,
                                   text="\n\n".join(m.text for m in messages if m.text))


MAX_NAME = 64
_BAD = re.compile(r"[^A-Za-z0-9_-]")


def _clean(text: str) -> str:
    return _BAD.sub("_", text) or "_"


def tool_name(server: str, tool: str) -> str:
    """``mcp__SERVER__TOOL`` sanitised to ``[A-Za-z0-9_-]`` and at most 64 characters (a cut name
    ends with ``_`` and 6 hex digits of the full name's SHA-256, so two long names stay apart).
    ``__`` inside the server's part becomes ``_`` so the policy can split the name again."""
    s = re.sub("_{2,}", "_", _clean(server))
    full = f"mcp__{s}__{_clean(tool)}"
    if len(full) <= MAX_NAME:
        return full
    digest = hashlib.sha256(f"{server}\0{tool}".encode()).hexdigest()[:6]
    return full[: MAX_NAME - 7] + "_" + digest


def prompt_command(server: str, prompt: str) -> str:
    """The slash command of a prompt: ``mcp__SERVER__PROMPT`` (sanitised as tool names are)."""
    return tool_name(server, prompt)


def _content_text(block: Any) -> str:
    if isinstance(block, types.TextContent):
        return block.text
    if isinstance(block, types.EmbeddedResource) and isinstance(block.resource, types.TextResourceContents):
        return block.resource.text
    if isinstance(block, types.ResourceLink):
        return f"[resource {block.uri}]"
    return f"[{getattr(block, 'type', 'content')} content]"
