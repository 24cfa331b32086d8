"""Property (async): a background stream survives any transport / status fault plan."""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import given

import resilient_responses as rr
from resilient_responses.testing import FakeResponsesAPI, Fault

from ._support import (
    Clock,
    aresilience,
    background_plans,
    check_complete,
    enough,
    fault_free_text,
    request_kwargs,
)
from ._support import words as word_counts


async def _consume(fake: FakeResponsesAPI, plan: list[Fault], words: int) -> list[Any]:
    client = rr.AsyncResilientOpenAI(
        fake.async_client(), resilience=aresilience(Clock(), **enough(plan))
    )
    events: list[Any] = []
    async with await client.responses.create(
        **request_kwargs(words, background=True), stream=True
    ) as s:
        async for event in s:
            events.append(event)  # noqa: PERF401
    await client.close()
    return events


@given(plan=background_plans, words=word_counts)
def test_async_background_stream_delivers_the_fault_free_text_exactly_once_under_any_plan(
    plan: list[Fault], words: int
) -> None:
    expected = fault_free_text(words)
    fake = FakeResponsesAPI()
    fake.plan(plan)
    events = asyncio.run(_consume(fake, plan, words))
    check_complete(events, expected)
    assert fake.open_streams == 0
    for request in fake.requests:
        if request.method == "GET":
            assert "starting_after" in request.query
