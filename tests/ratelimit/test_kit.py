"""Against the kit's fake quota: a limiter that configures nothing and learns from the fake's
x-ratelimit headers sends a burst of 200 calls without one 429 and at 90% of the quota's
throughput or more. The fake and the limiter share one virtual clock; every caller sleeps
the waits it is given, as the engine does."""

from __future__ import annotations

import random
from collections.abc import Iterator

import httpx2
import pytest

from resilient_responses import RateLimit
from resilient_responses._backends import LimiterBackend
from resilient_responses._tokens import estimate_tokens
from resilient_responses.testing import FakeResponsesAPI, Quota, VirtualClock

from ._support import KEY, Run, simulate
from .conftest import Make

CALLS = 200


@pytest.fixture
def http_for() -> Iterator[list[httpx2.Client]]:
    opened: list[httpx2.Client] = []
    yield opened
    for client in opened:
        client.close()


def _drive(
    limiter: LimiterBackend,
    fake: FakeResponsesAPI,
    clock: VirtualClock,
    bodies: list[dict[str, object]],
    opened: list[httpx2.Client],
) -> tuple[Run, list[int]]:
    http = httpx2.Client(transport=fake.transport, base_url="http://fake.openai.test/v1")
    opened.append(http)
    statuses: list[int] = []

    def send(index: int, tokens: int) -> None:
        answer = http.post("/responses", json=bodies[index])
        statuses.append(answer.status_code)
        limiter.observe(KEY, answer.headers, answer.status_code)
        if answer.status_code == 200:
            usage = answer.json()["usage"]
            limiter.reconcile(KEY, tokens, usage["input_tokens"] + usage["output_tokens"])

    arrivals = [(clock.now, estimate_tokens(body)) for body in bodies]
    return simulate(limiter, clock, arrivals, on_admit=send), statuses


def test_a_burst_of_200_learns_the_request_quota_without_a_429(
    make: Make, clock: VirtualClock, http_for: list[httpx2.Client]
) -> None:
    fake = FakeResponsesAPI(quota=Quota(requests_per_minute=1200), clock=clock)
    bodies: list[dict[str, object]] = [{"model": "gpt-5-mini", "input": "hi"}] * CALLS
    run, statuses = _drive(make(RateLimit()), fake, clock, bodies, http_for)
    assert statuses.count(429) == 0
    assert statuses.count(200) == CALLS
    elapsed = run.admitted[-1] - run.admitted[0]
    share = (CALLS - 1) / elapsed / (1200 / 60)
    assert share >= 0.9, share
    # The fake could have taken at most its burst plus the rate over that time.
    assert CALLS / (20 + 20 * elapsed) >= 0.88


def test_a_burst_of_200_learns_the_token_quota_without_a_429(
    make: Make, clock: VirtualClock, http_for: list[httpx2.Client]
) -> None:
    tpm = 200_000
    fake = FakeResponsesAPI(quota=Quota(tokens_per_minute=tpm), clock=clock)
    draw = random.Random(14)
    bodies: list[dict[str, object]] = []
    for _ in range(CALLS):
        body: dict[str, object] = {"model": "gpt-5-mini", "input": "x" * draw.randint(40, 4000)}
        limit = draw.choice([None, 200, 1000])
        if limit is not None:
            body["max_output_tokens"] = limit
        bodies.append(body)
    run, statuses = _drive(make(RateLimit()), fake, clock, bodies, http_for)
    assert statuses.count(429) == 0
    assert statuses.count(200) == CALLS
    elapsed = run.admitted[-1] - run.admitted[0]
    share = sum(run.tokens[1:]) / elapsed / (tpm / 60)
    assert share >= 0.9, share


def test_without_pacing_the_same_burst_earns_429s(clock: VirtualClock) -> None:
    """The baseline the two tests above beat: the burst sent as it comes."""
    fake = FakeResponsesAPI(quota=Quota(requests_per_minute=1200), clock=clock)
    with httpx2.Client(transport=fake.transport, base_url="http://fake.openai.test/v1") as http:
        statuses = [
            http.post("/responses", json={"model": "gpt-5-mini", "input": "hi"}).status_code
            for _ in range(CALLS)
        ]
    assert statuses.count(429) == CALLS - 20  # the fake's one-second burst, then 429s
