"""Concurrent threads through one breaker run in parallel (real time, wide margins)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import resilient_responses as rr
from resilient_responses.testing import Fault

from ._support import MODEL, client_key, outage

LATENCY = 0.3
THREADS = 8


def test_eight_threads_through_one_breaker_overlap() -> None:
    """8 threads x 0.3 s finish in under 1.5 s; pybreaker's call() would hold its lock for
    each request and serialise them (2.4 s)."""
    fake = outage(Fault.latency(LATENCY))
    resilience = rr.Resilience(breaker=rr.BreakerConfig(fail_max=5))
    client = rr.ResilientOpenAI(fake.client(), resilience=resilience)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        futures = [
            pool.submit(client.responses.create, model=MODEL, input=f"q{i}") for i in range(THREADS)
        ]
        results = [f.result() for f in futures]
    elapsed = time.perf_counter() - started

    assert elapsed < 1.5
    assert [r.status for r in results] == ["completed"] * THREADS
    assert len(fake.requests) == THREADS
    assert resilience.breaker_state(client_key(client)) == "closed"


def test_threads_through_one_decorated_function_overlap() -> None:
    """The decorator path does not serialise threads either."""
    fake = outage(Fault.latency(LATENCY))
    raw = fake.client(max_retries=0)

    @rr.resilient(breaker=rr.BreakerConfig(fail_max=5))
    def ask(text: str) -> str:
        return raw.responses.create(model=MODEL, input=text).output_text

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        texts = list(pool.map(ask, [f"q{i}" for i in range(THREADS)]))
    assert time.perf_counter() - started < 1.5
    assert all(texts)
