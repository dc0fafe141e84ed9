"""Command-line options shared by several ``cowork`` commands, and the workspace they name."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

DirOpt = Annotated[Path | None, typer.Option("--dir", "-C", help="Workspace folder (default: current folder).")]
ServerOpt = Annotated[str | None, typer.Option(
    "--server", envvar="COWORK_SERVER", help="Use this cowork server (URL) instead of one started in-process.")]
TokenOpt = Annotated[str | None, typer.Option("--token", envvar="COWORK_TOKEN", help="Token for --server.")]


def workspace_of(dir: Path | None) -> Path:
    """The absolute, resolved workspace ``--dir`` names (the current folder when not given);
    it may not exist: callers say so in their own words."""
    return (dir or Path.cwd()).expanduser().resolve()
