"""The Alembic migrations build exactly the tables the SQLAlchemy models declare (a column, index
or foreign key added to one and not the other fails here)."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine

from cowork.store import Store
from cowork.store.models import Base, modelled


async def test_the_migrated_schema_is_the_models_schema(tmp_path: Path):
    db = tmp_path / "cowork.db"
    store = await Store.open(f"sqlite+aiosqlite:///{db}")  # migrates to the newest revision
    await store.close()
    engine = create_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={
                "compare_type": True,
                "include_object": lambda obj, name, kind, *_: kind != "table" or modelled(name)}), Base.metadata)
    finally:
        engine.dispose()
    assert diff == [], diff
