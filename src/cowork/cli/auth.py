"""``cowork auth``: provider API keys in the encrypted store (see :mod:`cowork.providers.secrets`).

``set`` reads the key from a hidden prompt on a terminal, else the first line of stdin (for
scripts: ``printenv KEY | cowork auth set openai``); a key is never taken as an argument, where it
would land in shell history and ``ps``. ``list`` shows where each provider's key comes from and
its last four characters (what provider dashboards show to tell keys apart; the rest of a key
cannot be guessed from them). Exit codes: 0 done, 1 nothing to remove, 2 bad input or an unusable
store.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ..providers.secrets import KEY_VARIABLES, SecretStoreError, check_provider, provider_key, secret_store

auth_app = typer.Typer(no_args_is_help=True, help="Store, list and remove provider API keys (encrypted).")

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

ProviderArg = Annotated[str, typer.Argument(help=f"One of: {', '.join(KEY_VARIABLES)}.")]


def _fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", markup=True, highlight=False)
    return typer.Exit(code)


def masked(key: str) -> str:
    """``…abcd``: the last four characters of a key, ``…`` for a key of eight or fewer."""
    return f"…{key[-4:]}" if len(key) > 8 else "…"


@auth_app.command("set")
def auth_set(provider: ProviderArg) -> None:
    """Store PROVIDER's API key: typed at a hidden prompt, or read from stdin when it is not a terminal."""
    try:
        check_provider(provider)
        if sys.stdin.isatty():
            key = typer.prompt(f"{provider} API key", hide_input=True, default="", show_default=False)
        else:
            key = sys.stdin.readline()
        store = secret_store()
        store.set(provider, key)
    except SecretStoreError as exc:
        raise _fail(str(exc)) from None
    out.print(f"stored the {provider} key in {store.path} (encrypted with {store.key_path})")
    if found := provider_key(provider):
        if found[1] != "store":
            out.print(f"note: {found[1]} is set and overrides the stored key until it is unset", style="yellow")


@auth_app.command("list")
def auth_list(json_lines: Annotated[bool, typer.Option("--json", help="JSON output.")] = False) -> None:
    """Each provider that takes a key: where its key comes from (environment or store) and its last characters."""
    rows = []
    for provider in KEY_VARIABLES:
        try:
            found = provider_key(provider)
        except SecretStoreError as exc:
            raise _fail(str(exc)) from None
        rows.append({"provider": provider, "source": found[1] if found else None,
                     "key": masked(found[0]) if found else None})
    if json_lines:
        print(json.dumps(rows))
        return
    table = Table("provider", "source", "key", box=None)
    for row in rows:
        table.add_row(row["provider"], row["source"] or "[dim]none[/dim]", row["key"] or "")
    out.print(table)


@auth_app.command("remove")
def auth_remove(provider: ProviderArg) -> None:
    """Forget PROVIDER's stored key (environment variables are not touched)."""
    try:
        removed = secret_store().remove(provider)
    except SecretStoreError as exc:
        raise _fail(str(exc)) from None
    if not removed:
        raise _fail(f"no stored {provider} key", code=1)
    out.print(f"removed the stored {provider} key")
