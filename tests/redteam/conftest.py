"""Red-team fixtures: the sandbox tests' fixtures (workspace, canary home, runtime) and the engine
tests' scripted model."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "sandbox"))
sys.path.insert(0, str(Path(__file__).parents[1] / "engine"))

from sandbox_fixtures import home, outside, runtime, ws  # noqa: E402,F401
