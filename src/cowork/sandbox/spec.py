"""What shapes one sandboxed command: its :class:`Spec` and its resource :class:`Limits`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path


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
