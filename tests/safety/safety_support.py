"""Helpers for the safety tests: running the ``cowork`` command, a runtime on a fake model."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from cowork.config import EngineSettings

COWORK = shutil.which("cowork", path=str(Path(sys.executable).parent)) or "cowork"

KEY = "sk-test-Zq8rT3vXw9yB2nM4kL6pJ1hG"
"""A provider key as realistic as the redaction needs (long, OpenAI-looking)."""

SCRUBBED = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "GOOGLE_API_KEY", "GEMINI_API_KEY",
            "OLLAMA_BASE_URL")


def cowork(*args: str, home: Path, input: str | None = None, timeout: float = 60,
           **env: str | None) -> subprocess.CompletedProcess[str]:
    """Run ``cowork ARGS`` with ``COWORK_HOME=home`` and a scrubbed environment; ``env`` values of
    None remove a variable."""
    full = {k: v for k, v in os.environ.items() if k not in SCRUBBED and not k.startswith("COWORK_")}
    full.update(COWORK_HOME=str(home), COLUMNS="250", NO_COLOR="1", COWORK_RETRY_BASE_DELAY="0.01",
                COWORK_MAX_RETRIES="1", COWORK_STREAM_TIMEOUT="5")
    for k, v in env.items():
        if v is None:
            full.pop(k, None)
        else:
            full[k] = v
    return subprocess.run([COWORK, *args], env=full, input=input if input is not None else "",
                          capture_output=True, text=True, timeout=timeout)


async def open_runtime(tmp_path: Path, base_url: str, **settings: object):
    """A runtime on a fresh SQLite store whose ``openai:`` models talk to ``base_url``."""
    from cowork.engine import Runtime

    fields: dict[str, object] = dict(max_steps=10, stream_timeout=5, max_retries=0, retry_base_delay=0.01)
    fields.update(settings)
    return await Runtime.open(f"sqlite+aiosqlite:///{tmp_path / 'cowork.db'}", settings=EngineSettings(**fields),
                              openai_base_url=base_url)
