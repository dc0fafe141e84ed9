"""cowork: a local-first AI agent runtime."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("cowork")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0"
