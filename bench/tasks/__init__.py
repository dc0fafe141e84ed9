"""The local-model task suite: small real jobs of the kinds people give a local agent.

Each :class:`Task` builds its own workspace (``setup(path)`` into an empty folder), and a checker
(``check(path) -> (solved, reason)``) inspects that workspace afterwards: files, parsed configs,
scripts it runs; never the model's words. ``solve(path)`` is a reference solution for the tests.
``bench/run_tasks.py`` runs them through ``cowork run`` and prints figures (see README.md here).

``TASKS``: every task, ids unique. ``KINDS``: the kinds, in order of first appearance.
:func:`select` filters them as the runner's ``--task``/``--kind``/``--limit`` do.
"""

from __future__ import annotations

from ._base import Task
from .files import TASKS as _FILE_TASKS
from .text import TASKS as _TEXT_TASKS

__all__ = ["KINDS", "TASKS", "Task", "by_id", "select"]

TASKS: list[Task] = [*_FILE_TASKS, *_TEXT_TASKS]
KINDS: list[str] = list(dict.fromkeys(t.kind for t in TASKS))

_ids = [t.id for t in TASKS]
assert len(set(_ids)) == len(_ids), f"duplicate task ids: {sorted({i for i in _ids if _ids.count(i) > 1})}"


def by_id(task_id: str) -> Task:
    """The task named ``task_id``; KeyError naming the known ids when there is none."""
    for t in TASKS:
        if t.id == task_id:
            return t
    raise KeyError(f"no task {task_id!r}; known: {', '.join(_ids)}")


def select(ids: list[str] | None = None, kinds: list[str] | None = None, limit: int | None = None) -> list[Task]:
    """The tasks among ``ids`` (all when empty) whose kind is among ``kinds`` (any when empty), in
    suite order, at most ``limit``. Raises ValueError for an unknown id or kind."""
    unknown = [i for i in ids or [] if i not in _ids]
    if unknown:
        raise ValueError(f"unknown task id(s) {', '.join(unknown)}; known: {', '.join(_ids)}")
    bad = [k for k in kinds or [] if k not in KINDS]
    if bad:
        raise ValueError(f"unknown kind(s) {', '.join(bad)}; known: {', '.join(KINDS)}")
    chosen = [t for t in TASKS if (not ids or t.id in ids) and (not kinds or t.kind in kinds)]
    return chosen[:limit] if limit is not None else chosen
