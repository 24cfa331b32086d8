"""Fixtures for the fleet store: the session's real Redis, a fresh key prefix per test,
stores built on it, and private servers for tests that take Redis away."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import redis

from resilient_responses import RedisStore
from resilient_responses.testing._redis_server import RedisServer

from ._support import TIMEOUT, Heard


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    # A test that stopped the shared server and failed before restarting it must not take
    # every later test down with it.
    if not redis_server.running:
        redis_server.start()
    return redis_server.url


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
    built = RedisStore.from_url(redis_url, timeout=TIMEOUT, prefix=prefix)
    yield built
    built.close()


@pytest.fixture
async def astore(redis_url: str, prefix: str) -> AsyncIterator[RedisStore]:
    built = RedisStore.from_url(redis_url, timeout=TIMEOUT, prefix=prefix)
    yield built
    await built.aclose()
    built.close()


@pytest.fixture
def heard() -> Heard:
    return Heard()


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    """A server of the test's own, free to stop and restart."""
    server = RedisServer()
    server.start()
    yield server
    server.close()
