"""The Landlock backend (https://docs.kernel.org/userspace-api/landlock.html): the fallback where
user namespaces are off.

:func:`landlock_argv` builds the command line of :mod:`cowork.sandbox.landlock_helper`, a small
launcher started with the scrubbed environment only. It restricts itself (read everywhere except
the credential folders and ``/dev``, write only in the workspace and a private temporary folder,
of ``/dev`` only the harmless device nodes, no TCP, UDP or other network sockets unless the
network is allowed), drops every capability, and then *forks* the command: the command's parent
is the launcher, whose environment holds no secret, never cowork. cowork itself is made
non-dumpable (:func:`cowork.sandbox.environment.protect_process`), one more reason the command
cannot read its ``/proc/PID/environ`` (Landlock's ptrace rule and the dropped capabilities are the
others). docs/security.md says what Landlock still cannot stop.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from .limits import prlimit_argv
from .spec import Spec

HELPER = Path(__file__).with_name("landlock_helper.py")
"""The launcher, run by path (``python -I``), not with ``-m``, so it starts without importing
cowork (about 20 ms instead of 150)."""


def landlock_argv(spec: Spec, tmpdir: str, command: Sequence[str], extra_processes: int = 0) -> list[str]:
    """The command line of the Landlock launcher (:data:`HELPER`) for ``spec``; ``tmpdir`` is the
    private temporary folder (writable), ``extra_processes`` is added to the process limit
    (``RLIMIT_NPROC`` counts every process of the user here, not only the sandbox's)."""
    argv = [sys.executable, "-I", str(HELPER), "--write", str(spec.workspace), "--write", tmpdir]
    for h in spec.hidden:
        argv += ["--hide", str(h)]
    if spec.network:
        argv.append("--network")
    return [*argv, "--", *prlimit_argv(spec.prlimit, spec.limits, extra_processes), *command]


def private_tmpdir() -> str:
    """A fresh 0700 folder for the Landlock backend's ``TMPDIR`` (the caller removes it)."""
    return tempfile.mkdtemp(prefix="cowork-sandbox-")
