"""``cowork chat``: an interactive session, a thin client of the server.

Each line typed is a message to the agent (a turn) or a slash command (``/help`` lists them). A
turn's events stream through the :class:`~cowork.cli.render.Renderer` with approval prompts
inline (:func:`cowork.cli.approve.ask`); the first Ctrl-C during a turn interrupts it, a second
exits. At the prompt Ctrl-C clears the line and Ctrl-D (on an empty line) or ``/exit`` quits.

With a terminal the prompt is prompt_toolkit's: line editing, history kept in
``$COWORK_HOME/chat_history``, completion of commands, session ids, model and mode names.
Without one (piped stdin) each line read is a message or a command, so a conversation can be
scripted; approvals then follow approve.py's rule (denied: nobody can answer).
"""

from __future__ import annotations

import asyncio
import functools
import sys
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..client import AsyncClient, ConnectionLost, CoworkError, Subscription
from ..config import EngineSettings
from ..policy import MODE_HELP, MODES
from ..protocol import SessionInfo
from ..protocol.rpc import ErrorCode
from . import chat_checkpoints
from .approve import ask_many
from .chat_errors import ChatError, UsageError
from .follow import choose_session, follow_turn, open_client
from .ids import short_ids
from .render import Renderer
from .skills import invoke_skill

COMMANDS: dict[str, tuple[str, str]] = {
    "/help": ("", "show this help"),
    "/new": ("", "start a new session in this workspace"),
    "/sessions": ("", "list this workspace's sessions"),
    "/resume": ("ID", "switch to a session (id or unique prefix) and replay it"),
    "/model": ("NAME", "use another model in this session (provider:model)"),
    "/models": ("", "list the models the server knows"),
    "/tools": ("", "list the tools and what this session's mode lets them do"),
    "/mode": ("NAME", "default (ask before changes), accept-edits, read-only, plan or yolo (never ask)"),
    "/plan": ("[off]", "plan first: the next turns only read and propose a plan to approve, edit or reject; "
                       "off: back to the mode before"),
    "/checkpoints": ("", "list this session's checkpoints of the workspace"),
    "/undo": ("", "take back the file changes of the last turn (asks before overwriting your edits)"),
    "/restore": ("ID [PATHS]", "restore the workspace (or some paths) to a checkpoint"),
    "/rewind": ("[TURN] [both|code|conversation]", "go back to before a turn (default: the last one)"),
    "/context": ("", "what this session's turns load: AGENTS.md files, skills (path, size, truncated)"),
    "/init": ("[NOTES]", "ask the agent to write a first AGENTS.md for this workspace (asks before replacing one)"),
    "/mcp": ("", "the MCP servers (status, tools) and their prompts, run as /mcp__SERVER__PROMPT [ARGS]"),
    "/runs": ("", "this workspace's runs (cowork run --background): state, why, prompt"),
    "/schedules": ("", "this workspace's schedules: when they fire next"),
    "/agents": ("", "the subagents this session's turns started: what each is doing"),
    "/memory": ("[QUERY]", "what the agent remembers here (newest first), or the best matches for QUERY"),
    "/exit": ("", "quit (also Ctrl-D on an empty line)"),
}
REPLAY_TIMEOUT = 30.0

INIT_PROMPT = """\
Write a first AGENTS.md for this workspace: the instructions every later agent session here reads \
before it starts. First inspect the project: its README and docs, build and package files \
(pyproject.toml, package.json, Makefile, Cargo.toml, go.mod...), CI configuration, the folder layout, a \
few source and test files, and any CLAUDE.md, .cursorrules, .cursor/rules/ or \
.github/copilot-instructions.md. Then write AGENTS.md at the workspace's root with:

- Build, test and lint commands: the exact commands, including how to run a single test.
- Layout: where the main parts live and how they fit together (the big picture that takes several \
files to see, not a list of every file).
- Conventions this project follows: code style, naming, error handling, tests, commits.
- What an agent must take care with here (generated files not to edit by hand, slow or destructive \
commands, secrets).

Keep it short (200 to 400 words), Markdown under a "# AGENTS.md" title, and specific to this \
project: only what you found in its files, nothing invented, no generic advice. If the workspace is \
not a software project, write a short AGENTS.md saying what it holds and how to work with its files.\
"""
"""The message ``/init`` sends (after Codex's and Claude Code's ``/init``)."""


class Chat:
    """The REPL's state: the client, the current session and its subscription."""

    def __init__(self, client: AsyncClient, workspace: Path, out: Console, err: Console) -> None:
        self.client = client
        self.workspace = workspace
        self.out = out
        self.err = err
        self.session: SessionInfo | None = None
        self.sub: Subscription | None = None
        self.session_choices: list[tuple[str, str]] = []  # (id, title · updated) for completion
        self.model_choices: list[tuple[str, str]] = []  # (model, detail) for completion
        self.checkpoint_choices: list[tuple[str, str]] = []  # (checkpoint id, kind · time)
        self.turn_choices: list[tuple[str, str]] = []  # (turn id, when) of checkpointed turns
        self.before_plan: str | None = None  # the mode /plan left: an approved plan is carried out in it

    async def confirm(self, question: str) -> bool:
        """Ask a yes/no question; without a terminal the answer is no."""
        self.out.print(Text(question + " (no terminal to ask: no)", style="yellow"))
        return False

    # -- sessions -----------------------------------------------------------------------------

    async def open(self, info: SessionInfo, *, replay: bool) -> None:
        """Make ``info`` the current session; ``replay`` renders its transcript first. On failure
        the current session stays as it was."""
        sub = await self.client.subscribe(info.id, after_seq=0 if replay else info.last_seq)
        events = []
        try:
            while replay and sub.subscribed_seq and sub.last_seq < sub.subscribed_seq:
                events.append(await sub.next(timeout=REPLAY_TIMEOUT))
        except BaseException as exc:
            await sub.close()
            if isinstance(exc, TimeoutError):
                raise ChatError(f"the server did not send the journal of {info.id} in time") from None
            raise
        old, self.sub, self.session, self.workspace = self.sub, sub, info, Path(info.workspace)
        if old is not None:
            await old.close()
        if events:
            Renderer(self.out).replay(events)
        self.say_session("session")
        if info.status == "running":
            self.out.print("[yellow]a turn is running in this session (started elsewhere)[/yellow]")

    def say_session(self, label: str) -> None:
        s = self.session
        assert s is not None
        line = Text()
        line.append(f"{label} {s.id}", style="bold")
        line.append(f" · {s.model} · {s.mode} · {s.workspace}", style="dim")
        if s.title:
            line.append(f" · {s.title}", style="dim")
        self.out.print(line)

    async def new_session(self) -> None:
        s = self.session
        assert s is not None
        info = await self.client.create_session(str(self.workspace), model=s.model, mode=s.mode)
        await self.open(info, replay=False)

    async def resolve(self, ref: str) -> SessionInfo:
        """The session ``ref`` names: an id, or a unique prefix of one of the workspace's."""
        try:
            return await self.client.get_session(ref)
        except CoworkError as exc:
            if exc.code != ErrorCode.NOT_FOUND:
                raise
        found = [s for s in await self.workspace_sessions() if s.id.startswith(ref)]
        if len(found) == 1:
            return await self.client.get_session(found[0].id)
        if not found:
            raise ChatError(f"no session {ref} (see /sessions)")
        raise ChatError(f"{ref} matches {len(found)} sessions: {', '.join(s.id for s in found)}")

    async def workspace_sessions(self) -> list[SessionInfo]:
        page = await self.client.list_sessions(workspace=str(self.workspace), limit=200)
        return page.sessions

    async def refresh_choices(self) -> None:
        """What the completer offers: the workspace's sessions, the models (once)."""
        try:
            self.session_choices = [
                (s.id, " · ".join(filter(None, [s.title, s.updated_at.astimezone().strftime("%Y-%m-%d %H:%M")])))
                for s in await self.workspace_sessions() if self.session is None or s.id != self.session.id
            ]
            if self.session is not None:
                found = await self.client.list_checkpoints(self.session.id, 50)
                self.checkpoint_choices = [(c.id, f"{c.kind} · {c.created_at.astimezone():%H:%M:%S}") for c in found]
                self.turn_choices = list({c.turn_id: f"{c.created_at.astimezone():%H:%M:%S}"
                                          for c in found if c.kind == "turn"}.items())
            if not self.model_choices:
                models = await self.client.list_models()
                self.model_choices = [(m.model, m.detail) for m in models.models]
        except CoworkError:
            pass

    # -- turns --------------------------------------------------------------------------------

    async def send(self, text: str) -> None:
        """Start a turn with ``text`` and follow it to its end."""
        s, sub = self.session, self.sub
        assert s is not None and sub is not None
        try:
            started = await self.client.start_turn(s.id, text)
        except CoworkError as exc:
            if exc.code == ErrorCode.TURN_IN_PROGRESS:
                raise ChatError(f"{exc.message} (wait for it to end, or interrupt it)") from None
            raise
        if not s.title:
            try:
                self.session = await self.client.update_session(s.id, title=_title(text))
            except CoworkError:
                pass
        ask = functools.partial(ask_many, plan_mode=self.before_plan or "default")
        await follow_turn(self.client, sub, started.turn_id, Renderer(self.out), ask,
                          on_interrupt=self._say_interrupting)
        was = self.current.mode
        try:  # an approved plan switched the session's mode
            self.session = await self.client.get_session(s.id)
        except CoworkError:
            return
        if was == "plan" and self.session.mode != "plan":
            self.before_plan = None
            self.out.print(f"mode: {self.session.mode} (the plan was approved)", style="dim")

    def _say_interrupting(self) -> None:
        self.err.print("[yellow]interrupting… (Ctrl-C again to quit at once)[/yellow]")

    # -- commands -----------------------------------------------------------------------------

    async def command(self, line: str) -> bool:
        """Run a slash command; False when the chat should end."""
        name, _, arg = line.strip().partition(" ")
        arg = arg.strip()
        name = name.lower()
        if name in ("/exit", "/quit"):
            return False
        if name == "/help":
            self.help()
        elif name == "/new":
            await self.new_session()
        elif name == "/sessions":
            await self.list_sessions()
        elif name == "/resume":
            if not arg:
                raise ChatError("usage: /resume ID (see /sessions)")
            info = await self.resolve(arg)
            self.out.rule(Text(f"resuming {info.id}", style="dim"))
            await self.open(info, replay=True)
        elif name == "/model":
            if not arg:
                raise ChatError(f"usage: /model NAME (now {self.current.model}; see /models)")
            self.session = await self.client.update_session(self.current.id, model=arg)
            self.out.print(f"model: {self.session.model}")
        elif name == "/models":
            await self.list_models()
        elif name == "/tools":
            await self.list_tools()
        elif name == "/mode":
            if arg not in MODES:
                now = f" (now {self.current.mode})" if not arg else ""
                raise ChatError(f"usage: /mode {'|'.join(MODES)}{now}")
            self.session = await self.client.update_session(self.current.id, mode=arg)  # type: ignore[arg-type]
            self.out.print(f"mode: {self.session.mode} ({MODE_HELP[self.session.mode]})")
        elif name == "/plan":
            await self.plan(arg)
        elif name == "/checkpoints":
            await chat_checkpoints.list_checkpoints(self)
        elif name == "/undo":
            await chat_checkpoints.undo(self)
        elif name == "/restore":
            if not arg:
                raise ChatError("usage: /restore ID [PATHS] (see /checkpoints)")
            await chat_checkpoints.restore_command(self, arg)
        elif name == "/rewind":
            await chat_checkpoints.rewind(self, arg)
        elif name == "/context":
            await self.show_context()
        elif name == "/init":
            await self.init(arg)
        elif name == "/mcp":
            from .mcp import show_servers
            await show_servers(self)
        elif name == "/runs":
            from .runs import show_runs
            await show_runs(self)
        elif name == "/schedules":
            from .schedules import show_schedules
            await show_schedules(self)
        elif name == "/agents":
            from .agents import show_agents
            await show_agents(self)
        elif name == "/memory":
            from .memory import show_memories
            await show_memories(self, arg)
        elif name.startswith("/mcp__"):  # /mcp__SERVER__PROMPT [ARGS]: an MCP server's prompt as the message
            from .mcp import prompt_command
            await prompt_command(self, line)
        elif not await invoke_skill(self, name[1:], arg):  # /NAME REQUEST: use skill NAME
            raise ChatError(f"unknown command {name}; commands: {' '.join(COMMANDS)} or /SKILL (/help explains them; "
                            "start a message with // to send a line beginning with /)")
        return True

    async def plan(self, arg: str) -> None:
        """``/plan``: plan mode for the next turns; ``/plan off``: back to the mode before."""
        if arg not in ("", "on", "off"):
            raise ChatError("usage: /plan [off]")
        mode = self.current.mode
        if arg == "off":
            if mode != "plan":
                raise ChatError(f"the session is not in plan mode (mode {mode})")
            back, self.before_plan = self.before_plan or "default", None
            self.session = await self.client.update_session(self.current.id, mode=back)  # type: ignore[arg-type]
            self.out.print(f"mode: {self.session.mode} ({MODE_HELP[self.session.mode]})")
            return
        if mode != "plan":
            self.before_plan = mode
            self.session = await self.client.update_session(self.current.id, mode="plan")
        self.out.print(f"mode: plan ({MODE_HELP['plan']}); an approved plan is carried out in "
                       f"{self.before_plan or 'default'} mode; /plan off to leave")

    @property
    def current(self) -> SessionInfo:
        assert self.session is not None
        return self.session

    def help(self) -> None:
        table = Table(box=None, show_header=False, padding=(0, 2, 0, 0))
        for name, (arg, what) in COMMANDS.items():
            table.add_row(f"{name} {arg}".rstrip(), what)
        self.out.print(table)
        self.out.print(
            "/SKILL [REQUEST] asks the agent to use that skill, its instructions attached (`cowork skills list` "
            "shows the skills).\n"
            "Anything else is a message to the agent (start it with // to send a line beginning with /).\n"
            "Ctrl-C interrupts a running turn (twice: quit at once) or clears the line; Alt-Enter adds a "
            "new line; Tab completes commands, session ids, models and modes.", style="dim")

    async def list_sessions(self) -> None:
        sessions = await self.workspace_sessions()
        if not sessions:
            self.out.print("no sessions in this workspace yet")
            return
        ids = short_ids(s.id for s in sessions)
        table = Table("", "id", "updated", "model", "mode", "title", box=None)
        table.columns[1].no_wrap, table.columns[1].min_width = True, max(map(len, ids.values()))
        for s in sessions:
            table.add_row("*" if self.session and s.id == self.session.id else "", ids[s.id],
                          s.updated_at.astimezone().strftime("%Y-%m-%d %H:%M"), s.model, s.mode, s.title)
        self.out.print(table)

    async def list_models(self) -> None:
        result = await self.client.list_models()
        table = Table("model", "usable", "detail", box=None)
        for m in result.models:
            name = m.model + (" (default)" if m.default else "") + (" *" if m.model == self.current.model else "")
            table.add_row(name, "yes" if m.usable else "no", m.detail)
        self.out.print(table)
        self.out.print(f"this session uses {self.current.model} (* above when listed); /model NAME to change",
                       style="dim")

    async def list_tools(self) -> None:
        tools = await self.client.list_tools(self.current.id)
        rows = [(t.name, t.permission or "", "yes" if t.mutating else "no", _first_sentence(t.description))
                for t in tools]
        table = Table(box=None)
        for i, header in enumerate(("tool", "permission", "changes files")):
            table.add_column(header, no_wrap=True, min_width=max([len(header), *(len(r[i]) for r in rows)]))
        table.add_column("description", no_wrap=True, overflow="ellipsis")
        for row in rows:
            table.add_row(*row)
        self.out.print(table)
        self.out.print(f"mode {self.current.mode}: {MODE_HELP[self.current.mode]}", style="dim")

    async def show_context(self) -> None:
        """``/context``: what a turn of this session loads into its instructions (``session/context``)."""
        sections = (await self.client.session_context(session_id=self.current.id)).sections
        if sections:
            table = Table("loaded", "from", "size", "", box=None)
            table.columns[1].overflow = "fold"
            for s in sections:
                table.add_row(s.title, "" if s.source == "builtin" else s.source, f"{s.chars:,} chars",
                              "[yellow]truncated[/yellow]" if s.truncated else "")
            self.out.print(table)
            self.out.print(f"{sum(s.chars for s in sections):,} characters in all; an AGENTS.md in a subfolder is "
                           "added when the agent works there", style="dim")
        else:
            self.out.print("nothing is loaded besides cowork's own instructions")
        root = Path(self.current.workspace)
        if not any(s.kind == "agents_md" and Path(s.source).parent == root for s in sections):
            self.out.print("no AGENTS.md (or CLAUDE.md) in this workspace: /init writes one", style="dim")

    async def init(self, notes: str) -> None:
        """``/init [NOTES]``: a turn asking the agent to write the workspace's AGENTS.md (``NOTES``
        added to the request); an existing one is only rewritten when the person confirms."""
        root = Path(self.current.workspace)
        sections = (await self.client.session_context(session_id=self.current.id)).sections
        exists = (root / "AGENTS.md").is_symlink() or (root / "AGENTS.md").exists() or any(
            s.kind == "agents_md" and Path(s.source) == root / "AGENTS.md" for s in sections)
        if exists and not await self.confirm(f"{root / 'AGENTS.md'} exists. Ask the agent to review and rewrite it?"):
            raise ChatError("AGENTS.md left as it is (/init again and answer yes to have the agent rewrite it)")
        text = INIT_PROMPT
        if exists:
            text += "\n\nThere is an AGENTS.md already: read it first, keep what is still right and improve the rest."
        if notes:
            text += f"\n\nThe user adds: {notes}"
        await self.send(text)


def _first_sentence(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0].split(". ")[0].rstrip(".") if lines else ""


def _title(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= 80 else line[:79] + "…"


# -- input --------------------------------------------------------------------------------------


class TerminalInput:
    """prompt_toolkit's prompt: line editing, history, completion. ``read`` returns a line,
    ``""`` after Ctrl-C (the line is cleared), None at Ctrl-D."""

    def __init__(self, chat: Chat) -> None:
        from prompt_toolkit import PromptSession
        from prompt_toolkit.history import FileHistory
        from prompt_toolkit.key_binding import KeyBindings

        from ..config import cowork_home

        self.chat = chat
        keys = KeyBindings()

        @keys.add("escape", "enter")
        def _newline(event: Any) -> None:
            event.current_buffer.insert_text("\n")

        chat.confirm = self.confirm  # type: ignore[method-assign]
        self.prompt: Any = PromptSession(
            history=FileHistory(str(cowork_home() / "chat_history")),
            completer=SlashCompleter(chat), complete_while_typing=True, key_bindings=keys,
        )

    async def confirm(self, question: str) -> bool:
        """A yes/no question at the terminal (no history, default no)."""
        from prompt_toolkit import PromptSession

        try:
            answer = await PromptSession().prompt_async(f"{question} [y/N] ")
        except (KeyboardInterrupt, EOFError):
            return False
        return answer.strip().lower() in ("y", "yes")

    async def read(self) -> str | None:
        await self.chat.refresh_choices()
        mode = self.chat.current.mode
        label = "cowork> " if mode == "default" else f"cowork[{mode}]> "
        try:
            return await self.prompt.prompt_async([("bold", label)])
        except KeyboardInterrupt:
            return ""
        except EOFError:
            return None


class PipedInput:
    """Lines of a stdin that is not a terminal, read by a daemon thread (it never holds up the
    exit); each is echoed so the transcript shows what was said."""

    def __init__(self, chat: Chat) -> None:
        self.chat = chat
        self.queue: asyncio.Queue[str | None] = asyncio.Queue()
        loop = asyncio.get_running_loop()

        def pump() -> None:
            try:
                for line in sys.stdin:
                    loop.call_soon_threadsafe(self.queue.put_nowait, line.rstrip("\r\n"))
            finally:
                try:
                    loop.call_soon_threadsafe(self.queue.put_nowait, None)
                except RuntimeError:  # the loop is closed: the chat has ended
                    pass

        threading.Thread(target=pump, name="cowork chat stdin", daemon=True).start()

    async def read(self) -> str | None:
        line = await self.queue.get()
        if line is not None and line.strip():
            self.chat.out.print(Text("› " + line, style="bold cyan"))
        return line


class SlashCompleter(Completer):
    """Completes slash commands and their arguments (session ids, models, modes)."""

    def __init__(self, chat: Chat) -> None:
        self.chat = chat

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterator[Completion]:
        for value, start, meta in complete(self.chat, document.text_before_cursor):
            yield Completion(value, start_position=start, display_meta=meta)


def complete(chat: Chat, text: str) -> Iterator[tuple[str, int, str]]:
    """``(completion, start position, meta)`` for the text before the cursor."""
    if not text.startswith("/") or "\n" in text:
        return
    if " " not in text:
        for name, (arg, what) in COMMANDS.items():
            if name.startswith(text.lower()):
                yield name + (" " if arg else ""), -len(text), what
        return
    name, _, arg = text.partition(" ")
    arg = arg.lstrip()
    if " " in arg:
        return
    choices: Iterable[tuple[str, str]] = {
        "/resume": chat.session_choices,
        "/restore": chat.checkpoint_choices,
        "/rewind": chat.turn_choices + [(t, "what to take back") for t in ("both", "code", "conversation")],
        "/model": chat.model_choices,
        "/mode": [(m, MODE_HELP[m]) for m in MODES],
        "/plan": [("off", "back to the mode before /plan")],
    }.get(name.lower(), [])
    for value, meta in choices:
        if value.startswith(arg):
            yield value, -len(arg), meta


# -- the loop ------------------------------------------------------------------------------------


async def run_chat(workspace: Path, model: str | None, base_url: str | None, mode: str | None,
                   continue_: bool, session_id: str | None, server: str | None, token: str | None,
                   out: Console, err: Console, settings: EngineSettings | None = None) -> int:
    """The chat; returns the exit code. ``settings``: the engine's, for a server started in this
    process. Raises UsageError for what makes it impossible to start."""
    try:
        async with open_client(server, token, base_url, settings) as client:
            chat = Chat(client, workspace, out, err)
            try:
                chosen = await choose_session(client, workspace, model, mode, continue_, session_id)
                if chosen is None:
                    raise UsageError(f"no session to continue in {workspace}")
                info, resumed = chosen
                await chat.open(info, replay=resumed)
            except (CoworkError, ChatError) as exc:
                raise UsageError(getattr(exc, "message", str(exc))) from None
            interactive = sys.stdin.isatty() and sys.stdout.isatty()
            if interactive:
                out.print("/help for commands, /exit or Ctrl-D to quit", style="dim")
            return await repl(chat, TerminalInput(chat) if interactive else PipedInput(chat))
    except ConnectionLost as exc:
        raise UsageError(str(exc)) from None


async def repl(chat: Chat, reader: Any) -> int:
    """Read lines from ``reader`` (``await reader.read()``: a line, None at the end) and carry
    them out until the end or ``/exit``; returns the exit code."""
    while (line := await reader.read()) is not None:
        text = line.strip()
        if not text:
            continue
        try:
            if text.startswith("//"):
                await chat.send(line.lstrip()[1:])
            elif text.startswith("/"):
                if not await chat.command(text):
                    break
            else:
                await chat.send(line)
        except ChatError as exc:
            chat.out.print(Text(str(exc), style="yellow"))
        except CoworkError as exc:  # e.g. -32020: the model is not usable (missing key…)
            chat.out.print(Text(f"error: {exc.message}", style="red"))
    return 0


__all__ = ["COMMANDS", "MODES", "Chat", "ChatError", "UsageError", "complete", "repl", "run_chat"]
