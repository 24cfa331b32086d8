"""The fleet limiter on a real Redis: processes share pacing, the first-call gate, what was
learned and holds; one round trip per acquire at most (none on a key without limits, none
for an answer that says nothing new); keys hashed and expiring; pyrate-limiter's own Lua;
local pacing while Redis is down."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resilient_responses import RateLimit, RedisStore
from resilient_responses._memory_limiter import _gcra
from resilient_responses._ratelimit import JITTER, burst_for
from resilient_responses._redis_limiter import RedisLimiter
from resilient_responses._redis_scripts import _LIMITER_PRELUDE, _pyrate_step
from resilient_responses.events import EngineEvent, StoreUnavailable
from resilient_responses.testing import VirtualClock
from resilient_responses.testing._redis_server import RedisServer

from ._support import KEY, limits
from .conftest import TIMEOUT, fleet_limiter


class Spy:
    """Counts the commands a client sends."""

    def __init__(self, client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sent = 0
        original = client.execute_command

        def spy(*args: Any, **kwargs: Any) -> Any:
            self.sent += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(client, "execute_command", spy)


@pytest.fixture
def two(
    store: RedisStore, redis_url: str, prefix: str, clock: VirtualClock
) -> Iterator[tuple[RedisLimiter, RedisLimiter, list[EngineEvent]]]:
    """Two processes' limiters (two stores, one prefix) on one virtual clock."""
    other = RedisStore.from_url(redis_url, timeout=TIMEOUT, prefix=prefix)
    events: list[EngineEvent] = []
    config = RateLimit()
    yield (
        fleet_limiter(store, config, clock, events),
        fleet_limiter(other, config, clock, events),
        events,
    )
    other.close()


def test_two_processes_share_one_pace(store: RedisStore, redis_url: str, prefix: str) -> None:
    clock = VirtualClock()
    other = RedisStore.from_url(redis_url, timeout=TIMEOUT, prefix=prefix)
    config = RateLimit(requests_per_minute=600)
    a, b = fleet_limiter(store, config, clock, []), fleet_limiter(other, config, clock, [])
    assert a.acquire(KEY, 0) == 0.0
    wait = b.acquire(KEY, 0)  # the fleet's one request went: B waits its slot
    assert 0.1 - 0.001 <= wait <= 0.1 + JITTER + 0.001
    clock.sleep(wait)
    assert b.acquire(KEY, 0) == 0.0
    assert a.acquire(KEY, 0) > 0
    other.close()


def test_the_first_call_gate_is_fleet_wide_and_what_one_learns_all_use(
    two: tuple[RedisLimiter, RedisLimiter, list[EngineEvent]], clock: VirtualClock
) -> None:
    a, b, _ = two
    assert a.acquire(KEY, 0) == 0.0
    assert b.acquire(KEY, 0) > 0  # B waits for A's first answer
    a.observe(KEY, limits((1200, 1199, "50ms")), 200)
    wait = b.acquire(KEY, 0)  # B never saw a header, and paces at 1,200 a minute
    assert 0.05 - 0.001 <= wait <= 0.05 + JITTER + 0.001


def test_a_key_without_limits_is_free_for_the_fleet(
    two: tuple[RedisLimiter, RedisLimiter, list[EngineEvent]],
    monkeypatch: pytest.MonkeyPatch,
    store: RedisStore,
) -> None:
    a, b, _ = two
    a.acquire(KEY, 0)
    a.observe(KEY, {}, 200)
    assert b.acquire(KEY, 0) == 0.0  # one round trip tells B...
    spy = Spy(b._shared.conn.client, monkeypatch)
    for _ in range(100):  # ...and then no round trip at all
        assert b.acquire(KEY, 50) == 0.0
        b.observe(KEY, {"x-request-id": "r"}, 200)
    assert spy.sent == 0


def test_a_429_seen_by_one_process_holds_the_others(
    two: tuple[RedisLimiter, RedisLimiter, list[EngineEvent]], clock: VirtualClock
) -> None:
    """Used-up capacity one process hears about (1,200 a minute, none left: 50 ms for one
    request) holds the other process too."""
    a, b, _ = two
    a.acquire(KEY, 0)
    a.observe(KEY, limits((1200, 0, "1s"), **{"retry-after-ms": "800"}), 429)
    wait = b.acquire(KEY, 0)
    assert 0.05 - 0.001 <= wait <= 0.05 + JITTER + 0.001


def test_one_round_trip_per_acquire_and_none_for_answers_that_say_nothing_new(
    store: RedisStore, clock: VirtualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    limiter = fleet_limiter(store, RateLimit(tokens_per_minute=10**8), clock, [])
    limiter.acquire(KEY, 10)
    limiter.observe(KEY, limits((10_000, 9999, "6ms"), (10**8, 10**8 - 10, "1ms")), 200)
    limiter.reconcile(KEY, 10, 11)  # every script loaded once (EVALSHA, NOSCRIPT, LOAD)
    spy = Spy(store._shared.conn.client, monkeypatch)
    for _ in range(50):
        clock.sleep(0.01)
        assert limiter.acquire(KEY, 10) == 0.0
        limiter.observe(KEY, limits((10_000, 9990, "60ms"), (10**8, 10**8 - 100, "1ms")), 200)
        limiter.reconcile(KEY, 10, 5)  # used less: nothing to send
    assert spy.sent == 50
    limiter.reconcile(KEY, 10, 50)  # used more: one round trip
    assert spy.sent == 51


def test_keys_are_hashed_and_expire(
    store: RedisStore, rclient: redis.Redis, prefix: str, clock: VirtualClock
) -> None:
    secret = "https://user:hunter2@proxy.example/v1|gpt-5-mini"
    limiter = fleet_limiter(store, RateLimit(), clock, [])
    limiter.acquire(secret, 100)
    limiter.observe(secret, limits((600, 599, "100ms"), (60_000, 59_900, "100ms")), 200)
    clock.sleep(0.2)
    limiter.acquire(secret, 100)
    names = [k.decode() for k in rclient.scan_iter(match=f"{prefix}:*")]
    assert len(names) == 3
    assert all(n.startswith(f"{prefix}:ratelimit:") for n in names)
    assert not any("hunter2" in n or "proxy" in n for n in names)
    assert all(rclient.pttl(n) > 0 for n in names)


def test_server_time_paces_on_the_real_clock(store: RedisStore) -> None:
    limiter = store.limiter_backend(RateLimit(requests_per_minute=60), time.monotonic, print)
    assert limiter.acquire(KEY, 0) == 0.0
    assert 0.9 <= limiter.acquire(KEY, 0) <= 1.0 + JITTER + 0.002


async def test_the_async_forms_use_the_loops_async_client(astore: RedisStore) -> None:
    limiter = astore.limiter_backend(RateLimit(), time.monotonic, print)
    assert await limiter.aacquire(KEY, 0) == 0.0
    assert await limiter.aacquire(KEY, 0) > 0
    await limiter.aobserve(KEY, limits((60, 59, "1s"), (6000, 5000, "10s")), 200)
    assert await limiter.aacquire(KEY, 0) >= 0.9
    await limiter.areconcile(KEY, 0, 10)
    assert astore._shared.conn._loops  # an async client served this loop: nothing blocked it


# -- the Lua is pyrate-limiter's, and agrees with the in-process rates ------------------------


@settings(max_examples=50, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(limit=st.integers(1, 10**9), burst_seconds=st.sampled_from([0.05, 0.5, 1.0, 7.5, 60.0]))
def test_the_lua_rate_is_pyrate_limiters(
    rclient: redis.Redis, limit: int, burst_seconds: float
) -> None:
    """emission = pyrate's ceil(interval * 1000 / limit) microseconds for
    Rate(limit, 60_000); burst = burst_for()."""
    from pyrate_limiter import Rate

    lua = _LIMITER_PRELUDE + "return {rate(tonumber(ARGV[2]), tonumber(ARGV[3]))}"
    emission, burst = rclient.eval(lua, 0, "", str(limit), repr(burst_seconds))  # type: ignore[misc]
    expected = burst_for(limit, burst_seconds)
    assert [emission, burst] == _gcra().redis_args([Rate(limit, 60_000, expected)])


def test_pyrates_step_takes_a_negative_weight_as_a_refund(
    rclient: redis.Redis, prefix: str
) -> None:
    """What the give-back of a request unit relies on, in pyrate's Python step and in its
    Lua alike: max(tat, now) + weight * emission."""
    from pyrate_limiter import Rate

    rates = [Rate(10, 1000, 5)]  # 100 ms apart, burst 5
    now = 1_000_000
    state, decision = _gcra().step(rates, (now * 1000 + 300_000,), now, -1)
    assert decision.allowed
    assert state == (now * 1000 + 200_000,)
    lua = _pyrate_step() + "return pyrate_gcra(KEYS, ARGV)"
    key = f"{prefix}:refund"
    rclient.hset(key, "tat1", str(now * 1000 + 300_000))
    assert rclient.eval(lua, 1, key, now, -1, 60_000, 1, 100_000, 5) == [-1, 0]  # type: ignore[misc]
    assert int(rclient.hget(key, "tat1")) == now * 1000 + 200_000  # type: ignore[arg-type]
    rclient.delete(key)


# -- Redis down ---------------------------------------------------------------------------


def test_redis_down_paces_locally_and_says_so_once(private_redis: RedisServer) -> None:
    store = RedisStore.from_url(private_redis.url, timeout=TIMEOUT, prefix="p", reconnect_after=60)
    clock = VirtualClock()
    events: list[EngineEvent] = []
    limiter = fleet_limiter(store, RateLimit(requests_per_minute=600), clock, events)
    private_redis.stop()
    assert limiter.acquire(KEY, 0) == 0.0  # local state: a fresh key
    wait = limiter.acquire(KEY, 0)
    assert 0.1 - 0.001 <= wait <= 0.1 + JITTER
    limiter.observe(KEY, limits((600, 0, "1m0s")), 200)
    limiter.reconcile(KEY, 1, 2)
    [event] = [e for e in events if isinstance(e, StoreUnavailable)]
    assert event.operation == "acquire"
    assert event.fallback == "local"
    store.close()


def test_learning_carries_on_locally_while_redis_is_down(private_redis: RedisServer) -> None:
    store = RedisStore.from_url(private_redis.url, timeout=TIMEOUT, prefix="p", reconnect_after=60)
    clock = VirtualClock()
    limiter = fleet_limiter(store, RateLimit(), clock, [])
    assert limiter.acquire(KEY, 0) == 0.0
    limiter.observe(KEY, limits((1200, 1199, "50ms")), 200)  # learned by the fleet
    private_redis.stop()
    assert limiter.acquire(KEY, 0) == 0.0  # local: unknown, goes alone
    assert limiter.acquire(KEY, 0) > 0
    limiter.observe(KEY, limits((1200, 1199, "50ms")), 200)  # nothing new for Redis...
    wait = limiter.acquire(KEY, 0)  # ...but the local limiter learns it
    assert 0.05 - 0.001 <= wait <= 0.05 + JITTER
    store.close()
