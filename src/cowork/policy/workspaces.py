"""Which folders may be a workspace.

A workspace is the folder the agent reads, writes and checkpoints. Some folders must never be one:

- the file-system root ``/`` (a checkpoint would walk every mounted file system, and the agent
  could edit the whole machine);
- the kernel's virtual file systems ``/proc``, ``/sys`` and ``/dev``, and anything under them
  (reading ``/proc/kmsg`` blocks forever; writes reach devices and kernel settings);
- cowork's own state folder (``$COWORK_HOME``) and anything inside it (keys, the key store, the
  server token, the database, the shadow repositories of checkpoints).

A folder that *contains* ``$COWORK_HOME`` (the default layout of ``cowork run --dir ~``, whose
home is ``~/.cowork``) is accepted: every file tool, glob, grep, checkpoint and restore leaves
``$COWORK_HOME`` out, and the ``bash`` sandbox hides it (see docs/security.md).
"""

from __future__ import annotations

from pathlib import Path

VIRTUAL_ROOTS = (Path("/proc"), Path("/sys"), Path("/dev"))
"""Kernel file systems that are never a workspace, nor is anything under them."""


class UnsafeWorkspace(ValueError):
    """The folder may not be a workspace; the message says why and what to do instead."""


def check_workspace(workspace: Path, home: Path) -> Path:
    """``workspace`` resolved, once it is an existing folder that may be a workspace.

    Args:
        workspace: the folder asked for (``~`` is expanded, symlinks are resolved).
        home: cowork's state folder (``$COWORK_HOME``), resolved.

    Raises:
        UnsafeWorkspace: the root, a kernel file system (or a folder under one), ``home`` or a
            folder inside it.
        ValueError: the path does not name an existing folder.
    """
    path = workspace.expanduser().resolve()
    if path == Path(path.anchor):
        raise UnsafeWorkspace(
            f"{path} cannot be a workspace: the agent would reach the whole machine; choose a project folder")
    for root in VIRTUAL_ROOTS:
        if path == root or path.is_relative_to(root):
            raise UnsafeWorkspace(f"{path} cannot be a workspace: {root} is a kernel file system, not files to work on")
    home = home.resolve()
    if path == home or path.is_relative_to(home):
        raise UnsafeWorkspace(
            f"{path} cannot be a workspace: it is cowork's own state folder ({home}, COWORK_HOME), "
            f"which holds its keys and database")
    if not path.is_dir():
        raise ValueError(f"workspace {path} is not an existing folder")
    return path
