"""Opening the database: engine set-up, SQLite pragmas, migrations to the newest revision.

SQLite runs in WAL mode with ``synchronous=NORMAL`` (durable across process crashes; the last
transactions may be lost only on power loss, https://www.sqlite.org/pragma.html#pragma_synchronous),
a ``busy_timeout`` (5 s unless told) and foreign keys on. Transactions are begun by us, not by the sqlite3
module (SQLAlchemy's recipe, https://docs.sqlalchemy.org/en/20/dialects/sqlite.html#serializable-isolation-savepoints-transactional-ddl):
a connection with the execution option ``WRITE`` begins with ``BEGIN IMMEDIATE``, taking the
write lock up front, so a write transaction that read first can never fail with ``database is
locked`` when another process committed in between (a deferred transaction cannot be upgraded
then, and ``busy_timeout`` does not help: https://www.sqlite.org/lang_transaction.html).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

MIGRATIONS = Path(__file__).parent / "migrations"


def _alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


WRITE = "cowork_write"
"""Execution option marking an engine whose transactions write (see the module docstring)."""


BUSY_TIMEOUT = 5.0
"""Seconds a SQLite statement waits for another connection's write lock before ``database is locked``."""


def sqlite_pragmas(dbapi_conn: Any, busy_timeout: float = BUSY_TIMEOUT) -> None:
    """Set cowork's pragmas on a DB-API SQLite connection (also used by the journal's own connection)."""
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _sqlite_connect(busy_timeout: float, dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # the driver emits no BEGIN of its own; _sqlite_begin does
    sqlite_pragmas(dbapi_conn, busy_timeout)


def _sqlite_begin(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(WRITE) else "BEGIN")


def create_engine(url: str, busy_timeout: float = BUSY_TIMEOUT) -> AsyncEngine:
    """An async engine for ``url`` (``sqlite+aiosqlite:///...`` or ``postgresql+asyncpg://...``);
    ``busy_timeout`` in seconds (SQLite only)."""
    engine = create_async_engine(url)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", functools.partial(_sqlite_connect, busy_timeout))
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
    return engine


def _upgrade(connection: Any) -> None:
    cfg = _alembic_config()
    head = ScriptDirectory.from_config(cfg).get_current_head()
    if MigrationContext.configure(connection).get_current_revision() == head:
        return
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, "head")


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema to the newest revision (a no-op costing one query when it is current).

    On SQLite the check and the upgrade run in one ``BEGIN IMMEDIATE`` transaction, so two
    processes opening a new database at once do not race: the second waits (up to the busy
    timeout) for the first's migration, then finds the schema current."""
    async with engine.connect() as conn:
        conn = await conn.execution_options(**{WRITE: True})
        async with conn.begin():
            await conn.run_sync(_upgrade)
