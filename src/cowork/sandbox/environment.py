"""What a sandboxed command may see of cowork's environment: the variables passed in, the paths
hidden from it, and :func:`protect_process`, which keeps cowork's own environment out of reach."""

from __future__ import annotations

import ctypes
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path

CREDENTIAL_PATHS = (
    "~/.ssh", "~/.aws", "~/.gnupg", "~/.config/gcloud", "~/.azure", "~/.kube", "~/.docker",
    "~/.netrc", "~/.git-credentials", "~/.config/gh", "~/.pypirc", "~/.npmrc", "~/.password-store",
    "~/.cargo/credentials.toml", "~/.config/hub", "/run/docker.sock", "/var/run/docker.sock",
)
"""Paths hidden from a sandboxed command when they exist (``~`` is the user's home), plus
``$COWORK_HOME`` (cowork's database and keys) and ``/run/user/UID`` (session bus, agents)."""

ENV_ALLOWED = ("PATH", "HOME", "LANG", "LANGUAGE", "TERM", "TZ", "USER", "LOGNAME", "SHELL", "COLORTERM")
"""Variables passed into the sandbox from cowork's environment (plus every ``LC_*``)."""

SECRET_NAME = re.compile(
    r"(API_?KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|PRIVATE_KEY|AUTH|COOKIE|SESSION)", re.IGNORECASE
)
"""Names never passed to a command, allow-listed or not."""

_SECRET_VALUE = re.compile(r"^(sk-|ghp_|gho_|github_pat_|xox[abp]-|AKIA|AIza|glpat-)")
_PR_SET_DUMPABLE = 4


def hidden_paths(environ: Mapping[str, str]) -> tuple[Path, ...]:
    """The :data:`CREDENTIAL_PATHS` (with ``$COWORK_HOME`` and ``/run/user/UID``) that exist."""
    home = environ.get("HOME") or str(Path.home())
    raw = [p.replace("~", home, 1) if p.startswith("~") else p for p in CREDENTIAL_PATHS]
    raw.append(environ.get("COWORK_HOME") or f"{home}/.cowork")
    raw.append(f"/run/user/{os.getuid()}")
    out: list[Path] = []
    for p in raw:
        path = Path(os.path.abspath(p))
        if (path.exists() or path.is_symlink()) and path not in out:
            out.append(path)
    return tuple(out)


def scrubbed_env(environ: Mapping[str, str], tmpdir: str = "/tmp") -> dict[str, str]:
    """The environment of a sandboxed command: :data:`ENV_ALLOWED` and ``LC_*`` from ``environ``,
    ``TMPDIR``, ``COWORK=1`` and pagers set to ``cat``; never a name matching :data:`SECRET_NAME`
    nor a value that looks like a provider key (``sk-…``, ``ghp_…``, ``AKIA…``)."""
    env = {
        k: v for k, v in environ.items()
        if (k in ENV_ALLOWED or k.startswith("LC_")) and not SECRET_NAME.search(k) and not _SECRET_VALUE.match(v)
    }
    env.setdefault("PATH", os.defpath)
    env.update(TMPDIR=tmpdir, COWORK="1", PAGER="cat", GIT_PAGER="cat")
    return env


def without_secrets(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` minus names matching :data:`SECRET_NAME` (the environment of ``sandbox="off"``)."""
    return {k: v for k, v in environ.items() if not SECRET_NAME.search(k) and not _SECRET_VALUE.match(v)}


def protect_process() -> bool:
    """Make this process non-dumpable (``prctl(PR_SET_DUMPABLE, 0)``), once; True when it is.

    The kernel then refuses other processes of the same user that lack ``CAP_SYS_PTRACE`` the
    ``ptrace``-guarded files of this process: ``/proc/PID/environ`` (the provider keys cowork was
    started with stay there, whatever ``os.environ`` says later), ``mem``, ``maps``, ``fd/``, and
    ``ptrace`` itself. Sandboxed commands never hold that capability (the Landlock helper drops
    every capability). Side effects: no core dumps of cowork, and a debugger of the same user
    cannot attach to it. Children that ``exec`` are dumpable again (the kernel resets it).
    Called before the first Landlock command; a no-op off Linux.
    """
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(3, 0, 0, 0, 0) == 0:  # PR_GET_DUMPABLE: already non-dumpable
        return True
    return libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0) == 0
