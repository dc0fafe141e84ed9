"""``cowork memory list | search | show | add | forget | export | import``: what the agent
remembers across sessions (docs/memory.md), through the protocol's ``memory/*`` methods."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from .common import out, print_list, usage_error, with_client
from .options import ServerOpt, TokenOpt, workspace_of
from .render import one_line

app = typer.Typer(help="Memories the agent keeps across sessions: list, search, show, add, forget, export, import.",
                  no_args_is_help=True)
IdArg = Annotated[str, typer.Argument(help="Memory id or a unique prefix of one.")]
DirOpt = Annotated[Path | None, typer.Option("--dir", "-C", help="The memories seen in this workspace "
                                             "(its own and the user's; default: the current folder).")]
AllOpt = Annotated[bool, typer.Option("--all", help="Every memory, of every workspace.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="One JSON object per line.")]


def _where(dir: Path | None, every: bool) -> str | None:
    return None if every else str(workspace_of(dir))


def _table(found: list[Any]) -> Table:
    table = Table("id", "kind", "scope", "text", "updated", box=None)
    for m in found:
        scope = m.scope + (" 🔒" if m.private else "")
        table.add_row(m.id[:12], m.kind, scope, one_line(m.text, 70), m.updated_at.strftime("%Y-%m-%d %H:%M"))
    return table


@app.command("list")
def list_(
    dir: DirOpt = None,
    every: AllOpt = False,
    kind: Annotated[list[str] | None, typer.Option("--kind", help="Only this kind (repeatable): preference, fact, "
                                                   "lesson, rule.")] = None,
    json_lines: JsonOpt = False,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Memories, newest first, and the search index's state."""
    got = with_client(lambda c: c.memory_list(workspace=_where(dir, every), kinds=kind or []), server, token)
    print_list(got.memories, json_lines, "no memories yet (the agent saves them with its memory tool; "
               "cowork memory add TEXT adds one)", _table)
    if not json_lines and got.index.state != "ready":
        out.print(f"[dim]search index: {got.index.state} ({got.index.pending} memories waiting for vectors)[/dim]")


@app.command("search")
def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    dir: DirOpt = None,
    every: AllOpt = False,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=50)] = 10,
    json_lines: JsonOpt = False,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Hybrid search (full text and vectors): the best matches first."""
    got = with_client(lambda c: c.memory_search(query=query, workspace=_where(dir, every), limit=limit), server, token)
    if got.note and not json_lines:
        out.print(f"[yellow]{got.note}[/yellow]")
    print_list([h.memory for h in got.hits], json_lines, "nothing found", _table)


async def show_memories(chat: Any, query: str) -> None:
    """The REPL's ``/memory [QUERY]``: the memories of the chat's workspace (and the user's), newest
    first, or the best matches for ``query``."""
    workspace = chat.current.workspace
    if query:
        got = await chat.client.memory_search(query=query, workspace=workspace, limit=10)
        if got.note:
            chat.out.print(f"[yellow]{got.note}[/yellow]")
        found = [h.memory for h in got.hits]
    else:
        found = (await chat.client.memory_list(workspace=workspace, limit=20)).memories
    if not found:
        chat.out.print("nothing found" if query else "no memories yet (the agent saves them with its memory tool)")
        return
    chat.out.print(_table(found))
    chat.out.print("cowork memory show ID / forget ID / export", style="dim")


@app.command("show")
def show(memory_id: IdArg, server: ServerOpt = None, token: TokenOpt = None) -> None:
    """One memory, whole."""
    m = with_client(lambda c: c.memory_get(memory_id=memory_id), server, token).memory
    out.print(f"[bold]{m.id}[/bold] · {m.kind} · {m.scope}" + (f" {m.workspace}" if m.workspace else "")
              + (" · private" if m.private else ""))
    out.print(f"saved {m.created_at:%Y-%m-%d %H:%M} UTC" + (f" by session {m.session_id}" if m.session_id else "")
              + (f", updated {m.updated_at:%Y-%m-%d %H:%M}" if m.updated_at != m.created_at else ""))
    out.print()
    print(m.text)


@app.command("add")
def add(
    text: Annotated[str, typer.Argument(help="The memory: one short, self-contained sentence.")],
    kind: Annotated[str, typer.Option("--kind", help="preference, fact, lesson or rule.")] = "fact",
    user: Annotated[bool, typer.Option("--user", help="For every workspace (default: this workspace only).")] = False,
    private: Annotated[bool, typer.Option("--private", help="Never shown to read-only clients or hosted models.")] = False,
    dir: DirOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Remember something yourself."""
    m = with_client(lambda c: c.memory_save(text=text, kind=kind, scope="user" if user else "workspace",  # type: ignore[arg-type]
                                            workspace=None if user else str(workspace_of(dir)), private=private),
                    server, token).memory
    out.print(f"remembered [bold]{m.id}[/bold] ({m.kind}, {m.scope})")


@app.command("forget")
def forget(memory_id: IdArg, server: ServerOpt = None, token: TokenOpt = None) -> None:
    """Forget a memory."""
    with_client(lambda c: c.memory_forget(memory_id=memory_id), server, token)
    out.print(f"forgot {memory_id}")


@app.command("export")
def export(
    dir: Annotated[Path | None, typer.Option("--dir", "-C", help="Only the memories seen in this workspace "
                                             "(default: every memory).")] = None,
    private: Annotated[bool, typer.Option("--private", help="Include private memories.")] = False,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file (default: stdout).")] = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Memories as Markdown, to read and edit by hand (``cowork memory import`` reads it back)."""
    where = str(workspace_of(dir)) if dir else None
    got = with_client(lambda c: c.memory_export(workspace=where, include_private=private), server, token)
    if output is None:
        sys.stdout.write(got.markdown)
    else:
        output.write_text(got.markdown, encoding="utf-8")
        out.print(f"wrote {got.count} memories to {output}")


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="A Markdown export (- reads stdin).")],
    server: ServerOpt = None,
    token: TokenOpt = None,
) -> None:
    """Read an (edited) export back: changed memories are updated, new ones added."""
    try:
        text = sys.stdin.read() if str(file) == "-" else file.read_text(encoding="utf-8")
    except OSError as exc:
        raise usage_error(f"cannot read {file}: {exc.strerror}") from None
    got = with_client(lambda c: c.memory_import(markdown=text), server, token)
    out.print(f"{got.added} added, {got.updated} updated, {got.unchanged} unchanged")
