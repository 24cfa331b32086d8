"""Redis down or slow: local state carries on (``on_error="local"``), or the error is
raised (``"raise"``); said once a minute; Redis is asked again after a short pause, and
its state is the truth again once it answers. Each test has a server of its own."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

import resilient_responses as rr
from resilient_responses import RedisStore, RetryBudget
from resilient_responses._redis_breakers import RedisBreakers
from resilient_responses.testing._redis_server import RedisServer

from ._support import TIMEOUT, Heard

KEY = "https://api.openai.com/v1|gpt-5-mini"


def breakers(store: RedisStore, heard: Heard, **config: Any) -> RedisBreakers:
    return store.breaker_backend(rr.BreakerConfig(**config), heard.on_change, heard.emit)


class Spy:
    """Counts the commands a client sends (and the ones that reached no server)."""

    def __init__(self, client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sent = 0
        original = client.execute_command

        def spy(*args: Any, **kwargs: Any) -> Any:
            self.sent += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(client, "execute_command", spy)


@pytest.fixture
def blackhole() -> Iterator[int]:
    """A port that accepts connections and never answers: a Redis that hangs."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield int(sock.getsockname()[1])


def test_redis_down_calls_carry_on_with_local_state_and_it_is_said_once(
    private_redis: RedisServer,
) -> None:
    store = RedisStore.from_url(private_redis.url, timeout=TIMEOUT, prefix="p", reconnect_after=0.0)
    heard = Heard()
    backend = breakers(store, heard, fail_max=3)
    backend.record(backend.admit(KEY), True)
    private_redis.stop()
    for _ in range(3):  # the local breaker counts from zero: three failures open it
        backend.record(backend.admit(KEY), True)
    assert backend.state(KEY) == "open"
    with pytest.raises(rr.CircuitOpenError):
        backend.admit(KEY)
    assert heard.changes == [(KEY, "closed", "open")]
    [event] = heard.unavailable
    assert event.store == "redis"
    assert event.operation == "admit"
    assert event.fallback == "local"
    assert "ConnectionError" in event.error
    store.close()


def test_while_redis_is_down_it_is_not_asked_on_every_call(
    private_redis: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = RedisStore.from_url(
        private_redis.url, timeout=TIMEOUT, prefix="p", reconnect_after=60.0
    )
    backend = breakers(store, Heard(), fail_max=1000)
    spy = Spy(store._shared.conn.client, monkeypatch)
    private_redis.stop()
    for _ in range(50):
        backend.record(backend.admit(KEY), True)
    assert spy.sent == 1
    store.close()


def test_when_redis_answers_again_its_state_is_shared_again(
    private_redis: RedisServer,
) -> None:
    one = RedisStore.from_url(private_redis.url, timeout=TIMEOUT, prefix="p", reconnect_after=0.0)
    two = RedisStore.from_url(private_redis.url, timeout=TIMEOUT, prefix="p", reconnect_after=0.0)
    heard_one = Heard()
    a, b = breakers(one, heard_one, fail_max=2), breakers(two, Heard(), fail_max=2)
    private_redis.stop()
    a.record(a.admit(KEY), True)
    a.record(a.admit(KEY), True)  # opens `a`'s local breaker only
    assert a.state(KEY) == "open"
    assert heard_one.changes == [(KEY, "closed", "open")]
    private_redis.start()  # a fresh, empty Redis on the same port
    assert a.state(KEY) == "closed"  # Redis's state is the truth again
    a.record(a.admit(KEY), True)
    b.record(b.admit(KEY), True)
    assert a.state(KEY) == b.state(KEY) == "open"
    assert a._local.states() == {}  # the next outage starts from a fresh local state
    one.close()
    two.close()


def test_announced_at_most_once_a_minute(private_redis: RedisServer) -> None:
    store = RedisStore.from_url(private_redis.url, timeout=TIMEOUT, prefix="p", reconnect_after=0.0)
    heard = Heard()
    backend = breakers(store, heard, fail_max=1000)
    private_redis.stop()
    for _ in range(20):
        backend.record(backend.admit(KEY), True)
    assert len(heard.unavailable) == 1
    health = store._shared.health  # one announcement clock for every backend of the store
    assert health._announced is not None
    health._announced -= 61.0  # a minute later
    backend.admit(KEY)
    assert len(heard.unavailable) == 2
    store.close()


def test_on_error_raise_raises_the_redis_error(private_redis: RedisServer) -> None:
    store = RedisStore.from_url(private_redis.url, timeout=TIMEOUT, prefix="p", on_error="raise")
    heard = Heard()
    backend = breakers(store, heard)
    private_redis.stop()
    with pytest.raises(redis.ConnectionError):
        backend.admit(KEY)
    with pytest.raises(redis.ConnectionError):
        backend.state(KEY)
    assert [e.fallback for e in heard.unavailable] == ["raise"]
    store.close()


def test_a_redis_that_hangs_costs_at_most_the_timeout(blackhole: int) -> None:
    store = RedisStore.from_url(
        f"redis://127.0.0.1:{blackhole}/0", prefix="p", timeout=0.05, reconnect_after=60.0
    )
    heard = Heard()
    backend = breakers(store, heard)
    start = time.perf_counter()
    admission = backend.admit(KEY)
    first = time.perf_counter() - start
    backend.record(admission, False)
    start = time.perf_counter()
    for _ in range(100):
        backend.record(backend.admit(KEY), False)
    rest = time.perf_counter() - start
    assert first < 1.0  # one timeout (0.05 s) and bookkeeping; a hang would be seconds
    assert rest < first + 0.5  # and then nothing: local state until reconnect_after
    assert "Timeout" in heard.unavailable[0].error
    store.close()


def test_the_error_said_never_carries_the_password(private_redis: RedisServer) -> None:
    url = f"redis://admin:hunter2@127.0.0.1:{private_redis.port}/0"
    private_redis.stop()
    store = RedisStore.from_url(url, prefix="p")
    heard = Heard()
    breakers(store, heard).admit(KEY)
    assert heard.unavailable
    assert "hunter2" not in repr(heard.unavailable)
    store.close()


def test_the_budget_carries_on_locally_while_redis_is_down(private_redis: RedisServer) -> None:
    store = RedisStore.from_url(
        private_redis.url, timeout=TIMEOUT, prefix="p", reconnect_after=60.0
    )
    heard = Heard()
    fleet = store.budget_backend(
        RetryBudget(ratio=0.5, min_per_second=0.0), time.monotonic, heard.emit
    )
    private_redis.stop()
    for _ in range(4):
        fleet.deposit()
    assert fleet.try_withdraw()
    assert fleet.try_withdraw()
    assert not fleet.try_withdraw()
    assert fleet.level == 0.0
    assert len(heard.unavailable) == 1
    store.close()


async def test_async_calls_carry_on_locally_while_redis_is_down(
    private_redis: RedisServer,
) -> None:
    store = RedisStore.from_url(private_redis.url, timeout=TIMEOUT, prefix="p", reconnect_after=0.0)
    heard = Heard()
    backend = breakers(store, heard, fail_max=2)
    await backend.arecord(await backend.aadmit(KEY), True)
    private_redis.stop()
    for _ in range(2):
        await backend.arecord(await backend.aadmit(KEY), True)
    with pytest.raises(rr.CircuitOpenError):
        await backend.aadmit(KEY)
    assert len(heard.unavailable) == 1
    private_redis.start()
    assert (await backend.aadmit(KEY)).clean  # the fresh Redis: closed, nothing counted
    await store.aclose()
    store.close()


def test_the_budget_does_not_ask_redis_the_breakers_found_down(
    private_redis: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = RedisStore.from_url(
        private_redis.url, timeout=TIMEOUT, prefix="p", reconnect_after=60.0
    )
    heard = Heard()
    backend = breakers(store, heard)
    fleet = store.budget_backend(
        RetryBudget(ratio=1.0, min_per_second=0.0), time.monotonic, heard.emit
    )
    private_redis.stop()
    backend.admit(KEY)
    spy = Spy(store._shared.conn.client, monkeypatch)
    fleet.deposit()
    assert fleet.try_withdraw()
    assert spy.sent == 0
    assert len(heard.unavailable) == 1
    store.close()
