"""Model providers: naming, credentials, the embedded llama.cpp model.

The names below are loaded from :mod:`.catalog` on first use (PEP 562 module ``__getattr__``), so
importing :mod:`.secrets` alone (``cowork auth``, log redaction) does not load pydantic-ai.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .catalog import (
        ModelConfigError,
        ModelSpec,
        build_model,
        configured_models,
        context_window,
        default_model,
        parse_model,
    )

__all__ = [
    "ModelConfigError", "ModelSpec", "build_model", "configured_models", "context_window",
    "default_model", "parse_model",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module(".catalog", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
