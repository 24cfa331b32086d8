"""Reconciling a response's real usage with its estimate: the excess is charged; an
estimate above the usage is not given back (the API counts the estimate when it admits)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from resilient_responses import RateLimit
from resilient_responses._ratelimit import reconcile_delta
from resilient_responses.testing import VirtualClock

from ._support import KEY
from .conftest import Make


def test_a_response_that_used_more_than_its_estimate_is_charged_the_excess(
    make: Make, clock: VirtualClock
) -> None:
    limiter = make(RateLimit(tokens_per_minute=60_000))  # 1,000 a second, burst 1,000
    assert limiter.acquire(KEY, 100) == 0.0
    clock.sleep(1.0)  # full again
    assert limiter.acquire(KEY, 100) == 0.0
    limiter.reconcile(KEY, 100, 2100)  # 2,000 more than estimated: a debt
    wait = limiter.acquire(KEY, 100)
    assert 1.2 - 0.001 <= wait <= 1.2 + 0.005


def test_a_response_that_used_less_gives_nothing_back(make: Make, clock: VirtualClock) -> None:
    limiter = make(RateLimit(tokens_per_minute=60_000))
    other = "https://api.openai.com/v1|gpt-5"
    assert limiter.acquire(KEY, 1000) == 0.0
    assert limiter.acquire(other, 1000) == 0.0
    limiter.reconcile(KEY, 1000, 10)  # only 10 used: nothing given back
    assert abs(limiter.acquire(KEY, 500) - limiter.acquire(other, 500)) <= 0.005


def test_a_key_without_a_token_limit_ignores_it(make: Make, clock: VirtualClock) -> None:
    limiter = make(RateLimit(requests_per_minute=60))
    limiter.acquire(KEY, 10)
    limiter.reconcile(KEY, 10, 10**9)
    clock.sleep(1.0)
    assert limiter.acquire(KEY, 10) == 0.0
    limiter.reconcile("never-seen", 10, 100)  # unknown keys too


async def test_the_async_form_charges_the_same(make: Make, clock: VirtualClock) -> None:
    limiter = make(RateLimit(tokens_per_minute=60_000))
    assert await limiter.aacquire(KEY, 100) == 0.0
    clock.sleep(1.0)
    assert await limiter.aacquire(KEY, 100) == 0.0
    await limiter.areconcile(KEY, 100, 1100)
    assert 0.2 - 0.001 <= await limiter.aacquire(KEY, 100) <= 0.2 + 0.005


@given(st.integers(-10, 10**7), st.integers(-10, 10**7))
def test_the_charge_is_the_excess_and_never_negative(estimated: int, actual: int) -> None:
    delta = reconcile_delta(estimated, actual)
    assert delta >= 0
    assert delta == max(0, actual - max(0, estimated))
