"""MCP server configuration: the ecosystem's ``mcpServers`` JSON files, ``${VAR}`` expansion,
and the approvals project servers need.

Files, nearer wins on a name clash (a project server hides a user server of the same name in
that workspace):

- ``$COWORK_HOME/mcp.json`` (scope ``user``);
- the workspace's ``.mcp.json``, then its ``.cowork/mcp.json`` (scope ``project``; the latter wins).

Each file is ``{"mcpServers": {NAME: SERVER, ...}}`` where SERVER is either
``{"command": "npx", "args": [...], "env": {...}, "cwd": "..."}`` (stdio) or
``{"url": "https://...", "headers": {...}, "type": "http" | "sse"}`` (Streamable HTTP, or the
older HTTP+SSE; without ``type`` Streamable HTTP is tried first, then SSE), plus cowork's per-server
keys: ``enabled`` (default true), ``startup_timeout`` (seconds, default 10), ``tool_timeout``
(seconds, default 60), ``allowed_tools`` / ``denied_tools`` (tool names or globs, as the server
names them). Strings in ``command``, ``args``, ``env``, ``cwd``, ``url`` and ``headers`` may use
``${VAR}`` and ``${VAR:-default}`` (from cowork's environment).

A file that is not valid JSON is reported (:attr:`LoadedConfig.problems`) and contributes no server;
a server whose entry is invalid is kept with its :attr:`ServerEntry.error` (naming the file and the
field) so it shows as ``failed``; neither stops the other servers.

A project server starts only when the workspace is trusted (``cowork trust``) and the person
approved it for that workspace (``cowork mcp approve NAME``): the approval is kept in
``$COWORK_HOME/mcp-approvals.json`` keyed by workspace, name and the SHA-256 of the server's
normalised configuration (:func:`config_digest`; ``enabled`` left out), so an edited entry asks again.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .._util.jsonfile import read_json, write_json
from ..config import cowork_home

Scope = Literal["user", "project"]
Transport = Literal["stdio", "http", "sse"]

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
"""What a server's name may be (it becomes part of tool names ``mcp__NAME__TOOL``)."""

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ServerConfig(BaseModel):
    """One entry of ``mcpServers`` (see the module docstring). Unknown keys are refused."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["stdio", "http", "streamable-http", "streamable_http", "sse"] | None = None
    command: str | None = None
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None
    url: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    enabled: bool = True
    startup_timeout: float = Field(10.0, gt=0, le=600, description="seconds")
    tool_timeout: float = Field(60.0, gt=0, le=86_400, description="seconds")
    allowed_tools: list[str] | None = None
    denied_tools: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_kind(self) -> ServerConfig:
        if (self.command is None) == (self.url is None):
            raise ValueError('give either "command" (a stdio server) or "url" (an HTTP server), not '
                             + ("both" if self.command is not None else "neither"))
        if self.command is not None and self.type not in (None, "stdio"):
            raise ValueError(f'"type": "{self.type}" needs a "url", not a "command"')
        if self.url is not None and self.type == "stdio":
            raise ValueError('"type": "stdio" needs a "command", not a "url"')
        if self.command is not None and not self.command.strip():
            raise ValueError('"command" is empty')
        return self

    @property
    def transport(self) -> Transport | None:
        """``stdio``, ``http`` (Streamable HTTP), ``sse``; None: an URL without ``type`` (Streamable
        HTTP first, then SSE)."""
        if self.command is not None:
            return "stdio"
        if self.type in ("http", "streamable-http", "streamable_http"):
            return "http"
        return "sse" if self.type == "sse" else None

    def offers(self, tool: str) -> bool:
        """The server's tool ``tool`` is offered: it matches ``allowed_tools`` (when set) and no
        ``denied_tools`` pattern (globs, case-sensitive)."""
        if any(fnmatch.fnmatchcase(tool, p) for p in self.denied_tools):
            return False
        return self.allowed_tools is None or any(fnmatch.fnmatchcase(tool, p) for p in self.allowed_tools)


@dataclass(frozen=True)
class ServerEntry:
    """A configured server as read from its file.

    Attributes:
        name: its key in ``mcpServers``.
        scope: ``user`` or ``project``.
        file: the file it came from.
        raw: the entry as written (before expansion).
        config: the validated entry with ``${VAR}`` expanded; None when it is invalid.
        error: why it is invalid ("FILE: mcpServers.NAME.FIELD: problem"), else None.
        digest: :func:`config_digest` of ``raw`` (what an approval is for).
    """

    name: str
    scope: Scope
    file: Path
    raw: dict[str, Any]
    config: ServerConfig | None
    error: str | None
    digest: str

    @property
    def enabled(self) -> bool:
        return self.config.enabled if self.config is not None else self.raw.get("enabled", True) is not False


@dataclass
class LoadedConfig:
    """What the files in force for one place say: servers by name (nearer file wins) and the
    problems of files that could not be read at all."""

    servers: dict[str, ServerEntry] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def expand(value: str, environ: Mapping[str, str]) -> str:
    """``value`` with ``${VAR}`` and ``${VAR:-default}`` replaced from ``environ`` (``default``
    when VAR is unset or empty). Raises ValueError naming a VAR that is unset and has no default."""

    def sub(m: re.Match[str]) -> str:
        name, default = m.group(1), m.group(2)
        found = environ.get(name)
        if found:
            return found
        if default is not None:
            return default
        raise ValueError(f"${{{name}}} is not set (use ${{{name}:-default}} for a default)")

    return _VAR.sub(sub, value)


def _expanded(cfg: ServerConfig, environ: Mapping[str, str]) -> ServerConfig:
    """``cfg`` with every expandable string expanded. Raises ValueError naming the field."""

    def one(where: str, value: str) -> str:
        try:
            return expand(value, environ)
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None

    out = cfg.model_copy(deep=True)
    if out.command is not None:
        out.command = one("command", out.command)
    out.args = [one(f"args[{i}]", a) for i, a in enumerate(out.args)]
    out.env = {k: one(f"env.{k}", v) for k, v in out.env.items()}
    if out.cwd is not None:
        out.cwd = one("cwd", out.cwd)
    if out.url is not None:
        out.url = one("url", out.url)
        if not re.match(r"^https?://", out.url):
            raise ValueError(f"url: {out.url!r} is not an http:// or https:// URL")
    out.headers = {k: one(f"headers.{k}", v) for k, v in out.headers.items()}
    return out


def config_digest(raw: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of a server entry as JSON with sorted keys, without ``enabled`` (turning a
    server off and on again needs no new approval)."""
    data = {k: v for k, v in raw.items() if k != "enabled"}
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def user_file(home: Path | None = None) -> Path:
    """``$COWORK_HOME/mcp.json``."""
    return (home or cowork_home()) / "mcp.json"


def project_files(workspace: Path) -> list[Path]:
    """The workspace's config files, the one that wins last: ``.mcp.json``, ``.cowork/mcp.json``."""
    return [workspace / ".mcp.json", workspace / ".cowork" / "mcp.json"]


def read_file(path: Path) -> dict[str, Any]:
    """The JSON object in ``path`` (``{}`` when it does not exist). Raises ValueError naming the
    file when it is not a JSON object or its ``mcpServers`` is not an object."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ValueError(f"{path}: cannot read it: {exc}") from None
    try:
        data = json.loads(text) if text.strip() else {}
    except ValueError as exc:
        raise ValueError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f'{path}: expected a JSON object {{"mcpServers": {{...}}}}')
    if not isinstance(data.get("mcpServers", {}), dict):
        raise ValueError(f'{path}: "mcpServers" must be an object of NAME: {{command | url, ...}}')
    return data


def _entries(path: Path, scope: Scope, environ: Mapping[str, str], workspace: Path | None) -> list[ServerEntry]:
    data = read_file(path)
    out = []
    for name, raw in data.get("mcpServers", {}).items():
        where = f"{path}: mcpServers.{name}"
        raw_dict = raw if isinstance(raw, dict) else {}
        digest = config_digest(raw_dict)
        error = None
        cfg = None
        if not NAME_RE.match(name) or "__" in name:
            error = (f"{where}: the name must be letters, digits, '_', '-' or '.' (no '__'), at most 64 "
                     "characters, starting with a letter or digit")
        elif not isinstance(raw, dict):
            error = f"{where}: expected an object with \"command\" or \"url\""
        else:
            try:
                cfg = _expanded(ServerConfig.model_validate(raw), environ)
            except ValidationError as exc:
                problems = "; ".join(
                    f"{'.'.join(map(str, e['loc'])) or 'entry'}: {e['msg'].removeprefix('Value error, ')}"
                    for e in exc.errors())
                error = f"{where}: {problems}"
            except ValueError as exc:
                error = f"{where}.{exc}"
            if cfg is not None and cfg.cwd is not None and not os.path.isabs(cfg.cwd):
                base = workspace if scope == "project" and workspace is not None else path.parent
                cfg.cwd = str((base / cfg.cwd).resolve())
            if cfg is not None and cfg.cwd is None and scope == "project" and workspace is not None:
                cfg.cwd = str(workspace)
        out.append(ServerEntry(name, scope, path, raw_dict, None if error else cfg, error, digest))
    return out


def load(workspace: Path | None = None, home: Path | None = None,
         environ: Mapping[str, str] | None = None) -> LoadedConfig:
    """The servers in force: the user's, then (with ``workspace``) the workspace's, nearer wins.
    Never raises for a bad file: see :attr:`LoadedConfig.problems` and :attr:`ServerEntry.error`."""
    env = os.environ if environ is None else environ
    loaded = LoadedConfig()
    files: list[tuple[Path, Scope]] = [(user_file(home), "user")]
    if workspace is not None:
        files += [(p, "project") for p in project_files(workspace)]
    for path, scope in files:
        try:
            entries = _entries(path, scope, env, workspace)
        except ValueError as exc:
            loaded.problems.append(str(exc))
            continue
        for entry in entries:
            loaded.servers[entry.name] = entry
    return loaded


def signature(workspace: Path | None, home: Path | None = None) -> tuple[Any, ...]:
    """The config files' (path, mtime, size) for ``workspace``: when it changes, :func:`load` again."""
    files = [user_file(home)] + (project_files(workspace) if workspace is not None else [])
    out: list[Any] = []
    for path in files:
        try:
            st = path.stat()
            out.append((str(path), st.st_mtime_ns, st.st_size))
        except OSError:
            out.append((str(path), None, None))
    return tuple(out)


# -- editing the files (cowork mcp add/remove, mcp/enable) ---------------------------------------


def write_server(path: Path, name: str, raw: Mapping[str, Any]) -> None:
    """Add or replace server ``name`` in ``path`` (other keys and servers kept). Raises
    ValueError for a bad name, an invalid entry, or an unreadable file."""
    if not NAME_RE.match(name) or "__" in name:
        raise ValueError(f"bad server name {name!r}: letters, digits, '_', '-' or '.' (no '__'), at most 64 characters")
    try:
        ServerConfig.model_validate(dict(raw))
    except ValidationError as exc:
        raise ValueError("; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())) from None
    data = read_file(path)
    data.setdefault("mcpServers", {})[name] = dict(raw)
    write_json(path, data)


def remove_server(path: Path, name: str) -> bool:
    """Remove server ``name`` from ``path``; False when it was not there."""
    data = read_file(path)
    if name not in data.get("mcpServers", {}):
        return False
    del data["mcpServers"][name]
    write_json(path, data)
    return True


def set_enabled(path: Path, name: str, enabled: bool) -> None:
    """Write ``"enabled": enabled`` into server ``name``'s entry in ``path`` (no new approval
    needed: ``enabled`` is not part of the digest). Raises ValueError when it is not there."""
    data = read_file(path)
    servers = data.get("mcpServers", {})
    if not isinstance(servers.get(name), dict):
        raise ValueError(f"{path}: no server {name!r}")
    if enabled:
        servers[name].pop("enabled", None)
    else:
        servers[name]["enabled"] = False
    write_json(path, data)


# -- approvals of project servers ----------------------------------------------------------------


def approvals_file(home: Path | None = None) -> Path:
    """``$COWORK_HOME/mcp-approvals.json``: ``{"approvals": [{"workspace", "name", "sha256"}, ...]}``."""
    return (home or cowork_home()) / "mcp-approvals.json"


def _approvals(home: Path | None) -> list[dict[str, str]]:
    path = approvals_file(home)
    data = read_json(path, "the MCP approvals")
    if data is None:
        return []
    found = data.get("approvals") if isinstance(data, dict) else None
    if not isinstance(found, list):
        raise ValueError(f'{path}: expected {{"approvals": [{{"workspace", "name", "sha256"}}, ...]}}')
    return [a for a in found if isinstance(a, dict)]


def is_approved(workspace: Path, name: str, digest: str, home: Path | None = None) -> bool:
    """Server ``name`` with config ``digest`` was approved for ``workspace``. Raises ValueError
    when the approvals file is malformed."""
    key = str(workspace.resolve())
    return any(a.get("workspace") == key and a.get("name") == name and a.get("sha256") == digest
               for a in _approvals(home))


def approve(workspace: Path, name: str, digest: str, home: Path | None = None) -> None:
    """Record the approval of ``name`` (config ``digest``) for ``workspace``, replacing an older
    approval of the same server there. The file is replaced atomically."""
    key = str(workspace.resolve())
    kept = [a for a in _approvals(home) if not (a.get("workspace") == key and a.get("name") == name)]
    kept.append({"workspace": key, "name": name, "sha256": digest})
    write_json(approvals_file(home), {"approvals": kept})
