"""The two ways ``cowork chat`` reports trouble, shared by the chat and its command modules."""

from __future__ import annotations


class ChatError(Exception):
    """Something to tell the person; the chat goes on."""


class UsageError(Exception):
    """The chat cannot start (or the server was lost): exit code 2."""
