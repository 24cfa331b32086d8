"""``Resilience(store=RedisStore...)`` end to end on the fake: two ``Resilience`` objects on
one prefix stand for two processes; Redis stopped mid-run costs no call, and is said once."""

from __future__ import annotations

from typing import Any

import openai
import pytest

import resilient_responses as rr
from resilient_responses import RedisStore
from resilient_responses.testing import FakeResponsesAPI, Fault
from resilient_responses.testing._redis_server import RedisServer

from ._support import TIMEOUT

MODEL = "gpt-5-mini"


def unavailable(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in logs if e["event"] == "resilient_responses.store_unavailable"]


def outcome(client: rr.ResilientOpenAI) -> str:
    try:
        client.responses.create(model=MODEL, input="hi")
    except rr.CircuitOpenError:
        return "open"
    except openai.InternalServerError:
        return "503"
    return "ok"


def resilience(store: RedisStore, vtime: Any, **config: Any) -> rr.Resilience:
    return rr.Resilience(
        store=store,
        breaker=rr.BreakerConfig(**config),
        sleep=vtime.sleep,
        clock=vtime.clock,
    )


def test_two_processes_into_an_outage_send_fail_max_requests_in_all(
    redis_url: str, prefix: str, vtime: Any
) -> None:
    fake = FakeResponsesAPI()
    fake.plan([], then=Fault.status(503))
    stores = [RedisStore.from_url(redis_url, timeout=TIMEOUT, prefix=prefix) for _ in range(2)]
    clients = [
        rr.ResilientOpenAI(fake.client(), resilience=resilience(s, vtime, fail_max=5))
        for s in stores
    ]
    ended = [outcome(client) for _ in range(10) for client in clients]
    assert len(fake.requests) == 5
    assert ended.count("open") >= 17
    assert set(ended) == {"open", "503"}
    for s in stores:
        s.close()


def test_redis_stopped_mid_run_costs_no_call_and_is_logged_once(
    private_redis: RedisServer, vtime: Any, logs: list[dict[str, Any]]
) -> None:
    fake = FakeResponsesAPI()
    store = RedisStore.from_url(private_redis.url, timeout=TIMEOUT, prefix="p", reconnect_after=0.0)
    policy = resilience(store, vtime, fail_max=2)
    client = rr.ResilientOpenAI(fake.client(), resilience=policy)
    for _ in range(10):
        assert client.responses.create(model=MODEL, input="before").output_text
    private_redis.stop()
    for _ in range(30):
        assert client.responses.create(model=MODEL, input="during").output_text
    [event] = unavailable(logs)
    assert event["fallback"] == "local"
    assert event["log_level"] == "warning"
    assert event["store"] == "redis"

    # Back again: another process opens the shared breaker, and this one sees it.
    private_redis.start()
    other_store = RedisStore.from_url(private_redis.url, timeout=TIMEOUT, prefix="p")
    other = resilience(other_store, vtime, fail_max=2)
    key = f"{client.base_url} {MODEL}"
    breakers = other._engine.breakers
    assert breakers is not None
    for _ in range(2):
        breakers.record(breakers.admit(key), True)
    with pytest.raises(rr.CircuitOpenError):
        client.responses.create(model=MODEL, input="after")
    assert policy.breaker_state(key) == "open"
    assert len(unavailable(logs)) == 1
    store.close()
    other_store.close()


async def test_async_calls_survive_redis_stopping_and_share_state_when_it_is_back(
    private_redis: RedisServer, vtime: Any, logs: list[dict[str, Any]]
) -> None:
    fake = FakeResponsesAPI()
    store = RedisStore.from_url(private_redis.url, timeout=TIMEOUT, prefix="p", reconnect_after=0.0)
    policy = resilience(store, vtime, fail_max=2)
    client = rr.AsyncResilientOpenAI(fake.async_client(), resilience=policy)
    assert (await client.responses.create(model=MODEL, input="before")).output_text
    private_redis.stop()
    for _ in range(10):
        assert (await client.responses.create(model=MODEL, input="during")).output_text
    assert len(unavailable(logs)) == 1
    private_redis.start()
    fake.plan([], then=Fault.status(503))
    with pytest.raises(openai.InternalServerError):
        await client.responses.create(model=MODEL, input="outage")
    key = f"{client.base_url} {MODEL}"
    assert policy.breaker_state(key) == "open"  # counted in the restarted Redis
    await store.aclose()
    store.close()


def test_a_store_used_from_many_event_loops_leaves_no_connection_behind(
    redis_url: str, rclient: Any, prefix: str
) -> None:
    """Each asyncio.run gets its own async client; when the loop ends its connections are
    closed with it (not left to the garbage collector, or open on the server)."""
    import asyncio
    import warnings

    store = RedisStore.from_url(redis_url, prefix=prefix, timeout=TIMEOUT)
    policy = rr.Resilience(store=store)
    fake = FakeResponsesAPI()
    before = len(rclient.client_list())

    async def some_calls() -> None:
        client = rr.AsyncResilientOpenAI(fake.async_client(), resilience=policy)
        for _ in range(3):
            await client.responses.create(model=MODEL, input="hi")

    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        for _ in range(5):
            asyncio.run(some_calls())
    # The store's own sync client may have connected once; no async connection is left.
    assert len(rclient.client_list()) <= before + 1
    store.close()


async def test_astats_reads_the_fleet_without_blocking_the_loop(astore: RedisStore) -> None:
    import threading

    policy = rr.Resilience(store=astore)
    client = rr.AsyncResilientOpenAI(FakeResponsesAPI().async_client(), resilience=policy)
    await client.responses.create(model=MODEL, input="hi")
    seen: list[str] = []
    real = policy.stats

    def stats() -> Any:
        seen.append(threading.current_thread().name)
        return real()

    policy.stats = stats  # type: ignore[method-assign]
    snapshot = await policy.astats()
    assert snapshot.total.calls == 1
    assert snapshot.by_key
    assert all(k.breaker_state == "closed" for k in snapshot.by_key.values())
    assert len(seen) == 1
    assert seen[0] != threading.current_thread().name  # not on the loop's thread
