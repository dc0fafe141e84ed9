"""``cowork doctor``: is this machine ready for cowork, and what to do where it is not.

Each :class:`~cowork.health.Check` has a status — ``ok``; ``warn`` (works, but something is missing
or degraded); ``fail`` (something cowork needs does not work) — a detail, and a fix. The checks: the
local ones of :mod:`cowork.health` (the sandbox, ripgrep, git, the embedded model's weights, loaded
only with ``--deep``; the server's ``server/status`` reports the same), the database (reachable, schema at the
newest migration), the key store, and each provider: where its key comes from and whether its
models endpoint answers (one ``GET …/models`` with a 3 s timeout, all providers at once). Exit
code 0 when nothing fails, 1 otherwise.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from ..health import Check, key_store_check, model_check, program_check, sandbox_checks
from ..providers.redaction import redact
from ..providers.secrets import KEY_VARIABLES, SecretStoreError, provider_key

if TYPE_CHECKING:
    import httpx

REACH_TIMEOUT_S = 3.0

PROVIDER_URLS = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com/v1",
    "google": "https://generativelanguage.googleapis.com/v1beta",
    "ollama": "http://127.0.0.1:11434/v1",
}
"""Default API roots; ``OPENAI_BASE_URL`` and ``OLLAMA_BASE_URL`` replace theirs."""


# -- database ------------------------------------------------------------------------------------


async def database_check() -> Check:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from sqlalchemy.engine import make_url

    from ..config import database_url
    from ..store.db import MIGRATIONS, create_engine

    url = database_url()
    shown = make_url(url).render_as_string(hide_password=True)
    db_file = make_url(url).database if url.startswith("sqlite") else None
    if db_file and db_file != ":memory:" and not os.path.exists(db_file):
        return Check("database", "ok", f"{shown}: not created yet (made on first use)")
    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            current = await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())
    except Exception as exc:
        return Check("database", "fail", f"{shown}: cannot connect: {exc}",
                     "check COWORK_DATABASE_URL, that the server is running and the file/folder is writable")
    finally:
        await engine.dispose()
    if current == head:
        return Check("database", "ok", f"{shown}: schema at revision {head}")
    known = {s.revision for s in ScriptDirectory(str(MIGRATIONS)).walk_revisions()}
    if current is not None and current not in known:
        return Check("database", "fail", f"{shown}: schema at revision {current}, unknown to this cowork",
                     "the database was upgraded by a newer cowork: upgrade cowork")
    return Check("database", "warn", f"{shown}: schema at revision {current}, newest is {head}",
                 "it is upgraded when cowork next opens it (any `cowork run`, `chat` or `serve`)")


# -- providers ------------------------------------------------------------------------------------


def _request(provider: str, key: str | None) -> tuple[str, dict[str, str]]:
    """The models endpoint of ``provider`` and its authentication headers."""
    if provider == "openai":
        base = os.environ.get("OPENAI_BASE_URL") or PROVIDER_URLS["openai"]
        return f"{base.rstrip('/')}/models", {"Authorization": f"Bearer {key}"} if key else {}
    if provider == "anthropic":
        return f"{PROVIDER_URLS['anthropic']}/models", {"x-api-key": key or "", "anthropic-version": "2023-06-01"}
    if provider == "google":
        return f"{PROVIDER_URLS['google']}/models", {"x-goog-api-key": key or ""}
    base = os.environ.get("OLLAMA_BASE_URL") or PROVIDER_URLS["ollama"]
    return f"{base.rstrip('/')}/models", {}


async def provider_check(provider: str, client: httpx.AsyncClient) -> Check:
    """Key source and reachability of ``provider``'s models endpoint."""
    import httpx
    name = f"provider {provider}"
    key, source = None, ""
    if provider in KEY_VARIABLES:
        try:
            found = provider_key(provider)
        except SecretStoreError as exc:
            return Check(name, "fail", exc.problem, exc.fix)
        custom = provider == "openai" and os.environ.get("OPENAI_BASE_URL")
        if found is None and not custom:
            return Check(name, "warn", "no API key", f"`cowork auth set {provider}` or set {KEY_VARIABLES[provider][0]}")
        key = found[0] if found else None
        source = ("key from the key store" if found[1] == "store" else f"key from {found[1]}") if found else "no key"
    configured = provider != "ollama" or bool(os.environ.get("OLLAMA_BASE_URL"))
    url, headers = _request(provider, key)
    started = time.monotonic()
    try:
        response = await client.get(url, headers=headers)
    except httpx.HTTPError as exc:
        what = f"{url} unreachable: {type(exc).__name__}{f': {exc}' if str(exc) else ''}"
        detail = redact("; ".join(x for x in (source, what) if x))
        if not configured:
            return Check(name, "warn", detail, "only needed for ollama: models; start Ollama or set OLLAMA_BASE_URL")
        return Check(name, "fail", detail, "check the network, a proxy, or the base URL variable")
    ms = (time.monotonic() - started) * 1000
    reached = f"{url} answered HTTP {response.status_code} in {ms:.0f} ms"
    detail = redact("; ".join(x for x in (source, reached) if x))
    if response.status_code in (401, 403):
        return Check(name, "fail", detail + " (key rejected)", f"store a valid key: `cowork auth set {provider}`")
    if response.is_success:
        return Check(name, "ok", detail)
    return Check(name, "warn", detail, "the provider may be having trouble; try again later")


async def provider_checks() -> list[Check]:
    import httpx

    async with httpx.AsyncClient(timeout=REACH_TIMEOUT_S, follow_redirects=True) as client:
        return list(await asyncio.gather(*(provider_check(p, client) for p in (*KEY_VARIABLES, "ollama"))))


# -- the command ------------------------------------------------------------------------------------


async def run_checks(deep: bool = False) -> list[Check]:
    """Every check, in the order shown. Never raises for what it checks."""
    checks = sandbox_checks()
    checks.append(program_check("ripgrep", ["rg", "--version"], "`apt-get install ripgrep` (grep falls back to "
                                "a slower Python search without it)", missing="warn"))
    checks.append(program_check("git", ["git", "--version"], "`apt-get install git` (needed for checkpoints)"))
    model, database, providers = await asyncio.gather(model_check(deep), database_check(), provider_checks())
    return [*checks, model, database, key_store_check(), *providers]


STYLE = {"ok": "[green]ok[/green]", "warn": "[yellow]warn[/yellow]", "fail": "[red]fail[/red]"}


def doctor(
    json_output: Annotated[bool, typer.Option("--json", help="A JSON list of {name, status, detail, fix}.")] = False,
    deep: Annotated[bool, typer.Option("--deep", help="Also load the embedded model.")] = False,
) -> None:
    """Check the sandbox, tools, embedded model, database, keys and providers; say how to fix what is wrong."""
    checks = asyncio.run(run_checks(deep))
    if json_output:
        print(json.dumps([asdict(c) for c in checks]))
    else:
        table = Table("check", "status", "detail", "fix", box=None)
        for c in checks:
            table.add_row(c.name, STYLE[c.status], c.detail, c.fix)
        Console(highlight=False).print(table)
    raise typer.Exit(1 if any(c.status == "fail" for c in checks) else 0)
