"""Item 1: SSE keepalive comments do not defeat ``idle_timeout`` or the deadline: the time
that counts is the time between *events*. Over real HTTP, comments every 0.2 s."""

from __future__ import annotations

import time

import pytest

import resilient_responses as rr
from resilient_responses.testing import FakeResponsesAPI, Fault

from ._support import KEY, MODEL, aread_into, read_into, resilience

KEEPALIVE = Fault.keepalive(after_events=6, seconds=20, every=0.2)


def _policy(**stream: object) -> rr.Resilience:
    return resilience(breaker=None, stream=rr.StreamPolicy(**stream))  # type: ignore[arg-type]


def test_keepalive_only_stream_is_a_stall_within_one_second_sync(
    fake: FakeResponsesAPI, base_url: str
) -> None:
    fake.plan([KEEPALIVE])
    client = rr.ResilientOpenAI(
        base_url=base_url, api_key=KEY, resilience=_policy(idle_timeout=0.5)
    )
    start = time.monotonic()
    seen: list[object] = []
    stream = client.responses.create(model=MODEL, input="hi", stream=True)
    with pytest.raises(rr.StreamInterruptedError) as raised:
        read_into(stream, seen)
    assert time.monotonic() - start < 1.0
    assert raised.value.reason == "stream_stalled"
    assert len(seen) == 6


async def test_keepalive_only_stream_is_a_stall_within_one_second_async(
    fake: FakeResponsesAPI, base_url: str
) -> None:
    fake.plan([KEEPALIVE])
    client = rr.AsyncResilientOpenAI(
        base_url=base_url, api_key=KEY, resilience=_policy(idle_timeout=0.5)
    )
    start = time.monotonic()
    seen: list[object] = []
    stream = await client.responses.create(model=MODEL, input="hi", stream=True)
    with pytest.raises(rr.StreamInterruptedError) as raised:
        await aread_into(stream, seen)
    assert time.monotonic() - start < 1.0
    assert raised.value.reason == "stream_stalled"


def test_a_background_stream_with_keepalives_is_resumed_and_completes(
    fake: FakeResponsesAPI, base_url: str
) -> None:
    fake.plan([KEEPALIVE])
    client = rr.ResilientOpenAI(
        base_url=base_url, api_key=KEY, resilience=_policy(idle_timeout=0.5)
    )
    start = time.monotonic()
    events = list(client.responses.create(model=MODEL, input="hi", stream=True, background=True))
    assert time.monotonic() - start < 1.5
    assert events[-1].type == "response.completed"
    numbers = [e.sequence_number for e in events]
    assert numbers == list(range(len(events)))
    assert fake.requests[1].query["starting_after"] == "5"


def test_keepalives_without_idle_timeout_end_at_the_deadline(
    fake: FakeResponsesAPI, base_url: str
) -> None:
    """No idle_timeout: the deadline (counted from the last event) still bounds it."""
    fake.plan([KEEPALIVE])
    client = rr.ResilientOpenAI(
        base_url=base_url, api_key=KEY, resilience=resilience(breaker=None, deadline=1.0)
    )
    start = time.monotonic()
    stream = client.responses.create(model=MODEL, input="hi", stream=True)
    with pytest.raises(rr.StreamInterruptedError):
        read_into(stream, [])
    assert time.monotonic() - start < 1.5
