"""Persistence: SQLAlchemy tables, Alembic migrations and the :class:`Store` repository."""

from .repo import NotFound, Store, StoredEvent, new_id

__all__ = ["NotFound", "Store", "StoredEvent", "new_id"]
