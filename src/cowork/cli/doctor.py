"""``cowork doctor``: is this machine ready for cowork, and what to do where it is not.

Each :class:`Check` has a status — ``ok``; ``warn`` (works, but something is missing or degraded);
``fail`` (something cowork needs does not work) — a detail, and a fix. The checks: the sandbox
(bubblewrap, user namespaces, Landlock, from :func:`cowork.sandbox.support`), ripgrep, git,
the embedded model's weights (loaded only with ``--deep``), the database (reachable, schema at the
newest migration), the key store, and each provider: where its key comes from and whether its
models endpoint answers (one ``GET …/models`` with a 3 s timeout, all providers at once). Exit
code 0 when nothing fails, 1 otherwise.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from rich.console import Console
from rich.table import Table

from ..providers.redaction import redact
from ..providers.secrets import KEY_VARIABLES, SecretStoreError, provider_key, secret_store

if TYPE_CHECKING:
    import httpx

Status = Literal["ok", "warn", "fail"]
REACH_TIMEOUT_S = 3.0

PROVIDER_URLS = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com/v1",
    "google": "https://generativelanguage.googleapis.com/v1beta",
    "ollama": "http://127.0.0.1:11434/v1",
}
"""Default API roots; ``OPENAI_BASE_URL`` and ``OLLAMA_BASE_URL`` replace theirs."""


@dataclass
class Check:
    name: str
    status: Status
    detail: str
    fix: str = ""


# -- sandbox, programs ----------------------------------------------------------------------------


def sandbox_checks() -> list[Check]:
    from ..sandbox import support

    s = support()
    none = s.backend == "none"
    sysctl = ("enable unprivileged user namespaces: `sysctl kernel.unprivileged_userns_clone=1` (Debian), "
              "`sysctl kernel.apparmor_restrict_unprivileged_userns=0` (Ubuntu 23.10+)")
    checks = [
        Check("bubblewrap", "ok", s.bwrap) if s.bwrap else Check(
            "bubblewrap", "fail" if none else "warn", "not installed",
            "`apt-get install bubblewrap` (Fedora: `dnf install bubblewrap`)"),
        Check("user namespaces", "ok", "bubblewrap can create user, PID and network namespaces") if s.userns
        else Check("user namespaces", "fail" if none else "warn",
                   "unavailable" if s.bwrap else "not checked (no bubblewrap)", sysctl if s.bwrap else ""),
        Check("Landlock", "ok", f"ABI {s.landlock_abi}") if s.landlock_abi else Check(
            "Landlock", "fail" if none else "ok" if s.userns else "warn",
            "unavailable" + (" (not needed: bubblewrap works)" if s.userns else ""),
            "" if s.userns else "Linux 5.13+ with `landlock` in the `lsm=` boot parameter"),
    ]
    if none:
        checks.append(Check("sandbox", "fail", s.problem or "no sandbox backend",
                            "install bubblewrap or enable Landlock; `--sandbox off` runs commands unconfined"))
    else:
        limit = {"rlimit": "process count limited by RLIMIT_NPROC", "cgroup": "process count limited by a pids cgroup",
                 "none": "process count not limited (root without a pids cgroup)"}.get(s.process_limit, s.process_limit)
        checks.append(Check("sandbox", "warn" if s.process_limit == "none" else "ok", f"{s.backend}; {limit}",
                            "run cowork as a normal user, or give it a writable pids cgroup"
                            if s.process_limit == "none" else ""))
    return checks


def program_check(name: str, argv: list[str], fix: str, missing: Status = "fail") -> Check:
    """``argv`` run with a 5 s timeout: ok with the first line it printed, else ``missing``."""
    if shutil.which(argv[0]) is None:
        return Check(name, missing, f"`{argv[0]}` not found on PATH", fix)
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=5, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Check(name, missing, f"`{' '.join(argv)}` failed: {exc}", fix)
    first = (done.stdout or done.stderr).strip().splitlines()
    if done.returncode != 0:
        return Check(name, missing, f"`{' '.join(argv)}` exited {done.returncode}: {first[0] if first else ''}", fix)
    return Check(name, "ok", first[0] if first else "")


# -- embedded model, database, key store -------------------------------------------------------


async def model_check(deep: bool) -> Check:
    from ..providers.catalog import DEFAULT_MODELS
    from ..providers.local import LocalModel
    from ..providers.weights import LocalModelError, resolve_weights

    name = DEFAULT_MODELS["local"]
    try:
        path, n_ctx = resolve_weights(name)
    except LocalModelError as exc:
        return Check("embedded model", "warn", str(exc), "only needed for local: models (the offline default)")
    detail = f"local:{name}: {path} ({path.stat().st_size / 1e6:.0f} MB, {n_ctx} tokens context)"
    if not deep:
        return Check("embedded model", "ok", detail + "; not loaded (--deep loads it)")
    started = time.monotonic()
    try:
        await LocalModel(name).load()
    except Exception as exc:
        return Check("embedded model", "fail", f"{detail}; loading failed: {exc}",
                     f"reinstall the weights (`cowork models install {name} --verify`) or "
                     "check that xllamacpp works on this CPU")
    return Check("embedded model", "ok", f"{detail}; loaded in {time.monotonic() - started:.1f} s")


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


def key_store_check() -> Check:
    store = secret_store()
    try:
        stored = [p for p in store.providers() if store.get(p)]
    except SecretStoreError as exc:
        return Check("key store", "fail", exc.problem, exc.fix)
    if not stored:
        return Check("key store", "ok", f"{store.path}: no keys stored")
    return Check("key store", "ok", f"{store.path}: keys for {', '.join(stored)}")


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
