"""Item 5: a streaming half-open probe gives its verdict to the breaker on its first event
(the server answered) and frees its probe slot then: while a healthy, slow probe stream is
still delivering, the other callers get through."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import openai
import pytest

import resilient_responses as rr
from resilient_responses.testing import FakeResponsesAPI, Fault

from ._support import KEY, MODEL, resilience


def _rewind(client: rr.AsyncResilientOpenAI, key: str) -> None:
    """The breaker opened long ago (pybreaker keeps wall-clock time): a probe is due."""
    storage = client.resilience._engine.breakers.get(key).storage  # type: ignore[union-attr]
    storage.opened_at = datetime.now(timezone.utc) - timedelta(hours=1)


async def test_a_slow_streaming_probe_lets_the_others_through_after_its_first_event(
    fake: FakeResponsesAPI, base_url: str
) -> None:
    policy = resilience(attempts=1, breaker=rr.BreakerConfig(fail_max=1, reset_timeout=30))
    client = rr.AsyncResilientOpenAI(base_url=base_url, api_key=KEY, resilience=policy)
    fake.plan([Fault.status(503), Fault.stall(after_events=3, seconds=3)])
    with pytest.raises(openai.InternalServerError):
        await client.responses.create(model=MODEL, input="hi")
    key = next(iter(policy.stats().by_key))
    assert policy.breaker_state(key) == "open"
    _rewind(client, key)
    probe = await client.responses.create(model=MODEL, input="probe", stream=True)
    first = await probe.__anext__()
    assert first.type == "response.created"
    assert policy.breaker_state(key) == "closed"  # the verdict came with the first event

    async def other() -> str:
        response = await client.responses.create(model=MODEL, input="other")
        return response.status

    results = await asyncio.gather(*(other() for _ in range(28)), return_exceptions=True)
    assert results == ["completed"] * 28
    rest = [event async for event in probe]
    assert rest[-1].type == "response.completed"


async def test_a_probe_whose_first_event_declares_a_failure_keeps_the_breaker_open(
    fake: FakeResponsesAPI, base_url: str
) -> None:
    policy = resilience(attempts=1, breaker=rr.BreakerConfig(fail_max=1, reset_timeout=30))
    client = rr.AsyncResilientOpenAI(base_url=base_url, api_key=KEY, resilience=policy)
    fake.plan([Fault.status(503), Fault.failed(after_events=0, code="server_error")])
    with pytest.raises(openai.InternalServerError):
        await client.responses.create(model=MODEL, input="hi")
    key = next(iter(policy.stats().by_key))
    _rewind(client, key)
    events = [e async for e in await client.responses.create(model=MODEL, input="p", stream=True)]
    assert events[-1].type == "response.failed"
    assert policy.breaker_state(key) == "open"
