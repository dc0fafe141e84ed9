"""The REPL's ``/agents``: the subagents the session's turns started (docs/subagents.md), with
what each is doing, through ``session/list`` with ``parentSessionId``."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from .render import one_line


async def show_agents(chat: Any) -> None:
    """A table of the chat session's subagents, newest first: id, status, task, mode, model."""
    found = (await chat.client.list_sessions(parent_session_id=chat.current.id, limit=50)).sessions
    if not found:
        chat.out.print("no subagents yet (the agent starts them with its spawn_agent tool)")
        return
    table = Table("id", "status", "agent", "task", "mode", box=None)
    for s in found:
        status = "waiting for approval" if s.pending_approvals else ("working" if s.status == "running" else "idle")
        table.add_row(s.id[:12], status, (s.parent.agent if s.parent else None) or "",
                      one_line(s.parent.task if s.parent else s.title), s.mode)
    chat.out.print(table)
    chat.out.print("/resume ID opens one; cowork sessions show ID replays it", style="dim")
