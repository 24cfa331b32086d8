"""Configured pacing, in process and on Redis: smooth at the rate, a burst earned by idling,
exact waits, weighted tokens (clamped to the burst, charged in full), and the window bound
whatever the arrival pattern."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resilient_responses import RateLimit, RedisStore
from resilient_responses._memory_limiter import MemoryLimiter
from resilient_responses._ratelimit import JITTER, QUEUE_AHEAD, burst_for
from resilient_responses.testing import VirtualClock

from ._support import KEY, simulate
from .conftest import Make, fleet_limiter


def test_a_fresh_key_sends_one_request_at_once_then_paces_at_the_rate(
    make: Make, clock: VirtualClock
) -> None:
    limiter = make(RateLimit(requests_per_minute=600))
    assert limiter.acquire(KEY, 0) == 0.0
    wait = limiter.acquire(KEY, 0)
    assert 0.1 <= wait <= 0.1 + JITTER + 1e-9  # one emission interval, plus jitter
    clock.sleep(wait)
    assert limiter.acquire(KEY, 0) == 0.0  # sleeping the wait is enough: it is exact


def test_the_burst_is_earned_by_idling(make: Make, clock: VirtualClock) -> None:
    limiter = make(RateLimit(requests_per_minute=600))  # burst 10
    assert limiter.acquire(KEY, 0) == 0.0
    clock.sleep(5.0)
    assert [limiter.acquire(KEY, 0) for _ in range(10)] == [0.0] * 10
    assert limiter.acquire(KEY, 0) > 0


def test_keys_are_paced_apart(make: Make) -> None:
    limiter = make(RateLimit(requests_per_minute=60))
    assert limiter.acquire(KEY, 0) == 0.0
    assert limiter.acquire(KEY, 0) > 0
    assert limiter.acquire("https://api.openai.com/v1|gpt-5", 0) == 0.0


def test_600_a_minute_from_one_process_never_more_than_101_in_any_10_seconds(
    make: Make, clock: VirtualClock
) -> None:
    """The issue's acceptance: 200 callers at once, each sleeping its waits."""
    limiter = make(RateLimit(requests_per_minute=600))
    run = simulate(limiter, clock, [(clock.now, 1)] * 200)
    assert len(run.admitted) == 200
    assert run.most_in_window(10.0) <= 101
    assert run.most_in_window(60.0) <= 601


def test_tokens_that_do_not_fit_wait_and_take_nothing(make: Make, clock: VirtualClock) -> None:
    limiter = make(RateLimit(requests_per_minute=60, tokens_per_minute=60_000))  # bursts 1, 1000
    assert limiter.acquire(KEY, 1000) == 0.0  # a fresh key: its first request goes at once
    clock.sleep(1.0)  # one request and 1,000 tokens are back
    assert limiter.acquire(KEY, 0) == 0.0  # the request...
    clock.sleep(1.0)
    wait = limiter.acquire(KEY, 1000)  # ...and the tokens are there; but...
    assert wait == 0.0
    refused = limiter.acquire(KEY, 500)
    assert refused >= 0.5  # the tokens are short by 500 at 1,000 a second
    clock.sleep(1.0)
    # The refusal took nothing: a request unit was not spent on it.
    assert limiter.acquire(KEY, 0) == 0.0


def test_a_request_bigger_than_the_burst_waits_for_a_full_bucket_and_leaves_a_debt(
    make: Make, clock: VirtualClock
) -> None:
    limiter = make(RateLimit(tokens_per_minute=60_000))  # 1,000 a second, burst 1,000
    assert limiter.acquire(KEY, 100) == 0.0  # fresh: at once, bucket empty after it
    wait = limiter.acquire(KEY, 5000)
    assert 0.999 <= wait <= 1.0 + JITTER + 1e-9  # a full bucket: 1,000 tokens' worth of time
    clock.sleep(wait)
    assert limiter.acquire(KEY, 5000) == 0.0  # admitted, charged 5,000: 4,000 in debt
    debt = limiter.acquire(KEY, 1)
    assert 4.0 <= debt <= 4.0 + 2 * JITTER + 0.002


def test_waits_are_jittered_by_at_most_a_few_milliseconds(make: Make, clock: VirtualClock) -> None:
    limiter = make(RateLimit(requests_per_minute=600))
    limiter.acquire(KEY, 0)
    waits = []
    for _ in range(30):
        wait = limiter.acquire(KEY, 0)
        waits.append(wait)
        clock.sleep(wait)
        assert limiter.acquire(KEY, 0) == 0.0
    # Each wait is the slot (100 ms after the last one) plus up to JITTER; the slots stay
    # 100 ms apart (the jitter does not accumulate).
    assert all(0.1 - JITTER - 1e-6 <= w <= 0.1 + JITTER + 1e-6 for w in waits)
    assert len(set(waits)) > 1
    # The fleet store answers in whole milliseconds: at most 1 ms of rounding on top.
    assert 1003.0 <= clock.now <= 1003.0 + JITTER + 0.001


def test_callers_refused_together_are_lined_up_one_slot_apart(
    make: Make, clock: VirtualClock
) -> None:
    """Nothing is taken, but each is told when its turn should come, so a crowd of
    waiters does not wake at every free slot; the line reaches QUEUE_AHEAD at most."""
    limiter = make(RateLimit(requests_per_minute=600))
    limiter.acquire(KEY, 0)
    waits = [limiter.acquire(KEY, 0) for _ in range(80)]
    for i, wait in enumerate(waits[:50]):
        assert (i + 1) * 0.1 - 0.001 <= wait <= (i + 1) * 0.1 + JITTER + 0.001
    assert all(QUEUE_AHEAD <= w <= QUEUE_AHEAD + JITTER + 0.001 for w in waits[50:])


def test_a_crowd_asks_about_once_per_admission(make: Make, clock: VirtualClock) -> None:
    limiter = make(RateLimit(requests_per_minute=1200))
    run = simulate(limiter, clock, [(clock.now, 1)] * 300)
    assert len(run.admitted) == 300
    assert run.asks <= 3 * 300


async def test_the_async_forms_pace_the_same(make: Make, clock: VirtualClock) -> None:
    limiter = make(RateLimit(requests_per_minute=600))
    assert await limiter.aacquire(KEY, 0) == 0.0
    wait = await limiter.aacquire(KEY, 0)
    assert wait >= 0.1
    clock.sleep(wait)
    assert await limiter.aacquire(KEY, 0) == 0.0


# -- the window bound, whatever the arrival pattern --------------------------------------

arrivals = st.lists(
    st.tuples(st.floats(min_value=0, max_value=20, allow_nan=False), st.integers(0, 3000)),
    min_size=1,
    max_size=120,
)


def _check_bound(
    limiter_for: object,
    rpm: int,
    tpm: int | None,
    burst_seconds: float,
    pattern: list[tuple[float, int]],
    slack: float,
) -> None:
    clock = VirtualClock(now=1000.0)
    config = RateLimit(requests_per_minute=rpm, tokens_per_minute=tpm, burst_seconds=burst_seconds)
    limiter = limiter_for(config, clock)  # type: ignore[operator]
    run = simulate(limiter, clock, [(1000.0 + at, tokens) for at, tokens in pattern])
    assert len(run.admitted) == len(pattern)  # everyone gets through, in the end
    burst = burst_for(rpm, burst_seconds)
    for window in (0.0, 0.5, 1.0, 3.0, 10.0):
        assert run.most_in_window(window) <= rpm * (window + slack) / 60 + burst + 1e-9
    if tpm is not None:
        token_burst = burst_for(tpm, burst_seconds)
        excess = max(0, max(run.tokens) - token_burst)  # a request bigger than the burst
        for window in (0.0, 1.0, 10.0):
            most = run.most_in_window(window, weights=True)
            assert most <= tpm * (window + slack) / 60 + token_burst + excess + 1e-6


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rpm=st.integers(1, 6000),
    tpm=st.none() | st.integers(1000, 600_000),
    burst_seconds=st.sampled_from([0.1, 1.0, 5.0]),
    pattern=arrivals,
)
def test_never_more_than_the_rate_plus_the_burst_in_any_window_in_process(
    rpm: int, tpm: int | None, burst_seconds: float, pattern: list[tuple[float, int]]
) -> None:
    """In any window of w seconds: at most rpm * w / 60 + burst requests (and as many
    tokens, plus a request's excess over the token burst). The clock is read to the
    microsecond, hence a microsecond of slack."""
    _check_bound(MemoryLimiter, rpm, tpm, burst_seconds, pattern, slack=1e-6)


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rpm=st.integers(30, 3000),
    tpm=st.none() | st.integers(1000, 600_000),
    burst_seconds=st.sampled_from([0.1, 1.0]),
    pattern=arrivals,
)
def test_never_more_than_the_rate_plus_the_burst_in_any_window_on_redis(
    store: RedisStore,
    rpm: int,
    tpm: int | None,
    burst_seconds: float,
    pattern: list[tuple[float, int]],
) -> None:
    """The same bound for the fleet's Lua (Redis counts whole milliseconds)."""

    def on_redis(config: RateLimit, clock: VirtualClock) -> object:
        limiter = fleet_limiter(store, config, clock, [])
        key = f"k-{uuid.uuid4().hex}"
        limiter._keys[KEY] = limiter._redis_keys(key)  # a fresh Redis key per example
        return limiter

    _check_bound(on_redis, rpm, tpm, burst_seconds, pattern, slack=1e-3)


@pytest.mark.parametrize("rpm", [7, 600, 1200, 5000])
def test_saturated_throughput_is_the_rate(make: Make, clock: VirtualClock, rpm: int) -> None:
    """Many callers for a minute: the limiter lets through the rate, not much less."""
    limiter = make(RateLimit(requests_per_minute=rpm))
    start = clock.now
    run = simulate(limiter, clock, [(start, 1)] * (rpm + 50), until=start + 60.0)
    admitted = sum(1 for t in run.admitted if t <= start + 60.0)
    assert rpm * 0.97 <= admitted <= rpm + 1
