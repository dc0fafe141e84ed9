"""``--help`` as a person reads it: a flag (``--yes``, ``--json``) takes no value, so no value type
follows it. Typer 0.29's Rich help prints one after every option, flags included (``--yes <bool>``);
:func:`install` makes flags and counters show none. Options that take a value keep theirs
(``--dir <path>``, ``--budget LIMIT=N``)."""

from __future__ import annotations

from typing import Any

from typer.core import TyperOption

_display_type_rich = TyperOption.display_type_rich


def _no_type_for_flags(self: TyperOption, ctx: Any) -> str | None:
    if self.is_flag or self.count:
        return None
    return _display_type_rich(self, ctx)


def install() -> None:
    """Idempotent; affects the help of every Typer app in the process (only cowork's run here)."""
    TyperOption.display_type_rich = _no_type_for_flags  # type: ignore[method-assign]
