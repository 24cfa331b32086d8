"""Property: a background stream survives any transport / status fault plan, exactly once."""

from __future__ import annotations

from typing import Any

from hypothesis import given

import resilient_responses as rr
from resilient_responses.testing import FakeResponsesAPI, Fault

from ._support import (
    Clock,
    background_plans,
    check_complete,
    enough,
    fault_free_text,
    request_kwargs,
)
from ._support import resilience as make_resilience
from ._support import words as word_counts


@given(plan=background_plans, words=word_counts)
def test_background_stream_delivers_the_fault_free_text_exactly_once_under_any_plan(
    plan: list[Fault], words: int
) -> None:
    expected = fault_free_text(words)
    fake = FakeResponsesAPI()
    fake.plan(plan)
    clock = Clock()
    client = rr.ResilientOpenAI(fake.client(), resilience=make_resilience(clock, **enough(plan)))
    events: list[Any] = []
    with client.responses.create(**request_kwargs(words, background=True), stream=True) as s:
        for event in s:
            events.append(event)  # noqa: PERF402
    check_complete(events, expected)
    assert fake.open_streams == 0
    # Every resume asked for what came after the last event seen, never from the start.
    for request in fake.requests:
        if request.method == "GET":
            assert "starting_after" in request.query
