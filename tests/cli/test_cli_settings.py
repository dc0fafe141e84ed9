"""The CLI's pieces that need no server: the engine settings its flags choose (a typed object, never
written into the environment), the modes its flags ask for, and the short ids it shows."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest
import typer

from cowork.cli.common import engine_settings
from cowork.cli.ids import short_ids
from cowork.cli.main import chosen_mode
from cowork.config import EngineSettings

CLI = Path(__file__).resolve().parents[2] / "src" / "cowork" / "cli"


def test_flags_become_typed_settings_without_touching_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COWORK_MAX_STEPS", "7")
    monkeypatch.delenv("COWORK_SANDBOX", raising=False)
    before = dict(os.environ)
    settings = engine_settings("off", ["turn-tokens=500", "session-cost=2.5", "turn-steps=3"], None)
    assert isinstance(settings, EngineSettings)
    assert (settings.sandbox, settings.turn_max_tokens, settings.session_max_cost, settings.max_steps) == \
        ("off", 500, 2.5, 3)
    assert engine_settings(None, None, None).max_steps == 7  # the environment still counts
    assert dict(os.environ) == before


@pytest.mark.parametrize(("sandbox", "budget", "server", "says"), [
    ("nope", None, None, "--sandbox must be one of"),
    (None, ["tokens=5"], None, "turn-tokens"),
    (None, ["turn-tokens=0"], None, "must be positive"),
    ("off", None, "ws://h:1/ws", "cowork serve --sandbox"),
    (None, ["turn-tokens=5"], "ws://h:1/ws", "cowork serve --budget"),
])
def test_bad_flags_are_usage_errors(sandbox: str | None, budget: list[str] | None, server: str | None, says: str,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(typer.Exit) as exit_:
        engine_settings(sandbox, budget, server)
    assert exit_.value.exit_code == 2 and says in capsys.readouterr().err


def test_a_remote_server_keeps_its_own_settings() -> None:
    assert engine_settings(None, None, "ws://h:1/ws") is None


def test_the_cli_writes_no_environment_variable() -> None:
    """Settings travel as an object: no `os.environ[...] = ...`, `.update()`, `.setdefault()` or putenv in cli/."""
    writes = []
    for path in CLI.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
                node, ast.AugAssign) else []
            for t in targets:
                if isinstance(t, ast.Subscript) and ast.unparse(t.value) == "os.environ":
                    writes.append(f"{path.name}:{node.lineno}")
            if isinstance(node, ast.Call) and ast.unparse(node.func) in (
                    "os.environ.update", "os.environ.setdefault", "os.putenv", "os.environ.pop"):
                writes.append(f"{path.name}:{node.lineno}")
    assert not writes, writes


@pytest.mark.parametrize(("mode", "yes", "read_only", "want"), [
    (None, False, False, None),
    ("yolo", True, False, "yolo"),
    (None, True, False, "yolo"),
    ("read-only", False, True, "read-only"),
    ("accept-edits", False, False, "accept-edits"),
])
def test_mode_flags_that_agree(mode: str | None, yes: bool, read_only: bool, want: str | None) -> None:
    assert chosen_mode(mode, yes, read_only) == want


@pytest.mark.parametrize(("mode", "yes", "read_only"), [
    (None, True, True), ("default", True, False), ("yolo", False, True), ("read-only", True, False),
])
def test_mode_flags_that_contradict(mode: str | None, yes: bool, read_only: bool,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(typer.Exit) as exit_:
        chosen_mode(mode, yes, read_only)
    assert exit_.value.exit_code == 2 and "contradict" in capsys.readouterr().err


def test_short_ids_are_unique_prefixes() -> None:
    ids = ["ckpt_6985a42e9aa1" + "0" * 20, "ckpt_6985a42e9bb2" + "0" * 20, "ckpt_1234567890ab" + "0" * 20]
    short = short_ids(ids)
    assert short[ids[2]] == "ckpt_12345678"  # 8 hex digits when that is unique
    assert short[ids[0]] == "ckpt_6985a42e9a" and short[ids[1]] == "ckpt_6985a42e9b"  # one more than shared
    assert all(full.startswith(s) for full, s in short.items())
    assert len(set(short.values())) == len(ids)
    assert short_ids([]) == {} and short_ids(["x_ab"]) == {"x_ab": "x_ab"}
