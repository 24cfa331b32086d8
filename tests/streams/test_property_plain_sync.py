"""Property: a plain stream under any plan is complete, interrupted honestly, or declared."""

from __future__ import annotations

from typing import Any

from hypothesis import event, given

import resilient_responses as rr
from resilient_responses.testing import FakeResponsesAPI, Fault

from ._support import (
    Clock,
    check_plain_outcome,
    enough,
    fault_free_text,
    plain_plans,
    request_kwargs,
)
from ._support import resilience as make_resilience
from ._support import words as word_counts


@given(plan=plain_plans, words=word_counts)
def test_plain_stream_is_whole_or_interrupted_or_declared_never_silently_cut(
    plan: list[Fault | None], words: int
) -> None:
    expected = fault_free_text(words)
    fake = FakeResponsesAPI()
    fake.plan(plan)
    client = rr.ResilientOpenAI(fake.client(), resilience=make_resilience(Clock(), **enough(plan)))
    events: list[Any] = []
    error: BaseException | None = None
    try:
        with client.responses.create(**request_kwargs(words, background=False), stream=True) as s:
            for e in s:
                events.append(e)  # noqa: PERF402
    except rr.StreamInterruptedError as exc:
        error = exc
    outcome = check_plain_outcome(events, error, expected)
    event(outcome)
    assert fake.open_streams == 0
    # A plain stream is never resumed: no retrieve request is ever sent.
    assert all(r.method == "POST" for r in fake.requests)
