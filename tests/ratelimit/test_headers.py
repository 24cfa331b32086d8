"""Reading the quota from an answer's headers: Go durations, the six x-ratelimit headers,
Retry-After on a 429, and how long a used-up quota holds a key."""

from __future__ import annotations

import math

import httpx2
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from resilient_responses._ratelimit import (
    Reading,
    glance,
    hold_seconds,
    parse_duration,
    read_headers,
)
from resilient_responses.testing._quota import go_duration

from ._support import limits


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0s", 0.0),
        ("0", 0.0),
        ("20ms", 0.02),
        ("1s", 1.0),
        ("7.66s", 7.66),
        ("6m0s", 360.0),
        ("1m30.5s", 90.5),
        ("1h0m0s", 3600.0),
        ("1h2m5.25s", 3725.25),
        ("1.5h", 5400.0),
        ("250us", 0.00025),
        ("250µs", 0.00025),
        ("100ns", 1e-7),
        (" 2s ", 2.0),
        (".5s", 0.5),
    ],
)
def test_go_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "s", "1", "1x", "-1s", "1s2", "abc", "1m-2s", "1 s", "ms"])
def test_what_is_not_a_duration_is_none(text: str) -> None:
    assert parse_duration(text) is None


@given(st.floats(min_value=0, max_value=30 * 86400, allow_nan=False))
def test_reads_back_every_duration_the_fake_writes(seconds: float) -> None:
    """The kit's fake writes resets as the API does (Go's format, whole milliseconds
    rounded up): the parser reads back exactly those milliseconds."""
    ms = max(0, math.ceil(seconds * 1000 - 1e-6))
    parsed = parse_duration(go_duration(seconds))
    assert parsed is not None
    assert parsed == pytest.approx(ms / 1000, abs=1e-9)


def test_reads_the_six_headers_case_insensitively() -> None:
    headers = limits((1200, 1150, "2.5s"), (90_000, 89_000, "666ms"))
    reading = read_headers({k.upper(): v for k, v in headers.items()})
    assert reading == Reading(1200, 1150, 2.5, 90_000, 89_000, 0.666)
    assert reading.limits
    assert read_headers(httpx2.Headers(headers)) == reading


def test_missing_or_garbled_values_are_none_and_retry_after_counts_only_on_a_429() -> None:
    headers = limits((0, -3, "later"), None, **{"retry-after-ms": "1500"})
    reading = read_headers(headers, 200)
    assert reading == Reading(None, None, None, None, None, None, None)
    assert not reading.limits
    assert read_headers(headers, 429).retry_after == 1.5
    assert read_headers({"retry-after": "3"}, 429).retry_after == 3.0


def test_no_hold_while_capacity_is_left() -> None:
    reading = read_headers(limits((1200, 5, "1s"), (90_000, 5000, "1s")))
    assert hold_seconds(reading, 200, typical_tokens=1000) == 0.0


def test_no_request_left_holds_until_one_is_back_not_until_the_bucket_is_full() -> None:
    # 1,200 per minute refill one request every 50 ms; the reset says when *all* are back.
    reading = read_headers(limits((1200, 0, "59.95s")))
    assert hold_seconds(reading, 200, typical_tokens=0) == pytest.approx(0.05)
    # ...but never past the reset
    assert hold_seconds(read_headers(limits((1200, 0, "20ms"))), 200, 0) == pytest.approx(0.02)


def test_fewer_tokens_left_than_a_typical_request_holds_until_its_tokens_are_back() -> None:
    # 60,000 per minute = 1,000 a second; 600 short of a typical 1,000-token request.
    reading = read_headers(limits(None, (60_000, 400, "59.6s")))
    assert hold_seconds(reading, 200, typical_tokens=1000) == pytest.approx(0.6)
    assert hold_seconds(reading, 200, typical_tokens=300) == 0.0


def test_a_429_holds_what_its_quota_headers_say_and_never_its_retry_after() -> None:
    """Retry-After governs the retry of the call that got the 429 (its policy may say not
    to respect it); the key is held only for capacity the headers say is used up."""
    with_retry = read_headers(limits((1200, 3, "1s"), **{"retry-after-ms": "750"}), 429)
    assert with_retry.retry_after == 0.75  # read, for whoever wants it
    assert hold_seconds(with_retry, 429, 0) == 0.0  # 3 requests left: no hold
    used_up = read_headers(limits((1200, 0, "1s"), **{"retry-after": "30"}), 429)
    assert hold_seconds(used_up, 429, 0) == pytest.approx(0.05)
    assert hold_seconds(read_headers({}, 429), 429, 0) == 0.0  # nothing says how long


def test_a_reset_alone_bounds_the_hold_when_the_limit_is_unknown() -> None:
    reading = Reading(remaining_requests=0, reset_requests=0.3)
    assert hold_seconds(reading, 200, 0) == 0.3
    assert hold_seconds(Reading(remaining_requests=0), 200, 0) == 0.0


counts = (
    st.none()
    | st.integers(0, 3).map(str)
    | st.integers(0, 10**6).map(str)
    | st.sampled_from(["", "x", "-1"])
)
durations = st.none() | st.floats(0, 3600).map(go_duration) | st.just("soon")


@given(
    limit_r=counts,
    remaining_r=counts,
    reset_r=durations,
    limit_t=counts,
    remaining_t=counts,
    reset_t=durations,
    retry=st.none() | st.integers(0, 90_000).map(str),
    status=st.sampled_from([200, 429, 500, None]),
    typical=st.floats(0, 10_000) | st.integers(0, 4).map(float),
)
@example(
    limit_r=None,
    remaining_r="0",
    reset_r="1s",
    limit_t="100",
    remaining_t=None,
    reset_t=None,
    retry=None,
    status=200,
    typical=0.0,
)
def test_the_cheap_read_says_what_the_full_read_says(
    limit_r: str | None,
    remaining_r: str | None,
    reset_r: str | None,
    limit_t: str | None,
    remaining_t: str | None,
    reset_t: str | None,
    retry: str | None,
    status: int | None,
    typical: float,
) -> None:
    """glance() (what observe() runs) parses resets and Retry-After only when capacity is
    used up or the answer is a 429, and then agrees with read_headers() + hold_seconds()."""
    values = {
        "x-ratelimit-limit-requests": limit_r,
        "x-ratelimit-remaining-requests": remaining_r,
        "x-ratelimit-reset-requests": reset_r,
        "x-ratelimit-limit-tokens": limit_t,
        "x-ratelimit-remaining-tokens": remaining_t,
        "x-ratelimit-reset-tokens": reset_t,
        "retry-after-ms": retry,
    }
    headers = {k: v for k, v in values.items() if v is not None}
    if limit_r is None and limit_t is None:
        return  # observe() takes another path: no limit stated
    reading = read_headers(headers, status)
    requests, tokens, hold = glance(headers, limit_r, limit_t, status, typical)
    assert (requests, tokens) == (reading.limit_requests, reading.limit_tokens)
    if hold or status == 429:
        assert hold == hold_seconds(reading, status, typical)
    else:  # not read: only when the full read would not hold either
        assert hold_seconds(reading, status, typical) == 0.0
