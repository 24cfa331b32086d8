"""Stream recoveries obey the engine: recovery mode, attempts, deadline, budget, breaker,
stats and logs."""

from __future__ import annotations

from typing import Any

import openai
import pytest

import resilient_responses as rr
from resilient_responses.testing import FakeResponsesAPI, Fault

from ._support import (
    MODEL,
    Clock,
    check_complete,
    delta_text,
    fault_free_text,
    request_kwargs,
    resilience,
    segments,
)

KEY = f"http://fake.openai.test/v1/ {MODEL}"


def _client(fake: FakeResponsesAPI, **config: Any) -> rr.ResilientOpenAI:
    return rr.ResilientOpenAI(fake.client(), resilience=resilience(Clock(), **config))


def _consume(
    client: rr.ResilientOpenAI, *, background: bool, words: int = 12
) -> tuple[list[Any], BaseException | None]:
    events: list[Any] = []
    try:
        with client.responses.create(
            **request_kwargs(words, background=background), stream=True
        ) as s:
            for event in s:
                events.append(event)  # noqa: PERF402
    except (rr.StreamInterruptedError, openai.APIError, rr.CircuitOpenError) as exc:
        return events, exc
    return events, None


# -- recovery modes -------------------------------------------------------------------------


@pytest.mark.parametrize("after", [1, 6])
def test_recovery_raise_raises_on_the_first_fault_even_before_output(after: int) -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.reset(after_events=after)])
    client = _client(fake, stream=rr.StreamPolicy(recovery="raise"))
    events, error = _consume(client, background=True)
    assert isinstance(error, rr.StreamInterruptedError)
    assert error.last_sequence_number == after - 1
    assert error.response_id == events[0].response.id
    assert error.partial_text == delta_text(events)
    assert isinstance(error.__cause__, openai.APIConnectionError)
    assert error.reason == "connection"
    assert len(fake.requests) == 1
    assert client.resilience.stats().total.interruptions == 1


def test_recovery_restart_never_restarts_after_output() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.truncate(after_events=6)])
    client = _client(fake, stream=rr.StreamPolicy(recovery="restart"))
    events, error = _consume(client, background=True)
    assert isinstance(error, rr.StreamInterruptedError)
    assert error.reason == "stream_truncated"
    assert error.partial_text == delta_text(events) != ""
    assert len(fake.requests) == 1


def test_recovery_resume_does_not_restart_a_plain_stream() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.reset(after_events=1)])
    client = _client(fake, stream=rr.StreamPolicy(recovery="resume"))
    _events, error = _consume(client, background=False)
    assert isinstance(error, rr.StreamInterruptedError)
    assert error.partial_text == ""
    assert len(fake.requests) == 1


def test_auto_restarts_a_plain_stream_cut_before_output() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.reset(after_events=2)])
    client = _client(fake)
    events, error = _consume(client, background=False)
    assert error is None
    check_complete(events, fault_free_text(12))
    assert client.resilience.stats().total.restarts == 1


# -- attempts, progress, deadline, budget ------------------------------------------------------


def test_resumes_without_progress_exhaust_attempts_and_interrupt_after_output() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.reset(after_events=6)], then=Fault.reset(after_events=0))
    client = _client(fake, attempts=3)
    events, error = _consume(client, background=True)
    assert isinstance(error, rr.StreamInterruptedError)
    assert error.last_sequence_number == events[-1].sequence_number == 5
    assert error.partial_text == delta_text(events)
    assert len(fake.requests) == 3
    assert client.resilience.stats().total.interruptions == 1


def test_each_resume_that_makes_progress_restarts_the_attempt_count() -> None:
    fake = FakeResponsesAPI()
    # Five cuts, each after one new event: more cuts than attempts, but always progress.
    fake.plan([Fault.reset(after_events=6)] + [Fault.reset(after_events=1)] * 5)
    # No breaker: six cuts in a row would open the default one (each cut is a failure).
    client = _client(fake, attempts=2, breaker=None)
    events, error = _consume(client, background=True)
    assert error is None
    check_complete(events, fault_free_text(12))
    assert client.resilience.stats().total.resumes == 6


def test_always_503_on_open_reraises_the_sdk_error_with_a_note() -> None:
    fake = FakeResponsesAPI()
    fake.plan([], then=Fault.status(503))
    client = _client(fake, attempts=3)
    events, error = _consume(client, background=True)
    assert events == []
    assert isinstance(error, openai.InternalServerError)
    assert "gave up after 3 attempts" in "\n".join(error.__notes__)
    assert len(fake.requests) == 3


def test_503_on_every_resume_after_output_interrupts_with_the_503_as_cause() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.reset(after_events=6)], then=Fault.status(503))
    client = _client(fake, attempts=3)
    events, error = _consume(client, background=True)
    assert isinstance(error, rr.StreamInterruptedError)
    assert isinstance(error.__cause__, openai.InternalServerError)
    assert error.last_sequence_number == 5
    assert error.partial_text == delta_text(events)
    assert fake.open_streams == 0


def test_deadline_stops_resumes_that_would_wait_past_it() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.reset(after_events=6)], then=Fault.status(503, retry_after=6))
    clock = Clock()
    client = rr.ResilientOpenAI(
        fake.client(), resilience=resilience(clock, attempts=10, deadline=10.0)
    )
    _events, error = _consume(client, background=True)
    assert isinstance(error, rr.StreamInterruptedError)
    # A short backoff, one resume answered 503 asking 6 s, then another asking 6 s more:
    # that second wait would end past the 10 s deadline, so it is never slept.
    assert len(fake.requests) == 3
    assert clock.sleeps[-1] == 6
    assert sum(clock.sleeps) <= 10


def test_an_empty_retry_budget_turns_a_resumable_fault_into_an_interruption() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.reset(after_events=6)])
    client = _client(fake, budget=rr.RetryBudget(ratio=0, min_per_second=0))
    _events, error = _consume(client, background=True)
    assert isinstance(error, rr.StreamInterruptedError)
    assert len(fake.requests) == 1


# -- breaker ---------------------------------------------------------------------------------


def test_completed_stream_counts_as_a_breaker_success() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.reset(after_events=6), None, Fault.reset(after_events=6)])
    client = _client(fake, breaker=rr.BreakerConfig(fail_max=2))
    # Interrupted (failure 1), completed (resets the count), interrupted (failure 1 again).
    for expect_error in (True, False, True):
        _events, error = _consume(client, background=False)
        assert (error is not None) == expect_error
    assert client.resilience.breaker_state(KEY) == "closed"


def test_interrupted_stream_counts_as_a_breaker_failure_and_opens_it() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.reset(after_events=6)])
    client = _client(fake, breaker=rr.BreakerConfig(fail_max=1))
    _events, error = _consume(client, background=False)
    assert isinstance(error, rr.StreamInterruptedError)
    assert client.resilience.breaker_state(KEY) == "open"
    _events, error = _consume(client, background=False)
    assert isinstance(error, rr.CircuitOpenError)
    assert len(fake.requests) == 1


def test_declared_failure_after_output_is_delivered_and_counts_against_the_breaker() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.failed(after_events=7, code="server_error")])
    client = _client(fake, breaker=rr.BreakerConfig(fail_max=1))
    events, error = _consume(client, background=False)
    assert error is None
    assert events[-1].type == "response.failed"
    assert client.resilience.breaker_state(KEY) == "open"


def test_breaker_opening_mid_stream_stops_the_resumes() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.reset(after_events=6)], then=Fault.reset(after_events=0))
    client = _client(fake, attempts=10, breaker=rr.BreakerConfig(fail_max=2))
    _events, error = _consume(client, background=True)
    assert isinstance(error, rr.StreamInterruptedError)
    # The first cut came after progress: a breaker success. The two empty resumes are
    # the two failures that open it, and the third resume is never sent.
    assert len(fake.requests) == 3
    assert client.resilience.breaker_state(KEY) == "open"


# -- stats and logs ------------------------------------------------------------------------


def test_stats_count_resumes_restarts_and_interruptions() -> None:
    fake = FakeResponsesAPI()
    fake.plan(
        [
            Fault.reset(after_events=1),  # resume: the id is known after response.created
            Fault.truncate(after_events=6),  # resume
            None,
            Fault.reset(after_events=6),  # plain: interrupted
        ]
    )
    client = _client(fake)
    events, error = _consume(client, background=True)
    assert error is None
    check_complete(events, fault_free_text(12))
    _events, error = _consume(client, background=False)
    assert isinstance(error, rr.StreamInterruptedError)
    total = client.resilience.stats().total
    assert (total.resumes, total.restarts, total.interruptions) == (2, 0, 1)


def test_logs_of_resume_restart_and_interruption_carry_response_id_and_sequence(
    logs: list[dict[str, Any]],
) -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.reset(after_events=0), Fault.reset(after_events=6), None])
    client = _client(fake)
    events, error = _consume(client, background=True)
    assert error is None
    fake.plan([Fault.reset(after_events=1), Fault.reset(after_events=7)])
    plain, error = _consume(client, background=False)
    assert isinstance(error, rr.StreamInterruptedError)
    by_name = [(e["event"], e.get("response_id"), e.get("sequence_number")) for e in logs]
    streamish = [t for t in by_name if t[0].startswith("resilient_responses.stream_")]
    assert streamish == [
        ("resilient_responses.stream_restarted", None, None),
        ("resilient_responses.stream_resumed", events[0].response.id, 5),
        ("resilient_responses.stream_restarted", plain[0].response.id, 0),
        ("resilient_responses.stream_interrupted", segments(plain)[-1][0].response.id, 6),
    ]
    for entry in logs:
        if entry["event"].startswith("resilient_responses.stream_"):
            assert entry["log_level"] == "warning"
            assert entry["breaker_key"] == KEY


def test_interruption_after_failed_resumes_is_logged_as_stream_interrupted(
    logs: list[dict[str, Any]],
) -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.reset(after_events=6)], then=Fault.status(503))
    client = _client(fake, attempts=3)
    events, error = _consume(client, background=True)
    assert isinstance(error, rr.StreamInterruptedError)
    interrupted = [e for e in logs if e["event"] == "resilient_responses.stream_interrupted"]
    assert len(interrupted) == 1
    assert interrupted[0]["response_id"] == events[0].response.id
    assert interrupted[0]["sequence_number"] == 5
