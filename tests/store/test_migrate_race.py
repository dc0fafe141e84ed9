"""Two processes opening a new database at once both get a current schema: the migration's check
and upgrade are one write transaction, so the second waits for the first instead of failing
with ``database is locked`` (seen with two ``cowork run`` started together on a fresh home)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

OPEN = """
import asyncio, sys
from cowork.store import Store

async def main():
    store = await Store.open(f"sqlite+aiosqlite:///{sys.argv[1]}")
    await store.list_sessions()
    await store.close()

asyncio.run(main())
"""


def test_processes_migrating_a_new_database_at_once_all_succeed(tmp_path: Path) -> None:
    for attempt in range(4):
        db = tmp_path / f"cowork-{attempt}.db"
        procs = [subprocess.Popen([sys.executable, "-c", OPEN, str(db)], stderr=subprocess.PIPE, text=True)
                 for _ in range(4)]
        errors = [p.communicate(timeout=60)[1] for p in procs]
        assert [p.returncode for p in procs] == [0, 0, 0, 0], errors
