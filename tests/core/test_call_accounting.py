"""Every call ends exactly once in the stats, and never holds a breaker slot after it ends,
whatever way it leaves: success, give-up, cancellation, the caller's own error, a stream
dropped unread. And a stream that never makes progress still runs out of attempts."""

from __future__ import annotations

import asyncio
import gc
from datetime import datetime, timedelta, timezone

import openai
import pytest

import resilient_responses as rr
from resilient_responses.testing import FakeResponsesAPI, Fault, VirtualClock, set_testing

MODEL = "gpt-5-mini"


def test_restarts_that_never_get_past_response_created_run_out_of_attempts() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.reset(after_events=1)] * 30)
    resilience = rr.Resilience(attempts=4, breaker=None)
    client = rr.ResilientOpenAI(fake.client(), resilience=resilience)
    with set_testing(True), pytest.raises(rr.StreamInterruptedError):
        list(client.responses.create(model=MODEL, input="hi", stream=True))
    assert len(fake.requests) == 4
    assert resilience.stats().total.restarts == 3


def test_a_stream_open_failing_with_a_bad_argument_frees_the_half_open_probe() -> None:
    fake = FakeResponsesAPI()
    resilience = rr.Resilience(breaker=rr.BreakerConfig(fail_max=1, reset_timeout=30.0))
    client = rr.ResilientOpenAI(fake.client(), resilience=resilience)
    key = f"{client.base_url} {MODEL}"
    fake.plan([Fault.status(500)])
    with pytest.raises(openai.InternalServerError):
        client.responses.create(model=MODEL, input="hi")
    breaker = resilience._engine.breakers.get(key)  # type: ignore[union-attr]
    breaker.storage.opened_at = datetime.now(timezone.utc) - timedelta(seconds=60)
    with pytest.raises(TypeError):
        client.responses.create(model=MODEL, input="hi", stream=True, no_such_argument=1)
    # The probe slot the failed open took is free again: the next call is the probe.
    assert client.responses.create(model=MODEL, input="hi").status == "completed"
    assert resilience.breaker_state(key) == "closed"
    assert resilience.stats().total.calls == 3


async def test_a_call_cancelled_while_waiting_to_retry_is_counted_once_as_failed() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.status(429, retry_after=5)])
    resilience = rr.Resilience()  # real asyncio.sleep: the task waits the 5 s Retry-After
    client = rr.AsyncResilientOpenAI(fake.async_client(), resilience=resilience)
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(client.responses.create(model=MODEL, input="hi"), 0.2)
    total = resilience.stats().total
    assert (total.calls, total.failures, total.successes) == (1, 1, 0)
    assert len(fake.requests) == 1


def test_a_decorated_generator_raising_the_callers_error_is_a_failure() -> None:
    resilience = rr.Resilience()

    @resilience
    def items():  # type: ignore[no-untyped-def]
        yield 1
        raise ValueError("the caller's bug")

    with pytest.raises(ValueError, match="bug"):
        list(items())
    total = resilience.stats().total
    assert (total.calls, total.failures, total.successes) == (1, 1, 0)


def test_a_stream_dropped_unread_ends_its_call_and_frees_its_probe() -> None:
    fake = FakeResponsesAPI()
    time = VirtualClock()
    resilience = rr.Resilience(
        sleep=time.sleep, clock=time.clock, breaker=rr.BreakerConfig(fail_max=1)
    )
    client = rr.ResilientOpenAI(fake.client(), resilience=resilience)
    key = f"{client.base_url} {MODEL}"
    fake.plan([Fault.status(500)])
    with pytest.raises(openai.InternalServerError):
        client.responses.create(model=MODEL, input="hi")
    breaker = resilience._engine.breakers.get(key)  # type: ignore[union-attr]
    breaker.storage.opened_at = datetime.now(timezone.utc) - timedelta(seconds=60)
    stream = client.responses.create(model=MODEL, input="hi", stream=True)  # the probe
    del stream  # never read, never closed
    gc.collect()
    assert client.responses.create(model=MODEL, input="hi").status == "completed"
    assert resilience.stats().total.calls == 3


def test_a_stream_out_of_time_waiting_for_the_breaker_mid_stream_is_interrupted_once() -> None:
    """Mid-stream, a waiting breaker that cannot reopen within the deadline interrupts the
    stream (with what was delivered) and ends the call exactly once."""
    fake = FakeResponsesAPI()
    time = VirtualClock()
    resilience = rr.Resilience(
        sleep=time.sleep,
        clock=time.clock,
        deadline=5.0,
        breaker=rr.BreakerConfig(fail_max=1, reset_timeout=60.0),
        policies={"circuit_open": rr.ErrorPolicy(attempts=10)},
    )
    client = rr.ResilientOpenAI(fake.client(), resilience=resilience)
    # A cut after the lifecycle events of a plain stream opens the breaker for 60 s; the
    # restart would have to wait longer than the 5 s deadline.
    fake.plan([Fault.reset(after_events=2)])
    stream = client.responses.create(model=MODEL, input="hi", stream=True)
    with pytest.raises(rr.StreamInterruptedError) as info:
        list(stream)
    assert isinstance(info.value.__cause__, openai.APIConnectionError)
    assert info.value.last_sequence_number == 1
    total = resilience.stats().total
    assert (total.calls, total.failures, total.interruptions) == (1, 1, 1)
    assert len(fake.requests) == 1
    assert time.slept <= 5.0
