"""Resilience.stats() against the fake's own request log: exact under 64 threads and
1,000 concurrent tasks sharing one Resilience, with a seeded fault mix."""

from __future__ import annotations

import asyncio
import contextlib
import threading

import openai

import resilient_responses as rr
from resilient_responses.testing import Chaos, FakeResponsesAPI, set_testing

MODEL = "gpt-5-mini"
MIX = {"429": 0.1, "500": 0.1, "503": 0.05, "connect_error": 0.05, "insufficient_quota": 0.05}


def _check_against_log(resilience: rr.Resilience, fake: FakeResponsesAPI, calls: int) -> None:
    total = resilience.stats().total
    log = fake.requests
    failed = [r for r in log if r.status is None or r.status >= 400]
    assert total.calls == calls
    assert total.attempts == len(log)
    assert total.retries == len(log) - calls
    assert total.successes + total.failures == calls
    assert total.successes == sum(1 for r in log if r.status == 200)
    assert sum(total.failures_by_status.values()) == len(failed)
    for status in ("429", "500", "503"):
        assert total.failures_by_status.get(status, 0) == sum(
            1 for r in failed if str(r.status) == status
        )
    assert total.failures_by_status.get("connection", 0) == sum(
        1 for r in failed if r.status is None
    )
    # Every completed response's usage is counted once.
    assert total.output_tokens == total.successes * 12  # the fake's default 12 words


def test_stats_are_exact_under_64_threads() -> None:
    fake = FakeResponsesAPI()
    fake.chaos(Chaos(MIX, seed=11))
    resilience = rr.Resilience(breaker=None, attempts=3)
    client = rr.ResilientOpenAI(fake.client(), resilience=resilience)

    def worker() -> None:
        for _ in range(50):
            with contextlib.suppress(openai.APIError):
                client.responses.create(model=MODEL, input="hi")

    with set_testing(True):
        threads = [threading.Thread(target=worker) for _ in range(64)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    _check_against_log(resilience, fake, 64 * 50)


async def test_stats_are_exact_under_1000_concurrent_tasks() -> None:
    fake = FakeResponsesAPI()
    fake.chaos(Chaos(MIX, seed=12))
    resilience = rr.Resilience(breaker=None, attempts=3)
    client = rr.AsyncResilientOpenAI(fake.async_client(), resilience=resilience)

    async def one() -> None:
        with contextlib.suppress(openai.APIError):
            await client.responses.create(model=MODEL, input="hi")

    with set_testing(True):
        await asyncio.gather(*(one() for _ in range(1000)))
    _check_against_log(resilience, fake, 1000)
