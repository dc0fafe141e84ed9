"""Landlock launcher: restrict this process, drop every capability, then fork the command.

Usage (built by :func:`cowork.sandbox.landlock.landlock_argv`; run by path, it imports nothing of
cowork; started with the command's scrubbed environment)::

    python -I landlock_helper.py --write DIR [--write DIR ...] [--hide PATH ...] [--network] -- COMMAND...

Rules, applied with ``landlockpy`` (kernel docs: https://docs.kernel.org/userspace-api/landlock.html):

- listing directories and device ioctls are allowed everywhere; reading and executing files is
  allowed everywhere except under the ``--hide`` paths and ``/dev`` (the rules grant the
  complement: every sibling along the way to a hidden path, never a symlink that leads into one);
- of ``/dev`` only :data:`DEV_NODES` may be opened (read and write): not disks, not ``/dev/shm``
  (other programs' shared memory), not ``/dev/pts`` (other terminals of the user: writing to them,
  or ``TIOCSTI`` keystroke injection where the kernel allows it);
- writing (create, remove, rename, truncate) only under the ``--write`` folders;
- without ``--network``, TCP bind and connect are denied (ABI >= 4; UDP too on ABI >= 10), and a
  seccomp filter (x86_64 and aarch64) refuses sockets of every family but ``AF_UNIX`` and
  ``AF_NETLINK`` (so UDP, SCTP, vsock… on every kernel) and ``io_uring_setup`` (whose
  operations would bypass the filter) with ``EACCES``;
- signals and abstract UNIX sockets are scoped to the sandbox (ABI >= 6);
- ``no_new_privs`` is set, every capability is dropped (effective, permitted, inheritable, ambient
  and, as root, the bounding set: a root command cannot bypass the rules with ``CAP_SYS_PTRACE``,
  ``CAP_SYS_MODULE`` or raw devices), and SIGKILL is asked for when the parent (cowork) dies.

The command is *forked*, not ``exec``\\ ed: its parent is this launcher, whose environment is the
scrubbed one, so ``/proc/$PPID/environ`` holds no secret. The launcher waits for it, forwards
SIGTERM, SIGINT, SIGHUP and SIGQUIT to it, and ends the way it ended (same exit code, same signal).

Rights the kernel does not know are dropped (best effort); with no Landlock at all the helper
refuses to run (exit 126) rather than run the command unconfined. Landlock has no process or
mount isolation: the command can see other processes and ``/tmp`` (it cannot write there).
"""

from __future__ import annotations

import ctypes
import os
import resource
import signal
import sys

from landlockpy import AccessFS, AccessNet, Ruleset, Scope, abi_version

READ = AccessFS.EXECUTE | AccessFS.READ_FILE
WRITE = (
    AccessFS.WRITE_FILE | AccessFS.REMOVE_DIR | AccessFS.REMOVE_FILE | AccessFS.MAKE_DIR | AccessFS.MAKE_REG
    | AccessFS.MAKE_SOCK | AccessFS.MAKE_FIFO | AccessFS.MAKE_SYM | AccessFS.REFER | AccessFS.TRUNCATE
    | AccessFS.RESOLVE_UNIX
)
EVERYWHERE = AccessFS.READ_DIR | AccessFS.IOCTL_DEV
DEV_NODES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty")
"""The device nodes a command may open. ``/dev/stdin``, ``/dev/fd/N``… lead to ``/proc/self/fd``
(the command's own pipes), which stay usable; ``/dev/tty`` has no terminal behind it (the
command runs in a new session)."""
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT)

_PR_SET_PDEATHSIG = 1
_PR_CAPBSET_READ = 23
_PR_CAPBSET_DROP = 24
_PR_CAP_AMBIENT = 47
_PR_CAP_AMBIENT_CLEAR_ALL = 4
_CAP_SETPCAP = 8
_CAPABILITY_VERSION_3 = 0x20080522
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2
_SECCOMP_ALLOW = 0x7FFF0000
_SECCOMP_EACCES = 0x00050000 | 13
_ARCHES = {"x86_64": (0xC000003E, 41, 425), "aarch64": (0xC00000B7, 198, 425)}
"""Machine → (``AUDIT_ARCH_*``, ``socket`` and ``io_uring_setup`` syscall numbers)."""
_AF_UNIX, _AF_NETLINK = 1, 16
_libc = ctypes.CDLL(None, use_errno=True)


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def _covers(a: str, b: str) -> bool:
    """True when ``b`` is ``a`` or lies under it."""
    return b == a or b.startswith(a.rstrip("/") + "/")


def _grant_read(ruleset: Ruleset, hidden: list[str]) -> None:
    """Grant :data:`READ` on everything except the ``hidden`` paths (absolute, normalised)."""
    ancestors = {os.path.dirname(h) for h in hidden}
    for h in list(ancestors):
        while h != "/":
            h = os.path.dirname(h)
            ancestors.add(h)

    def walk(folder: str) -> None:
        try:
            names = os.listdir(folder)
        except OSError:
            return
        for name in names:
            path = os.path.join(folder, name)
            if any(_covers(h, path) for h in hidden):
                continue
            if path in ancestors:
                walk(path)
                continue
            real = os.path.realpath(path)
            if any(_covers(h, real) or _covers(real, h) for h in hidden):
                continue  # a symlink into (or above) a hidden path
            try:
                ruleset.allow_path(path, READ)
            except OSError:
                pass  # vanished, or not openable with O_PATH

    walk("/")


def restrict(writable: list[str], hidden: list[str], network: bool) -> None:
    """Apply the rules above to this thread (and everything it ``exec``\\ s or forks).

    Raises:
        RuntimeError: the kernel has no Landlock.
    """
    if abi_version() < 1:
        raise RuntimeError("Landlock is not available in this kernel")
    net = AccessNet.NONE if network else AccessNet.BIND_TCP | AccessNet.CONNECT_TCP | AccessNet.BIND_UDP | AccessNet.CONNECT_SEND_UDP
    with Ruleset(handled_net=net, scoped=Scope.ABSTRACT_UNIX_SOCKET | Scope.SIGNAL) as ruleset:
        ruleset.allow_path("/", EVERYWHERE)
        _grant_read(ruleset, ["/dev", *(os.path.abspath(h) for h in hidden)])
        for node in DEV_NODES:
            if os.path.exists(node):
                ruleset.allow_path(node, READ | AccessFS.WRITE_FILE | AccessFS.TRUNCATE)
        for folder in writable:
            ruleset.allow_path(folder, READ | WRITE | EVERYWHERE)
        ruleset.restrict()


def socket_filter(machine: str) -> list[tuple[int, int, int, int]] | None:
    """The seccomp BPF program of the no-network filter for ``machine``, or None when unknown.

    A foreign architecture (a 32-bit ``int 0x80`` call on x86_64) and x32 syscall numbers are
    refused outright, so the filter cannot be side-stepped through them.
    """
    if machine not in _ARCHES:
        return None
    arch, socket_nr, uring_nr = _ARCHES[machine]
    ld, jeq, jge, ret = 0x20, 0x15, 0x35, 0x06  # BPF_LD|W|ABS, BPF_JMP|JEQ|K, BPF_JMP|JGE|K, BPF_RET|K
    return [  # jump offsets count from the next instruction
        (ld, 0, 0, 4),                 # 0: the architecture
        (jeq, 1, 0, arch),             # 1: native → 3
        (ret, 0, 0, _SECCOMP_EACCES),  # 2
        (ld, 0, 0, 0),                 # 3: the syscall number
        (jge, 6, 0, 0x40000000),       # 4: x32 → 11
        (jeq, 5, 0, uring_nr),         # 5: io_uring_setup → 11
        (jeq, 1, 0, socket_nr),        # 6: socket → 8
        (ret, 0, 0, _SECCOMP_ALLOW),   # 7: any other call
        (ld, 0, 0, 16),                # 8: socket's family (the low half of args[0])
        (jeq, 2, 0, _AF_UNIX),         # 9: → 12
        (jeq, 1, 0, _AF_NETLINK),      # 10: → 12
        (ret, 0, 0, _SECCOMP_EACCES),  # 11
        (ret, 0, 0, _SECCOMP_ALLOW),   # 12
    ]


def deny_network_sockets() -> bool:
    """Install :func:`socket_filter` (needs ``no_new_privs``, set by :func:`restrict`); False
    when this machine's architecture is not known (Landlock's TCP rules still apply).

    Raises:
        OSError: the kernel refused the filter.
    """
    program = socket_filter(os.uname().machine)
    if program is None:
        return False
    insns = (_SockFilter * len(program))(*(_SockFilter(*i) for i in program))
    prog = _SockFprog(len(program), insns)
    if _libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0):
        raise OSError(ctypes.get_errno(), "seccomp filter")
    return True


def _status_caps() -> dict[str, int]:
    with open("/proc/self/status") as f:
        return {k: int(v, 16) for k, _, v in (line.partition(":\t") for line in f) if k.startswith("Cap")}


def drop_capabilities() -> None:
    """Drop every capability of this process and of what it will run (see the module docstring).

    Raises:
        OSError: a capability could not be dropped.
    """
    with open("/proc/sys/kernel/cap_last_cap") as f:
        last = int(f.read())
    if _status_caps().get("CapEff", 0) >> _CAP_SETPCAP & 1:  # root: empty the bounding set too
        for cap in range(last + 1):
            if _libc.prctl(_PR_CAPBSET_READ, cap, 0, 0, 0) == 1 and _libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0):
                raise OSError(ctypes.get_errno(), f"cannot drop capability {cap} from the bounding set")
    _libc.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)  # EINVAL before Linux 4.3: none
    header, data = _CapHeader(_CAPABILITY_VERSION_3, 0), (_CapData * 2)()
    if _libc.capset(ctypes.byref(header), data):
        raise OSError(ctypes.get_errno(), "capset")
    caps = _status_caps()
    left = {k: v for k, v in caps.items() if v and k in ("CapInh", "CapPrm", "CapEff", "CapAmb")}
    if os.geteuid() == 0 and caps.get("CapBnd"):
        left["CapBnd"] = caps["CapBnd"]
    if left:
        raise OSError(f"capabilities left after dropping them: {left}")


def run(command: list[str]) -> int:
    """Fork ``command``, wait for it, and return its exit code (re-raising the signal that killed it)."""
    pid = os.fork()
    if pid == 0:
        try:
            _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            for sig in FORWARDED:
                signal.signal(sig, signal.SIG_DFL)
            os.execvp(command[0], command)
        except OSError as exc:
            print(f"cowork sandbox: cannot run {command[0]}: {exc}", file=sys.stderr)
        os._exit(127)

    def forward(sig: int, _frame: object) -> None:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass

    for sig in FORWARDED:
        signal.signal(sig, forward)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
        return 128 + sig  # the signal is ignored or blocked: say it the shell's way
    return os.waitstatus_to_exitcode(status)


def main(argv: list[str]) -> int:
    writable: list[str] = []
    hidden: list[str] = []
    network = False
    i = 0
    while i < len(argv) and argv[i] != "--":
        flag = argv[i]
        if flag in ("--write", "--hide") and i + 1 < len(argv):
            (writable if flag == "--write" else hidden).append(argv[i + 1])
            i += 2
        elif flag == "--network":
            network, i = True, i + 1
        else:
            print(f"cowork landlock helper: unknown argument {flag!r}", file=sys.stderr)
            return 2
    command = argv[i + 1:]
    if not command:
        print("cowork landlock helper: no command after --", file=sys.stderr)
        return 2
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    try:
        restrict(writable, hidden, network)
        drop_capabilities()
        if not network:
            deny_network_sockets()
    except Exception as exc:  # never run the command unconfined
        print(f"cowork sandbox: Landlock could not be applied: {exc}", file=sys.stderr)
        return 126
    return run(command)


if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.stderr.flush()
    os._exit(code)  # skip the interpreter's teardown: the caller waits for this exit
