"""Retry-After in its three forms is honoured exactly, capped, and never oversleeps (sync)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import openai
import pytest
from hypothesis import given
from hypothesis import strategies as st

import resilient_responses as rr
from resilient_responses import _classify
from resilient_responses.testing import FakeResponsesAPI, Fault

from ._support import MODEL, Clock, events_named

PINNED = 1_800_000_000.0  # a whole second: HTTP dates have 1 s resolution
PINNED_DT = datetime.fromtimestamp(PINNED, tz=timezone.utc)


@pytest.fixture
def pinned_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pin the wall clock classify() parses HTTP dates against."""
    monkeypatch.setattr(_classify, "time", SimpleNamespace(time=lambda: PINNED))


def _client(fake: FakeResponsesAPI, vtime, **config) -> rr.ResilientOpenAI:
    resilience = rr.Resilience(sleep=vtime.sleep, clock=vtime.clock, **config)
    return rr.ResilientOpenAI(fake.client(), resilience=resilience)


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (Fault.status(429, retry_after_ms=1500), 1.5),
        (Fault.status(429, retry_after_ms=20), 0.02),
        (Fault.status(429, retry_after=7), 7.0),
        (Fault.status(429, retry_after=2.5), 2.5),
        (Fault.status(429, retry_after_date=PINNED_DT + timedelta(seconds=10)), 10.0),
        (Fault.status(503, retry_after=4), 4.0),
        # retry-after-ms wins over retry-after, as in the SDK.
        (Fault.status(429, retry_after=9, retry_after_ms=250), 0.25),
    ],
    ids=["ms", "ms-small", "seconds", "fractional", "http-date", "503-seconds", "ms-wins"],
)
def test_retry_after_is_slept_exactly(fault: Fault, expected: float, vtime, pinned_time) -> None:
    """The one sleep between the failed and the successful attempt equals the header."""
    fake = FakeResponsesAPI()
    fake.plan([fault, None])
    response = _client(fake, vtime).responses.create(model=MODEL, input="hi")
    assert response.status == "completed"
    assert len(fake.requests) == 2
    assert vtime.sleeps == [pytest.approx(expected, abs=1e-9)]


def test_retry_after_http_date_against_the_real_clock_within_one_second(vtime) -> None:
    """Without pinning, an HTTP date 10 s ahead is slept as 10 s minus at most the 1 s the
    date format drops (and the few ms of the request)."""
    fake = FakeResponsesAPI()
    target = datetime.fromtimestamp(time.time() + 10, tz=timezone.utc)
    fake.plan([Fault.status(429, retry_after_date=target), None])
    _client(fake, vtime).responses.create(model=MODEL, input="hi")
    assert len(vtime.sleeps) == 1
    assert 8.5 < vtime.sleeps[0] <= 10.0


def test_retry_after_of_zero_falls_back_to_backoff(vtime) -> None:
    """`retry-after: 0` is not an instruction to hammer: the backoff applies."""
    fake = FakeResponsesAPI()
    fake.plan([Fault.status(429, retry_after=0), None])
    backoff = rr.Backoff(initial=3.0, maximum=3.0, jitter="none")
    _client(fake, vtime, backoff=backoff).responses.create(model=MODEL, input="hi")
    assert vtime.sleeps == [3.0]


@pytest.mark.parametrize(
    "fault",
    [
        Fault.status(429, retry_after=121),
        Fault.status(429, retry_after_ms=120_001),
        Fault.status(503, retry_after=3600),
        Fault.status(429, retry_after_date=PINNED_DT + timedelta(seconds=300)),
    ],
    ids=["seconds", "ms", "503", "http-date"],
)
def test_retry_after_above_max_gives_up_at_once(fault: Fault, vtime, logs, pinned_time) -> None:
    """Retry-After above max_retry_after (120 s): one request, no sleep, the SDK error,
    reason retry_after_too_long."""
    fake = FakeResponsesAPI()
    fake.plan([], then=fault)
    with pytest.raises(openai.APIStatusError) as info:
        _client(fake, vtime).responses.create(model=MODEL, input="hi")
    assert info.value.status_code == fault.status_code
    assert len(fake.requests) == 1
    assert vtime.sleeps == []
    (gave_up,) = events_named(logs, "gave_up")
    assert gave_up["reason"] == "retry_after_too_long"
    assert "retry_after_too_long" in "\n".join(info.value.__notes__)


def test_retry_after_exactly_at_the_cap_is_honoured(vtime) -> None:
    """The cap is inclusive: 120 s is waited, 120.001 s is not."""
    fake = FakeResponsesAPI()
    fake.plan([Fault.status(429, retry_after=120), None])
    _client(fake, vtime).responses.create(model=MODEL, input="hi")
    assert vtime.sleeps == [120.0]


def test_user_max_retry_after_lowers_the_cap(vtime) -> None:
    """ErrorPolicy(max_retry_after=5) on 429 gives up on a 6 s Retry-After."""
    fake = FakeResponsesAPI()
    fake.plan([], then=Fault.status(429, retry_after=6))
    client = _client(fake, vtime, policies={429: rr.ErrorPolicy(max_retry_after=5)})
    with pytest.raises(openai.RateLimitError):
        client.responses.create(model=MODEL, input="hi")
    assert len(fake.requests) == 1
    assert vtime.sleeps == []


def test_respect_retry_after_false_uses_the_backoff(vtime) -> None:
    """ErrorPolicy(respect_retry_after=False) ignores the header (even above the cap)."""
    fake = FakeResponsesAPI()
    fake.plan([Fault.status(429, retry_after=500), None])
    client = _client(
        fake,
        vtime,
        backoff=rr.Backoff(initial=2.0, maximum=2.0, jitter="none"),
        policies={429: rr.ErrorPolicy(respect_retry_after=False, trips_breaker=False)},
    )
    client.responses.create(model=MODEL, input="hi")
    assert vtime.sleeps == [2.0]


def test_retry_after_beyond_the_deadline_gives_up_at_once(vtime, logs) -> None:
    """deadline=5 and Retry-After 10: one request, no sleep, reason deadline."""
    fake = FakeResponsesAPI()
    fake.plan([], then=Fault.status(429, retry_after=10))
    with pytest.raises(openai.RateLimitError) as info:
        _client(fake, vtime, deadline=5).responses.create(model=MODEL, input="hi")
    assert len(fake.requests) == 1
    assert vtime.sleeps == []
    assert [e["reason"] for e in events_named(logs, "gave_up")] == ["deadline"]
    assert "(deadline)" in "\n".join(info.value.__notes__)


_FAULTS = st.sampled_from(
    [
        Fault.status(503),
        Fault.status(500),
        Fault.status(429),
        Fault.connect_error(),
        Fault.timeout(),
        Fault.status(429, retry_after=1),
        Fault.status(429, retry_after=7),
        Fault.status(503, retry_after_ms=2500),
        Fault.status(429, retry_after=30),
    ]
)


@given(
    deadline=st.floats(min_value=0.05, max_value=60.0),
    plan=st.lists(_FAULTS, max_size=10),
    attempts=st.integers(min_value=1, max_value=10),
    initial=st.floats(min_value=0.01, max_value=8.0),
)
def test_sum_of_sleeps_never_exceeds_the_deadline(
    deadline: float, plan: list[Fault], attempts: int, initial: float
) -> None:
    """Whatever the faults, backoff and Retry-After: total sleep <= deadline, at most
    attempts requests, and a call either succeeds or re-raises the last SDK error."""
    clock = Clock()
    fake = FakeResponsesAPI()
    fake.plan(plan)
    resilience = rr.Resilience(
        attempts=attempts,
        deadline=deadline,
        backoff=rr.Backoff(initial=initial, maximum=20.0),
        breaker=None,
        sleep=clock.sleep,
        clock=clock.clock,
    )
    client = rr.ResilientOpenAI(fake.client(), resilience=resilience)
    try:
        client.responses.create(model=MODEL, input="hi")
        succeeded = True
    except openai.APIError:
        succeeded = False
    assert sum(clock.sleeps) <= deadline
    assert len(fake.requests) <= attempts
    assert len(clock.sleeps) == len(fake.requests) - 1
    if succeeded:
        assert len(fake.requests) == len(plan) + 1
