"""Provider API keys: where they come from and the encrypted store under ``COWORK_HOME``.

Lookup order (:func:`provider_key`): the provider's environment variable (:data:`KEY_VARIABLES`)
wins, then the store. Keys from the store are handed to the provider SDK as arguments; they are
never put into the environment, so no child process can inherit them.

The store is two files in ``$COWORK_HOME``:

- ``secret.key``: a Fernet key (URL-safe base64 of 32 random bytes, the format of
  https://github.com/fernet/spec/blob/master/Spec.md), created once with ``O_CREAT|O_EXCL`` and
  mode 0600, and linked into place complete, so two processes never see a half-written key.
- ``secrets.json``: ``{"version": 1, "keys": {"openai": "<Fernet token>", ...}}``, mode 0600,
  written to a temporary file and renamed over the old one (a reader sees the old or the new
  store, never a torn one). Only the key values are encrypted; the provider names are not secret.

A key file or store that group or others may read or write is refused (like ssh refuses a private
key with loose permissions): someone else may have read it, so cowork says so instead of quietly
tightening the mode. Every problem raises :class:`SecretStoreError` whose message names the file
and the fix.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from ..config import cowork_home

KEY_VARIABLES = {
    "openai": ("OPENAI_API_KEY",),
    "anthropic": ("ANTHROPIC_API_KEY",),
    "google": ("GOOGLE_API_KEY", "GEMINI_API_KEY"),
}
"""The providers that take an API key, and the environment variables read for it, in order."""

KEY_FILE, STORE_FILE = "secret.key", "secrets.json"
_VERSION = 1


class SecretStoreError(Exception):
    """The store cannot be used: loose permissions, a corrupt file, a key that does not decrypt,
    an unknown provider. ``problem`` names the file, ``fix`` what to do; the message is both."""

    def __init__(self, problem: str, fix: str = "") -> None:
        super().__init__(f"{problem}. Fix: {fix}" if fix else problem)
        self.problem, self.fix = problem, fix


def check_provider(provider: str) -> None:
    """Raise :class:`SecretStoreError` unless ``provider`` takes an API key."""
    if provider not in KEY_VARIABLES:
        raise SecretStoreError(
            f"unknown provider {provider!r}: API keys are kept for {', '.join(KEY_VARIABLES)} "
            "(ollama and local need no key)"
        )


class SecretStore:
    """The encrypted key store in ``home`` (see the module docstring for the files)."""

    store_file = STORE_FILE
    """The store's file name in ``home``. A subclass keeping other secrets (MCP OAuth tokens,
    :mod:`cowork.mcp.oauth`) names its own file and shares the key file and the rules."""
    refill = "store the keys again with `cowork auth set PROVIDER`"
    """How a person refills the store after deleting a broken one (used in error messages)."""

    def __init__(self, home: Path) -> None:
        self.key_path = home / KEY_FILE
        self.path = home / self.store_file

    # -- reading ----------------------------------------------------------------------------

    def providers(self) -> list[str]:
        """Providers with a stored key (nothing is decrypted). Raises SecretStoreError."""
        return sorted(self._read())

    def get(self, provider: str) -> str | None:
        """The stored key of ``provider``, or None. Raises SecretStoreError."""
        token = self._read().get(provider)
        if token is None:
            return None
        try:
            return self._fernet(create=False).decrypt(token.encode()).decode()
        except InvalidToken:
            raise SecretStoreError(
                f"the {provider} key in {self.path} cannot be decrypted with {self.key_path} (the key file "
                "was replaced, or the store was copied from another machine)",
                f"run `cowork auth set {provider}` again, or put the original {KEY_FILE} back",
            ) from None

    def _read(self) -> dict[str, str]:
        if not self.path.exists():
            return {}
        _check_private(self.path)
        try:
            data = json.loads(self.path.read_text())
            keys = data["keys"] if isinstance(data, dict) and data.get("version") == _VERSION else None
            if not isinstance(keys, dict) or not all(isinstance(v, str) for v in keys.values()):
                raise ValueError("not a version 1 store")
        except (ValueError, KeyError, OSError) as exc:
            raise SecretStoreError(
                f"{self.path} is not a readable cowork secret store ({exc})",
                f"delete it and {self.refill}",
            ) from None
        return keys

    def _fernet(self, create: bool) -> Fernet:
        if not self.key_path.exists():
            if not create:
                raise SecretStoreError(
                    f"{self.path} holds keys but the key file {self.key_path} is missing",
                    f"put the original {KEY_FILE} back, or delete {self.path} and store the keys again",
                )
            _create_key(self.key_path)
        _check_private(self.key_path)
        try:
            return Fernet(self.key_path.read_bytes().strip())
        except (ValueError, OSError) as exc:
            raise SecretStoreError(
                f"{self.key_path} is not a Fernet key ({exc})",
                f"put the original file back, or delete it and {self.path} and store the keys again",
            ) from None

    # -- writing ----------------------------------------------------------------------------

    def set(self, provider: str, key: str) -> None:
        """Store ``key`` for ``provider`` (replacing any stored one). Raises SecretStoreError
        (unknown provider, empty key, unusable store)."""
        check_provider(provider)
        key = key.strip()
        if not key:
            raise SecretStoreError(f"the {provider} key is empty")
        with self._locked():
            keys = self._read()
            keys[provider] = self._fernet(create=True).encrypt(key.encode()).decode()
            self._write(keys)

    def remove(self, provider: str) -> bool:
        """Forget the stored key of ``provider``; False when none was stored."""
        check_provider(provider)
        with self._locked():
            keys = self._read()
            if keys.pop(provider, None) is None:
                return False
            self._write(keys)
            return True

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """An exclusive lock around read-modify-write, so two ``cowork auth set`` keep both keys."""
        fd = os.open(self.path.with_name(self.path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _write(self, keys: dict[str, str]) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".secrets.", suffix=".tmp")  # mode 0600
        try:
            with os.fdopen(fd, "w") as f:
                json.dump({"version": _VERSION, "keys": keys}, f, indent=1)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise


def _create_key(path: Path) -> None:
    """Write a new Fernet key to ``path`` unless one appears there first (then that one wins)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".secret.", suffix=".tmp")  # O_EXCL, mode 0600
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(Fernet.generate_key())
            f.flush()
            os.fsync(f.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)  # atomic: fails if another process linked its key first
    finally:
        os.unlink(tmp)


def _check_private(path: Path) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise SecretStoreError(
            f"{path} may be read or changed by other users (mode {mode:04o}); cowork will not use it",
            f"`chmod 600 {path}` if nobody else could have read it; otherwise also replace the keys it "
            "holds at your providers",
        )


def secret_store() -> SecretStore:
    """The store of the current ``COWORK_HOME``."""
    return SecretStore(cowork_home())


def provider_key(provider: str) -> tuple[str, str] | None:
    """``(key, source)`` for ``provider``: source is the environment variable's name or ``"store"``.
    None when there is none (or the provider takes no key). Raises SecretStoreError."""
    for var in KEY_VARIABLES.get(provider, ()):
        if value := os.environ.get(var):
            return value, var
    if provider not in KEY_VARIABLES:
        return None
    stored = secret_store().get(provider)
    return (stored, "store") if stored else None
