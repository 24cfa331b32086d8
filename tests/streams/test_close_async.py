"""Closing and cancelling an async resilient stream releases the HTTP response."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import resilient_responses as rr
from resilient_responses.testing import FakeResponsesAPI, Fault

from ._support import MODEL, Clock, aresilience, request_kwargs


def _client(fake: FakeResponsesAPI) -> rr.AsyncResilientOpenAI:
    return rr.AsyncResilientOpenAI(fake.async_client(), resilience=aresilience(Clock()))


async def test_async_close_mid_stream_closes_the_http_response_and_stops_iteration() -> None:
    fake = FakeResponsesAPI()
    s = await _client(fake).responses.create(model=MODEL, input="hi", stream=True)
    await s.__anext__()
    assert fake.open_streams == 1
    await s.close()
    assert fake.open_streams == 0
    assert [e async for e in s] == []
    await s.close()


async def test_async_with_exit_mid_stream_closes_the_http_response() -> None:
    fake = FakeResponsesAPI()
    async with await _client(fake).responses.create(model=MODEL, input="hi", stream=True) as s:
        await s.__anext__()
    assert fake.open_streams == 0


async def test_async_break_out_of_a_for_loop_then_close() -> None:
    fake = FakeResponsesAPI()
    s = await _client(fake).responses.create(model=MODEL, input="hi", stream=True)
    async for event in s:
        if event.type == "response.output_text.delta":
            break
    await s.close()
    assert fake.open_streams == 0


async def test_async_close_after_a_resume_closes_the_resumed_connection() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.reset(after_events=6)])
    s = await _client(fake).responses.create(**request_kwargs(12, background=True), stream=True)
    seqs = [(await s.__anext__()).sequence_number for _ in range(8)]
    assert seqs == list(range(8))
    assert fake.open_streams == 1
    await s.close()
    assert fake.open_streams == 0


async def test_async_cancelling_the_consumer_task_raises_cancelled_and_leaks_nothing() -> None:
    # A real (2 s) stall keeps the task parked inside the read when it is cancelled.
    fake = FakeResponsesAPI(realtime=True)
    fake.plan([Fault.stall(after_events=3, seconds=2)])
    client = _client(fake)
    got: list[Any] = []
    reached = asyncio.Event()

    async def consume() -> None:
        stream = await client.responses.create(model=MODEL, input="hi", stream=True)
        async for event in stream:
            got.append(event)
            if len(got) == 3:
                reached.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(reached.wait(), timeout=5)
    await asyncio.sleep(0)  # let the task enter the stalled read
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled()
    assert len(got) == 3
    assert fake.open_streams == 0
    total = client.resilience.stats().total
    # The call ended with an error (the cancellation): counted once, as a failure; it is
    # no interruption, and the breaker learned nothing from it.
    assert (total.calls, total.failures, total.interruptions, total.restarts) == (1, 1, 0, 0)
    assert client.resilience.breaker_state(f"{client.base_url} {MODEL}") == "closed"


async def test_async_cancelling_during_a_recovery_wait_is_not_converted() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.reset(after_events=6)])
    waiting = asyncio.Event()

    async def slow_sleep(seconds: float) -> None:
        waiting.set()
        await asyncio.sleep(60)

    client = rr.AsyncResilientOpenAI(
        fake.async_client(), resilience=rr.Resilience(sleep=slow_sleep)
    )

    async def consume() -> None:
        stream = await client.responses.create(**request_kwargs(12, background=True), stream=True)
        async for _event in stream:
            pass

    task = asyncio.create_task(consume())
    await asyncio.wait_for(waiting.wait(), timeout=5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert fake.open_streams == 0
    assert len(fake.requests) == 1


async def test_async_an_interrupted_stream_leaves_no_connection_open() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.truncate(after_events=6)])
    s = await _client(fake).responses.create(model=MODEL, input="hi", stream=True)
    with pytest.raises(rr.StreamInterruptedError):
        async for _event in s:
            pass
    assert fake.open_streams == 0
