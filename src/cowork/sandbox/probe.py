"""Which OS sandbox can run here: :func:`support` probes once, :func:`resolve` turns the
``sandbox`` setting into a backend or a refusal that says how to fix it."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from dataclasses import dataclass
from typing import Literal

from .limits import cgroup_root

Backend = Literal["bwrap", "landlock", "none"]
CHOICES = ("auto", "bwrap", "landlock", "off")
"""Values of the ``sandbox`` setting (``--sandbox``, ``COWORK_SANDBOX``, ``ToolContext.sandbox``)."""


class SandboxUnavailable(Exception):
    """The chosen sandbox cannot run here; the message says what is missing and how to fix it."""


@dataclass(frozen=True)
class SandboxSupport:
    """What this machine offers (see :func:`support`).

    Attributes:
        bwrap: path of the bubblewrap binary, or None.
        userns: bubblewrap could create user, PID and network namespaces (probed by running it).
        landlock_abi: the kernel's Landlock ABI version; 0 when Landlock is unavailable.
        backend: what ``sandbox="auto"`` uses.
        problem: what is missing and how to fix it; None when bubblewrap works.
        process_limit: how the process count is bounded: ``"rlimit"``, ``"cgroup"`` (as root), or
            ``"none"`` (root without a usable pids cgroup: a fork bomb is bounded only by the timeout).
    """

    bwrap: str | None
    userns: bool
    landlock_abi: int
    backend: Backend
    problem: str | None
    process_limit: str = "rlimit"


def _landlock_abi() -> int:
    try:
        import landlockpy
    except ImportError:  # pragma: no cover - a declared dependency
        return 0
    try:
        return int(landlockpy.abi_version())
    except Exception:
        return 0


def _probe_bwrap(bwrap: str) -> str | None:
    """Run bubblewrap once with the namespaces the sandbox needs; the error text, or None."""
    try:
        done = subprocess.run(
            [bwrap, "--unshare-user", "--unshare-pid", "--unshare-net", "--ro-bind", "/", "/",
             "--dev", "/dev", "--proc", "/proc", "true"],
            capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    return None if done.returncode == 0 else (done.stderr.strip() or f"exit {done.returncode}")


@functools.cache
def support() -> SandboxSupport:
    """Probe bubblewrap and Landlock once per process (about 10 ms) and say what ``auto`` uses."""
    bwrap = shutil.which("bwrap")
    abi = _landlock_abi()
    error = _probe_bwrap(bwrap) if bwrap else None
    userns = bool(bwrap) and error is None
    problems = []
    if not bwrap:
        problems.append("bubblewrap is not installed (Debian/Ubuntu: `apt-get install bubblewrap`; "
                        "Fedora: `dnf install bubblewrap`)")
    elif not userns:
        problems.append(
            f"bubblewrap cannot create user namespaces ({error}); enable them with "
            "`sysctl kernel.unprivileged_userns_clone=1` (Debian), or "
            "`sysctl kernel.apparmor_restrict_unprivileged_userns=0` (Ubuntu 23.10+), or "
            "`sysctl user.max_user_namespaces=15000`"
        )
    if problems and not abi:
        problems.append("Landlock is not available either (Linux 5.13+ with `landlock` in the `lsm=` boot "
                        "parameter); or run with `--sandbox off` to run commands without isolation")
    elif problems:
        problems.append(f"using the Landlock fallback (ABI {abi}) instead")
    backend: Backend = "bwrap" if userns else "landlock" if abi else "none"
    limit = "rlimit" if os.geteuid() != 0 else "cgroup" if cgroup_root() else "none"
    return SandboxSupport(bwrap, userns, abi, backend, "; ".join(problems) or None, limit)


def resolve(choice: str) -> Literal["bwrap", "landlock", "off"]:
    """The backend for the setting ``choice`` (one of :data:`CHOICES`).

    Raises:
        ValueError: ``choice`` is not one of :data:`CHOICES`.
        SandboxUnavailable: the requested backend (or, for ``auto``, any backend) cannot run here.
    """
    if choice not in CHOICES:
        raise ValueError(f"sandbox must be one of {', '.join(CHOICES)}; got {choice!r}")
    if choice == "off":
        return "off"
    s = support()
    if choice == "bwrap" and not s.userns or choice == "landlock" and not s.landlock_abi or s.backend == "none":
        missing = "bubblewrap" if choice == "bwrap" else "Landlock" if choice == "landlock" else "an OS sandbox"
        raise SandboxUnavailable(
            f"cannot run the command: {missing} is not available here: {s.problem}. "
            "Commands are refused rather than run unconfined; a person may choose `--sandbox off` "
            "(or COWORK_SANDBOX=off) to run them without isolation."
        )
    if choice == "auto":
        return "bwrap" if s.backend == "bwrap" else "landlock"
    return choice  # type: ignore[return-value]
