"""Showing events to a person in a terminal (rich), or as JSON lines for scripts.

Live view: the assistant's Markdown streams in place, a spinner runs while the model thinks or a
tool works, each tool call ends as one line (✓ done, ✗ failed, ⊘ denied, ■ interrupted) with a
short summary, edits show their diff, the plan (todo_write) shows as a checklist, and the turn
ends with a line of tokens and time. Replay (``cowork sessions show``) renders the same events
without the live parts, with each subagent's own transcript folded (indented) under the
``spawn_agent`` call that started it. A subagent's approval is labelled with its task; each change of
a subagent's status is one ``↳`` line.
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.padding import Padding
from rich.live import Live
from rich.markdown import Markdown
from rich.status import Status
from rich.syntax import Syntax
from rich.text import Text

from ..protocol import Event

ICONS = {"completed": ("✓", "green"), "failed": ("✗", "red"), "denied": ("⊘", "yellow"), "interrupted": ("■", "yellow")}
TODO_MARKS = {"completed": "[x]", "in_progress": "[~]", "pending": "[ ]"}


def describe_call(name: str, arguments: Any, width: int = 80) -> str:
    """The most telling argument of a call on one line: the command, the path, the pattern..."""
    if isinstance(arguments, dict):
        for key in ("command", "path", "pattern", "url"):
            if isinstance(arguments.get(key), str):
                text = arguments[key]
                break
        else:
            text = json.dumps(arguments, ensure_ascii=False)
    else:
        text = str(arguments)
    return one_line(text, width)


def one_line(text: str, width: int = 60) -> str:
    """``text`` on one line (runs of whitespace as one space), cut to ``width`` with "…"."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


class Renderer:
    """Renders a stream of events. ``live`` turns on spinners and in-place Markdown."""

    def __init__(self, console: Console | None = None, *, json_lines: bool = False, live: bool | None = None) -> None:
        self.console = console or Console(highlight=False)
        self.json_lines = json_lines
        self.live = self.console.is_terminal if live is None else live
        self._status: Status | None = None
        self._md: Live | None = None
        self._text: dict[str, str] = {}
        self._kinds: dict[str, str] = {}
        self._args: dict[str, str] = {}

    # -- spinner ----------------------------------------------------------------------------

    def spin(self, message: str) -> None:
        if not self.live or self.json_lines:
            return
        if self._status is None:
            self._status = self.console.status(message, spinner="dots")
            self._status.start()
        else:
            self._status.update(message)

    def note(self, message: str) -> None:
        """A status line: a spinner when live, else one line on stderr."""
        if self.live and not self.json_lines:
            self.spin(message)
        else:
            sys.stderr.write(message + "\n")
            sys.stderr.flush()

    def pause(self) -> None:
        """Stop every live element (before prompting the person)."""
        if self._status is not None:
            self._status.stop()
            self._status = None
        if self._md is not None:
            self._md.stop()
            self._md = None

    # -- events -----------------------------------------------------------------------------

    def event(self, ev: Event) -> None:
        if self.json_lines:
            sys.stdout.write(ev.model_dump_json() + "\n")
            sys.stdout.flush()
            if ev.type == "approval.resolved":  # a decision is news for the person too (stderr)
                self._on_approval_resolved(ev)
            return
        handler = getattr(self, "_on_" + ev.type.replace(".", "_"), None)
        if handler is not None:
            handler(ev)

    def _on_turn_started(self, ev: Any) -> None:
        self.spin("thinking…")

    def _on_item_started(self, ev: Any) -> None:
        item = ev.item
        self._kinds[item.id] = item.type
        if item.type == "assistant_message":
            self.pause()
            self._text[item.id] = item.text
            if self.live:
                self._md = Live(Markdown(item.text), console=self.console, refresh_per_second=12, vertical_overflow="visible")
                self._md.start()
            elif item.text:
                self.console.file.write(item.text)
        elif item.type == "tool_call":
            self._args[item.id] = ""
            self.spin(f"{item.name}…")

    def _on_item_delta(self, ev: Any) -> None:
        kind = self._kinds.get(ev.item_id)
        if kind == "assistant_message":
            self._text[ev.item_id] = self._text.get(ev.item_id, "") + ev.delta
            if self._md is not None:
                self._md.update(Markdown(self._text[ev.item_id]))
            elif not self.live:
                self.console.file.write(ev.delta)
                self.console.file.flush()
        elif kind == "tool_call":
            self._args[ev.item_id] = self._args.get(ev.item_id, "") + ev.delta

    def _on_item_completed(self, ev: Any, replay: bool = False) -> None:
        item = ev.item
        if item.type == "assistant_message":
            if self._md is not None:
                self._md.update(Markdown(item.text))
                self._md.stop()
                self._md = None
            elif replay or self.live:
                self.console.print(Markdown(item.text))
            else:
                self.console.file.write("\n" if self._text.get(item.id) else item.text + "\n")
            self._text.pop(item.id, None)
            self.spin("thinking…")
        elif item.type == "user_message" and replay:
            self.console.print(Text("› " + item.text, style="bold cyan"))
        elif item.type == "reasoning" and item.text:
            self.pause()
            self.console.print(Text(item.text.strip(), style="dim italic"))
        elif item.type == "error":
            self.pause()
            self.console.print(Text(f"! {item.message}", style="yellow"))
            self.spin("retrying…")
        elif item.type == "tool_call":
            self._tool_line(item)
            self.spin("thinking…")

    def _tool_line(self, item: Any) -> None:
        self.pause()
        icon, color = ICONS.get(item.status, ("•", "white"))
        line = Text()
        line.append(f"{icon} ", style=color)
        line.append(item.name, style="bold")
        line.append(" " + describe_call(item.name, item.arguments))
        summary = item.summary or ("" if item.status == "completed" else item.status)
        if summary:
            line.append(f"  · {summary}", style="dim")
        self.console.print(line)
        diff = item.metadata.get("diff") if item.metadata else None
        if diff and item.status == "completed":
            self.console.print(Syntax(diff.rstrip("\n"), "diff", theme="ansi_dark", background_color="default"))
        todos = item.metadata.get("todos") if item.metadata else None
        if todos:
            for todo in todos:
                done = todo.get("status") == "completed"
                self.console.print(Text(f"  {TODO_MARKS.get(todo.get('status'), '[ ]')} {todo.get('content')}",
                                        style="dim strike" if done else ""))

    def _on_approval_requested(self, ev: Any) -> None:
        """The request with its context: the call, why (and the rule that asked), where it runs,
        the diff of a write or edit, and what "always this session" would allow. A plan's request
        is only announced: the approval prompt shows the numbered plan."""
        self.pause()
        if ev.rule == "plan":
            self.console.print(Text("? the agent proposes a plan", style="bold yellow"))
            return
        who = (f"subagent «{one_line(ev.agent.task)}»: ", "bold magenta") if getattr(ev, "agent", None) else ("", "")
        self.console.print(Text.assemble(("? ", "bold yellow"), who, (ev.tool, "bold"), " wants to run: ",
                                         describe_call(ev.tool, ev.arguments, 200)))
        hard = "session" not in ev.options
        why = Text.assemble(("  why: ", "dim"), ev.reason, (f"  [{ev.rule}]" if ev.rule else "", "dim"))
        if hard:
            why.append("  (hard deny: only this one call can be allowed)", style="bold red")
        self.console.print(why)
        if ev.cwd:
            self.console.print(Text(f"  in: {ev.cwd}", style="dim"))
        if ev.diff:
            diff = ev.diff if len(ev.diff) <= 4000 else ev.diff[:4000] + "\n… (diff cut)\n"
            self.console.print(Syntax(diff.rstrip("\n"), "diff", theme="ansi_dark", background_color="default"))
        elif isinstance(ev.arguments, dict) and ev.tool in ("write", "edit"):
            preview = ev.arguments.get("content") or ev.arguments.get("new_string") or ""
            if preview:
                self.console.print(Syntax(preview[:2000], "text", theme="ansi_dark", background_color="default"))
        if ev.suggestion and not hard:
            self.console.print(Text(f"  always this session would allow: {', '.join(ev.suggestion)}", style="dim"))

    def _on_approval_resolved(self, ev: Any) -> None:
        words = {"once": "allowed once", "session": "allowed for this session", "deny": "denied"}
        reason = f": {ev.reason}" if ev.reason else ""
        who = f"subagent «{one_line(ev.agent.task)}»: " if getattr(ev, "agent", None) else ""
        self.console.print(Text(f"  {who}{words[ev.decision]}{reason}", style="dim"))

    def _on_subagent_updated(self, ev: Any) -> None:
        """One line per change: ``↳ subagent ses_… «task»: waiting for approval``."""
        words = {"running": "working", "waiting_approval": "waiting for approval", "completed": "done",
                 "failed": "failed", "interrupted": "interrupted"}
        style = {"completed": "green", "failed": "red", "interrupted": "yellow", "waiting_approval": "yellow"}
        self.pause()
        line = Text.assemble(("↳ subagent ", "magenta"), (ev.agent.session_id[:12], "dim"),
                             f" «{one_line(ev.agent.task)}»: ", (words[ev.status], style.get(ev.status, "")))
        if ev.status in ("failed", "interrupted") and ev.result:
            line.append(f" ({one_line(ev.result, 120)})", style="dim")
        self.console.print(line)
        if ev.status in ("running", "waiting_approval"):
            self.spin("subagents working…")

    def _on_hook_ran(self, ev: Any) -> None:
        """A hook that denied, blocked or asked, or failed, gets one short line; a quiet one none."""
        target = f" {ev.tool_name}" if ev.tool_name else ""
        if ev.decision in ("deny", "block", "ask"):
            words = {"deny": "denied", "block": "blocked", "ask": "asks about"}[ev.decision]
            why = ev.reason.strip().splitlines()[0][:160] if ev.reason.strip() else ""
            self.pause()
            self.console.print(Text.assemble(("⊘ " if ev.decision != "ask" else "? ", "yellow"),
                                             (f"{ev.event} hook {words}{target}", "bold"),
                                             (f": {why}" if why else "", ""), (f"  ({ev.command})", "dim")))
        elif ev.error:
            self.pause()
            self.console.print(Text(f"! {ev.event} hook{target} failed: {ev.error[:160]}  ({ev.command})",
                                    style="yellow"))

    def _end_line(self, ev: Any, label: str, style: str) -> None:
        self.pause()
        u = ev.usage
        cost = f" · ${u.cost:.4f}" if u.cost is not None else ""
        cached = f" ({u.cached_input_tokens:,} cached)" if u.cached_input_tokens else ""
        self.console.print(Text(
            f"{label} · {u.input_tokens:,} tokens in{cached} / {u.output_tokens:,} out · {u.requests} requests{cost} · "
            f"{ev.duration_ms / 1000:.1f}s", style=style))

    def _on_turn_completed(self, ev: Any) -> None:
        # a turn cut short by a limit, or whose answer cannot be taken at its word, is not a success
        if ev.warnings:
            self.pause()
            for warning in ev.warnings:
                self.console.print(Text(f"! {warning.message}", style="bold yellow"))
        if ev.stop_reason == "end_turn":
            if ev.warnings:
                self._end_line(ev, "! done, but the task may not be", "yellow")
            else:
                self._end_line(ev, "✓ done", "dim")
            return
        label = {"max_steps": "! stopped at the step limit", "max_tokens": "! output limit reached"}[ev.stop_reason]
        self._end_line(ev, f"{label}, the task may be unfinished", "yellow")

    def _on_turn_failed(self, ev: Any) -> None:
        self.pause()
        self.console.print(Text(f"✗ turn failed ({ev.error.code}): {ev.error.message}", style="bold red"))
        self._end_line(ev, "✗ failed", "dim")

    def _on_turn_interrupted(self, ev: Any) -> None:
        self._end_line(ev, f"■ interrupted ({ev.reason})", "yellow")

    # -- replay -----------------------------------------------------------------------------

    def replay(self, events: Sequence[Event], subagents: Mapping[str, Sequence[Event]] | None = None) -> None:
        """Render a journaled session: completed items and turn ends, no live parts. ``subagents``:
        the journals of its subagents by session id, each folded under the call that spawned it."""
        self.live = False
        for ev in events:
            if ev.type == "item.completed":
                self._on_item_completed(ev, replay=True)
                child = ev.item.metadata.get("agent_session_id") if ev.item.type == "tool_call" else None
                if child and subagents and child in subagents:
                    self._fold(subagents[child])
            elif ev.type == "subagent.updated" and ev.status in ("completed", "failed", "interrupted"):
                self.event(ev)
            elif ev.type in ("turn.completed", "turn.failed", "turn.interrupted", "approval.resolved", "hook.ran"):
                self.event(ev)
            elif ev.type == "turn.started":
                self.console.rule(Text(ev.ts.strftime("%Y-%m-%d %H:%M:%S UTC") + f" · {ev.model}", style="dim"))

    def _fold(self, events: Sequence[Event]) -> None:
        """A subagent's transcript, indented under the call that spawned it."""
        buffer = io.StringIO()
        inner = Console(file=buffer, width=max(40, self.console.width - 4), force_terminal=self.console.is_terminal,
                        color_system=self.console.color_system, highlight=False)  # type: ignore[arg-type]
        Renderer(inner, live=False).replay(events)
        self.console.print(Padding(Text.from_ansi(buffer.getvalue().rstrip("\n")), (0, 0, 0, 4)))

