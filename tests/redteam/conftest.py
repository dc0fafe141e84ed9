"""Red-team fixtures: the sandbox tests' fixtures (workspace, canary home, runtime) and the engine
tests' scripted model."""

from __future__ import annotations

from sandbox_fixtures import home, outside, runtime, ws  # noqa: F401  (helpers: pyproject's pythonpath)
