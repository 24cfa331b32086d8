"""Retry-After in its three forms is honoured exactly, capped, and never oversleeps (async)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import openai
import pytest

import resilient_responses as rr
from resilient_responses import _classify
from resilient_responses.testing import FakeResponsesAPI, Fault

from ._support import MODEL, events_named

PINNED = 1_800_000_000.0
PINNED_DT = datetime.fromtimestamp(PINNED, tz=timezone.utc)


@pytest.fixture
def pinned_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_classify, "time", SimpleNamespace(time=lambda: PINNED))


def _client(fake: FakeResponsesAPI, vtime, **config) -> rr.AsyncResilientOpenAI:
    resilience = rr.Resilience(sleep=vtime.asleep, clock=vtime.clock, **config)
    return rr.AsyncResilientOpenAI(fake.async_client(), resilience=resilience)


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (Fault.status(429, retry_after_ms=1500), 1.5),
        (Fault.status(429, retry_after=7), 7.0),
        (Fault.status(429, retry_after_date=PINNED_DT + timedelta(seconds=10)), 10.0),
        (Fault.status(502, retry_after=3), 3.0),
    ],
    ids=["ms", "seconds", "http-date", "502-seconds"],
)
async def test_async_retry_after_is_slept_exactly(
    fault: Fault, expected: float, vtime, pinned_time
) -> None:
    """The awaited sleep between the failed and the successful attempt equals the header."""
    fake = FakeResponsesAPI()
    fake.plan([fault, None])
    response = await _client(fake, vtime).responses.create(model=MODEL, input="hi")
    assert response.status == "completed"
    assert len(fake.requests) == 2
    assert vtime.sleeps == [pytest.approx(expected, abs=1e-9)]


async def test_async_retry_after_above_max_gives_up_at_once(vtime, logs) -> None:
    """Retry-After 121 s > max_retry_after: one request, no sleep, RateLimitError."""
    fake = FakeResponsesAPI()
    fake.plan([], then=Fault.status(429, retry_after=121))
    with pytest.raises(openai.RateLimitError):
        await _client(fake, vtime).responses.create(model=MODEL, input="hi")
    assert len(fake.requests) == 1
    assert vtime.sleeps == []
    assert [e["reason"] for e in events_named(logs, "gave_up")] == ["retry_after_too_long"]


async def test_async_retry_after_beyond_the_deadline_gives_up_at_once(vtime, logs) -> None:
    """deadline=5 and Retry-After 10: one request, no sleep, reason deadline."""
    fake = FakeResponsesAPI()
    fake.plan([], then=Fault.status(429, retry_after=10))
    with pytest.raises(openai.RateLimitError):
        await _client(fake, vtime, deadline=5).responses.create(model=MODEL, input="hi")
    assert len(fake.requests) == 1
    assert vtime.sleeps == []
    assert [e["reason"] for e in events_named(logs, "gave_up")] == ["deadline"]


async def test_async_backoff_stops_before_the_deadline(vtime) -> None:
    """Fixed 2 s backoff, deadline 5: sleeps 2 + 2, then a third 2 s would end at 6 > 5."""
    fake = FakeResponsesAPI()
    fake.plan([], then=Fault.status(503))
    client = _client(
        fake,
        vtime,
        attempts=10,
        deadline=5,
        backoff=rr.Backoff(initial=2.0, maximum=2.0, jitter="none"),
        breaker=None,
    )
    with pytest.raises(openai.InternalServerError) as info:
        await client.responses.create(model=MODEL, input="hi")
    assert vtime.sleeps == [2.0, 2.0]
    assert len(fake.requests) == 3
    assert "(deadline)" in "\n".join(info.value.__notes__)
