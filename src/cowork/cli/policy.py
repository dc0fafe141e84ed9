"""``cowork trust`` (which workspaces' own policy files count) and ``cowork policy check`` (what
the policy would decide for a call, and which rule would decide it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from .options import DirOpt, workspace_of

policy_app = typer.Typer(no_args_is_help=True, help="See what the policy decides.")
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def trust(
    dir: Annotated[Path | None, typer.Argument(help="Workspace folder (default: current folder).")] = None,
    revoke: Annotated[bool, typer.Option("--revoke", help="Stop trusting the folder.")] = False,
    list_: Annotated[bool, typer.Option("--list", help="List the trusted folders.")] = False,
) -> None:
    """Trust a workspace: its .cowork/policy.toml is read from now on (untrusted ones are ignored)."""
    from ..policy import set_trusted, trusted

    try:
        if list_:
            for path in trusted():
                out.print(path)
            return
        workspace = workspace_of(dir)
        if not workspace.is_dir():
            raise _fail(f"{workspace} is not an existing folder")
        changed = set_trusted(workspace, not revoke)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    state = "no longer trusted" if revoke else "trusted"
    out.print(f"{workspace}: {state}" + ("" if changed else " (already)"), markup=False)
    if not revoke and (workspace / ".cowork" / "policy.toml").is_file():
        out.print(f"its rules in {workspace / '.cowork' / 'policy.toml'} now apply", style="dim")


@policy_app.command("check")
def check(
    tool: Annotated[str, typer.Argument(help="Tool name, e.g. bash, write, web_fetch, mcp__server__tool.")],
    arguments: Annotated[str, typer.Argument(
        help="A bash command for bash, a path for file tools, a URL for web_fetch, or a JSON object of arguments.")] = "",
    dir: DirOpt = None,
    mode: Annotated[str, typer.Option("--mode", help="Session mode to decide in.")] = "default",
    json_out: Annotated[bool, typer.Option("--json", help="Print the decision as JSON.")] = False,
) -> None:
    """Show what the policy decides for one call, and the rule that decides it (nothing is run)."""
    from ..policy import PolicyFileError, load_policy
    from ..tools import get_tool

    workspace = workspace_of(dir)
    if arguments.startswith("{"):
        try:
            args = json.loads(arguments)
        except ValueError as exc:
            raise _fail(f"arguments are not a JSON object: {exc}") from None
    else:
        key = {"bash": "command", "web_fetch": "url"}.get(tool, "path")
        args = {key: arguments} if arguments else {}
    known = get_tool(tool)
    try:
        policy = load_policy(workspace)
        decision = policy.decide(tool, args, traits=known.traits if known else None, mode=mode)
    except (PolicyFileError, ValueError) as exc:
        raise _fail(str(exc)) from None
    if json_out:
        print(json.dumps({"outcome": decision.outcome, "rule": decision.rule, "reason": decision.reason,
                          "hard": decision.hard, "network": decision.network, "suggestion": list(decision.suggestion),
                          "notes": list(policy.notes)}))
        return
    color = {"allow": "green", "ask": "yellow", "deny": "red"}[decision.outcome]
    out.print(f"[{color}]{decision.outcome}[/{color}]" + (" (hard deny: only a per-call approval)" if decision.hard else ""))
    out.print(f"rule: {decision.rule}", markup=False)
    out.print(f"why: {decision.reason}", markup=False)
    if decision.suggestion:
        out.print(f"'always in this session' would allow: {', '.join(decision.suggestion)}", markup=False)
    if decision.network:
        out.print("network: yes")
    for note in policy.notes:
        err.print(Text.assemble(("note: ", "yellow"), note))


def _fail(message: str) -> typer.Exit:
    err.print(Text.assemble(("error: ", "red"), message))
    return typer.Exit(2)
