"""The fake against the real async SDK: the async transport plays every fault too."""

from __future__ import annotations

import asyncio
import time

import openai
import pytest
from openai.types.responses import ResponseCompletedEvent, ResponseErrorEvent, ResponseFailedEvent
from openai.types.responses.response_stream_event import ResponseStreamEvent

from resilient_responses.testing import FakeResponsesAPI, Fault

MODEL = "gpt-5-mini"


async def _collect(
    stream: openai.AsyncStream[ResponseStreamEvent], into: list[ResponseStreamEvent]
) -> None:
    # A loop, not extend(comprehension): events seen before a fault must survive it.
    async for event in stream:
        into.append(event)  # noqa: PERF401


async def test_create_and_stream(aclient: openai.AsyncOpenAI, fake: FakeResponsesAPI) -> None:
    response = await aclient.responses.create(model=MODEL, input="hello")
    events: list[ResponseStreamEvent] = []
    await _collect(await aclient.responses.create(model=MODEL, input="hello", stream=True), events)
    assert isinstance(events[-1], ResponseCompletedEvent)
    assert events[-1].response.output_text == response.output_text
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert fake.requests[0].headers["x-stainless-async"] != "false"
    assert fake.open_streams == 0


async def test_stream_helper(aclient: openai.AsyncOpenAI) -> None:
    async with aclient.responses.stream(model=MODEL, input="hello") as stream:
        deltas = [e.delta async for e in stream if e.type == "response.output_text.delta"]
        final = await stream.get_final_response()
    assert final.output_text == "".join(deltas)


async def test_background_resume(aclient: openai.AsyncOpenAI, fake: FakeResponsesAPI) -> None:
    fake.plan([Fault.reset(after_events=7)])
    seen: list[ResponseStreamEvent] = []
    with pytest.raises(openai.APIConnectionError):
        await _collect(
            await aclient.responses.create(model=MODEL, input="x", stream=True, background=True),
            seen,
        )
    response_id = seen[0].response.id  # type: ignore[union-attr]
    await _collect(
        await aclient.responses.retrieve(
            response_id, stream=True, starting_after=seen[-1].sequence_number
        ),
        seen,
    )
    assert [e.sequence_number for e in seen] == list(range(len(seen)))
    assert isinstance(seen[-1], ResponseCompletedEvent)
    cancelled = await aclient.responses.cancel(response_id)
    assert cancelled.status == "cancelled"
    assert fake.open_streams == 0


async def test_pre_response_faults(aclient: openai.AsyncOpenAI, fake: FakeResponsesAPI) -> None:
    fake.plan([Fault.status(429, retry_after=3), Fault.connect_error(), Fault.timeout(seconds=60)])
    with pytest.raises(openai.RateLimitError) as info:
        await aclient.responses.create(model=MODEL, input="x")
    assert info.value.code == "rate_limit_exceeded"
    with pytest.raises(openai.APIConnectionError) as conn:
        await aclient.responses.create(model=MODEL, input="x", stream=True)
    assert not isinstance(conn.value, openai.APITimeoutError)
    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        await aclient.responses.create(model=MODEL, input="x")
    assert time.monotonic() - started < 5
    assert [r.status for r in fake.requests] == [429, None, None]


async def test_stream_faults(aclient: openai.AsyncOpenAI, fake: FakeResponsesAPI) -> None:
    fake.plan(
        [
            Fault.reset(after_events=4),
            Fault.truncate(after_events=4),
            Fault.error_event(after_events=4),
            Fault.failed(after_events=4),
            Fault.stall(after_events=4, seconds=60),
        ]
    )
    seen: list[ResponseStreamEvent] = []
    with pytest.raises(openai.APIConnectionError):
        await _collect(await aclient.responses.create(model=MODEL, input="x", stream=True), seen)
    assert len(seen) == 4
    for expected in (None, ResponseErrorEvent, ResponseFailedEvent):
        events: list[ResponseStreamEvent] = []
        await _collect(await aclient.responses.create(model=MODEL, input="x", stream=True), events)
        if expected is None:
            assert len(events) == 4  # truncated silently
        else:
            assert isinstance(events[-1], expected)
            assert events[-1].sequence_number == 4
    stalled: list[ResponseStreamEvent] = []
    with pytest.raises(openai.APITimeoutError):
        await _collect(
            await aclient.with_options(timeout=5).responses.create(
                model=MODEL, input="x", stream=True
            ),
            stalled,
        )
    assert len(stalled) == 4
    assert fake.open_streams == 0


async def test_stall_honours_timeout_lowered_in_place(
    aclient: openai.AsyncOpenAI, fake: FakeResponsesAPI
) -> None:
    fake.plan([Fault.stall(after_events=1, seconds=30)])
    stream = await aclient.responses.create(model=MODEL, input="x", stream=True)
    events = stream.__aiter__()
    await events.__anext__()
    stream.response.request.extensions["timeout"]["read"] = 2.0
    with pytest.raises(openai.APITimeoutError):
        await events.__anext__()
    assert fake.open_streams == 0


async def test_open_streams_async_close(
    aclient: openai.AsyncOpenAI, fake: FakeResponsesAPI
) -> None:
    stream = await aclient.responses.create(model=MODEL, input="x", stream=True)
    assert fake.open_streams == 1
    async with stream:
        await stream.__anext__()
    assert fake.open_streams == 0


async def test_latency_does_not_block_the_loop(fake: FakeResponsesAPI) -> None:
    fake.plan([Fault.latency(0.3)] * 20)
    async with fake.async_client(max_retries=0) as client:
        started = time.monotonic()
        await asyncio.gather(
            *(client.responses.create(model=MODEL, input=str(n)) for n in range(20))
        )
        elapsed = time.monotonic() - started
    # Serial would be 6 s; concurrent is ~0.3 s. Wide margin for slow machines.
    assert 0.25 <= elapsed < 3.0


async def test_thousand_tasks(fake: FakeResponsesAPI) -> None:
    async with fake.async_client(max_retries=0) as client:

        async def one(n: int) -> str:
            if n % 2:
                events = [
                    e
                    async for e in await client.responses.create(
                        model=MODEL, input=str(n), stream=True
                    )
                ]
                return events[-1].response.id  # type: ignore[union-attr]
            return (await client.responses.create(model=MODEL, input=str(n))).id

        ids = await asyncio.gather(*(one(n) for n in range(1000)))
    assert len(set(ids)) == 1000
    records = fake.requests
    assert len(records) == 1000
    assert sorted(r.index for r in records) == list(range(1000))
    assert fake.open_streams == 0
