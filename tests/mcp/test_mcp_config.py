"""MCP configuration (cowork.mcp.config): files and precedence, ${VAR} expansion, validation
errors naming the file and the field, digests, approvals, and editing the files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mcp_client_support import write_config

from cowork.mcp import config as cfg


@pytest.fixture
def home(tmp_path: Path) -> Path:
    h = tmp_path / "home"
    h.mkdir()
    return h


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    w = tmp_path / "ws"
    w.mkdir()
    return w.resolve()


def test_expansion_with_defaults_and_a_clear_error_for_a_missing_variable() -> None:
    env = {"TOKEN": "t0k", "EMPTY": ""}
    assert cfg.expand("Bearer ${TOKEN}", env) == "Bearer t0k"
    assert cfg.expand("${MISSING:-fallback}/${EMPTY:-x}", env) == "fallback/x"
    assert cfg.expand("${MISSING:-}", env) == ""
    assert cfg.expand("$TOKEN and $${TOKEN}", env) == "$TOKEN and $t0k"
    with pytest.raises(ValueError, match=r"\$\{MISSING\} is not set"):
        cfg.expand("a ${MISSING} b", env)


def test_servers_are_expanded_from_the_environment(home: Path, ws: Path) -> None:
    write_config(home / "mcp.json", {
        "api": {"url": "https://${HOST:-example.com}/mcp", "headers": {"Authorization": "Bearer ${API_TOKEN}"}},
        "tool": {"command": "${BIN}/server", "args": ["--root", "${ROOT:-.}"], "env": {"KEY": "${API_TOKEN}"},
                 "cwd": "sub"},
    })
    loaded = cfg.load(None, home, {"API_TOKEN": "secret", "BIN": "/opt/bin"})
    api, tool = loaded.servers["api"], loaded.servers["tool"]
    assert api.error is None and api.config.url == "https://example.com/mcp"
    assert api.config.headers == {"Authorization": "Bearer secret"} and api.config.transport is None
    assert tool.config.command == "/opt/bin/server" and tool.config.args == ["--root", "."]
    assert tool.config.env == {"KEY": "secret"} and tool.config.transport == "stdio"
    assert tool.config.cwd == str((home / "sub").resolve())  # relative to the user file's folder
    assert tool.raw["command"] == "${BIN}/server"  # the approval is for what is written, not its values
    assert (tool.config.startup_timeout, tool.config.tool_timeout, tool.config.enabled) == (10, 60, True)


def test_a_missing_variable_fails_that_server_only_naming_file_and_field(home: Path) -> None:
    path = write_config(home / "mcp.json", {
        "bad": {"command": "x", "args": ["ok", "${NOPE}"]},
        "good": {"command": "y"},
    })
    loaded = cfg.load(None, home, {})
    bad = loaded.servers["bad"]
    assert bad.config is None and bad.error == f"{path}: mcpServers.bad.args[1]: ${{NOPE}} is not set (use ${{NOPE:-default}} for a default)"
    assert loaded.servers["good"].error is None


@pytest.mark.parametrize(("entry", "said"), [
    ({"command": "x", "url": "http://h"}, 'give either "command" (a stdio server) or "url" (an HTTP server), not both'),
    ({"args": ["a"]}, "not neither"),
    ({"command": "x", "comand": "typo"}, "comand: Extra inputs are not permitted"),
    ({"command": "x", "startup_timeout": 0}, "startup_timeout: Input should be greater than 0"),
    ({"command": "x", "args": "not-a-list"}, "args: Input should be a valid list"),
    ({"url": "ftp://h"}, "url: 'ftp://h' is not an http:// or https:// URL"),
    ({"url": "http://h", "type": "stdio"}, '"type": "stdio" needs a "command"'),
    ("just a string", 'expected an object with "command" or "url"'),
])
def test_invalid_entries_are_reported_with_file_and_field(home: Path, entry: object, said: str) -> None:
    path = write_config(home / "mcp.json", {"s": entry, "fine": {"command": "ok"}})
    loaded = cfg.load(None, home, {})
    error = loaded.servers["s"].error
    assert error is not None and error.startswith(f"{path}: mcpServers.s") and said in error, error
    assert loaded.servers["fine"].error is None


def test_a_bad_name_is_refused(home: Path) -> None:
    write_config(home / "mcp.json", {"a__b": {"command": "x"}, "has space": {"command": "x"}})
    loaded = cfg.load(None, home, {})
    assert all("the name must be" in e.error for e in loaded.servers.values())


def test_a_file_that_is_not_json_is_a_problem_and_the_others_still_load(home: Path, ws: Path) -> None:
    (ws / ".mcp.json").write_text("{not json")
    write_config(home / "mcp.json", {"u": {"command": "x"}})
    write_config(ws / ".cowork" / "mcp.json", {"p": {"command": "y"}})
    loaded = cfg.load(ws, home, {})
    assert sorted(loaded.servers) == ["p", "u"]
    [problem] = loaded.problems
    assert problem.startswith(f"{ws / '.mcp.json'}: not valid JSON")
    (ws / ".mcp.json").write_text('{"mcpServers": []}')
    assert '"mcpServers" must be an object' in cfg.load(ws, home, {}).problems[0]


def test_nearer_files_win_a_name(home: Path, ws: Path) -> None:
    write_config(home / "mcp.json", {"a": {"command": "user-a"}, "b": {"command": "user-b"}, "c": {"command": "user-c"}})
    write_config(ws / ".mcp.json", {"b": {"command": "shared-b"}, "c": {"command": "shared-c"}})
    write_config(ws / ".cowork" / "mcp.json", {"c": {"command": "cowork-c"}})
    loaded = cfg.load(ws, home, {})
    assert {n: (e.scope, e.config.command) for n, e in loaded.servers.items()} == {
        "a": ("user", "user-a"), "b": ("project", "shared-b"), "c": ("project", "cowork-c")}
    assert loaded.servers["b"].config.cwd == str(ws)  # a project server runs in its workspace
    assert list(cfg.load(None, home, {}).servers) == ["a", "b", "c"]


def test_the_digest_follows_the_entry_but_not_enabled() -> None:
    a = cfg.config_digest({"command": "x", "args": ["1"]})
    assert a == cfg.config_digest({"args": ["1"], "command": "x"})  # key order does not matter
    assert a == cfg.config_digest({"command": "x", "args": ["1"], "enabled": False})
    assert a != cfg.config_digest({"command": "x", "args": ["2"]})
    assert len(a) == 64


def test_approvals_are_per_workspace_name_and_digest(home: Path, ws: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    assert not cfg.is_approved(ws, "s", "d1", home)
    cfg.approve(ws, "s", "d1", home)
    assert cfg.is_approved(ws, "s", "d1", home)
    assert not cfg.is_approved(ws, "s", "d2", home)  # the config changed: ask again
    assert not cfg.is_approved(other, "s", "d1", home)
    assert not cfg.is_approved(ws, "t", "d1", home)
    cfg.approve(ws, "s", "d2", home)  # replaces the old approval of the same server
    data = json.loads((home / "mcp-approvals.json").read_text())
    assert data == {"approvals": [{"workspace": str(ws), "name": "s", "sha256": "d2"}]}
    (home / "mcp-approvals.json").write_text("[]")
    with pytest.raises(ValueError, match="mcp-approvals.json"):
        cfg.is_approved(ws, "s", "d2", home)


def test_editing_the_files_keeps_the_rest(home: Path) -> None:
    path = home / "mcp.json"
    path.write_text(json.dumps({"other": 1, "mcpServers": {"keep": {"command": "k"}}}))
    cfg.write_server(path, "new", {"url": "http://h/mcp", "headers": {"X": "1"}})
    cfg.set_enabled(path, "new", False)
    data = json.loads(path.read_text())
    assert data["other"] == 1 and data["mcpServers"]["keep"] == {"command": "k"}
    assert data["mcpServers"]["new"] == {"url": "http://h/mcp", "headers": {"X": "1"}, "enabled": False}
    assert not cfg.load(None, home, {}).servers["new"].enabled
    cfg.set_enabled(path, "new", True)
    assert "enabled" not in json.loads(path.read_text())["mcpServers"]["new"]
    assert cfg.remove_server(path, "new") and not cfg.remove_server(path, "new")
    with pytest.raises(ValueError, match="not both"):
        cfg.write_server(path, "x", {"command": "a", "url": "http://h"})
    with pytest.raises(ValueError, match="bad server name"):
        cfg.write_server(path, "a__b", {"command": "a"})
    with pytest.raises(ValueError, match="no server 'zzz'"):
        cfg.set_enabled(path, "zzz", True)


def test_allowed_and_denied_tools_are_globs() -> None:
    c = cfg.ServerConfig(command="x", allowed_tools=["get_*", "echo"], denied_tools=["get_secret"])
    assert c.offers("get_time") and c.offers("echo")
    assert not c.offers("get_secret") and not c.offers("delete_all")
    assert cfg.ServerConfig(command="x", denied_tools=["rm*"]).offers("anything")


def test_tool_names_are_sanitised_and_capped() -> None:
    from cowork.mcp import tool_name
    from cowork.policy.rules import split_mcp_name

    assert tool_name("time", "get_current_time") == "mcp__time__get_current_time"
    assert tool_name("my.server", "do thing/now") == "mcp__my_server__do_thing_now"
    long = tool_name("server", "x" * 100)
    assert len(long) == 64 and long.startswith("mcp__server__xxx") and long != tool_name("server", "x" * 101)
    assert split_mcp_name(tool_name("a-b", "c__d")) == ("a-b", "c__d")  # the policy finds server and tool again


def test_annotations_map_onto_traits() -> None:
    import mcp_types as types

    from cowork.mcp.toolset import traits_of

    def tool(**hints: bool) -> types.Tool:
        return types.Tool(name="t", input_schema={"type": "object"},
                          annotations=types.ToolAnnotations(**hints) if hints else None)

    plain = traits_of(tool(), local=True)
    assert (plain.read_only, plain.destructive, plain.open_world, plain.checkpoint) == (False, True, True, True)
    ro = traits_of(tool(read_only_hint=True, open_world_hint=False), local=True)
    assert (ro.read_only, ro.destructive, ro.open_world, ro.checkpoint) == (True, False, False, False)
    safe = traits_of(tool(destructive_hint=False), local=False)
    assert (safe.read_only, safe.destructive, safe.open_world, safe.checkpoint) == (False, False, True, False)
