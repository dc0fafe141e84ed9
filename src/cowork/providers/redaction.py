"""Keeping provider keys out of everything cowork writes or shows.

:func:`redact` replaces every known key (the values of the key variables of
:data:`~cowork.providers.secrets.KEY_VARIABLES` and the keys in the store) with ``[redacted]``. It
is applied at the boundaries: the event journal (so no event, stored or sent, holds a key: a
provider error that echoes the key, a tool output that prints it), and log records
(:class:`RedactingFilter`, installed on the root logger's handlers by the CLI and the server).
Values shorter than :data:`MIN_SECRET_LEN` characters are not treated as keys (no real API key is
that short, and redacting them would mangle ordinary text).
"""

from __future__ import annotations

import functools
import json
import logging
import os

from .secrets import KEY_VARIABLES, SecretStore, SecretStoreError, secret_store

MIN_SECRET_LEN = 8
REDACTED = "[redacted]"

_cache: tuple[tuple[object, ...], tuple[str, ...]] | None = None


def known_secrets() -> tuple[str, ...]:
    """The key values to hide, longest first. Re-read when a key variable or the store changes
    (costs a few ``stat`` calls when nothing did). A store that cannot be read adds nothing: its
    keys cannot be used either."""
    global _cache
    env = tuple(os.environ.get(v) for vs in KEY_VARIABLES.values() for v in vs)
    store = _store_of(os.environ.get("COWORK_HOME"), os.environ.get("HOME"))
    stamp = (env, *(_stamp(p) for p in (store.path, store.key_path)))
    if _cache is not None and _cache[0] == stamp:
        return _cache[1]
    values = {v for v in env if v}
    if stamp[1] is not None:
        for provider in KEY_VARIABLES:
            try:
                if stored := store.get(provider):
                    values.add(stored)
            except SecretStoreError:
                continue
    found = tuple(sorted((v for v in values if len(v) >= MIN_SECRET_LEN), key=len, reverse=True))
    _cache = (stamp, found)
    return found


@functools.lru_cache(maxsize=8)
def _store_of(cowork_home: str | None, home: str | None) -> SecretStore:
    """The key store of the folder ``$COWORK_HOME`` (else ``$HOME/.cowork``) names, made once per value:
    :func:`secret_store` resolves and creates the folder, which is too slow for every journal batch."""
    return secret_store()


def _stamp(path: os.PathLike[str]) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_mtime_ns, st.st_size


def redact(text: str, secrets: tuple[str, ...] | None = None) -> str:
    """``text`` with every known key replaced by ``[redacted]`` (also in its JSON-escaped form)."""
    for secret in known_secrets() if secrets is None else secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
        escaped = json.dumps(secret)[1:-1]
        if escaped != secret and escaped in text:
            text = text.replace(escaped, REDACTED)
    return text


class RedactingFilter(logging.Filter):
    """A handler filter that redacts the formatted message and traceback of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = known_secrets()
        if not secrets:
            return True
        message = record.getMessage()
        record.msg, record.args = redact(message, secrets), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, secrets)
        return True


def install_log_redaction() -> None:
    """Add a :class:`RedactingFilter` (once) to every handler of every logger that exists now
    (the root logger's, uvicorn's) and to :data:`logging.lastResort`, the handler used while none
    is configured. Call again after configuring logging."""
    loggers = [logging.getLogger(), *(lg for lg in logging.Logger.manager.loggerDict.values()
                                      if isinstance(lg, logging.Logger))]
    handlers = [h for lg in loggers for h in lg.handlers] + [logging.lastResort]
    for handler in handlers:
        if handler is not None and not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
