"""Model providers: naming, credentials, the embedded llama.cpp model."""

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
