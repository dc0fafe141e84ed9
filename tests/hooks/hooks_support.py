"""Hooks test helpers (the fixtures are in conftest.py).

Hooks are real commands: small Python scripts written into tmp_path and run with this
interpreter (``Place.script``), configured in ``$COWORK_HOME/hooks.toml`` (``Place.hooks``)."""

from __future__ import annotations

import asyncio
import json
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cowork.config import EngineSettings
from cowork.engine import Runtime
from cowork.protocol import is_terminal

MODEL = "openai:fake"
SETTINGS = EngineSettings(max_steps=12, stream_timeout=10, max_retries=0, retry_base_delay=0.01)


@dataclass
class Place:
    home: Path
    workspace: Path
    scripts: Path

    def script(self, name: str, body: str) -> str:
        """Write a Python hook script; returns the command line that runs it."""
        path = self.scripts / f"{name}.py"
        path.write_text("import json, os, sys\n" + textwrap.dedent(body))
        return f"{sys.executable} {path}"

    def recorder(self, name: str, body: str = "") -> tuple[str, Path]:
        """A hook script that appends its stdin payload to ``NAME.jsonl``, then runs ``body``
        (``data`` is the payload); returns (command, log)."""
        log = self.scripts / f"{name}.jsonl"
        head = (f"data = json.load(sys.stdin)\nwith open({str(log)!r}, 'a') as f:\n"
                "    f.write(json.dumps(data) + '\\n')\n")
        return self.script(name, head + textwrap.dedent(body)), log

    def hooks(self, text: str, workspace: bool = False) -> Path:
        """Write ``$COWORK_HOME/hooks.toml`` (or the workspace's ``.cowork/hooks.toml``)."""
        path = self.workspace / ".cowork" / "hooks.toml" if workspace else self.home / "hooks.toml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
        return path


def payloads(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def toml_str(s: str) -> str:
    """``s`` as a TOML basic string."""
    return json.dumps(s)


async def run_turn(rt: Runtime, session_id: str, text: str, on_event=None, timeout: float = 30) -> list[Any]:
    """Start a turn and return its events up to its end (``on_event`` sees each one)."""
    after = await rt.last_seq(session_id)
    started = await rt.start_turn(session_id, text)
    events: list[Any] = []

    async def follow() -> None:
        async for ev in rt.subscribe(session_id, after):
            events.append(ev)
            if on_event is not None:
                result = on_event(ev)
                if asyncio.iscoroutine(result):
                    await result
            if is_terminal(ev) and ev.turn_id == started.turn_id:
                return

    await asyncio.wait_for(follow(), timeout)
    return events


def hook_runs(events: list[Any], event: str | None = None) -> list[Any]:
    return [e for e in events if e.type == "hook.ran" and (event is None or e.event == event)]


def tool_items(events: list[Any]) -> list[Any]:
    return [e.item for e in events if e.type == "item.completed" and e.item.type == "tool_call"]


def sent(body: dict[str, Any]) -> str:
    """Everything a model request carried, as one string (to look for a text in it)."""
    return json.dumps(body["messages"])


def tool_messages(body: dict[str, Any]) -> list[str]:
    return [m["content"] if isinstance(m["content"], str) else json.dumps(m["content"])
            for m in body["messages"] if m["role"] == "tool"]


def user_messages(body: dict[str, Any]) -> list[str]:
    out = []
    for m in body["messages"]:
        if m["role"] != "user":
            continue
        content = m["content"]
        out.append(content if isinstance(content, str) else "\n".join(p.get("text", "") for p in content))
    return out
