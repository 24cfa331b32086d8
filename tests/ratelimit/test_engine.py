"""Pacing through the drop-in client: every attempt waits for rate-limit capacity within
its deadline; a wait past the deadline gives up at once without sending and says why; the
default RateLimit() learns the fake's quota from its headers and stays under it."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx2
import openai
import pytest
import structlog

import resilient_responses as rr
from resilient_responses.testing import FakeResponsesAPI, Quota, VirtualClock

MODEL = "gpt-5-mini"


def _stamped(fake: FakeResponsesAPI, clock: VirtualClock, sent: list[float]) -> openai.OpenAI:
    """The fake's client, noting the virtual time of every request it sends."""

    def stamp(request: httpx2.Request) -> None:
        sent.append(clock.now)

    http = openai.DefaultHttpxClient(transport=fake.transport, event_hooks={"request": [stamp]})
    return openai.OpenAI(api_key="sk-fake", base_url="http://fake.openai.test/v1", http_client=http)


def test_a_configured_rate_bounds_every_ten_second_window() -> None:
    """RateLimit(requests_per_minute=600): over any 10-second window at most 101 requests
    reach the server (600 a minute, plus one second's burst counted once)."""
    clock = VirtualClock()
    fake = FakeResponsesAPI()
    sent: list[float] = []
    policy = rr.Resilience(
        rate_limit=rr.RateLimit(requests_per_minute=600), clock=clock, sleep=clock.sleep
    )
    client = rr.ResilientOpenAI(_stamped(fake, clock, sent), resilience=policy)
    for _ in range(300):
        client.responses.create(model=MODEL, input="hi")
    assert len(sent) == 300
    worst = max(sum(1 for t in sent if start <= t < start + 10.0) for start in sent)
    assert worst <= 101
    assert sent[-1] - sent[0] >= 29.0  # paced: 300 at 10 a second, not all at once
    stats = policy.stats().total
    assert stats.rate_limited > 0
    assert stats.rate_limited_s == pytest.approx(sum(clock.sleeps), rel=1e-6)


def test_a_wait_past_the_deadline_gives_up_at_once_without_sending() -> None:
    clock = VirtualClock()
    fake = FakeResponsesAPI()
    policy = rr.Resilience(
        rate_limit=rr.RateLimit(requests_per_minute=6),  # one every 10 s
        deadline=2.0,
        clock=clock,
        sleep=clock.sleep,
    )
    client = rr.ResilientOpenAI(fake.client(), resilience=policy)
    client.responses.create(model=MODEL, input="first")
    with (
        structlog.testing.capture_logs() as logs,
        pytest.raises(rr.DeadlineExceededError) as raised,
    ):
        client.responses.create(model=MODEL, input="second")
    assert len(fake.requests) == 1  # nothing was sent for the second call
    assert clock.sleeps == []  # and nothing was slept: the wait could not fit
    assert "rate-limit capacity" in str(raised.value)
    assert isinstance(raised.value, openai.APITimeoutError)
    [gave_up] = [e for e in logs if e["event"] == "resilient_responses.gave_up"]
    assert gave_up["reason"] == "rate_limited"


async def test_a_burst_of_60_learns_the_quota_and_earns_no_429() -> None:
    """The default RateLimit(): nothing configured. The first call goes alone and teaches
    the quota (1,200 a minute, enforced per second); the other 59 are paced under it."""
    fake = FakeResponsesAPI(quota=Quota(requests_per_minute=1200))
    client = rr.AsyncResilientOpenAI(fake.async_client(), resilience=rr.Resilience())
    start = time.monotonic()

    async def one(index: int) -> str:
        response = await client.responses.create(model=MODEL, input=f"q{index}")
        return response.status

    statuses = await asyncio.gather(*(one(i) for i in range(60)))
    elapsed = time.monotonic() - start
    assert statuses == ["completed"] * 60
    assert [r.status for r in fake.requests].count(429) == 0
    assert len(fake.requests) == 60
    # 20 a second is the quota: 60 calls need about 3 s; at least 90% of that rate.
    assert elapsed <= 60 / (20 * 0.9) + 0.5


def test_rate_limit_none_turns_pacing_off() -> None:
    clock = VirtualClock()
    fake = FakeResponsesAPI(quota=Quota(requests_per_minute=60), clock=clock)
    client = rr.ResilientOpenAI(
        fake.client(max_retries=0),
        resilience=rr.Resilience(rate_limit=None, attempts=1, clock=clock, sleep=clock.sleep),
    )

    def status() -> Any:
        try:
            return client.responses.create(model=MODEL, input="x").status
        except openai.RateLimitError:
            return 429

    statuses = [status() for _ in range(5)]
    assert 429 in statuses  # nobody held the calls back
    assert clock.sleeps == []
