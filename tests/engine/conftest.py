"""Engine tests use the ``workspace`` and ``runtime`` fixtures of tests/conftest.py; their
helpers live in engine_support.py."""
