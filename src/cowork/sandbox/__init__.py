"""The OS sandbox a ``bash`` command runs in: bubblewrap, else Landlock, else a refusal.

- :mod:`~cowork.sandbox.probe`: what this machine offers (:func:`support`) and which backend a
  setting means (:func:`resolve`, :data:`CHOICES`, :class:`SandboxUnavailable`);
- :mod:`~cowork.sandbox.spec`: what shapes one command (:class:`Spec`, :class:`Limits`);
- :mod:`~cowork.sandbox.environment`: the variables passed in, the paths hidden, and
  :func:`protect_process` (cowork's own environment out of reach);
- :mod:`~cowork.sandbox.bwrap`: the bubblewrap command line (namespaces, read-only root);
- :mod:`~cowork.sandbox.landlock` and :mod:`~cowork.sandbox.landlock_helper`: the Landlock
  fallback where user namespaces are off (a scrubbed launcher that restricts itself, drops every
  capability and forks the command);
- :mod:`~cowork.sandbox.limits`: ``prlimit(1)`` and, as root, a ``pids`` cgroup;
- :mod:`~cowork.sandbox.launch`: :class:`Launch`, starting and tearing down one command.

``sandbox="off"`` (chosen by a person: ``--sandbox off`` / ``COWORK_SANDBOX=off``) runs the command
directly, with only the environment scrubbed. The package decides nothing about *whether* a
command may run (that is :mod:`cowork.policy`) and imports nothing of cowork outside itself.
docs/security.md describes what each backend stops and what it does not.
"""

from .bwrap import bwrap_argv
from .environment import (
    CREDENTIAL_PATHS, ENV_ALLOWED, SECRET_NAME, hidden_paths, protect_process, scrubbed_env, without_secrets,
)
from .landlock import landlock_argv, private_tmpdir
from .launch import Launch
from .limits import PidsCgroup, pids_cgroup, prlimit_argv, user_process_count
from .probe import CHOICES, Backend, SandboxSupport, SandboxUnavailable, resolve, support
from .spec import Limits, Spec

__all__ = [
    "CHOICES", "CREDENTIAL_PATHS", "ENV_ALLOWED", "SECRET_NAME", "Backend", "Launch", "Limits", "PidsCgroup",
    "SandboxSupport", "SandboxUnavailable", "Spec", "bwrap_argv", "hidden_paths", "landlock_argv", "pids_cgroup",
    "private_tmpdir", "prlimit_argv", "protect_process", "resolve", "scrubbed_env", "support",
    "user_process_count", "without_secrets",
]
