"""Red team, the Landlock backend forced (the fallback where user namespaces are off): a command
plays the attacker inside a Python process that plays cowork's server, started with provider keys
in its environment the way ``OPENAI_API_KEY=… cowork serve`` is. Whatever the command tries, no
key comes out, cowork's own process stays out of reach, ``/dev`` offers only the harmless nodes,
and a command run by root holds no capability to get around any of it.

What Landlock still cannot stop (other processes are visible, UNIX sockets by path on older
kernels) is listed in docs/security.md; it is not asserted here. The network (UDP included) is
covered in tests/sandbox.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from sandbox_support import need, run_in_server


@pytest.fixture(autouse=True)
def _landlock() -> None:
    need("landlock")


def _keys(marker: str) -> dict[str, str]:
    return {
        "OPENAI_API_KEY": f"sk-test-{marker}", "ANTHROPIC_API_KEY": f"sk-ant-{marker}",
        "GITHUB_TOKEN": f"ghp_{marker}", "COWORK_TEST_UNNAMED": f"{marker}",  # a value no filter would know
    }


ENVIRON_ATTACKS = [
    "env; printenv; set",
    "cat /proc/$PPID/environ /proc/SERVER_PID/environ /proc/1/environ | tr '\\0' '\\n'",
    "cat /proc/*/environ 2>/dev/null | tr '\\0' '\\n'",
    "p=$$; while [ $p -gt 1 ]; do cat /proc/$p/environ; p=$(sed 's/.*) //' /proc/$p/stat | cut -d' ' -f2); done"
    " | tr '\\0' '\\n'",
    # the server's memory: /proc/PID/mem, process_vm_readv, ptrace
    """python3 - SERVER_PID <<'EOF'
import ctypes, os, sys
pid = int(sys.argv[1])
try:
    maps = open(f"/proc/{pid}/maps").read().splitlines()
    with open(f"/proc/{pid}/mem", "rb") as mem:
        for line in maps:
            lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
            if "[stack]" in line or "[heap]" in line:
                mem.seek(lo)
                print(mem.read(hi - lo).replace(b"\\0", b"\\n").decode("latin-1"))
except OSError as e:
    print("mem:", e)
libc = ctypes.CDLL(None, use_errno=True)
print("ptrace attach:", libc.ptrace(16, pid, 0, 0), ctypes.get_errno())
buf = ctypes.create_string_buffer(4096)
local = (ctypes.c_void_p * 2)(ctypes.cast(buf, ctypes.c_void_p), 4096)
remote = (ctypes.c_void_p * 2)(0x400000, 4096)
print("process_vm_readv:", libc.process_vm_readv(pid, local, 1, remote, 1, 0), ctypes.get_errno())
EOF""",
    "kill -STOP SERVER_PID && echo SIGNALLED-SERVER; kill -0 SERVER_PID && echo SIGNALLED-SERVER",
]


def test_no_key_comes_out_of_any_process(tmp_path: Path) -> None:
    marker = uuid.uuid4().hex
    server, outputs = run_in_server(tmp_path, "landlock", ENVIRON_ATTACKS, _keys(marker))
    everything = "\n".join(outputs)
    assert "PATH=" in outputs[0] and "COWORK=1" in outputs[0]  # the control: the command did run
    assert marker not in everything, everything[:3000]
    assert "SIGNALLED-SERVER" not in everything
    assert "ptrace attach: -1" in everything and "process_vm_readv: -1" in everything


DEV_ATTACKS = [
    # shared memory of other programs, message queues, other terminals, raw devices, new nodes
    "ls /dev/shm; cat /dev/shm/* && echo READ-SHM; : > /dev/shm/EXISTING && echo TRUNCATED-SHM",
    "echo x > /dev/shm/cowork-redteam-new && echo MADE-SHM; mkdir /dev/mqueue/x && echo MADE-MQ",
    "for t in /dev/pts/[0-9]*; do echo INJECTED > $t && echo WROTE-PTY; done",
    "python3 -c 'import pty; pty.openpty(); print(\"OPENED-PTY\")'",
    "head -c 1 /dev/kmsg && echo READ-KMSG; head -c 1 /dev/mem && echo READ-MEM; head -c 1 /dev/port && echo READ-PORT",
    "for d in /sys/class/block/*; do head -c 1 /dev/${d##*/} >/dev/null && echo READ-DISK; done",
    "mknod ./null c 1 3 && echo MADE-NODE; mknod /dev/shm/n c 1 3 && echo MADE-NODE",
    "echo ok > /dev/null && head -c 2 /dev/urandom | wc -c",
]


def test_dev_offers_only_the_harmless_nodes(tmp_path: Path) -> None:
    existing = Path("/dev/shm") / f"cowork-redteam-{uuid.uuid4().hex[:8]}"
    existing.write_text("SHARED-SECRET\n")
    master, slave = os.openpty()  # a terminal of "the user", as an open xterm would be
    try:
        _, outputs = run_in_server(tmp_path, "landlock", [c.replace("EXISTING", existing.name) for c in DEV_ATTACKS],
                                   {})
        os.set_blocking(master, False)
        try:
            typed = os.read(master, 100)
        except BlockingIOError:
            typed = b""
    finally:
        os.close(master)
        os.close(slave)
        left = existing.read_text()
        existing.unlink()
        Path("/dev/shm/cowork-redteam-new").unlink(missing_ok=True)
    assert left == "SHARED-SECRET\n"
    everything = "\n".join(outputs)
    for done in ("READ-SHM", "TRUNCATED-SHM", "MADE-SHM", "MADE-MQ", "WROTE-PTY", "OPENED-PTY", "READ-KMSG",
                 "READ-MEM", "READ-PORT", "READ-DISK", "MADE-NODE", "SHARED-SECRET"):
        assert done not in everything, (done, everything[:3000])
    assert b"INJECTED" not in typed
    assert outputs[-1].splitlines()[-1].strip() == "2"  # the control: /dev/null and /dev/urandom work


def test_root_gets_no_capability_to_go_around_landlock(tmp_path: Path) -> None:
    """As root the kernel lets CAP_SYS_PTRACE, CAP_SYS_MODULE, CAP_SYS_ADMIN... past many checks;
    the launcher drops them all (as any user it proves the command holds none)."""
    _, (out,) = run_in_server(tmp_path, "landlock", ["""
        grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb)' /proc/self/status
        python3 -c 'import ctypes; libc = ctypes.CDLL(None, use_errno=True); b = b"\\0" * 64;
print("init_module:", libc.init_module(b, len(b), b""), ctypes.get_errno())'
        chroot / true && echo CHROOTED; mount -t tmpfs none "$TMPDIR" && echo MOUNTED
        python3 -c 'import os; os.setgroups([0, 6]); print("SETGROUPS")'
        """], {})
    caps = [line for line in out.splitlines() if line.startswith("Cap")]
    assert len(caps) == 5 and all(line.endswith("0000000000000000") for line in caps), out
    assert "init_module: -1 1\n" in out or "init_module: -1 38\n" in out, out  # EPERM, or no module support
    for done in ("CHROOTED", "MOUNTED", "SETGROUPS"):
        assert done not in out, out
