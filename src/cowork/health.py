"""Local health checks: what `cowork doctor` and the server's `server/status` report about this
machine — the sandbox (bubblewrap, user namespaces, Landlock, from :func:`cowork.sandbox.support`),
ripgrep, git, the embedded model's weights, and the key store. Each :class:`Check` has a status —
``ok``; ``warn`` (works, but something is missing or degraded); ``fail`` (something cowork needs
does not work) — a detail for people and a fix. Nothing here reaches the network or the database.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass
from typing import Literal

from .providers.secrets import SecretStoreError, secret_store

Status = Literal["ok", "warn", "fail"]


@dataclass
class Check:
    name: str
    status: Status
    detail: str
    fix: str = ""


# -- sandbox, programs ----------------------------------------------------------------------------


def sandbox_checks() -> list[Check]:
    from .sandbox import support

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



async def model_check(deep: bool) -> Check:
    from .providers.catalog import DEFAULT_MODELS
    from .providers.local import LocalModel
    from .providers.weights import LocalModelError, resolve_weights

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


def key_store_check() -> Check:
    store = secret_store()
    try:
        stored = [p for p in store.providers() if store.get(p)]
    except SecretStoreError as exc:
        return Check("key store", "fail", exc.problem, exc.fix)
    if not stored:
        return Check("key store", "ok", f"{store.path}: no keys stored")
    return Check("key store", "ok", f"{store.path}: keys for {', '.join(stored)}")


def local_checks(deep: bool = False) -> list[Check]:
    """The sandbox, ripgrep, git, the key store and (``deep``: loading) the embedded model's
    weights, in that order; blocking (runs programs with a 5 s timeout each). Never raises for
    what it checks."""
    import asyncio

    checks = sandbox_checks()
    checks.append(program_check("ripgrep", ["rg", "--version"], "`apt-get install ripgrep` (grep falls back to "
                                "a slower Python search without it)", missing="warn"))
    checks.append(program_check("git", ["git", "--version"], "`apt-get install git` (needed for checkpoints)"))
    checks.append(asyncio.run(model_check(deep)))
    checks.append(key_store_check())
    return checks
