"""Fixtures for the rate limiter: a limiter factory for each store (in-process, and the fleet
store on the session's real Redis driven by the test's virtual clock), a fresh key prefix
per test, and what a backend emitted."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
import redis

from resilient_responses import RateLimit, RedisStore
from resilient_responses._backends import LimiterBackend
from resilient_responses._ratelimit import MemoryLimiter
from resilient_responses._redis_limiter import RedisLimiter
from resilient_responses.events import EngineEvent
from resilient_responses.testing import VirtualClock
from resilient_responses.testing._redis_server import RedisServer

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


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    if not redis_server.running:  # a test that stopped it and failed must not sink the rest
        redis_server.start()
    return redis_server.url


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    """A server of the test's own, free to stop."""
    server = RedisServer()
    server.start()
    yield server
    server.close()


@pytest.fixture
def rclient(redis_url: str) -> Iterator[redis.Redis]:
    """A plain client, to look at what the store wrote."""
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def prefix(rclient: redis.Redis) -> Iterator[str]:
    """A key prefix no other test uses; its keys are deleted afterwards."""
    name = f"rltest-{uuid.uuid4().hex[:12]}"
    yield name
    keys = list(rclient.scan_iter(match=f"{name}:*"))
    if keys:
        rclient.delete(*keys)


@pytest.fixture
def store(redis_url: str, prefix: str) -> Iterator[RedisStore]:
    built = RedisStore.from_url(redis_url, timeout=TIMEOUT, prefix=prefix)
    yield built
    built.close()


@pytest.fixture
async def astore(redis_url: str, prefix: str) -> AsyncIterator[RedisStore]:
    built = RedisStore.from_url(redis_url, timeout=TIMEOUT, prefix=prefix)
    yield built
    await built.aclose()
    built.close()


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
