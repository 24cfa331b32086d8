"""Stream recoveries (async) obey the engine: recovery mode, attempts, breaker, stats, logs."""

from __future__ import annotations

from typing import Any

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

KEY = f"http://fake.openai.test/v1/ {MODEL}"


def _client(fake: FakeResponsesAPI, **config: Any) -> rr.AsyncResilientOpenAI:
    return rr.AsyncResilientOpenAI(fake.async_client(), resilience=aresilience(Clock(), **config))


async def _consume(
    client: rr.AsyncResilientOpenAI, *, background: bool
) -> tuple[list[Any], BaseException | None]:
    events: list[Any] = []
    try:
        async with await client.responses.create(
            **request_kwargs(12, background=background), stream=True
        ) as s:
            async for event in s:
                events.append(event)  # noqa: PERF401
    except (rr.StreamInterruptedError, openai.APIError, rr.CircuitOpenError) as exc:
        return events, exc
    return events, None


@pytest.mark.parametrize("after", [1, 6])
async def test_async_recovery_raise_raises_on_the_first_fault(after: int) -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.reset(after_events=after)])
    client = _client(fake, stream=rr.StreamPolicy(recovery="raise"))
    events, error = await _consume(client, background=True)
    assert isinstance(error, rr.StreamInterruptedError)
    assert error.last_sequence_number == after - 1
    assert error.partial_text == delta_text(events)
    assert isinstance(error.__cause__, openai.APIConnectionError)
    assert len(fake.requests) == 1


async def test_async_resumes_without_progress_exhaust_attempts_and_interrupt() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.reset(after_events=6)], then=Fault.truncate(after_events=0))
    client = _client(fake, attempts=3)
    events, error = await _consume(client, background=True)
    assert isinstance(error, rr.StreamInterruptedError)
    assert error.reason == "stream_truncated"
    assert error.last_sequence_number == events[-1].sequence_number == 5
    assert error.partial_text == delta_text(events)
    assert len(fake.requests) == 3
    assert fake.open_streams == 0


async def test_async_each_resume_that_makes_progress_restarts_the_attempt_count() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.reset(after_events=6)] + [Fault.truncate(after_events=1)] * 5)
    client = _client(fake, attempts=2, breaker=None)
    events, error = await _consume(client, background=True)
    assert error is None
    check_complete(events, fault_free_text(12))


async def test_async_always_503_on_open_reraises_the_sdk_error_with_a_note() -> None:
    fake = FakeResponsesAPI()
    fake.plan([], then=Fault.status(503))
    client = _client(fake, attempts=3)
    events, error = await _consume(client, background=False)
    assert events == []
    assert isinstance(error, openai.InternalServerError)
    assert "gave up after 3 attempts" in "\n".join(error.__notes__)
    assert len(fake.requests) == 3


async def test_async_completed_stream_is_a_breaker_success_interrupted_a_failure() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.reset(after_events=6), None, Fault.reset(after_events=6)])
    client = _client(fake, breaker=rr.BreakerConfig(fail_max=2))
    for expect_error in (True, False, True):
        _events, error = await _consume(client, background=False)
        assert (error is not None) == expect_error
    assert client.resilience.breaker_state(KEY) == "closed"
    fake.plan([Fault.reset(after_events=6)])
    _events, error = await _consume(client, background=False)
    assert isinstance(error, rr.StreamInterruptedError)
    assert client.resilience.breaker_state(KEY) == "open"
    _events, error = await _consume(client, background=False)
    assert isinstance(error, rr.CircuitOpenError)


async def test_async_stats_and_logs_of_resume_restart_and_interruption(
    logs: list[dict[str, Any]],
) -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.reset(after_events=0), Fault.reset(after_events=6), None])
    client = _client(fake)
    events, error = await _consume(client, background=True)
    assert error is None
    fake.plan([Fault.reset(after_events=7)])
    plain, error = await _consume(client, background=False)
    assert isinstance(error, rr.StreamInterruptedError)
    total = client.resilience.stats().total
    assert (total.resumes, total.restarts, total.interruptions) == (1, 1, 1)
    streamish = [
        (e["event"], e.get("response_id"), e.get("sequence_number"))
        for e in logs
        if e["event"].startswith("resilient_responses.stream_")
    ]
    assert streamish == [
        ("resilient_responses.stream_restarted", None, None),
        ("resilient_responses.stream_resumed", events[0].response.id, 5),
        ("resilient_responses.stream_interrupted", plain[0].response.id, 6),
    ]


async def test_async_declared_retryable_failure_before_output_restarts_not_delivered() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.error_event(after_events=2, code="rate_limit_exceeded")])
    client = _client(fake)
    events, error = await _consume(client, background=False)
    assert error is None
    assert "error" not in [e.type for e in events]
    check_complete(events, fault_free_text(12))
    assert client.resilience.stats().total.restarts == 1


async def test_async_declared_invalid_prompt_is_delivered_and_ends_the_stream() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.failed(after_events=2, code="invalid_prompt")])
    client = _client(fake)
    events, error = await _consume(client, background=False)
    assert error is None
    assert events[-1].type == "response.failed"
    assert events[-1].response.error.code == "invalid_prompt"
    assert len(fake.requests) == 1
