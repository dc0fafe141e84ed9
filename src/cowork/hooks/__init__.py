"""Hooks: the person's own commands, run at the five hook events of a session's turns.

Configured in ``$COWORK_HOME/hooks.toml`` and, once the workspace is trusted (``cowork trust``),
its ``.cowork/hooks.toml`` (see :mod:`.config`); run by :class:`HookRunner` (see :mod:`.runner`
for stdin, environment, timeout and answers). The engine calls them and folds their answers into
the turn (:mod:`cowork.engine.hook_calls`); every run is journaled as a ``hook.ran`` event.
docs/extensions.md ("Hooks") documents the payloads with examples.
"""

from __future__ import annotations

from pathlib import Path

from ..engine.extensions import Extension
from .config import (
    DEFAULT_TIMEOUT,
    EVENTS,
    TOOL_EVENTS,
    HookCommand,
    HookConfig,
    HookConfigError,
    load_hooks,
    parse_hooks,
    user_file,
    workspace_file,
)
from .runner import CommandRun, HookRunner, combine, hook_env, interpret


def extension(home: Path | None = None) -> Extension:
    """The hooks extension a cowork server is given: a :class:`HookRunner` over ``home``
    (default: ``$COWORK_HOME`` at each event) as its hooks and its service."""
    runner = HookRunner(home)
    return Extension("hooks", hooks=runner, service=runner)


__all__ = [
    "DEFAULT_TIMEOUT", "EVENTS", "TOOL_EVENTS", "CommandRun", "HookCommand", "HookConfig", "HookConfigError",
    "HookRunner", "combine", "extension", "hook_env", "interpret", "load_hooks", "parse_hooks", "user_file",
    "workspace_file",
]
