"""Landlock helper: restrict this process, then ``exec`` a command under the restriction.

Usage (built by :func:`cowork.policy.sandbox.landlock_argv`; run by path, it imports nothing of
cowork)::

    python -I landlock.py --write DIR [--write DIR ...] [--hide PATH ...] [--network] -- COMMAND...

Rules, applied with ``landlockpy`` (kernel docs: https://docs.kernel.org/userspace-api/landlock.html):

- listing directories and device ioctls are allowed everywhere; reading and executing files is
  allowed everywhere except under the ``--hide`` paths (the rules grant the complement: every
  sibling along the way to a hidden path, never a symlink that leads into one);
- writing (create, remove, rename, truncate) only under the ``--write`` folders, plus writing
  to existing files under ``/dev`` (``/dev/null``, a terminal);
- without ``--network``, TCP bind and connect are denied (ABI >= 4; UDP too where the kernel can);
- signals and abstract UNIX sockets are scoped to the sandbox (ABI >= 6);
- ``no_new_privs`` is set, and SIGKILL is asked for when the parent (cowork) dies.

Rights the kernel does not know are dropped (best effort); with no Landlock at all the helper
refuses to run (exit 126) rather than run the command unconfined. Landlock has no process or
mount isolation: the command can see other processes and ``/tmp`` (it cannot write there).
"""

from __future__ import annotations

import ctypes
import os
import sys

from landlockpy import AccessFS, AccessNet, Ruleset, Scope, abi_version

READ = AccessFS.EXECUTE | AccessFS.READ_FILE
WRITE = (
    AccessFS.WRITE_FILE | AccessFS.REMOVE_DIR | AccessFS.REMOVE_FILE | AccessFS.MAKE_DIR | AccessFS.MAKE_REG
    | AccessFS.MAKE_SOCK | AccessFS.MAKE_FIFO | AccessFS.MAKE_SYM | AccessFS.REFER | AccessFS.TRUNCATE
    | AccessFS.RESOLVE_UNIX
)
EVERYWHERE = AccessFS.READ_DIR | AccessFS.IOCTL_DEV
_PR_SET_PDEATHSIG = 1


def _covers(a: str, b: str) -> bool:
    """True when ``b`` is ``a`` or lies under it."""
    return b == a or b.startswith(a.rstrip("/") + "/")


def _grant_read(ruleset: Ruleset, hidden: list[str]) -> None:
    """Grant :data:`READ` on everything except the ``hidden`` paths (absolute, normalised)."""
    if not hidden:
        ruleset.allow_path("/", READ)
        return
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
        _grant_read(ruleset, [os.path.abspath(h) for h in hidden])
        ruleset.allow_path("/dev", AccessFS.WRITE_FILE | AccessFS.TRUNCATE)
        for folder in writable:
            ruleset.allow_path(folder, READ | WRITE | EVERYWHERE)
        ruleset.restrict()


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
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, 9, 0, 0, 0)
    try:
        restrict(writable, hidden, network)
    except Exception as exc:  # never run the command unconfined
        print(f"cowork sandbox: Landlock could not be applied: {exc}", file=sys.stderr)
        return 126
    try:
        os.execvp(command[0], command)
    except OSError as exc:
        print(f"cowork sandbox: cannot run {command[0]}: {exc}", file=sys.stderr)
        return 127


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
