"""The error that ends a turn as failed."""

from __future__ import annotations


class TurnError(Exception):
    """Ends the turn with ``turn.failed``: ``code`` is machine-readable, the message is for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
