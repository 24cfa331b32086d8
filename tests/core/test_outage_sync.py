"""A hard outage: the breaker stops the retry storm that the raw SDK would send (sync)."""

from __future__ import annotations

import openai
import pytest
from openai._base_client import BaseClient

import resilient_responses as rr
from resilient_responses.testing import Fault

from ._support import MODEL, client_key, events_named, outage

CALLS = 50


def test_fifty_calls_into_an_outage_send_five_requests_then_fail_fast(vtime, logs) -> None:
    """attempts=4, fail_max=5, every answer 503: exactly 5 requests reach the server.

    Call 1 makes 4 attempts (4 tripping failures, breaker still closed). Call 2's first
    attempt is failure number 5: the breaker opens, so call 2 stops at once and re-raises its
    503 with a note saying the breaker opened. Calls 3..50 raise CircuitOpenError without a
    request. (The acceptance bound is "at most 8"; 5 is what the engine does.)
    """
    fake = outage(Fault.status(503))
    resilience = rr.Resilience(
        attempts=4,
        breaker=rr.BreakerConfig(fail_max=5),
        sleep=vtime.sleep,
        clock=vtime.clock,
    )
    client = rr.ResilientOpenAI(fake.client(), resilience=resilience)
    raised: list[BaseException] = []
    for _ in range(CALLS):
        with pytest.raises(openai.OpenAIError) as info:
            client.responses.create(model=MODEL, input="hi")
        raised.append(info.value)

    assert len(fake.requests) == 5
    assert len(fake.requests) <= 8
    assert [type(e) for e in raised[:2]] == [openai.InternalServerError] * 2
    assert "the circuit breaker opened" in "\n".join(raised[1].__notes__)
    key = client_key(client)
    for exc in raised[2:]:
        assert isinstance(exc, rr.CircuitOpenError)
        assert exc.key == key
        assert 0 < exc.retry_in <= 30.0
    assert resilience.breaker_state(key) == "open"
    changes = events_named(logs, "breaker_state_changed")
    assert [(e["previous_state"], e["breaker_state"]) for e in changes] == [("closed", "open")]


def test_raw_sdk_with_default_retries_sends_three_requests_per_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The contrast: openai.OpenAI (max_retries=2) sends 3 x 50 = 150 requests into the same
    outage. (Its backoff is zeroed so the test does not sleep ~60 s.)"""
    monkeypatch.setattr(BaseClient, "_calculate_retry_timeout", lambda *a, **k: 0.0)
    fake = outage(Fault.status(503))
    raw = fake.client()
    assert raw.max_retries == 2
    for _ in range(CALLS):
        with pytest.raises(openai.InternalServerError):
            raw.responses.create(model=MODEL, input="hi")
    assert len(fake.requests) == 150


def test_outage_on_one_model_does_not_block_another(vtime) -> None:
    """Breakers are per key (base URL + model): gpt-5 being down leaves gpt-5-mini alone."""
    fake = outage(Fault.status(503))
    resilience = rr.Resilience(
        attempts=1, breaker=rr.BreakerConfig(fail_max=1), sleep=vtime.sleep, clock=vtime.clock
    )
    client = rr.ResilientOpenAI(fake.client(), resilience=resilience)
    with pytest.raises(openai.InternalServerError):
        client.responses.create(model="gpt-5", input="hi")
    with pytest.raises(rr.CircuitOpenError):
        client.responses.create(model="gpt-5", input="hi")
    fake.reset_plan()
    assert client.responses.create(model=MODEL, input="hi").status == "completed"
    assert len(fake.requests) == 2
