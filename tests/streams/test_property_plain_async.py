"""Property (async): a plain stream is complete, interrupted honestly, or declared."""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import event, given

import resilient_responses as rr
from resilient_responses.testing import FakeResponsesAPI, Fault

from ._support import (
    Clock,
    aresilience,
    check_plain_outcome,
    enough,
    fault_free_text,
    plain_plans,
    request_kwargs,
)
from ._support import words as word_counts


async def _consume(
    fake: FakeResponsesAPI, plan: list[Fault | None], words: int
) -> tuple[list[Any], BaseException | None]:
    client = rr.AsyncResilientOpenAI(
        fake.async_client(), resilience=aresilience(Clock(), **enough(plan))
    )
    events: list[Any] = []
    error: BaseException | None = None
    try:
        async with await client.responses.create(
            **request_kwargs(words, background=False), stream=True
        ) as s:
            async for e in s:
                events.append(e)  # noqa: PERF401
    except rr.StreamInterruptedError as exc:
        error = exc
    await client.close()
    return events, error


@given(plan=plain_plans, words=word_counts)
def test_async_plain_stream_is_whole_or_interrupted_or_declared_never_silently_cut(
    plan: list[Fault | None], words: int
) -> None:
    expected = fault_free_text(words)
    fake = FakeResponsesAPI()
    fake.plan(plan)
    events, error = asyncio.run(_consume(fake, plan, words))
    event(check_plain_outcome(events, error, expected))
    assert fake.open_streams == 0
    assert all(r.method == "POST" for r in fake.requests)
