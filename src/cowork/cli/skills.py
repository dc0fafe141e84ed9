"""``cowork skills list | show NAME | validate PATH``: the skills a workspace sees (Agent Skills
format, see docs/extensions.md and :mod:`cowork.skills.catalog`).

These read the skill folders on this machine directly (the same discovery the server runs for
its ``skills/list`` method): a skill is files, and ``validate`` checks a folder that need not be
anywhere cowork looks.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from .common import err, out, usage_error
from .options import DirOpt, workspace_of

app = typer.Typer(no_args_is_help=True, help="Skills (SKILL.md folders): list, show, validate.")

JsonOpt = Annotated[bool, typer.Option("--json", help="JSON output.")]


def _catalog(dir: Path | None):  # noqa: ANN202 - cowork.skills.Catalog, imported lazily
    from ..skills import discover

    workspace = workspace_of(dir)
    if dir is not None and not workspace.is_dir():
        raise usage_error(f"--dir {dir} is not an existing folder")
    return discover(workspace if workspace.is_dir() else None)


@app.command("list")
def list_cmd(dir: DirOpt = None, json_out: JsonOpt = False) -> None:
    """The skills the workspace sees: name, scope (workspace, user, builtin), description and
    folder. A skill hidden by a nearer one of the same name says which; invalid ones are listed
    with the reasons (they are never offered to the model)."""
    entries = _catalog(dir).entries()
    if json_out:
        print(json.dumps(entries))
        return
    if not entries:
        out.print("no skills (add folders with a SKILL.md to .cowork/skills/, .agents/skills/ or "
                  "$COWORK_HOME/skills/)", style="dim")
        return
    table = Table(box=None)
    for column in ("name", "scope", "description"):
        table.add_column(column)
    table.add_column("path", overflow="fold")
    for e in entries:
        if e["errors"]:
            what = "[red]invalid:[/red] " + escape("; ".join(e["errors"]))
        elif e["shadowed_by"]:
            what = f"[dim]shadowed by {escape(e['shadowed_by'])}[/dim] " + escape(e["description"])
        else:
            what = escape(e["description"])
        table.add_row(escape(e["name"]), e["scope"], what, escape(e["path"]))
    out.print(table)


@app.command("show")
def show_cmd(name: Annotated[str, typer.Argument(help="The skill's name.")], dir: DirOpt = None,
             json_out: JsonOpt = False) -> None:
    """A skill's front matter and instructions (exit 2 when the workspace offers no skill of
    that name)."""
    catalog = _catalog(dir)
    skill = catalog.get(name)
    if skill is None:
        bad = [i for i in catalog.invalid if i.name == name]
        if bad:
            raise usage_error(f"the skill {name} in {bad[0].path} is invalid: " + "; ".join(bad[0].errors))
        raise usage_error(f"no skill named {name!r}; skills: {', '.join(s.name for s in catalog.skills) or 'none'}")
    if json_out:
        print(json.dumps({"name": skill.name, "scope": skill.scope, "path": str(skill.path),
                          "front_matter": skill.front_matter, "body": skill.body}))
        return
    out.print(f"[bold]{escape(skill.name)}[/bold] [dim]({skill.scope} · {escape(str(skill.path))})[/dim]")
    for key, value in skill.front_matter.items():
        shown = json.dumps(value) if not isinstance(value, str) else value
        out.print(f"[dim]{escape(str(key))}:[/dim] {escape(shown)}")
    for p in skill.shadows:
        out.print(f"[dim]shadows {escape(str(p))}[/dim]")
    out.print()
    out.print(skill.body, markup=False, highlight=False)


@app.command("validate")
def validate_cmd(path: Annotated[Path, typer.Argument(help="A skill folder (or its SKILL.md).")]) -> None:
    """Check a skill folder against the Agent Skills format; exit 1 with the reasons when it is
    invalid."""
    from ..skills import validate

    errors = validate(path.expanduser())
    if errors:
        err.print(f"[red]{escape(str(path))} is not a valid skill:[/red]")
        for e in errors:
            err.print(f"  - {escape(e)}")
        raise typer.Exit(1)
    out.print(f"{escape(str(path))}: valid skill")


async def invoke_skill(chat: Any, name: str, request: str) -> bool:
    """``/NAME REQUEST`` in ``cowork chat``: when the session's workspace offers a skill ``NAME``,
    start a turn asking for it with ``REQUEST``, the skill's instructions attached (the server
    writes that message: ``skills/get`` with ``request``); False when there is no such skill (or
    the server has no skills), so the REPL says the command is unknown."""
    from ..client import CoworkError
    from ..protocol.rpc import ErrorCode

    if not name or chat.session is None:
        return False
    try:
        found = await chat.client.skills_get(name=name, session_id=chat.session.id, request=request)
    except CoworkError as exc:
        if exc.code in (ErrorCode.NOT_FOUND, ErrorCode.METHOD_NOT_FOUND, ErrorCode.INVALID_PARAMS):
            return False
        raise
    chat.out.print(Text(f"using skill {found.skill.name} ({found.skill.scope})", style="dim"))
    await chat.send(found.message)
    return True
