"""Learning from the headers, in process and on Redis: the first call of an unknown key goes
alone, a learned limit starts with an empty burst, a configured one wins, used-up capacity
and 429s hold every caller, a server without limits costs nothing."""

from __future__ import annotations

import httpx2
import pytest

from resilient_responses import RateLimit
from resilient_responses._memory_limiter import MemoryLimiter
from resilient_responses._ratelimit import (
    FREE_TRUST,
    GATE_POLL,
    GATE_SECONDS,
    JITTER,
)
from resilient_responses.testing import VirtualClock

from ._support import KEY, limits
from .conftest import Make

SLACK = JITTER + 0.002  # jitter, and Redis's whole milliseconds


def test_the_first_call_of_an_unknown_key_goes_alone_until_its_answer(
    make: Make, clock: VirtualClock
) -> None:
    limiter = make(RateLimit())
    assert limiter.acquire(KEY, 10) == 0.0  # the first caller goes
    waits = [limiter.acquire(KEY, 10) for _ in range(5)]  # the others wait for its answer
    assert all(0 < w <= GATE_POLL + SLACK for w in waits)
    limiter.observe(KEY, limits((1200, 1199, "50ms")), 200)
    # Learned: 1,200 a minute, one every 50 ms, starting from an empty burst.
    wait = limiter.acquire(KEY, 10)
    assert 0.05 - 0.001 <= wait <= 0.05 + SLACK
    clock.sleep(wait)
    assert limiter.acquire(KEY, 10) == 0.0


def test_a_failed_first_call_lets_the_next_caller_go_alone(make: Make, clock: VirtualClock) -> None:
    limiter = make(RateLimit())
    assert limiter.acquire(KEY, 0) == 0.0
    assert limiter.acquire(KEY, 0) > 0
    limiter.observe(KEY, {}, None)  # no answer (a connection error)
    assert limiter.acquire(KEY, 0) == 0.0  # the next one goes, alone
    assert limiter.acquire(KEY, 0) > 0


def test_an_error_without_limits_releases_the_gate_but_teaches_nothing(
    make: Make, clock: VirtualClock
) -> None:
    limiter = make(RateLimit())
    limiter.acquire(KEY, 0)
    limiter.observe(KEY, {"content-type": "application/json"}, 503)
    assert limiter.acquire(KEY, 0) == 0.0  # alone again
    assert limiter.acquire(KEY, 0) > 0  # still gated: a 503 says nothing about limits


def test_a_gate_whose_answer_never_comes_opens_the_key(make: Make, clock: VirtualClock) -> None:
    limiter = make(RateLimit())
    limiter.acquire(KEY, 0)
    clock.sleep(GATE_SECONDS + 0.01)  # a slow model: no answer in time
    assert [limiter.acquire(KEY, 0) for _ in range(5)] == [0.0] * 5


def test_an_answer_without_limits_frees_the_key(make: Make, clock: VirtualClock) -> None:
    limiter = make(RateLimit())
    limiter.acquire(KEY, 0)
    limiter.observe(KEY, {"x-request-id": "req_1"}, 200)
    assert [limiter.acquire(KEY, 100) for _ in range(100)] == [0.0] * 100
    # Limits appearing later are learned.
    limiter.observe(KEY, limits((60, 59, "1s")), 200)
    assert limiter.acquire(KEY, 0) > 0


def test_a_free_keys_answers_are_read_again_every_few_seconds() -> None:
    """In process, answers of a key known to be free are read once per FREE_TRUST seconds
    (the header lookups are most of observe's cost); a 429 is always read."""
    clock = VirtualClock()
    limiter = MemoryLimiter(RateLimit(), clock)
    limiter.acquire(KEY, 0)
    limiter.observe(KEY, {}, 200)
    assert limiter.acquire(KEY, 0) == 0.0  # free
    limiter.observe(KEY, {}, 200)  # read: starts the trust window
    limiter.observe(KEY, limits((60, 59, "1s")), 200)  # inside the window: not read
    assert limiter.acquire(KEY, 0) == 0.0
    clock.sleep(FREE_TRUST)
    limiter.observe(KEY, limits((60, 59, "1s")), 200)
    assert limiter.acquire(KEY, 0) > 0


def test_a_429_of_a_free_key_is_read_at_once(make: Make, clock: VirtualClock) -> None:
    limiter = make(RateLimit())
    limiter.acquire(KEY, 0)
    limiter.observe(KEY, {}, 200)
    assert limiter.acquire(KEY, 0) == 0.0  # free
    limiter.observe(KEY, {}, 200)
    limiter.observe(KEY, limits((60, 0, "30s")), 429)
    assert limiter.acquire(KEY, 0) > 1.0


def test_every_key_is_gated_on_its_own(make: Make) -> None:
    limiter = make(RateLimit())
    assert limiter.acquire(KEY, 0) == 0.0
    assert limiter.acquire("https://api.openai.com/v1|gpt-5", 0) == 0.0


def test_a_configured_limit_wins_over_the_header(make: Make, clock: VirtualClock) -> None:
    limiter = make(RateLimit(requests_per_minute=60))
    assert limiter.acquire(KEY, 0) == 0.0  # configured: no gate
    limiter.observe(KEY, limits((6000, 5999, "10ms")), 200)
    assert limiter.acquire(KEY, 0) >= 1.0 - 0.001  # still one a second


def test_a_limit_not_configured_is_learned(make: Make, clock: VirtualClock) -> None:
    limiter = make(RateLimit(requests_per_minute=6000))
    assert limiter.acquire(KEY, 500) == 0.0
    limiter.observe(KEY, limits((6000, 5999, "10ms"), (60_000, 59_500, "500ms")), 200)
    clock.sleep(0.02)
    wait = limiter.acquire(KEY, 500)  # tokens learned, empty: 500 tokens take 0.5 s
    assert 0.48 - 0.001 <= wait <= 0.48 + SLACK


def test_a_changed_limit_keeps_what_was_sent(make: Make, clock: VirtualClock) -> None:
    limiter = make(RateLimit())
    limiter.acquire(KEY, 0)
    limiter.observe(KEY, limits((600, 599, "100ms")), 200)
    clock.sleep(0.1)
    assert limiter.acquire(KEY, 0) == 0.0
    limiter.observe(KEY, limits((60, 50, "10s")), 200)  # the tier dropped to 60 a minute
    assert limiter.acquire(KEY, 0) >= 0.9


def test_no_request_left_holds_every_caller(make: Make, clock: VirtualClock) -> None:
    limiter = make(RateLimit(requests_per_minute=60_000))
    limiter.acquire(KEY, 0)
    limiter.observe(KEY, limits((1200, 0, "30s")), 200)  # another client spent our quota
    wait = limiter.acquire(KEY, 0)
    assert 0.05 - 0.001 <= wait <= 0.05 + SLACK  # until one request is back
    clock.sleep(wait)
    assert limiter.acquire(KEY, 0) == 0.0


def test_fewer_tokens_left_than_a_typical_request_holds(make: Make, clock: VirtualClock) -> None:
    limiter = make(RateLimit(requests_per_minute=60_000, tokens_per_minute=6_000_000))
    assert limiter.acquire(KEY, 2000) == 0.0  # typical: 2,000 tokens
    limiter.observe(KEY, limits(None, (60_000, 500, "59s")), 200)
    wait = limiter.acquire(KEY, 10)
    assert 1.5 - 0.001 <= wait <= 1.5 + SLACK  # 1,500 short at 1,000 a second


def test_a_429_that_says_capacity_is_used_up_holds_every_caller(
    make: Make, clock: VirtualClock
) -> None:
    """1,200 a minute, none left: every caller waits for one request's worth (50 ms), not
    the 429's Retry-After (the retry policy of the call that got it handles that)."""
    limiter = make(RateLimit())
    limiter.acquire(KEY, 0)
    limiter.observe(KEY, limits((1200, 0, "1s"), **{"retry-after": "30"}), 429)
    waits = [limiter.acquire(KEY, 0) for _ in range(3)]
    assert 0.05 - 0.001 <= waits[0] <= 0.05 + SLACK
    assert all(0.05 - 0.001 <= w < 30 for w in waits)


def test_a_429s_retry_after_alone_does_not_hold_the_key(make: Make) -> None:
    limiter = make(RateLimit())
    limiter.acquire(KEY, 0)
    limiter.observe(KEY, {}, 200)  # free
    assert limiter.acquire(KEY, 0) == 0.0
    limiter.observe(KEY, {"retry-after": "2"}, 429)
    assert limiter.acquire(KEY, 0) == 0.0


def test_a_429_without_retry_after_or_limits_holds_nothing(make: Make) -> None:
    limiter = make(RateLimit(requests_per_minute=60_000))
    limiter.acquire(KEY, 0)
    limiter.observe(KEY, {}, 429)
    assert limiter.acquire(KEY, 0) < 0.01


def test_without_from_headers_answers_change_nothing(make: Make, clock: VirtualClock) -> None:
    limiter = make(RateLimit(requests_per_minute=60_000, from_headers=False))
    limiter.acquire(KEY, 0)
    limiter.observe(KEY, limits((60, 0, "1m0s"), **{"retry-after": "30"}), 429)
    assert limiter.acquire(KEY, 0) < 0.01


def test_headers_of_the_sdk_and_of_a_plain_dict_alike(make: Make, clock: VirtualClock) -> None:
    limiter = make(RateLimit())
    limiter.acquire(KEY, 0)
    limiter.observe(KEY, httpx2.Headers({"X-RateLimit-Limit-Requests": "60"}), 200)
    assert limiter.acquire(KEY, 0) >= 1.0 - 0.001
    other = make(RateLimit())
    other.acquire("k2", 0)
    other.observe("k2", {"X-RateLimit-Limit-Requests": "60"}, 200)
    assert other.acquire("k2", 0) >= 1.0 - 0.001


async def test_async_observe_learns_the_same(make: Make, clock: VirtualClock) -> None:
    limiter = make(RateLimit())
    assert await limiter.aacquire(KEY, 0) == 0.0
    assert await limiter.aacquire(KEY, 0) > 0
    await limiter.aobserve(KEY, limits((1200, 1199, "50ms")), 200)
    assert 0.049 <= await limiter.aacquire(KEY, 0) <= 0.05 + SLACK


def test_a_free_key_takes_no_lock() -> None:
    clock = VirtualClock()
    limiter = MemoryLimiter(RateLimit(), clock)
    limiter.acquire(KEY, 0)
    limiter.observe(KEY, {}, 200)
    limiter.acquire(KEY, 0)

    class Refuse:
        def __enter__(self) -> None:
            raise AssertionError("took the lock")

        def __exit__(self, *exc: object) -> None:
            return None

    limiter._lock = Refuse()  # type: ignore[assignment]
    assert limiter.acquire(KEY, 5) == 0.0
    limiter.observe(KEY, {"x-request-id": "r"}, 200)


@pytest.mark.parametrize("status", [200, 429])
def test_learned_limits_survive_a_429s_headers(
    make: Make, clock: VirtualClock, status: int
) -> None:
    limiter = make(RateLimit())
    limiter.acquire(KEY, 0)
    limiter.observe(KEY, limits((600, 0, "100ms"), **{"retry-after": "1"}), status)
    wait = limiter.acquire(KEY, 0)
    # None left at 600 a minute: 0.1 s for one request, 429 or not (its Retry-After is
    # the retry policy's, not the key's).
    assert 0.1 - 0.001 <= wait <= 0.1 + SLACK


def test_free_says_what_acquire_would_do(make: Make, clock: VirtualClock) -> None:
    """free() (callers skip estimating tokens on its word) is true only while acquire
    takes nothing, whatever the tokens; a key with limits is never free."""
    limiter = make(RateLimit())
    assert not limiter.free(KEY)  # unknown: gated
    limiter.acquire(KEY, 0)
    limiter.observe(KEY, {}, 200)
    limiter.acquire(KEY, 0)
    assert limiter.free(KEY)
    assert [limiter.acquire(KEY, 10**6) for _ in range(50)] == [0.0] * 50
    clock.sleep(60.0)
    limiter.observe(KEY, limits((60, 0, "1s")), 429)
    assert not limiter.free(KEY)
    assert limiter.acquire(KEY, 0) > 0
    configured = make(RateLimit(requests_per_minute=60))
    configured.acquire(KEY, 0)
    configured.observe(KEY, {}, 200)
    assert not configured.free(KEY)


def test_a_request_of_no_estimated_tokens_waits_out_the_tokens_owed(
    make: Make, clock: VirtualClock
) -> None:
    """A decorated call is estimated at 0 tokens; the tokens its response reports are
    charged after it, and the next request waits until they are paid back."""
    limiter = make(RateLimit(tokens_per_minute=6000))  # 100 a second
    assert limiter.acquire(KEY, 0) == 0.0
    limiter.reconcile(KEY, 0, 600)  # six seconds' worth
    wait = limiter.acquire(KEY, 0)
    assert 5.0 <= wait <= 6.0 + SLACK
    clock.sleep(6.0)
    assert limiter.acquire(KEY, 0) == 0.0


def test_a_request_above_the_minute_is_charged_a_minute_and_refunded_when_refused(
    make: Make, clock: VirtualClock
) -> None:
    limiter = make(RateLimit(tokens_per_minute=6000))
    assert limiter.acquire(KEY, 60_000) == 0.0  # ten minutes' worth, charged as one
    wait = limiter.acquire(KEY, 10)
    assert 55.0 <= wait <= 61.0
    limiter.refund(KEY, 60_000)  # the server refused it: nothing was used
    assert limiter.acquire(KEY, 10) <= 1.0 + SLACK


def test_callers_who_leave_the_line_give_their_places_back(make: Make, clock: VirtualClock) -> None:
    """Refused callers are lined up one request's worth apart; those who leave instead of
    asking again (cancelled, out of time) must not hold the callers after them."""
    limiter = make(RateLimit(requests_per_minute=600))  # one every 0.1 s
    while limiter.acquire(KEY, 0) == 0.0:  # the burst; the first caller refused is lined
        pass
    waits = [limiter.acquire(KEY, 0) for _ in range(20)]
    assert waits[-1] >= 1.9  # lined up
    for _ in range(21):
        limiter.leave(KEY, 0)
    assert limiter.acquire(KEY, 0) <= 0.1 + SLACK


def test_leaving_an_empty_line_gives_no_capacity(make: Make, clock: VirtualClock) -> None:
    """A leave moves the line back, never the bucket: it gives no capacity away."""
    limiter = make(RateLimit(requests_per_minute=600))  # one every 0.1 s
    limiter.leave(KEY, 0)  # an unknown key: nothing to give back
    assert limiter.acquire(KEY, 0) == 0.0
    spacing = limiter.acquire(KEY, 0)  # refused: the bucket is empty
    assert 0 < spacing <= 0.1 + SLACK
    for _ in range(5):
        limiter.leave(KEY, 0)
    assert limiter.acquire(KEY, 0) > 0  # still refused: leaving made no capacity


def test_a_429_gives_back_only_a_request_larger_than_the_whole_limit(
    make: Make, clock: VirtualClock
) -> None:
    """A 429 for capacity keeps its charge (back-pressure on a crowded key); a request
    larger than the whole limit, which the server can never admit, gets its tokens back."""
    limiter = make(RateLimit(tokens_per_minute=6000))  # 100 a second, a burst of 100
    assert limiter.acquire(KEY, 3000) == 0.0  # thirty seconds' worth
    limiter.refund(KEY, 3000, oversized_only=True)  # refused for capacity: kept
    assert limiter.acquire(KEY, 10) >= 25.0
    other = "https://api.openai.com/v1|gpt-5"
    assert limiter.acquire(other, 60_000) == 0.0  # above the minute: charged a minute
    limiter.refund(other, 60_000, oversized_only=True)  # too large: given back
    assert limiter.acquire(other, 10) <= 1.0 + SLACK
