"""RetryBudget: never below zero, an empty budget stops retries, and it refills with time."""

from __future__ import annotations

import openai
import pytest
from hypothesis import given
from hypothesis import strategies as st

import resilient_responses as rr
from resilient_responses.testing import FakeResponsesAPI, Fault

from ._support import MODEL, Clock, events_named


def _client(fake: FakeResponsesAPI, vtime, budget: rr.RetryBudget) -> rr.ResilientOpenAI:
    resilience = rr.Resilience(
        attempts=4, budget=budget, breaker=None, sleep=vtime.sleep, clock=vtime.clock
    )
    return rr.ResilientOpenAI(fake.client(), resilience=resilience)


def test_empty_budget_stops_retries_with_reason_retry_budget(vtime, logs) -> None:
    """ratio=0 and no reserve: a 503 is not retried (1 request), gave_up says retry_budget,
    and the re-raised 503 carries it in its note."""
    fake = FakeResponsesAPI()
    fake.plan([], then=Fault.status(503))
    client = _client(fake, vtime, rr.RetryBudget(ratio=0.0, min_per_second=0.0))
    with pytest.raises(openai.InternalServerError) as info:
        client.responses.create(model=MODEL, input="hi")
    assert len(fake.requests) == 1
    assert vtime.sleeps == []
    assert [e["reason"] for e in events_named(logs, "gave_up")] == ["retry_budget"]
    assert "(retry_budget)" in "\n".join(info.value.__notes__)
    assert client.resilience.stats().retry_budget_level == 0.0


def test_budget_is_spent_by_retries_and_refills_over_time(vtime, logs) -> None:
    """Reserve of one retry per 10 s window (min_per_second=0.1, ttl=10, ratio=0): the first
    503 is retried, the second is not, and 11 s later a retry is allowed again."""
    fake = FakeResponsesAPI()
    client = _client(fake, vtime, rr.RetryBudget(ratio=0.0, min_per_second=0.1, ttl=10.0))
    assert client.resilience.stats().retry_budget_level == pytest.approx(1.0)

    fake.plan([Fault.status(503), None])
    client.responses.create(model=MODEL, input="one")
    assert len(fake.requests) == 2
    assert client.resilience.stats().retry_budget_level == pytest.approx(0.0)

    fake.plan([Fault.status(503), None])
    with pytest.raises(openai.InternalServerError):
        client.responses.create(model=MODEL, input="two")
    assert len(fake.requests) == 3

    vtime.now += 11.0
    assert client.resilience.stats().retry_budget_level == pytest.approx(1.0)
    fake.plan([Fault.status(503), None])
    client.responses.create(model=MODEL, input="three")
    assert len(fake.requests) == 5
    assert [e["reason"] for e in events_named(logs, "gave_up")] == ["retry_budget"]


def test_calls_deposit_a_share_of_a_retry(vtime) -> None:
    """ratio=0.5, no reserve: two calls earn one retry token."""
    fake = FakeResponsesAPI()
    client = _client(fake, vtime, rr.RetryBudget(ratio=0.5, min_per_second=0.0))
    client.responses.create(model=MODEL, input="a")
    assert client.resilience.stats().retry_budget_level == pytest.approx(0.5)
    fake.plan([Fault.status(503), None])
    client.responses.create(model=MODEL, input="b")  # deposit -> 1.0, retry spends it
    assert len(fake.requests) == 3
    assert client.resilience.stats().retry_budget_level == pytest.approx(0.0)


OPS = st.lists(
    st.one_of(
        st.just(("deposit", 0.0)),
        st.just(("withdraw", 0.0)),
        st.tuples(st.just("advance"), st.floats(min_value=0.0, max_value=15.0)),
    ),
    max_size=60,
)


@given(
    ops=OPS,
    ratio=st.floats(min_value=0.0, max_value=2.0),
    min_per_second=st.floats(min_value=0.0, max_value=2.0),
    ttl=st.floats(min_value=1.0, max_value=20.0),
)
def test_budget_level_never_negative_and_withdraw_only_whole_tokens(
    ops: list[tuple[str, float]], ratio: float, min_per_second: float, ttl: float
) -> None:
    """With an injected clock, over any interleaving of calls, retries and time: the level
    is never below zero, a withdrawal succeeds exactly when a whole token is available,
    and it takes exactly one."""
    clock = Clock()
    state = rr.RetryBudget(ratio=ratio, min_per_second=min_per_second, ttl=ttl).create(clock.clock)
    for op, amount in ops:
        if op == "deposit":
            state.deposit()
        elif op == "advance":
            clock.now += amount
        else:
            before = state.level
            took = state.try_withdraw()
            assert took == (before >= 1.0)
            if took:
                assert state.level == pytest.approx(before - 1.0, abs=1e-9)
        assert state.level >= 0.0
