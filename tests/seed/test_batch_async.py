"""arun_batch: outcomes in input order, failures isolated, a bounded number of requests in
flight at the fake, cancellation that stops new work and keeps what finished."""

from __future__ import annotations

import asyncio
from typing import Any

import openai
import pytest

import resilient_responses as rr
from resilient_responses import Outcome, arun_batch
from resilient_responses.events import observe_calls
from resilient_responses.testing import Chaos, FakeResponsesAPI, Fault

from ._batch_support import AsyncInFlight

MODEL = "gpt-5-mini"

#: A 10% fault mix: retryable statuses and connection errors, and non-retryable quota.
TEN_PERCENT = {
    "429": 0.03,
    "500": 0.02,
    "503": 0.02,
    "connect_error": 0.01,
    "insufficient_quota": 0.02,
}


def requests_(n: int, **extra: Any) -> list[dict[str, Any]]:
    return [
        {"model": MODEL, "input": f"question {i}", "custom_id": f"q{i}", **extra} for i in range(n)
    ]


async def test_acceptance_200_requests_10_percent_faults_concurrency_20() -> None:
    """200 outcomes in input order; never more than 20 requests in flight at the fake (and
    20 reached); every HTTP request accounted for by some outcome's attempts."""
    fake = FakeResponsesAPI()
    fake.chaos(Chaos(TEN_PERCENT, seed=11))
    transport = AsyncInFlight(fake, gate=20)
    client = rr.AsyncResilientOpenAI(transport.client(), resilience=rr.Resilience(breaker=None))
    progress: list[tuple[int, int]] = []

    outcomes = await arun_batch(
        client, requests_(200), concurrency=20, on_progress=lambda d, t: progress.append((d, t))
    )

    assert len(outcomes) == 200
    assert [o.index for o in outcomes] == list(range(200))
    assert [o.custom_id for o in outcomes] == [f"q{i}" for i in range(200)]
    assert [o.request["input"] for o in outcomes] == [f"question {i}" for i in range(200)]
    assert transport.max_in_flight == 20
    assert transport.in_flight == 0
    assert sum(o.attempts for o in outcomes) == len(fake.requests) == transport.started
    assert all("custom_id" not in r.json for r in fake.requests)
    assert progress == [(n, 200) for n in range(1, 201)]
    faulted = sum(1 for r in fake.requests if r.fault is not None)
    assert faulted >= 10  # the mix did hit
    for outcome in outcomes:
        if outcome.ok:
            assert outcome.response is not None
            assert outcome.response.status == "completed"
            assert outcome.attempts >= 1
        else:
            # Only the non-retryable quota error is left once the engine has retried.
            assert isinstance(outcome.error, openai.RateLimitError)
            assert outcome.error.code == "insufficient_quota"
            assert outcome.attempts == 1
    assert any(o.attempts > 1 for o in outcomes)  # retried items are counted per request
    assert any(not o.ok for o in outcomes)


async def test_async_one_failure_is_its_own_outcome_and_the_rest_go_on() -> None:
    fake = FakeResponsesAPI()
    fake.plan([None, Fault.status(429, code="insufficient_quota"), Fault.status(503), None])
    client = rr.AsyncResilientOpenAI(fake.async_client())
    outcomes = await arun_batch(client, requests_(3), concurrency=1)
    assert [o.ok for o in outcomes] == [True, False, True]
    assert [o.attempts for o in outcomes] == [1, 1, 2]
    failed = outcomes[1]
    assert isinstance(failed.error, openai.RateLimitError)
    assert failed.response is None
    assert failed.custom_id == "q1"


async def test_async_breaker_is_respected_through_the_client() -> None:
    """In an outage the breaker opens and later items fail fast, sending nothing."""
    fake = FakeResponsesAPI()
    fake.plan([], then=Fault.status(503))
    resilience = rr.Resilience(attempts=2, breaker=rr.BreakerConfig(fail_max=2, reset_timeout=60))
    client = rr.AsyncResilientOpenAI(fake.async_client(), resilience=resilience)
    outcomes = await arun_batch(client, requests_(6), concurrency=1)
    assert not any(o.ok for o in outcomes)
    assert isinstance(outcomes[0].error, openai.InternalServerError)
    assert isinstance(outcomes[-1].error, rr.CircuitOpenError)
    assert outcomes[-1].attempts == 0
    assert len(fake.requests) == sum(o.attempts for o in outcomes) < 6 * 2


async def test_async_cancellation_stops_new_work_and_keeps_the_finished_outcomes() -> None:
    """Cancel while 3 calls hang: the CancelledError comes back unchanged, nothing new
    starts, the hanging calls are cancelled (no outcome), the 4 finished ones were
    reported."""
    fake = FakeResponsesAPI()
    transport = AsyncInFlight(fake, block_after=4, saturate_at=3)
    client = rr.AsyncResilientOpenAI(transport.client())
    finished: list[Outcome] = []
    task = asyncio.create_task(
        arun_batch(client, requests_(10), concurrency=3, on_outcome=finished.append)
    )
    await asyncio.wait_for(transport.saturated.wait(), 10)
    # Which four finished depends on the order the SDK's tasks reach the transport.
    done_before = sorted(o.index for o in finished)
    assert len(done_before) == 4
    assert set(done_before) < set(range(7))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert transport.in_flight == 0
    assert transport.started == 7  # 4 done + 3 in flight; nothing started after
    assert sorted(o.index for o in finished) == done_before  # no outcome for the cancelled
    assert all(o.custom_id == f"q{o.index}" and o.ok for o in finished)


async def test_async_a_callback_error_propagates_unchanged_and_cancels_the_rest() -> None:
    fake = FakeResponsesAPI()
    transport = AsyncInFlight(fake)
    client = rr.AsyncResilientOpenAI(transport.client())

    class Boom(Exception):
        pass

    def explode(done: int, total: int) -> None:
        if done == 2:
            raise Boom

    with pytest.raises(Boom):
        await arun_batch(client, requests_(10), concurrency=2, on_progress=explode)
    assert transport.in_flight == 0
    assert transport.started <= 4


async def test_async_attempts_come_from_observe_calls_and_the_caller_still_observes() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.status(500), Fault.status(502), None])
    client = rr.AsyncResilientOpenAI(fake.async_client())
    seen: list[Any] = []
    with observe_calls(seen.append):
        (outcome,) = await arun_batch(client, requests_(1))
    assert outcome.attempts == 3
    assert [r.attempts for r in seen] == [3]
    assert outcome.elapsed_s >= 0


async def test_async_plain_client_is_wrapped_and_sync_client_refused() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.status(503)])
    (outcome,) = await arun_batch(fake.async_client(), requests_(1))
    assert outcome.ok
    assert outcome.attempts == 2  # the engine retried: the plain client was wrapped
    with pytest.raises(TypeError, match="sync"):
        await arun_batch(fake.client(), requests_(1))  # type: ignore[arg-type]


async def test_async_empty_batch() -> None:
    calls: list[Any] = []
    out = await arun_batch(FakeResponsesAPI().async_client(), [], on_progress=calls.append)  # type: ignore[arg-type]
    assert out == []
    assert calls == []


@pytest.mark.parametrize(
    ("requests", "kwargs", "error", "fragment"),
    [
        ([{"model": MODEL}], {"concurrency": 0}, ValueError, "concurrency"),
        ([{"model": MODEL}], {"concurrency": 2.0}, TypeError, "concurrency"),
        ([{"model": MODEL}], {"concurrency": True}, TypeError, "concurrency"),
        ([{"model": MODEL}], {"on_progress": 3}, TypeError, "on_progress"),
        ([{"model": MODEL}], {"on_outcome": "x"}, TypeError, "on_outcome"),
        ("abc", {}, TypeError, "iterable"),
        ({"model": MODEL}, {}, TypeError, "iterable"),
        ([["model", MODEL]], {}, TypeError, r"requests\[0\]"),
        ([{"model": MODEL, "custom_id": 7}], {}, TypeError, "custom_id"),
        ([{"model": MODEL, "stream": True}], {}, ValueError, "stream"),
    ],
)
async def test_async_invalid_input_raises_before_anything_is_sent(
    requests: Any, kwargs: dict[str, Any], error: type[Exception], fragment: str
) -> None:
    fake = FakeResponsesAPI()
    with pytest.raises(error, match=fragment):
        await arun_batch(fake.async_client(), requests, **kwargs)
    assert fake.requests == []


def test_outcome_holds_exactly_one_of_response_and_error() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        Outcome(index=0, request={})
    failed = Outcome(index=3, request={"model": MODEL}, error=ValueError("x"), attempts=0)
    assert not failed.ok
    with pytest.raises(AttributeError):
        failed.index = 4  # type: ignore[misc]
