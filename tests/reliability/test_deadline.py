"""Item 2: the deadline bounds a request in flight. Every attempt's timeout is the smaller
of the caller's timeout and the time the deadline leaves, so a call's wall time never
exceeds its deadline by more than a small constant (documented: 0.3 s here, the time to
notice a timeout and give up)."""

from __future__ import annotations

import time

import openai
import pytest

import resilient_responses as rr
from resilient_responses.testing import FakeResponsesAPI, Fault

from ._support import KEY, MODEL, aread_into, read_into, resilience

SLACK = 0.3


def _sync(base_url: str, **config: object) -> rr.ResilientOpenAI:
    return rr.ResilientOpenAI(base_url=base_url, api_key=KEY, resilience=resilience(**config))


def _async(base_url: str, **config: object) -> rr.AsyncResilientOpenAI:
    return rr.AsyncResilientOpenAI(base_url=base_url, api_key=KEY, resilience=resilience(**config))


def test_a_hanging_request_returns_within_the_deadline_sync(
    fake: FakeResponsesAPI, base_url: str
) -> None:
    fake.plan([Fault.latency(20)])
    client = _sync(base_url, deadline=1.0, breaker=None)
    start = time.monotonic()
    with pytest.raises(openai.APITimeoutError) as raised:
        client.responses.create(model=MODEL, input="hi")
    assert time.monotonic() - start < 1.0 + SLACK
    assert "(deadline)" in "\n".join(getattr(raised.value, "__notes__", []))


async def test_a_hanging_request_returns_within_the_deadline_async(
    fake: FakeResponsesAPI, base_url: str
) -> None:
    fake.plan([Fault.latency(20)])
    client = _async(base_url, deadline=1.0, breaker=None)
    start = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        await client.responses.create(model=MODEL, input="hi")
    assert time.monotonic() - start < 1.0 + SLACK


def test_retry_after_then_a_hang_stays_within_the_deadline(
    fake: FakeResponsesAPI, base_url: str
) -> None:
    """503 with Retry-After 1, then a request that hangs: the second attempt gets only
    the 2 s the deadline leaves."""
    fake.plan([Fault.status(503, retry_after=1), Fault.latency(20)])
    client = _sync(base_url, deadline=3.0, breaker=None)
    start = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        client.responses.create(model=MODEL, input="hi")
    elapsed = time.monotonic() - start
    assert 1.0 <= elapsed < 3.0 + SLACK
    assert len(fake.requests) == 2


def test_a_stalled_stream_without_idle_timeout_ends_at_the_deadline_sync(
    fake: FakeResponsesAPI, base_url: str
) -> None:
    """No idle_timeout: for a stream the deadline counts from its last event, and a
    stream silent that long is stopped, not waited on for the SDK's 600 s."""
    fake.plan([Fault.stall(after_events=4, seconds=30)])
    client = _sync(base_url, deadline=1.5, breaker=None)
    start = time.monotonic()
    seen: list[object] = []
    stream = client.responses.create(model=MODEL, input="hi", stream=True)
    with pytest.raises(rr.StreamInterruptedError) as raised:
        read_into(stream, seen)
    assert time.monotonic() - start < 1.5 + SLACK
    assert len(seen) == 4
    assert raised.value.reason == "stream_stalled"


async def test_a_stalled_stream_without_idle_timeout_ends_at_the_deadline_async(
    fake: FakeResponsesAPI, base_url: str
) -> None:
    fake.plan([Fault.stall(after_events=4, seconds=30)])
    client = _async(base_url, deadline=1.5, breaker=None)
    start = time.monotonic()
    seen: list[object] = []
    stream = await client.responses.create(model=MODEL, input="hi", stream=True)
    with pytest.raises(rr.StreamInterruptedError):
        await aread_into(stream, seen)
    assert time.monotonic() - start < 1.5 + SLACK
    assert len(seen) == 4


def test_a_long_healthy_stream_is_not_cut_by_the_deadline(
    fake: FakeResponsesAPI, base_url: str
) -> None:
    """The deadline of a stream counts from its last event: a stream that keeps
    delivering may run longer than the deadline (pauses of 0.6 s, deadline 1 s)."""
    fake.plan([Fault.compose(*(Fault.stall(after_events=n, seconds=0.6) for n in (2, 4, 6)))])
    client = _sync(base_url, deadline=1.0, breaker=None)
    start = time.monotonic()
    events = list(client.responses.create(model=MODEL, input="hi", stream=True))
    assert time.monotonic() - start > 1.0
    assert events[-1].type == "response.completed"
    assert len(fake.requests) == 1
