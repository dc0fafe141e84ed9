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


def describe(pids: list[int]) -> str:
    """``pid: state wchan cmdline`` per process, for a failure message that says where each one waits."""
    lines = []
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            wchan = Path(f"/proc/{pid}/wchan").read_text()
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        lines.append(f"{pid}: {stat} {wchan or '-'} {cmd[:200]}")
    return "\n".join(lines)


def sleeping(marker: str) -> list[int]:
    """Host pids of live ``sleep MARKER`` processes (not the shells whose command line names it)."""
    found = []
    for pid in marked(marker):
        try:
            if Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].endswith(b"sleep"):
                found.append(pid)
        except OSError:
            pass
    return found
