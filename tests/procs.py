"""Finding a test's processes on the host.

A pid printed by a command inside the bash sandbox belongs to the sandbox's own PID namespace and
means nothing out here, so tests give their commands a unique argument (``sleep 30.5678``) and
look for it in ``/proc/PID/cmdline`` (https://man7.org/linux/man-pages/man5/proc_pid_cmdline.5.html).
"""

from __future__ import annotations

from pathlib import Path


def alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (state ``Z`` in ``/proc/PID/stat``)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def marked(marker: str | bytes) -> list[int]:
    """Host pids of live processes whose command line contains ``marker``."""
    needle = marker.encode() if isinstance(marker, str) else marker
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if needle in (entry / "cmdline").read_bytes() and alive(int(entry.name)):
                    found.append(int(entry.name))
            except OSError:
                pass
    return found
