"""Persistence: SQLAlchemy tables, Alembic migrations and the :class:`Store` repository."""

from .repo import NotFound, Store, new_id

__all__ = ["NotFound", "Store", "new_id"]
