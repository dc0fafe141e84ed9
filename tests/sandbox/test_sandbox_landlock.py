"""The Landlock backend on its own: forced even where bubblewrap works, skipped (with the reason)
only where the kernel has no Landlock. The launcher's rules, its refusals, and what a command
cannot reach under it: no environment that holds a key (its parent is the scrubbed launcher,
cowork is out of reach), no capability, of ``/dev`` only the harmless nodes."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sandbox_support import CANARY, bash, need, run_in_server

from cowork import sandbox
from cowork.tools.base import ToolContext

HELPER = sandbox.landlock.HELPER


@pytest.fixture(autouse=True)
def _landlock() -> None:
    need("landlock")


def helper(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-I", str(HELPER), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=30)


def test_kernel_abi_is_reported() -> None:
    abi = sandbox.support().landlock_abi
    assert abi >= 1
    print(f"Landlock ABI {abi}")


def test_writes_only_where_allowed_and_hidden_files_unreadable(home: Path, ws: Path, outside: Path) -> None:
    link = ws / "key-link"
    link.symlink_to(home / ".ssh")
    done = helper("--write", str(ws), "--hide", str(home / ".ssh"), "--hide", str(home / ".netrc"), "--",
                  "bash", "-c", f"echo ok > {ws}/in; echo no > {outside}/out; cat {home}/.ssh/id_ed25519 "
                  f"{home}/.netrc {link}/id_ed25519; cat {home}/.aws/credentials", cwd=ws)
    assert (ws / "in").read_text() == "ok\n" and not (outside / "out").exists()
    assert done.stdout.count(CANARY) == 1  # only ~/.aws, which was not hidden
    assert done.stderr.count("Permission denied") == 4


def test_helper_refuses_bad_usage(ws: Path) -> None:
    assert helper("--write", str(ws), cwd=ws).returncode == 2
    assert helper("--bogus", "--", "true", cwd=ws).returncode == 2
    done = helper("--write", str(ws / "missing"), "--", "true", cwd=ws)
    assert done.returncode == 126 and "Landlock could not be applied" in done.stderr


async def test_private_tmp_is_removed_after_the_call(ws: Path) -> None:
    res = await bash(ToolContext(workspace=ws, sandbox="landlock"), 'echo x > "$TMPDIR/f"; echo "$TMPDIR"')
    tmpdir = res.output.splitlines()[-1]
    assert tmpdir.startswith("/tmp/cowork-sandbox-") and not os.path.exists(tmpdir)


# -- issue 11 item 5: nothing a command can see holds a secret; /dev only the harmless nodes ------

WALK = r"""
grep -qa COWORK=1 /proc/self/environ && echo self-readable
grep -la PATTERN /proc/[0-9]*/environ 2>/dev/null | sed 's/^/LEAK /'
p=$$
while [ "$p" -gt 1 ]; do
    echo "ancestor $p"
    tr '\0' '\n' < /proc/$p/environ 2>/dev/null | grep -a PATTERN | sed 's/^/LEAK /'
    p=$(sed 's/.*) //' /proc/$p/stat | cut -d' ' -f2)
done
tr '\0' '\n' < /proc/$PPID/environ | grep -a PATTERN | sed 's/^/LEAK /'
tr '\0' '\n' < /proc/SERVER_PID/environ | grep -a PATTERN | sed 's/^/LEAK /'
"""


def test_no_process_the_command_can_see_holds_the_provider_key(ws: Path) -> None:
    """The server was started with a provider key in its environment: the command reads no
    ``/proc/PID/environ`` that holds it: not its parent's, not any ancestor's (the server among
    them), not any process's at all. Before the fix the command's parent was the server."""
    marker = uuid.uuid4().hex
    secret = {"OPENAI_API_KEY": f"sk-test-{marker}", "COWORK_TEST_PLAIN": f"plain-{marker}"}
    server, (out,) = run_in_server(ws, "landlock", [WALK.replace("PATTERN", marker)], secret)
    assert "self-readable" in out, out  # the walk reads what it may
    assert f"ancestor {server}\n" in out, out  # ... and reached the server
    assert "LEAK" not in out and marker not in out, out


def test_the_server_is_out_of_reach(ws: Path) -> None:
    """Memory, mappings, open files and ptrace of the server are refused too, and the command
    holds no capability (as root it would otherwise pass every check with CAP_SYS_PTRACE)."""
    attach = ("python3 -c 'import ctypes, sys; libc = ctypes.CDLL(None, use_errno=True); "
              "print(\"attached\" if libc.ptrace(16, int(sys.argv[1]), 0, 0) == 0 else \"refused\")' SERVER_PID")
    _, (out,) = run_in_server(ws, "landlock", [
        "head -c 1 /proc/SERVER_PID/mem && echo GOT-MEM; head -c 1 /proc/SERVER_PID/maps && echo GOT-MAPS; "
        "readlink /proc/SERVER_PID/fd/0 && echo GOT-LINK; ls /proc/SERVER_PID/cwd/ && echo GOT-CWD; "
        'for f in /proc/SERVER_PID/fd/*; do head -c 0 "$f" && echo GOT-FD; done; '
        f"{attach}; grep CapEff /proc/self/status",
    ], {"OPENAI_API_KEY": "sk-test-" + uuid.uuid4().hex})
    assert "refused" in out and "attached" not in out, out
    assert "GOT-" not in out, out
    assert "CapEff:\t0000000000000000" in out, out


async def test_dev_shm_cannot_be_created_read_or_overwritten(ws: Path) -> None:
    existing = Path("/dev/shm") / f"cowork-test-{uuid.uuid4().hex[:10]}"
    existing.write_text("original\n")
    made = existing.with_name(existing.name + "-new")
    try:
        res = await bash(ToolContext(workspace=ws, sandbox="landlock"),
                         f"echo pwned > {existing}; : > {existing}; echo pwned >> {existing}; cat {existing}; "
                         f"echo x > {made}; mkdir {made}.d; ln -s /etc/passwd {made}.l; echo done")
        assert res.output.rstrip().endswith("done")
        assert existing.read_text() == "original\n" and "original" not in res.output
        assert not any(p.exists() or p.is_symlink() for p in (made, Path(f"{made}.d"), Path(f"{made}.l")))
    finally:
        for p in (existing, made, Path(f"{made}.l")):
            p.unlink(missing_ok=True)
        Path(f"{made}.d").exists() and Path(f"{made}.d").rmdir()


async def test_the_usual_device_nodes_still_work(ws: Path) -> None:
    res = await bash(ToolContext(workspace=ws, sandbox="landlock"), """
        echo x > /dev/null && echo null-ok
        head -c 5 /dev/zero | wc -c; head -c 5 /dev/urandom | wc -c; head -c 5 /dev/random | wc -c
        echo x > /dev/full || echo full-refused-by-the-device
        echo to-stdout > /dev/stdout; echo to-stderr > /dev/stderr; cat <(echo process-substitution)
        cat /dev/stdin; echo stdin-empty""")
    lines = res.output.splitlines()
    assert lines[0] == "exit code: 0" and "null-ok" in lines and lines.count("5") == 3
    assert "No space left on device" in res.output and "full-refused-by-the-device" in lines
    for word in ("to-stdout", "to-stderr", "process-substitution", "stdin-empty"):
        assert word in lines


async def test_other_terminals_and_raw_disks_cannot_be_opened(ws: Path) -> None:
    """A terminal of the user (here a fresh pty): no writing into it (nor TIOCSTI keystrokes);
    a block device: not readable (as root, the whole disk, hidden credentials included)."""
    master, slave = os.openpty()
    tty = os.ttyname(slave)
    disks = [f"/dev/{d}" for d in sorted(os.listdir("/sys/class/block")) if os.path.exists(f"/dev/{d}")][:1]
    try:
        res = await bash(ToolContext(workspace=ws, sandbox="landlock"),
                         f"echo INJECTED > {tty} && echo TTY-WRITTEN; "
                         + "".join(f"head -c 1 {d} > /dev/null && echo DISK-READ; " for d in disks) + "echo done")
        os.set_blocking(master, False)
        try:
            got = os.read(master, 100)
        except BlockingIOError:
            got = b""
    finally:
        os.close(master)
        os.close(slave)
    assert res.output.rstrip().endswith("done")
    assert "TTY-WRITTEN" not in res.output and b"INJECTED" not in got
    assert "DISK-READ" not in res.output


async def test_exit_codes_and_signals_come_through_the_launcher(ws: Path) -> None:
    ctx = ToolContext(workspace=ws, sandbox="landlock")
    assert (await bash(ctx, "exit 7")).metadata["exit_code"] == 7
    assert (await bash(ctx, "kill -TERM $$")).metadata["exit_code"] == -15
    res = await bash(ctx, "echo $PPID; cat /proc/$PPID/comm")
    assert res.output.splitlines()[-1].startswith("python")  # the launcher, not cowork itself


@pytest.mark.parametrize("network", [False, True])
async def test_no_udp_nor_other_socket_families_without_network(ws: Path, network: bool) -> None:
    """Landlock handles UDP only from ABI 10: the launcher's seccomp filter refuses every socket
    family but AF_UNIX and AF_NETLINK without network (a DNS query is a way out too)."""
    import socket

    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind(("127.0.0.1", 0))
    listener.settimeout(0.5 if network else 0.2)
    try:
        res = await bash(ToolContext(workspace=ws, sandbox="landlock", network=network), f"""python3 - <<'EOF'
import socket
try:
    socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"exfiltrated", ("127.0.0.1", {listener.getsockname()[1]}))
    print("udp sent")
except OSError as e:
    print("udp", e)
for family in ("AF_INET6", "AF_PACKET", "AF_VSOCK"):
    try:
        socket.socket(getattr(socket, family), socket.SOCK_DGRAM)
        print(family, "created")
    except OSError as e:
        print(family, e)
a, b = socket.socketpair()
a.send(b"u")
print("unix", b.recv(1).decode())
EOF""")
        try:
            got = listener.recv(100)
        except TimeoutError:
            got = b""
    finally:
        listener.close()
    assert "unix u" in res.output, res.output  # the control: local sockets still work
    if network:
        assert got == b"exfiltrated" and "udp sent" in res.output
    else:
        assert got == b"" and "udp [Errno 13] Permission denied" in res.output, res.output
        assert "created" not in res.output, res.output
