"""The OS sandbox a ``bash`` command runs in: bubblewrap, else Landlock, else a refusal.

**bubblewrap** (https://github.com/containers/bubblewrap, ``bwrap(1)``) runs the command in fresh
user, PID, IPC, UTS, cgroup and (unless the call may use the network) network namespaces: the
root file system read-only, the workspace read-write, a private ``/tmp``, credential folders
hidden under empty tmpfs mounts (files under ``/dev/null``), ``--die-with-parent``,
``--new-session``, every capability dropped, and an environment rebuilt from an allow-list.
:func:`bwrap_argv` builds the command line from a :class:`Spec` (a pure function).

**Landlock** (https://docs.kernel.org/userspace-api/landlock.html) is the fallback where user
namespaces are off: :mod:`cowork.policy.landlock` restricts itself (read everywhere except the
credential folders, write only in the workspace and a private temporary folder, no TCP unless the
network is allowed, on ABI >= 4) and then ``exec``\\ s the command.

Both run the command under ``prlimit(1)`` (util-linux) for CPU seconds, writable memory
(``RLIMIT_DATA``), process count (``RLIMIT_NPROC``; inside a user namespace the kernel counts only
the sandbox's processes, Linux >= 5.14) and core dumps. The kernel never applies ``RLIMIT_NPROC``
to uid 0, so when cowork runs as root the processes are also put in a ``pids`` cgroup of their
own (cgroup v1 ``/sys/fs/cgroup/pids`` or a v2 root with the ``pids`` controller) when one can
be made: a fork bomb then stops at :attr:`Limits.processes`.

``sandbox="off"`` (chosen by a person: ``--sandbox off`` / ``COWORK_SANDBOX=off``) runs the command
directly, with only the environment scrubbed.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Backend = Literal["bwrap", "landlock", "none"]
CHOICES = ("auto", "bwrap", "landlock", "off")
"""Values of the ``sandbox`` setting (``--sandbox``, ``COWORK_SANDBOX``, ``ToolContext.sandbox``)."""

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


class SandboxUnavailable(Exception):
    """The chosen sandbox cannot run here; the message says what is missing and how to fix it."""


@dataclass(frozen=True)
class Limits:
    """Resource limits of one command (``prlimit(1)``; 0 means no limit).

    Attributes:
        cpu_s: CPU seconds per process (``RLIMIT_CPU``); a busy loop gets SIGXCPU/SIGKILL.
        memory_bytes: writable memory per process (``RLIMIT_DATA``: heap and private mappings;
            unlike ``RLIMIT_AS`` it leaves the large address-space reservations of V8 or the JVM alone).
        processes: processes and threads of the sandbox (``RLIMIT_NPROC``, and the pids cgroup as root).
    """

    cpu_s: int = 600
    memory_bytes: int = 8 * 1024**3
    processes: int = 512


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
    limit = "rlimit" if os.geteuid() != 0 else "cgroup" if _cgroup_root() else "none"
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


@dataclass(frozen=True)
class Spec:
    """Everything that shapes one sandboxed command.

    Attributes:
        workspace: absolute path, bound read-write.
        network: share the host's network (otherwise only a private loopback, or no TCP under Landlock).
        hidden: existing absolute paths to hide (folders get an empty tmpfs, files ``/dev/null``).
        env: the command's complete environment.
        limits: resource limits.
        prlimit: path of ``prlimit(1)``, or None to run without limits.
    """

    workspace: Path
    network: bool = False
    hidden: tuple[Path, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    limits: Limits = Limits()
    prlimit: str | None = None


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


def prlimit_argv(prlimit: str | None, limits: Limits, extra_processes: int = 0) -> list[str]:
    """``prlimit --cpu=… --data=… --nproc=… --core=0 --`` (empty without ``prlimit``)."""
    if not prlimit:
        return []
    argv = [prlimit, "--core=0"]
    if limits.cpu_s:
        argv.append(f"--cpu={limits.cpu_s}")
    if limits.memory_bytes:
        argv.append(f"--data={limits.memory_bytes}")
    if limits.processes:
        argv.append(f"--nproc={limits.processes + extra_processes}")
    return [*argv, "--"]


def bwrap_argv(bwrap: str, spec: Spec, command: Sequence[str], status_fd: int | None = None) -> list[str]:
    """The bubblewrap command line that runs ``command`` as ``spec`` says (pure; no I/O).

    Order matters, later mounts cover earlier ones: the read-only root, ``/dev``, ``/proc``, the
    private ``/tmp``, then hidden paths that *contain* the workspace, then the workspace, then the
    other hidden paths (so a workspace under a hidden folder stays visible, and credential folders
    inside a workspace stay hidden). ``status_fd`` gets bwrap's ``--json-status-fd`` reports
    (``{"child-pid": N}``, then ``{"exit-code": N}`` when the command itself exits).
    """
    ws = spec.workspace
    argv = [bwrap, "--unshare-all"]
    if spec.network:
        argv.append("--share-net")
    argv += ["--die-with-parent", "--new-session", "--cap-drop", "ALL",
             "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]

    def hide(path: Path) -> list[str]:
        return ["--tmpfs", str(path)] if path.is_dir() and not path.is_symlink() else ["--ro-bind", "/dev/null", str(path)]

    outer = [h for h in spec.hidden if ws == h or h in ws.parents]
    for h in sorted(outer, key=lambda p: len(p.parts)):
        argv += hide(h)
    argv += ["--bind", str(ws), str(ws)]
    for h in spec.hidden:
        if h not in outer and (Path("/tmp") not in h.parents or ws in h.parents):  # else /tmp hides it
            argv += hide(h)
    argv += ["--chdir", str(ws), "--clearenv"]
    for k, v in spec.env.items():
        argv += ["--setenv", k, v]
    if status_fd is not None:
        argv += ["--json-status-fd", str(status_fd)]
    return [*argv, "--", *prlimit_argv(spec.prlimit, spec.limits), *command]


def landlock_argv(spec: Spec, tmpdir: str, command: Sequence[str], extra_processes: int = 0) -> list[str]:
    """The command line of the Landlock helper (:mod:`cowork.policy.landlock`) for ``spec``.

    The helper file is run by path (``python -I``), not with ``-m``, so it starts without
    importing cowork (about 20 ms instead of 150).
    """
    helper = Path(__file__).with_name("landlock.py")
    argv = [sys.executable, "-I", str(helper), "--write", str(spec.workspace), "--write", tmpdir]
    for h in spec.hidden:
        argv += ["--hide", str(h)]
    if spec.network:
        argv.append("--network")
    return [*argv, "--", *prlimit_argv(spec.prlimit, spec.limits, extra_processes), *command]


def user_process_count() -> int:
    """Processes of this user now (Landlock has no user namespace: ``RLIMIT_NPROC`` counts them all)."""
    uid, n = os.getuid(), 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                n += entry.stat().st_uid == uid
            except OSError:
                pass
    return n


# -- pids cgroup (root only: the kernel exempts uid 0 from RLIMIT_NPROC) ---------------------------

def _cgroup_root() -> Path | None:
    """A cgroup folder where a pids-limited child can be made, or None."""
    if os.geteuid() != 0:
        return None
    v1 = Path("/sys/fs/cgroup/pids")
    if (v1 / "cgroup.procs").exists() and os.access(v1, os.W_OK):
        return v1
    v2 = Path("/sys/fs/cgroup")
    try:
        if "pids" in (v2 / "cgroup.subtree_control").read_text().split() and os.access(v2, os.W_OK):
            return v2
    except OSError:
        pass
    return None


class PidsCgroup:
    """A throw-away pids cgroup: :attr:`wrap` puts a command in it, :meth:`close` kills what is
    left in it and removes it. See https://docs.kernel.org/admin-guide/cgroup-v1/pids.html."""

    STALE_S = 60
    """An empty ``cowork-*`` cgroup older than this was left by a cowork that died; it is removed."""

    def __init__(self, root: Path, max_pids: int) -> None:
        now = time.time()
        for old in root.glob("cowork-*"):
            try:
                if now - old.stat().st_mtime > self.STALE_S:
                    old.rmdir()  # fails (busy) while processes are left in it
            except OSError:
                pass
        self.path = root / f"cowork-{uuid.uuid4().hex[:12]}"
        self.path.mkdir()
        (self.path / "pids.max").write_text(str(max_pids))

    def wrap(self, argv: Sequence[str]) -> list[str]:
        """``sh -c 'echo $$ > cgroup.procs && exec "$@"'``: joins before anything can fork."""
        return ["/bin/sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', str(self.path), *argv]

    def pids(self) -> list[int]:
        try:
            return [int(p) for p in (self.path / "cgroup.procs").read_text().split()]
        except OSError:
            return []

    def close(self) -> None:
        """SIGKILL what is left (for up to about 1 s), then remove the cgroup."""
        for _ in range(100):
            pids = self.pids()
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, 9)
                except OSError:
                    pass
            time.sleep(0.01)
        try:
            self.path.rmdir()
        except OSError:
            pass


def pids_cgroup(limits: Limits) -> PidsCgroup | None:
    """A :class:`PidsCgroup` when cowork runs as root and one can be made, else None."""
    root = _cgroup_root() if limits.processes else None
    if root is None:
        return None
    try:
        return PidsCgroup(root, limits.processes)
    except OSError:
        return None


def private_tmpdir() -> str:
    """A fresh 0700 folder for the Landlock backend's ``TMPDIR`` (the caller removes it)."""
    return tempfile.mkdtemp(prefix="cowork-sandbox-")
