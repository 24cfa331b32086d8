"""Fixtures for the fleet store: what a backend heard. The Redis fixtures (the session's
server, a fresh key prefix per test, stores built on it, private servers) are shared with
the rate limiter's tests in ``tests/conftest.py``."""

from __future__ import annotations

import pytest

from ._support import Heard


@pytest.fixture
def heard() -> Heard:
    return Heard()
