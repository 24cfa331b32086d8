"""The decorator on async generator functions: retried only before the first item."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx2
import openai
import pytest

import resilient_responses as rr
from resilient_responses.testing import FakeResponsesAPI, Fault

from ._support import (
    MODEL,
    Clock,
    aresilience,
    check_complete,
    delta_text,
    fault_free_text,
    request_kwargs,
)

CONNECTION_ERROR = openai.APIConnectionError(request=httpx2.Request("POST", "http://fake.test"))


async def _collect(agen: AsyncIterator[Any], into: list[Any]) -> list[Any]:
    async for item in agen:
        into.append(item)  # noqa: PERF401
    return into


async def test_async_generator_failing_before_its_first_item_is_called_again() -> None:
    calls: list[int] = []

    @aresilience(Clock())
    async def numbers() -> AsyncIterator[int]:
        calls.append(1)
        if len(calls) < 3:
            raise CONNECTION_ERROR
        for n in (1, 2, 3):
            yield n

    assert await _collect(numbers(), []) == [1, 2, 3]
    assert len(calls) == 3


async def test_async_generator_failing_after_an_item_raises_interrupted_never_replays() -> None:
    calls: list[int] = []

    @aresilience(Clock())
    async def numbers() -> AsyncIterator[int]:
        calls.append(1)
        yield 1
        yield 2
        raise CONNECTION_ERROR

    seen: list[int] = []
    with pytest.raises(rr.StreamInterruptedError) as info:
        await _collect(numbers(), seen)
    assert seen == [1, 2]
    assert len(calls) == 1
    assert info.value.__cause__ is CONNECTION_ERROR


async def test_async_generator_with_a_bug_is_not_retried() -> None:
    calls: list[int] = []

    @aresilience(Clock())
    async def numbers() -> AsyncIterator[int]:
        calls.append(1)
        raise ValueError("bug")
        yield 1

    with pytest.raises(ValueError, match="bug"):
        await _collect(numbers(), [])
    assert len(calls) == 1


def _raw_stream_generator(fake: FakeResponsesAPI, res: rr.Resilience, calls: list[int]) -> Any:
    raw = fake.async_client(max_retries=0)

    @res
    async def events() -> AsyncIterator[Any]:
        calls.append(1)
        async for event in await raw.responses.create(
            **request_kwargs(12, background=False), stream=True
        ):
            yield event

    return events


async def test_async_raw_stream_generator_reset_before_any_event_is_retried() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.reset(after_events=0), Fault.status(503)])
    calls: list[int] = []
    events = await _collect(_raw_stream_generator(fake, aresilience(Clock()), calls)(), [])
    check_complete(events, fault_free_text(12))
    assert len(calls) == 3
    assert fake.open_streams == 0


@pytest.mark.parametrize("fault", [Fault.reset(after_events=6), Fault.truncate(after_events=6)])
async def test_async_raw_stream_generator_cut_after_events_raises_interrupted(
    fault: Fault,
) -> None:
    fake = FakeResponsesAPI()
    fake.plan([fault])
    calls: list[int] = []
    seen: list[Any] = []
    with pytest.raises(rr.StreamInterruptedError) as info:
        await _collect(_raw_stream_generator(fake, aresilience(Clock()), calls)(), seen)
    assert len(calls) == 1
    assert [e.sequence_number for e in seen] == list(range(6))
    assert info.value.partial_text == delta_text(seen)
    assert info.value.last_sequence_number == 5
    assert fake.open_streams == 0


async def test_async_closing_a_decorated_generator_early_closes_the_inner_one() -> None:
    fake = FakeResponsesAPI()
    raw = fake.async_client(max_retries=0)

    @aresilience(Clock())
    async def events() -> AsyncIterator[Any]:
        async with await raw.responses.create(model=MODEL, input="hi", stream=True) as s:
            async for event in s:
                yield event

    gen: Any = events()
    await gen.__anext__()
    assert fake.open_streams == 1
    await gen.aclose()
    assert fake.open_streams == 0


async def test_an_async_generator_that_picks_text_deltas_out_is_a_success() -> None:
    """It never yields the terminal event, and that is not a cut."""
    fake = FakeResponsesAPI()
    res = aresilience(Clock(), breaker=rr.BreakerConfig(fail_max=3))
    raw = fake.async_client(max_retries=0)

    @res
    async def deltas() -> AsyncIterator[Any]:
        stream = await raw.responses.create(**request_kwargs(12, background=False), stream=True)
        async for event in stream:
            if event.type == "response.output_text.delta":
                yield event

    for _ in range(5):
        assert delta_text(await _collect(deltas(), [])) == fault_free_text(12)
    assert res.stats().total.successes == 5
    assert res.stats().total.interruptions == 0
