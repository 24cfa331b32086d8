"""``policies={"circuit_open": ErrorPolicy(...)}``: callers wait for the breaker's next probe
within their deadline instead of failing at once (the default stays fail-fast)."""

from __future__ import annotations

from datetime import timedelta

import openai
import pytest

import resilient_responses as rr
from resilient_responses.testing import FakeResponsesAPI, Fault, VirtualClock

MODEL = "gpt-5-mini"


class BreakerTime(VirtualClock):
    """Virtual time that pybreaker sees too: sleeping moves every breaker's `opened_at`
    back by the same amount (pybreaker reads the wall clock)."""

    def __init__(self) -> None:
        super().__init__()
        self.resilience: rr.Resilience | None = None

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds)
        assert self.resilience is not None
        breakers = self.resilience._engine.breakers
        assert breakers is not None
        for key in breakers.states():
            storage = breakers.get(key).storage
            if storage.opened_at is not None:
                storage.opened_at = storage.opened_at - timedelta(seconds=seconds)


def _client(fake: FakeResponsesAPI, **config: object) -> tuple[rr.ResilientOpenAI, BreakerTime]:
    time = BreakerTime()
    resilience = rr.Resilience(
        sleep=time.sleep,
        clock=time.clock,
        breaker=rr.BreakerConfig(fail_max=1, reset_timeout=10.0),
        **config,  # type: ignore[arg-type]
    )
    time.resilience = resilience
    return rr.ResilientOpenAI(fake.client(), resilience=resilience), time


def test_by_default_a_call_stops_when_the_breaker_opens() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.status(503)])
    client, _time = _client(fake)
    with pytest.raises(openai.InternalServerError) as info:
        client.responses.create(model=MODEL, input="hi")
    assert len(fake.requests) == 1
    assert "the circuit breaker opened" in "\n".join(info.value.__notes__)
    with pytest.raises(rr.CircuitOpenError):
        client.responses.create(model=MODEL, input="hi")
    assert len(fake.requests) == 1


def test_waiting_policy_waits_for_the_probe_and_succeeds() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.status(503)])
    client, time = _client(fake, policies={"circuit_open": rr.ErrorPolicy(attempts=6)})
    response = client.responses.create(model=MODEL, input="hi")
    assert response.status == "completed"
    assert len(fake.requests) == 2  # the 503, then the half-open probe
    # One backoff wait, then the breaker's remaining open time: 10 s in all.
    assert time.slept == pytest.approx(10.0, abs=0.01)
    assert client.resilience.breaker_state(f"{client.base_url} {MODEL}") == "closed"


def test_waiting_never_sleeps_past_the_deadline() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.status(503)])
    client, time = _client(
        fake, deadline=5.0, policies={"circuit_open": rr.ErrorPolicy(attempts=6)}
    )
    with pytest.raises(openai.InternalServerError) as info:
        client.responses.create(model=MODEL, input="hi")
    assert len(fake.requests) == 1
    assert time.slept <= 5.0
    assert "(deadline)" in "\n".join(info.value.__notes__)


def test_waiting_without_any_sdk_error_raises_deadline_exceeded() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.status(503)])
    client, _time = _client(
        fake, deadline=2.0, policies={"circuit_open": rr.ErrorPolicy(attempts=6)}
    )
    with pytest.raises(openai.InternalServerError):
        client.responses.create(model=MODEL, input="hi")  # opens the breaker for 10 s
    with pytest.raises(rr.DeadlineExceededError) as info:
        client.responses.create(model=MODEL, input="hi")  # 10 s > the 2 s deadline
    assert info.value.deadline == 2.0
    assert isinstance(info.value.__cause__, rr.CircuitOpenError)
    assert info.value.__cause__.retry_in > 2.0
    assert len(fake.requests) == 1


def test_waiting_for_the_breaker_draws_nothing_from_the_retry_budget() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.status(503)])
    client, _ = _client(
        fake,
        budget=rr.RetryBudget(ratio=0.0, min_per_second=0.1, ttl=10.0),  # one retry token
        policies={"circuit_open": rr.ErrorPolicy(attempts=6)},
    )
    assert client.responses.create(model=MODEL, input="hi").status == "completed"


async def test_async_waiting_policy_waits_for_the_probe_and_succeeds() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.status(503)])
    time = BreakerTime()
    resilience = rr.Resilience(
        sleep=time.sleep,
        clock=time.clock,
        breaker=rr.BreakerConfig(fail_max=1, reset_timeout=10.0),
        policies={"circuit_open": rr.ErrorPolicy(attempts=6)},
    )
    time.resilience = resilience
    client = rr.AsyncResilientOpenAI(fake.async_client(), resilience=resilience)
    response = await client.responses.create(model=MODEL, input="hi")
    assert response.status == "completed"
    assert len(fake.requests) == 2


def test_a_stream_cut_after_progress_does_not_count_against_the_breaker() -> None:
    """Six cuts, each after new events: the server was answering, the breaker stays closed
    (fail_max=5) and the background stream completes."""
    fake = FakeResponsesAPI()
    fake.plan([Fault.reset(after_events=2)] * 6)
    time = VirtualClock()
    resilience = rr.Resilience(sleep=time.sleep, clock=time.clock)
    client = rr.ResilientOpenAI(fake.client(), resilience=resilience)
    with client.responses.create(
        model=MODEL, input="hi", stream=True, background=True, store=True
    ) as stream:
        events = list(stream)
    assert events[-1].type == "response.completed"
    assert resilience.breaker_state(f"{client.base_url} {MODEL}") == "closed"
    assert resilience.stats().total.resumes == 6
