"""``cowork checkpoints list|diff|restore``: a workspace's checkpoints, through the protocol client
like every other command, and the renderings ``cowork chat`` shares (``/checkpoints``, ``/undo``,
``/restore``). See docs/checkpoints.md."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from ..protocol import CheckpointInfo
from ..protocol.rpc import CheckpointRestoreResult
from .ids import short_ids
from .options import DirOpt, ServerOpt, TokenOpt, workspace_of

app = typer.Typer(no_args_is_help=True, help="A workspace's checkpoints: list, diff, restore (docs/checkpoints.md).")

MARK = {"added": ("+", "green"), "deleted": ("-", "red"), "modified": ("~", "yellow")}

SessionOpt = Annotated[str | None, typer.Option("--session", "-s", help="Session (default: the workspace's latest).")]


# -- renderings shared with cowork chat --------------------------------------------------------------


def checkpoint_table(checkpoints: list[CheckpointInfo]) -> Table:
    """Checkpoints with their ids shortened to a unique prefix (what ``restore`` and ``diff``
    take), never cut by the terminal's width."""
    ids = short_ids(c.id for c in checkpoints)
    turns = short_ids(c.turn_id for c in checkpoints)
    table = Table(box=None)
    table.add_column("id", no_wrap=True, min_width=max(map(len, ids.values()), default=2))
    table.add_column("taken")
    table.add_column("kind")
    table.add_column("turn", no_wrap=True, min_width=max(map(len, turns.values()), default=4))
    table.add_column("changed")
    table.add_column("files")
    for c in checkpoints:
        note = " (truncated)" if c.stats.truncated else ""
        table.add_row(ids[c.id], c.created_at.astimezone().strftime("%Y-%m-%d %H:%M:%S"), c.kind, turns[c.turn_id],
                      str(c.stats.changed), f"{c.stats.files}{note}")
    return table


def print_changes(console: Console, result: Any, diffs: bool = False) -> None:
    """The changes of a diff or restore answer, one a line (``+`` added since, ``-`` deleted
    since, ``~`` modified; ``!`` a person's edit), with diffs when asked."""
    for ch in result.changes:
        sign, style = MARK[ch.change]
        line = Text(f"  {sign} {ch.path}" + ("/" if ch.kind == "folder" else ""), style=style)
        if ch.conflict:
            line.append("  ! edited by you since the agent's last change", style="bold red")
        console.print(line)
        if diffs and ch.diff:
            console.print(Syntax(ch.diff, "diff", theme="ansi_dark", background_color="default"))
    for nr in getattr(result, "not_restorable", None) or getattr(result, "not_restored", []):
        console.print(Text(f"  ? {nr.path}: {nr.reason}", style="dim"))


def print_restored(console: Console, result: CheckpointRestoreResult) -> None:
    console.print(f"restored {len(result.restored)} path(s)" + (f"; kept your edits to {', '.join(result.skipped)}"
                                                                  if result.skipped else ""))
    for nr in result.not_restored:
        console.print(Text(f"  could not restore {nr.path}: {nr.reason}", style="yellow"))
    if result.checkpoint_id:
        console.print(f"undo this with: /restore {result.checkpoint_id}  (or cowork checkpoints restore "
                      f"{result.checkpoint_id})", style="dim")


# -- the commands ----------------------------------------------------------------------------------


def _same_workspace(checkpoint: str, workspace: str, dir: Path | None) -> None:
    """With ``--dir``: refuse a checkpoint taken in another workspace (raises CoworkError)."""
    if dir is not None and workspace != str(workspace_of(dir)):
        from ..client import CoworkError
        from ..protocol.rpc import ErrorCode

        raise CoworkError(ErrorCode.INVALID_PARAMS,
                          f"checkpoint {checkpoint} belongs to {workspace}, not to {workspace_of(dir)} (--dir)")


async def _session_id(client: Any, workspace: Path, session: str | None) -> str:
    if session:
        return (await client.get_session(session)).id
    page = await client.list_sessions(workspace=str(workspace), limit=100)
    if not page.sessions:
        from ..client import CoworkError
        from ..protocol.rpc import ErrorCode

        raise CoworkError(ErrorCode.NOT_FOUND, f"no session in {workspace} (use --session)")
    return max(page.sessions, key=lambda s: s.updated_at).id


@app.command("list")
def list_(dir: DirOpt = None, session: SessionOpt = None,
          json_lines: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
          server: ServerOpt = None, token: TokenOpt = None) -> None:
    """A session's checkpoints, newest first."""
    from .common import print_list
    from .common import with_client as _with_client

    async def work(client: Any) -> list[CheckpointInfo]:
        return await client.list_checkpoints(await _session_id(client, workspace_of(dir), session))

    print_list(_with_client(work, server, token), json_lines, "no checkpoints yet", checkpoint_table)


@app.command("diff")
def diff(checkpoint: Annotated[str, typer.Argument(help="Checkpoint id (from `cowork checkpoints list`).")],
         paths: Annotated[list[str] | None, typer.Argument(help="Only these files or folders.")] = None,
         dir: DirOpt = None, server: ServerOpt = None, token: TokenOpt = None) -> None:
    """What changed in the workspace since a checkpoint."""
    from .common import out
    from .common import with_client as _with_client

    async def work(client: Any) -> Any:
        found = await client.diff_checkpoint(checkpoint, paths or None)
        _same_workspace(checkpoint, found.checkpoint.workspace, dir)
        return found

    result = _with_client(work, server, token)
    if not result.changes and not result.not_restorable:
        out.print("no changes since this checkpoint")
        return
    print_changes(out, result, diffs=True)


@app.command("restore")
def restore(checkpoint: Annotated[str, typer.Argument(help="Checkpoint id (from `cowork checkpoints list`).")],
            paths: Annotated[list[str] | None, typer.Argument(help="Only these files or folders.")] = None,
            yes: Annotated[bool, typer.Option("--yes", "-y", help="Apply without asking.")] = False,
            force: Annotated[bool, typer.Option("--force", help="Overwrite files you edited since the agent's "
                                                                "last change too.")] = False,
            dir: DirOpt = None, server: ServerOpt = None, token: TokenOpt = None) -> None:
    """Restore a checkpoint (all of it or some paths): shows the preview, asks, applies."""
    import sys

    from .common import out
    from .common import with_client as _with_client

    async def work(client: Any) -> CheckpointRestoreResult | None:
        if dir is not None:
            _same_workspace(checkpoint, (await client.diff_checkpoint(checkpoint, paths or None)).checkpoint.workspace,
                            dir)
        preview = await client.restore_checkpoint(checkpoint, paths or None, preview=True)
        if not preview.changes:
            print_changes(out, preview)
            out.print("nothing to restore: the workspace matches the checkpoint")
            return None
        print_changes(out, preview)
        overwrite: list[str] = []
        if preview.conflicts and not force:
            if sys.stdin.isatty() and typer.confirm(
                    f"{len(preview.conflicts)} file(s) were edited since the agent's last change; overwrite them?"):
                overwrite = preview.conflicts
        if not yes and not (sys.stdin.isatty() and typer.confirm("restore these changes?")):
            out.print("nothing restored" + ("" if sys.stdin.isatty() else " (use --yes without a terminal)"))
            return None
        return await client.restore_checkpoint(checkpoint, paths or None, preview=False, overwrite=overwrite,
                                               force=force)

    result = _with_client(work, server, token)
    if result is not None:
        print_restored(out, result)
