"""Persistence: SQLAlchemy tables, Alembic migrations and the :class:`Store` repository."""

from .repo import DatabaseReplaced, NotFound, StorageUnavailable, Store, StoredEvent, new_id

__all__ = ["DatabaseReplaced", "NotFound", "StorageUnavailable", "Store", "StoredEvent", "new_id"]
