"""The fake's quota: token buckets enforced over short periods, the real x-ratelimit headers,
429 ``rate_limit_exceeded`` with Retry-After, on an injected clock or the real one."""

from __future__ import annotations

import math
import re
import time
from typing import Any

import httpx2
import openai
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from resilient_responses.testing import FakeResponsesAPI, Fault, Quota, VirtualClock, strategies
from resilient_responses.testing._quota import estimate_tokens, go_duration

MODEL = "gpt-5-mini"
BASE = "http://fake.openai.test/v1"


def _fake(quota: Quota) -> tuple[FakeResponsesAPI, VirtualClock]:
    clock = VirtualClock(now=0.0)
    return FakeResponsesAPI(quota=quota, clock=clock), clock


def _post(http: httpx2.Client, **body: Any) -> httpx2.Response:
    return http.post("/responses", json={"model": MODEL, "input": "x", **body})


_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+(?:\.\d+)?)s)?$|^(\d+)ms$")


def parse_duration(text: str) -> float:
    match = _DURATION.match(text)
    assert match, text
    hours, minutes, seconds, millis = match.groups()
    if millis is not None:
        return int(millis) / 1000
    return int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(seconds or 0)


# -- values --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "exc", "words"),
    [
        (lambda: Quota(), ValueError, "requests_per_minute, tokens_per_minute or both"),
        (lambda: Quota(requests_per_minute=0), ValueError, "requests_per_minute"),
        (lambda: Quota(requests_per_minute=1.5), TypeError, "requests_per_minute"),  # type: ignore[arg-type]
        (lambda: Quota(tokens_per_minute=True), TypeError, "tokens_per_minute"),
        (lambda: Quota(tokens_per_minute=-5), ValueError, "tokens_per_minute"),
        (lambda: Quota(requests_per_minute=1, period=0), ValueError, "period"),
        (lambda: Quota(requests_per_minute=1, period=61), ValueError, r"\(0, 60\]"),
        (lambda: Quota(requests_per_minute=1, period=math.nan), ValueError, "period"),
        (lambda: Quota(requests_per_minute=1, period="1"), TypeError, "period"),  # type: ignore[arg-type]
        (lambda: FakeResponsesAPI(quota="x"), TypeError, "quota"),  # type: ignore[arg-type]
        (lambda: FakeResponsesAPI(clock=1.0), TypeError, "clock"),  # type: ignore[arg-type]
    ],
)
def test_validation(build: object, exc: type[Exception], words: str) -> None:
    with pytest.raises(exc, match=words):
        build()  # type: ignore[operator]


def test_a_clock_that_returns_garbage_fails_loudly() -> None:
    with pytest.raises(TypeError, match="clock must return seconds"):
        FakeResponsesAPI(quota=Quota(requests_per_minute=1), clock=lambda: "now")  # type: ignore[arg-type,return-value]


def test_go_durations_like_the_api() -> None:
    cases = {0: "0s", 0.02: "20ms", 0.0004: "1ms", 1: "1s", 1.5: "1.5s", 7.66: "7.66s"}
    cases |= {90.5: "1m30.5s", 360: "6m0s", 3600: "1h0m0s", 3725.25: "1h2m5.25s"}
    for seconds, text in cases.items():
        assert go_duration(seconds) == text
        assert parse_duration(text) == pytest.approx(max(seconds, 0.001) if seconds else 0)


def test_token_estimate() -> None:
    assert estimate_tokens({"input": "abcd"}) == 1
    assert estimate_tokens({"input": "abcde"}) == 2  # rounded up
    assert estimate_tokens({"input": "abcd", "max_output_tokens": 50}) == 51
    items = [{"role": "user", "content": [{"type": "input_text", "text": "a" * 10}]}]
    assert estimate_tokens({"input": items}) == math.ceil((4 + 10 + 10) / 4)
    assert estimate_tokens({"input": None}) == 0
    assert estimate_tokens("not a body") == 0


# -- behaviour --------------------------------------------------------------------------------


def test_a_minute_bucket_its_headers_and_its_429() -> None:
    fake, clock = _fake(Quota(requests_per_minute=60, period=60))
    with httpx2.Client(transport=fake.transport, base_url=BASE) as http:
        answers = [_post(http) for _ in range(60)]
        assert [a.status_code for a in answers] == [200] * 60
        assert answers[0].headers["x-ratelimit-limit-requests"] == "60"
        assert answers[0].headers["x-ratelimit-remaining-requests"] == "59"
        assert answers[0].headers["x-ratelimit-reset-requests"] == "1s"
        assert answers[-1].headers["x-ratelimit-remaining-requests"] == "0"
        assert answers[-1].headers["x-ratelimit-reset-requests"] == "1m0s"
        assert "x-ratelimit-limit-tokens" not in answers[0].headers  # unlimited: no headers
        fake.plan([Fault.status(500)])
        rejected = _post(http)
        assert rejected.status_code == 429
        assert rejected.json() == {
            "error": {
                "message": (
                    "Rate limit reached for gpt-5-mini in organization org-fake on requests per "
                    "min (RPM): Limit 60, Used 60, Requested 1. Please try again in 1s. Visit "
                    "https://platform.openai.com/account/rate-limits to learn more."
                ),
                "type": "requests",
                "param": None,
                "code": "rate_limit_exceeded",
            }
        }
        assert rejected.headers["retry-after"] == "1"
        assert rejected.headers["retry-after-ms"] == "1000"
        assert rejected.headers["x-ratelimit-remaining-requests"] == "0"
        clock.now += 0.999
        assert _post(http).status_code == 429  # not yet
        clock.now += 0.001
        # The rejected requests used no plan entry: the planned 500 hits the next admitted one.
        assert _post(http).status_code == 500
        clock.now += 30
        assert _post(http).headers["x-ratelimit-remaining-requests"] == "29"
    log = fake.requests
    assert [(r.status, r.rate_limited, r.fault) for r in log[60:62]] == [
        (429, True, None),
        (429, True, None),
    ]
    assert log[62].fault == Fault.status(500)
    assert not log[62].rate_limited


def test_a_minute_of_requests_in_one_second_still_earns_429s() -> None:
    """600 requests/minute enforced per second: 10 pass at once, the 11th waits 100 ms
    although the minute still has 590 left."""
    fake, clock = _fake(Quota(requests_per_minute=600))
    with httpx2.Client(transport=fake.transport, base_url=BASE) as http:
        answers = [_post(http) for _ in range(11)]
        assert [a.status_code for a in answers] == [200] * 10 + [429]
        assert answers[9].headers["x-ratelimit-remaining-requests"] == "590"
        assert answers[10].headers["retry-after-ms"] == "100"
        assert answers[10].headers["retry-after"] == "1"
        clock.now += 0.1
        assert _post(http).status_code == 200
        assert _post(http).status_code == 429
        clock.now += 10  # a steady 10 per second always passes
        for _ in range(100):
            clock.now += 0.1
            assert _post(http).status_code == 200


def test_tokens_and_a_request_too_large() -> None:
    fake, clock = _fake(Quota(tokens_per_minute=1000, period=60))
    with httpx2.Client(transport=fake.transport, base_url=BASE) as http:
        body = {"input": "a" * 400, "max_output_tokens": 200}  # 100 + 200 tokens
        answers = [_post(http, **body) for _ in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        assert answers[0].headers["x-ratelimit-remaining-tokens"] == "700"
        assert answers[0].headers["x-ratelimit-reset-tokens"] == "18s"
        assert "x-ratelimit-limit-requests" not in answers[0].headers
        error = answers[3].json()["error"]
        assert (error["type"], error["code"]) == ("tokens", "rate_limit_exceeded")
        assert "Limit 1000, Used 900, Requested 300" in error["message"]
        assert answers[3].headers["retry-after-ms"] == "12000"  # 200 tokens at 1000/60 a second
        too_large = _post(http, input="x", max_output_tokens=1001)
        assert too_large.status_code == 429
        assert too_large.json()["error"]["message"].startswith("Request too large")
        assert "retry-after" not in too_large.headers  # waiting never helps
        clock.now += 12
        assert _post(http, **body).status_code == 200


def test_both_limits_and_headers_on_every_answer() -> None:
    fake, _ = _fake(Quota(requests_per_minute=100, tokens_per_minute=10_000, period=60))
    with fake.client(max_retries=0) as client:
        raw = client.responses.with_raw_response.create(model=MODEL, input="x", background=True)
        created = raw.parse()
        names = [
            f"x-ratelimit-{k}-{d}"
            for k in ("limit", "remaining", "reset")
            for d in ("requests", "tokens")
        ]
        assert all(name in raw.headers for name in names)
        assert raw.headers["x-ratelimit-remaining-tokens"] == "9999"
        stream = client.responses.create(model=MODEL, input="x", stream=True)
        assert stream.response.headers["x-ratelimit-remaining-requests"] == "98"
        list(stream)
        # Endpoints that do not count report the buckets as they are.
        retrieved = client.responses.with_raw_response.retrieve(created.id)
        assert retrieved.headers["x-ratelimit-remaining-requests"] == "98"
        fake.plan([Fault.status(503)])
        with pytest.raises(openai.InternalServerError) as down:
            client.responses.create(model=MODEL, input="x")
        assert down.value.response.headers["x-ratelimit-remaining-requests"] == "97"
        with pytest.raises(openai.NotFoundError) as missing:
            client.responses.retrieve("resp_missing")
        assert missing.value.response.headers["x-ratelimit-limit-tokens"] == "10000"


def test_the_raw_sdk_honours_the_quotas_retry_after_on_the_real_clock() -> None:
    """20 requests at once, then one per 50 ms: 40 sequential calls, each 429 retried by
    the SDK after the fake's ``retry-after-ms``, all succeed and take at least a second."""
    fake = FakeResponsesAPI(quota=Quota(requests_per_minute=1200))
    with fake.client() as client:  # SDK default: 2 retries
        started = time.monotonic()
        for _ in range(40):
            client.responses.create(model=MODEL, input="x")
        elapsed = time.monotonic() - started
    statuses = [r.status for r in fake.requests]
    assert statuses.count(200) == 40
    assert statuses.count(429) >= 1
    first = statuses.index(429)
    assert fake.requests[first].headers["x-stainless-retry-count"] == "0"
    assert fake.requests[first + 1].headers["x-stainless-retry-count"] == "1"
    assert 0.9 <= elapsed < 10


async def test_async_and_over_http() -> None:
    fake, clock = _fake(Quota(requests_per_minute=2, period=60))
    async with fake.async_client(max_retries=0) as client:
        await client.responses.create(model=MODEL, input="x")
        with fake.serve() as base_url:
            with openai.OpenAI(api_key="sk-fake", base_url=base_url, max_retries=0) as http:
                http.responses.create(model=MODEL, input="x", stream=True).close()
                with pytest.raises(openai.RateLimitError) as info:
                    http.responses.create(model=MODEL, input="x")
            assert info.value.code == "rate_limit_exceeded"
            assert info.value.type == "requests"
            assert info.value.response.headers["retry-after-ms"] == "30000"
        with pytest.raises(openai.RateLimitError):
            await client.responses.create(model=MODEL, input="x", stream=True)
        clock.now += 30
        assert (await client.responses.create(model=MODEL, input="x")).status == "completed"
    assert [r.rate_limited for r in fake.requests] == [False, False, True, True, False]


# -- properties --------------------------------------------------------------------------------

_ARRIVALS = st.lists(
    st.one_of(st.just(0.0), st.floats(min_value=0.0, max_value=3.0, allow_nan=False)),
    min_size=1,
    max_size=120,
)
_PERIODS = st.sampled_from([0.25, 1.0, 10.0, 60.0])


def _burst(limit: int, period: float) -> float:
    return max(limit * period / 60, 1.0)


def _worst_window(accepted: list[tuple[float, float]], length: float) -> float:
    """The largest total cost accepted in any window of *length* seconds."""
    return max(
        sum(cost for t, cost in accepted if start <= t <= start + length) for start, _ in accepted
    )


@settings(max_examples=60, deadline=None)
@given(
    limit=st.integers(min_value=1, max_value=30) | st.integers(min_value=1, max_value=1200),
    period=_PERIODS,
    gaps=_ARRIVALS,
)
def test_never_more_requests_than_the_quota_in_any_window(
    limit: int, period: float, gaps: list[float]
) -> None:
    fake, clock = _fake(Quota(requests_per_minute=limit, period=period))
    accepted: list[tuple[float, float]] = []
    with httpx2.Client(transport=fake.transport, base_url=BASE) as http:
        for gap in gaps:
            clock.now += gap
            if _post(http).status_code == 200:
                accepted.append((clock.now, 1.0))
    event("rejected some" if len(accepted) < len(gaps) else "rejected none")
    if not accepted:
        return
    for length in (period, 1.0, 10.0, 60.0):
        bound = _burst(limit, period) + limit * length / 60
        assert _worst_window(accepted, length) <= bound + 1e-6
        assert _worst_window(accepted, length) <= limit * (1 + length / 60) + 1e-6
    assert len(accepted) >= 1  # the first request always passes


@settings(max_examples=60, deadline=None)
@given(
    limit=st.integers(min_value=50, max_value=1000) | st.integers(min_value=50, max_value=5000),
    period=_PERIODS,
    arrivals=st.lists(
        st.tuples(
            st.floats(min_value=0.0, max_value=3.0, allow_nan=False),
            st.integers(min_value=0, max_value=800),  # input characters
            st.one_of(st.none(), st.integers(min_value=1, max_value=400)),  # max_output_tokens
        ),
        min_size=1,
        max_size=80,
    ),
)
def test_never_more_tokens_than_the_quota_in_any_window(
    limit: int, period: float, arrivals: list[tuple[float, int, int | None]]
) -> None:
    fake, clock = _fake(Quota(tokens_per_minute=limit, period=period))
    accepted: list[tuple[float, float]] = []
    largest = 0
    with httpx2.Client(transport=fake.transport, base_url=BASE) as http:
        for gap, chars, max_output in arrivals:
            clock.now += gap
            body: dict[str, Any] = {"input": "a" * chars}
            if max_output is not None:
                body["max_output_tokens"] = max_output
            cost = estimate_tokens(body)
            answer = _post(http, **body)
            if answer.status_code == 200:
                accepted.append((clock.now, float(cost)))
                largest = max(largest, cost)
            else:
                assert answer.json()["error"]["type"] == "tokens"
                assert cost > limit or "retry-after-ms" in answer.headers
    if not accepted:
        return
    burst = _burst(limit, period)
    for length in (period, 1.0, 10.0, 60.0):
        bound = burst + limit * length / 60 + max(0.0, largest - burst)
        assert _worst_window(accepted, length) <= bound + 1e-6
        assert _worst_window(accepted, length) <= limit * (1 + length / 60) + 1e-6


@settings(max_examples=60, deadline=None)
@given(
    limit=st.integers(min_value=1, max_value=30) | st.integers(min_value=1, max_value=600),
    period=_PERIODS,
    gaps=_ARRIVALS,
)
def test_headers_are_consistent_with_the_bucket(
    limit: int, period: float, gaps: list[float]
) -> None:
    """Remaining and reset describe one bucket refilling at limit/60 per second, and the
    Retry-After of a 429 is exactly enough: waiting it, the same request passes."""
    fake, clock = _fake(Quota(requests_per_minute=limit, period=period))
    rate = limit / 60
    previous: int | None = None
    with httpx2.Client(transport=fake.transport, base_url=BASE) as http:
        for gap in gaps:
            clock.now += gap
            answer = _post(http)
            remaining = int(answer.headers["x-ratelimit-remaining-requests"])
            reset = parse_duration(answer.headers["x-ratelimit-reset-requests"])
            assert answer.headers["x-ratelimit-limit-requests"] == str(limit)
            assert 0 <= remaining <= limit - (answer.status_code == 200)
            # remaining = floor(level): the bucket is full again after (limit - level) / rate.
            assert (
                (limit - remaining - 1) / rate - 0.001
                <= reset
                <= (limit - remaining) / rate + 0.001
            )
            if answer.status_code == 200 and previous is not None and gap == 0:
                assert remaining == previous - 1  # no time passed: exactly one request used
            if answer.status_code == 429:
                wait_ms = int(answer.headers["retry-after-ms"])
                assert int(answer.headers["retry-after"]) == math.ceil(wait_ms / 1000)
                assert 1 <= wait_ms <= math.ceil(1000 / rate) + 1
                clock.now += wait_ms / 1000
                retried = _post(http)
                assert retried.status_code == 200
                remaining = int(retried.headers["x-ratelimit-remaining-requests"])
            previous = remaining


@given(quota=strategies.quotas(max_requests_per_minute=50, periods=(0.5, 60)))
def test_quota_strategy_draws_valid_quotas(quota: Quota) -> None:
    assert quota.requests_per_minute is not None or quota.tokens_per_minute is not None
    assert quota.requests_per_minute is None or 1 <= quota.requests_per_minute <= 50
    assert quota.period in (0.5, 60)


def test_quota_strategy_validates() -> None:
    with pytest.raises(InvalidArgument):
        strategies.quotas(periods=(0,))
    with pytest.raises(InvalidArgument):
        strategies.quotas(max_requests_per_minute=0)
