"""The fleet breaker backend (async forms) on a real Redis: ``aadmit`` / ``arecord`` run on
redis.asyncio, never blocking the loop, and a process that runs several loops works."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
import redis
import redis.asyncio

import resilient_responses as rr
from resilient_responses import RedisStore
from resilient_responses._backends import Admission
from resilient_responses._redis_breakers import RedisBreakers

from ._support import TIMEOUT, Heard, rewind_redis

KEY = "https://api.openai.com/v1|gpt-5-mini"


def breakers(store: RedisStore, heard: Heard, **config: Any) -> RedisBreakers:
    return store.breaker_backend(rr.BreakerConfig(**config), heard.on_change, heard.emit)


async def atrip(backend: RedisBreakers, key: str, times: int) -> None:
    for _ in range(times):
        await backend.arecord(await backend.aadmit(key), True)


async def test_async_failures_open_the_breaker_and_refuse(astore: RedisStore, heard: Heard) -> None:
    backend = breakers(astore, heard, fail_max=3, reset_timeout=30.0)
    await atrip(backend, KEY, 2)
    assert backend.state(KEY) == "closed"
    await atrip(backend, KEY, 1)
    with pytest.raises(rr.CircuitOpenError) as info:
        await backend.aadmit(KEY)
    assert 29.0 < info.value.retry_in <= 30.0
    assert heard.changes == [(KEY, "closed", "open")]


async def test_async_probe_is_exclusive_and_its_success_closes(
    astore: RedisStore, heard: Heard, rclient: redis.Redis, prefix: str
) -> None:
    backend = breakers(astore, heard, fail_max=1)
    await atrip(backend, KEY, 1)
    rewind_redis(rclient, prefix, KEY)
    probes = await asyncio.gather(*(backend.aadmit(KEY) for _ in range(5)), return_exceptions=True)
    admitted = [p for p in probes if isinstance(p, Admission)]
    assert len(admitted) == 1
    assert admitted[0].probe
    assert all(isinstance(p, rr.CircuitOpenError) for p in probes if p not in admitted)
    await backend.arecord(admitted[0], False)
    assert (await backend.aadmit(KEY)).clean
    assert heard.changes[-1] == (KEY, "half-open", "closed")


async def test_async_and_sync_forms_share_one_state(
    astore: RedisStore, heard: Heard, rclient: redis.Redis, prefix: str
) -> None:
    backend = breakers(astore, heard, fail_max=2)
    backend.record(backend.admit(KEY), True)
    admission = await backend.aadmit(KEY)
    assert not admission.clean
    backend.record(admission, True)
    rewind_redis(rclient, prefix, KEY)
    probe = backend.admit(KEY)
    await backend.arecord(probe, True)
    assert backend.state(KEY) == "open"


async def test_a_clean_success_costs_one_async_round_trip(
    astore: RedisStore, heard: Heard, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = breakers(astore, heard)
    await backend.aadmit(KEY)  # builds this loop's client
    target = astore._shared.conn.for_loop()
    assert target is not None
    client = target[0]
    sent: list[object] = []
    original = client.execute_command

    async def spy(*args: Any, **kwargs: Any) -> Any:
        sent.append(args[0])
        return await original(*args, **kwargs)

    monkeypatch.setattr(client, "execute_command", spy)
    for _ in range(5):
        admission = await backend.aadmit(KEY)
        await backend.arecord(admission, False)
    assert sent == ["EVALSHA"] * 5


async def test_the_async_path_does_not_block_the_loop(astore: RedisStore, heard: Heard) -> None:
    """While a call waits for Redis, other tasks run: the loop's own client is used, not
    the blocking sync one."""
    backend = breakers(astore, heard, fail_max=1000)
    sync_calls: list[object] = []
    client = astore._shared.conn.client
    original = client.execute_command

    def spy(*args: Any, **kwargs: Any) -> Any:
        sync_calls.append(args[0])
        return original(*args, **kwargs)

    client.execute_command = spy  # type: ignore[method-assign]
    try:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(ticker())
        for _ in range(20):
            await backend.arecord(await backend.aadmit(KEY), True)
        task.cancel()
        assert ticks >= 20
    finally:
        del client.execute_command
    assert sync_calls == []


async def test_async_release_gives_the_lease_back_on_the_loop(
    astore: RedisStore, heard: Heard, rclient: redis.Redis, prefix: str
) -> None:
    backend = breakers(astore, heard, fail_max=1)
    await atrip(backend, KEY, 1)
    rewind_redis(rclient, prefix, KEY)
    probe = await backend.aadmit(KEY)
    backend.release(probe)
    pending = list(astore._shared.conn._tasks)
    assert len(pending) == 1
    await asyncio.gather(*pending)
    assert (await backend.aadmit(KEY)).probe


def test_a_store_serves_several_event_loops_one_after_another(redis_url: str, prefix: str) -> None:
    """A process may run several loops (``asyncio.run`` per job, a loop per test): each
    gets its own redis.asyncio client, and the state is the same."""
    store = RedisStore.from_url(redis_url, timeout=TIMEOUT, prefix=prefix)
    heard = Heard()
    backend = breakers(store, heard, fail_max=3)

    async def one_failure() -> None:
        await backend.arecord(await backend.aadmit(KEY), True)
        await store.aclose()

    for _ in range(3):
        asyncio.run(one_failure())
    assert backend.state(KEY) == "open"
    assert heard.unavailable == []
    store.close()


def test_a_store_serves_loops_in_several_threads_at_once(redis_url: str, prefix: str) -> None:
    store = RedisStore.from_url(redis_url, timeout=TIMEOUT, prefix=prefix)
    backend = breakers(store, Heard(), fail_max=1000)
    errors: list[BaseException] = []

    def run() -> None:
        async def work() -> None:
            for _ in range(20):
                await backend.arecord(await backend.aadmit(KEY), True)
            await store.aclose()

        try:
            asyncio.run(work())
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    client = redis.Redis.from_url(redis_url)
    breaker = next(iter(client.scan_iter(match=f"{prefix}:breaker:*")))
    assert client.hget(breaker, "f") == b"80"
    client.close()
    store.close()


def test_a_passed_async_client_serves_its_first_loop_and_other_loops_use_a_thread(
    redis_url: str, prefix: str
) -> None:
    sync_client = redis.Redis.from_url(redis_url, socket_timeout=TIMEOUT)
    async_client = redis.asyncio.Redis.from_url(redis_url, socket_timeout=TIMEOUT)
    store = RedisStore(
        client=sync_client, async_client=async_client, prefix=prefix, timeout=TIMEOUT
    )
    backend = breakers(store, Heard(), fail_max=2)
    used: list[bool] = []

    async def failure(close: bool) -> None:
        used.append(store._shared.conn.for_loop() is not None)
        await backend.arecord(await backend.aadmit(KEY), True)
        if close:
            await async_client.aclose()

    asyncio.run(failure(close=True))
    asyncio.run(failure(close=False))
    assert used == [True, False]
    assert backend.state(KEY) == "open"
    sync_client.close()
