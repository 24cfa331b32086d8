"""The decorator on generator functions: retried only before the first item, never replayed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx2
import openai
import pytest

import resilient_responses as rr
from resilient_responses.testing import FakeResponsesAPI, Fault

from ._support import (
    MODEL,
    Clock,
    check_complete,
    delta_text,
    drain,
    fault_free_text,
    request_kwargs,
    resilience,
)

CONNECTION_ERROR = openai.APIConnectionError(request=httpx2.Request("POST", "http://fake.test"))


def test_generator_failing_before_its_first_item_is_called_again() -> None:
    calls: list[int] = []

    @resilience(Clock())
    def numbers() -> Iterator[int]:
        calls.append(1)
        if len(calls) < 3:
            raise CONNECTION_ERROR
        yield from (1, 2, 3)

    assert list(numbers()) == [1, 2, 3]
    assert len(calls) == 3


def test_generator_failing_after_an_item_raises_interrupted_and_never_replays() -> None:
    calls: list[int] = []

    @resilience(Clock())
    def numbers() -> Iterator[int]:
        calls.append(1)
        yield 1
        yield 2
        raise CONNECTION_ERROR

    seen: list[int] = []
    with pytest.raises(rr.StreamInterruptedError) as info:
        drain(numbers(), seen)
    assert seen == [1, 2]
    assert len(calls) == 1
    assert info.value.__cause__ is CONNECTION_ERROR
    assert info.value.reason == "connection"


def test_generator_with_a_bug_is_not_retried_and_its_error_passes_through() -> None:
    calls: list[int] = []

    @resilience(Clock())
    def numbers() -> Iterator[int]:
        calls.append(1)
        raise ValueError("bug")
        yield 1

    with pytest.raises(ValueError, match="bug"):
        list(numbers())
    assert len(calls) == 1


def test_generator_exhausting_attempts_before_any_item_reraises_the_sdk_error() -> None:
    @resilience(Clock(), attempts=2)
    def numbers() -> Iterator[int]:
        raise CONNECTION_ERROR
        yield 1

    with pytest.raises(openai.APIConnectionError):
        list(numbers())


def _raw_stream_generator(fake: FakeResponsesAPI, res: rr.Resilience, calls: list[int]) -> Any:
    raw = fake.client(max_retries=0)

    @res
    def events() -> Iterator[Any]:
        calls.append(1)
        yield from raw.responses.create(**request_kwargs(12, background=False), stream=True)

    return events


def test_raw_stream_generator_reset_before_any_event_is_retried() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.reset(after_events=0), Fault.status(503)])
    calls: list[int] = []
    events = list(_raw_stream_generator(fake, resilience(Clock()), calls)())
    check_complete(events, fault_free_text(12))
    assert len(calls) == 3
    assert fake.open_streams == 0


@pytest.mark.parametrize("fault", [Fault.reset(after_events=6), Fault.truncate(after_events=6)])
def test_raw_stream_generator_cut_after_events_raises_interrupted(fault: Fault) -> None:
    fake = FakeResponsesAPI()
    fake.plan([fault])
    calls: list[int] = []
    seen: list[Any] = []
    events = _raw_stream_generator(fake, resilience(Clock()), calls)()
    with pytest.raises(rr.StreamInterruptedError) as info:
        drain(events, seen)
    assert len(calls) == 1
    assert [e.sequence_number for e in seen] == list(range(6))
    assert info.value.partial_text == delta_text(seen)
    assert info.value.last_sequence_number == 5
    assert info.value.response_id == seen[0].response.id
    expected_reason = "stream_truncated" if fault.kind == "truncate" else "connection"
    assert info.value.reason == expected_reason
    assert fake.open_streams == 0


def test_raw_stream_generator_truncated_after_lifecycle_events_is_not_replayed() -> None:
    # The decorator cannot restart once anything was yielded, even lifecycle events.
    fake = FakeResponsesAPI()
    fake.plan([Fault.truncate(after_events=2)])
    calls: list[int] = []
    with pytest.raises(rr.StreamInterruptedError):
        list(_raw_stream_generator(fake, resilience(Clock()), calls)())
    assert len(calls) == 1


def test_raw_stream_generator_complete_is_delivered_once_and_counted_a_success() -> None:
    fake = FakeResponsesAPI()
    res = resilience(Clock())
    calls: list[int] = []
    events = list(_raw_stream_generator(fake, res, calls)())
    check_complete(events, fault_free_text(12))
    assert res.stats().total.successes == 1
    assert res.stats().total.interruptions == 0


def _text_deltas_generator(fake: FakeResponsesAPI, res: rr.Resilience) -> Any:
    raw = fake.client(max_retries=0)

    @res
    def deltas() -> Iterator[Any]:
        for event in raw.responses.create(**request_kwargs(12, background=False), stream=True):
            if event.type == "response.output_text.delta":
                yield event

    return deltas


def test_a_generator_that_picks_text_deltas_out_of_a_healthy_stream_is_a_success() -> None:
    """It never yields the terminal event, and that is not a cut (found by an unscripted
    run: every healthy run was an interruption, and three of them opened the breaker)."""
    fake = FakeResponsesAPI()
    res = resilience(Clock(), breaker=rr.BreakerConfig(fail_max=3))
    for _ in range(5):
        assert delta_text(list(_text_deltas_generator(fake, res)())) == fault_free_text(12)
    assert res.stats().total.successes == 5
    assert res.stats().total.interruptions == 0


def test_a_generator_that_picks_text_deltas_reports_them_when_cut() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.reset(after_events=8)])
    seen: list[Any] = []
    with pytest.raises(rr.StreamInterruptedError) as info:
        drain(_text_deltas_generator(fake, resilience(Clock()))(), seen)
    assert seen
    assert info.value.partial_text == delta_text(seen)
    assert info.value.last_sequence_number == seen[-1].sequence_number
    assert fault_free_text(12).startswith(info.value.partial_text)


def test_closing_a_decorated_generator_early_closes_the_inner_one() -> None:
    fake = FakeResponsesAPI()
    raw = fake.client(max_retries=0)

    @resilience(Clock())
    def events() -> Iterator[Any]:
        with raw.responses.create(model=MODEL, input="hi", stream=True) as s:
            yield from s

    gen = events()
    next(gen)
    assert fake.open_streams == 1
    gen.close()  # type: ignore[attr-defined]
    assert fake.open_streams == 0
