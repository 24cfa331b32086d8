"""Concurrent async calls through one breaker run in parallel (real time, wide margins)."""

from __future__ import annotations

import asyncio
import time

import resilient_responses as rr
from resilient_responses.testing import Fault

from ._support import MODEL, client_key, outage

LATENCY = 0.3
CALLS = 10


async def test_ten_concurrent_async_calls_through_one_breaker_overlap() -> None:
    """10 calls x 0.3 s latency finish in well under 1.5 s (serialised: 3 s); all of them
    went through the same closed breaker and all succeeded."""
    fake = outage(Fault.latency(LATENCY))
    resilience = rr.Resilience(breaker=rr.BreakerConfig(fail_max=5))
    client = rr.AsyncResilientOpenAI(fake.async_client(), resilience=resilience)

    started = time.perf_counter()
    results = await asyncio.gather(
        *(client.responses.create(model=MODEL, input=f"q{i}") for i in range(CALLS))
    )
    elapsed = time.perf_counter() - started

    assert elapsed < 1.5
    assert [r.status for r in results] == ["completed"] * CALLS
    assert len(fake.requests) == CALLS
    assert resilience.breaker_state(client_key(client)) == "closed"


async def test_concurrent_async_decorated_calls_overlap() -> None:
    """The decorator path does not serialise either (no lock held around the call)."""
    fake = outage(Fault.latency(LATENCY))
    raw = fake.async_client(max_retries=0)

    @rr.resilient(breaker=rr.BreakerConfig(fail_max=5))
    async def ask(text: str) -> str:
        response = await raw.responses.create(model=MODEL, input=text)
        return response.output_text

    started = time.perf_counter()
    texts = await asyncio.gather(*(ask(f"q{i}") for i in range(CALLS)))
    assert time.perf_counter() - started < 1.5
    assert all(texts)
