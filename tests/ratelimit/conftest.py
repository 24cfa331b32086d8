"""Fixtures for the rate limiter: a limiter factory for each store (in-process, and the fleet
store on the session's real Redis driven by the test's virtual clock) and what a backend
emitted. The Redis fixtures are shared, in ``tests/conftest.py``."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from resilient_responses import RateLimit, RedisStore
from resilient_responses._backends import LimiterBackend
from resilient_responses._memory_limiter import MemoryLimiter
from resilient_responses._redis_limiter import RedisLimiter
from resilient_responses.events import EngineEvent
from resilient_responses.testing import VirtualClock

#: The timeout of stores in tests that are not about timeouts (a loaded machine can stall
#: Redis past the default 0.05 s, and the local fallback would be another test).
TIMEOUT = 2.0

Make = Callable[[RateLimit], LimiterBackend]


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(now=1000.0)


@pytest.fixture
def emitted() -> list[EngineEvent]:
    return []


def fleet_limiter(
    store: RedisStore, config: RateLimit, clock: VirtualClock, emitted: list[EngineEvent]
) -> RedisLimiter:
    """A fleet limiter whose Redis state follows *clock* (whole milliseconds), not the
    server's: each call is one process of the fleet."""
    return RedisLimiter(store._shared, config, clock, emitted.append, server_time=False)


@pytest.fixture(params=["memory", "redis"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make(
    kind: str, request: pytest.FixtureRequest, clock: VirtualClock, emitted: list[EngineEvent]
) -> Make:
    """Builds a limiter of the test's store kind on the virtual clock."""
    if kind == "memory":
        return lambda config: MemoryLimiter(config, clock)
    store: RedisStore = request.getfixturevalue("store")
    return lambda config: fleet_limiter(store, config, clock, emitted)
