"""The bubblewrap backend (https://github.com/containers/bubblewrap, ``bwrap(1)``).

The command runs in fresh user, PID, IPC, UTS, cgroup and (unless the call may use the network)
network namespaces: the root file system read-only, the workspace read-write, a private ``/tmp``
and ``/dev``, credential folders hidden under empty tmpfs mounts (files under ``/dev/null``),
``--die-with-parent``, ``--new-session``, every capability dropped, and an environment rebuilt
from an allow-list. :func:`bwrap_argv` builds the command line from a :class:`Spec` (a pure function).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from .limits import prlimit_argv
from .spec import Spec


def _installation_under_tmp(workspace: Path) -> list[Path]:
    """The folders of cowork's own installation (the interpreter's prefixes and the ``cowork``
    package) that lie under ``/tmp``, which the private ``/tmp`` would otherwise hide: bound back
    read-only so ``{python} {skill_dir}/scripts/...`` of a shipped skill runs in the sandbox
    (a clone or venv under ``/tmp``). Nothing inside the workspace (it is bound read-write anyway)."""
    tmp = Path("/tmp")
    found: list[Path] = []
    for p in (Path(sys.prefix), Path(sys.base_prefix), Path(__file__).parent.parent):
        if tmp in p.parents and p != workspace and workspace not in p.parents and p not in found \
                and not any(f in p.parents for f in found):
            found.append(p)
    return found


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
    installed = _installation_under_tmp(ws)
    for path in installed:  # cowork's own Python stays runnable (its shipped skills' scripts)
        argv += ["--ro-bind", str(path), str(path)]

    def hide(path: Path) -> list[str]:
        return ["--tmpfs", str(path)] if path.is_dir() and not path.is_symlink() else ["--ro-bind", "/dev/null", str(path)]

    outer = [h for h in spec.hidden if ws == h or h in ws.parents]
    for h in sorted(outer, key=lambda p: len(p.parts)):
        argv += hide(h)
    argv += ["--bind", str(ws), str(ws)]
    for h in spec.hidden:
        if h not in outer and (Path("/tmp") not in h.parents or ws in h.parents  # else /tmp hides it
                               or any(i in h.parents for i in installed)):
            argv += hide(h)
    argv += ["--chdir", str(ws), "--clearenv"]
    for k, v in spec.env.items():
        argv += ["--setenv", k, v]
    if status_fd is not None:
        argv += ["--json-status-fd", str(status_fd)]
    return [*argv, "--", *prlimit_argv(spec.prlimit, spec.limits), *command]
