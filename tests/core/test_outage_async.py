"""A hard outage: the breaker stops the retry storm that the raw SDK would send (async)."""

from __future__ import annotations

import openai
import pytest
from openai._base_client import BaseClient

import resilient_responses as rr
from resilient_responses.testing import Fault

from ._support import MODEL, client_key, outage

CALLS = 50


async def test_async_fifty_calls_into_an_outage_send_five_requests_then_fail_fast(vtime) -> None:
    """attempts=4, fail_max=5: 4 requests (call 1) + 1 (call 2 opens the breaker) = 5;
    calls 3..50 raise CircuitOpenError with the key and retry_in > 0, without a request."""
    fake = outage(Fault.status(503))
    resilience = rr.Resilience(
        attempts=4,
        breaker=rr.BreakerConfig(fail_max=5),
        sleep=vtime.asleep,
        clock=vtime.clock,
    )
    client = rr.AsyncResilientOpenAI(fake.async_client(), resilience=resilience)
    raised: list[BaseException] = []
    for _ in range(CALLS):
        with pytest.raises(openai.OpenAIError) as info:
            await client.responses.create(model=MODEL, input="hi")
        raised.append(info.value)

    assert len(fake.requests) == 5
    assert [type(e) for e in raised[:2]] == [openai.InternalServerError] * 2
    for exc in raised[2:]:
        assert isinstance(exc, rr.CircuitOpenError)
        assert exc.key == client_key(client)
        assert exc.retry_in > 0


async def test_async_raw_sdk_with_default_retries_sends_150_requests(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The contrast: openai.AsyncOpenAI with max_retries=2 sends 150 requests."""
    monkeypatch.setattr(BaseClient, "_calculate_retry_timeout", lambda *a, **k: 0.0)
    fake = outage(Fault.status(503))
    raw = fake.async_client()
    for _ in range(CALLS):
        with pytest.raises(openai.InternalServerError):
            await raw.responses.create(model=MODEL, input="hi")
    assert len(fake.requests) == 150
