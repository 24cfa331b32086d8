"""Property tests of the pure core: decide, PolicyTable.lookup, Backoff, parse_retry_after,
classify. No I/O: Hypothesis hammers them directly."""

from __future__ import annotations

import asyncio
import math
from datetime import datetime, timezone
from email.utils import format_datetime
from typing import Any

import httpx2
import openai
import pytest
from hypothesis import given
from hypothesis import strategies as st

from resilient_responses import Backoff, ErrorPolicy, Failure, classify
from resilient_responses._classify import parse_retry_after
from resilient_responses._policy import (
    DEFAULT_POLICIES,
    GIVE_UP_REASONS,
    PolicyTable,
    Situation,
    decide,
)

from ._support import connection_error, sdk_error

STATUSES = [400, 401, 403, 404, 408, 409, 418, 422, 429, 500, 502, 503, 504, 529]
CODES = [None, "server_error", "rate_limit_exceeded", "insufficient_quota", "odd_code"]
KINDS = ["connection", "timeout", "stream_truncated", "stream_stalled", "stream_error"]

retry_afters = st.one_of(
    st.none(),
    st.floats(min_value=0.0, max_value=300.0),
    st.just(math.inf),
)


@st.composite
def failures(draw: st.DrawFn) -> Failure:
    if draw(st.booleans()):
        status = draw(st.sampled_from(STATUSES))
        code = draw(st.sampled_from(CODES))
        exception = sdk_error(status, code) if draw(st.booleans()) else None
        return Failure(
            kind="status",
            status=status,
            code=code,
            retry_after=draw(retry_afters),
            should_retry=draw(st.sampled_from([None, None, True, False])),
            exception=exception,
            oversized=status == 429 and draw(st.booleans()),
        )
    kind = draw(st.sampled_from(KINDS))
    code = draw(st.sampled_from(CODES)) if kind == "stream_error" else None
    exception = connection_error() if kind == "connection" else None
    return Failure(kind=kind, code=code, exception=exception)


backoffs = st.builds(
    Backoff,
    initial=st.floats(min_value=0.0, max_value=10.0),
    maximum=st.floats(min_value=0.0, max_value=60.0),
    multiplier=st.floats(min_value=1.0, max_value=5.0),
    jitter=st.sampled_from(["full", "equal", "none"]),
)

policies = st.builds(
    ErrorPolicy,
    retry=st.booleans(),
    attempts=st.one_of(st.none(), st.integers(1, 8)),
    backoff=st.one_of(st.none(), backoffs),
    respect_retry_after=st.booleans(),
    max_retry_after=st.floats(min_value=0.0, max_value=200.0),
    trips_breaker=st.booleans(),
)

user_tables = st.dictionaries(
    st.sampled_from(
        [
            429,
            503,
            500,
            408,
            "server_error",
            "rate_limit_exceeded",
            "timeout",
            "connection",
            openai.InternalServerError,
            openai.APIStatusError,
            openai.APIConnectionError,
        ]
    ),
    policies,
    max_size=4,
)


@given(
    sequence=st.lists(failures(), min_size=1, max_size=12),
    user=user_tables,
    attempts=st.integers(1, 10),
    backoff=backoffs,
    deadline=st.one_of(st.none(), st.floats(min_value=0.001, max_value=120.0)),
)
def test_decide_bounds_attempts_waits_and_the_deadline(
    sequence: list[Failure],
    user: dict[Any, ErrorPolicy],
    attempts: int,
    backoff: Backoff,
    deadline: float | None,
) -> None:
    """Replaying any failure sequence through decide: a retry is only granted while
    attempt < the policy's limit; a non-retryable or server-declined failure is never
    retried; every wait is in [0, cap] (cap: the backoff maximum, or exactly the respected
    Retry-After, itself <= max_retry_after); the summed waits never pass the deadline."""
    table = PolicyTable(user)
    attempt, elapsed = 1, 0.0
    while True:
        failure = sequence[min(attempt - 1, len(sequence) - 1)]
        policy = table.lookup(failure)
        decision = decide(
            Situation(
                failure=failure,
                policy=policy,
                attempt=attempt,
                attempts=attempts,
                backoff=backoff,
                elapsed=elapsed,
                deadline=deadline,
            )
        )
        limit = policy.attempts if policy.attempts is not None else attempts
        if not policy.retry:
            assert (decision.retry, decision.reason) == (False, "not_retryable")
        if failure.should_retry is False:
            assert not decision.retry
        if not decision.retry:
            assert decision.reason is not None
            break
        assert attempt < limit
        ra = failure.retry_after
        if policy.respect_retry_after and ra is not None and ra > 0:
            assert decision.wait == ra
            assert ra <= policy.max_retry_after
        else:
            assert 0.0 <= decision.wait <= (policy.backoff or backoff).maximum
        elapsed += decision.wait
        assert deadline is None or elapsed <= deadline
        attempt += 1
    assert attempt <= max(attempts, 8)
    first = table.lookup(sequence[0])
    if not first.retry:
        assert attempt == 1


@given(
    failure=failures(),
    attempt=st.integers(1, 20),
    attempts=st.integers(1, 20),
    backoff=backoffs,
    elapsed=st.floats(min_value=0, max_value=200),
    deadline=st.one_of(st.none(), st.floats(min_value=0.001, max_value=200)),
)
def test_decide_never_retries_past_the_last_attempt(
    failure: Failure,
    attempt: int,
    attempts: int,
    backoff: Backoff,
    elapsed: float,
    deadline: float | None,
) -> None:
    """attempt >= attempts (no policy override) always gives up, with a reason."""
    policy = ErrorPolicy()
    decision = decide(
        Situation(
            failure=failure,
            policy=policy,
            attempt=attempt,
            attempts=attempts,
            backoff=backoff,
            elapsed=elapsed,
            deadline=deadline,
        )
    )
    if attempt >= attempts:
        assert not decision.retry
    if decision.retry:
        assert deadline is None or elapsed + decision.wait <= deadline
        assert decision.wait >= 0


@given(
    failure=failures(),
    policy=policies,
    attempt=st.integers(1, 20),
    attempts=st.integers(1, 20),
    backoff=backoffs,
    elapsed=st.floats(min_value=0, max_value=200),
    deadline=st.one_of(st.none(), st.floats(min_value=0.001, max_value=200)),
    testing_attempts=st.one_of(st.none(), st.integers(1, 20)),
    recoverable=st.booleans(),
    breaker_open=st.booleans(),
    budget_left=st.booleans(),
)
def test_decide_rules_every_reason_in_a_fixed_order(
    failure: Failure,
    policy: ErrorPolicy,
    attempt: int,
    attempts: int,
    backoff: Backoff,
    elapsed: float,
    deadline: float | None,
    testing_attempts: int | None,
    recoverable: bool,
    breaker_open: bool,
    budget_left: bool,
) -> None:
    """The whole decision from one frozen situation: each reason wins exactly when every
    reason before it allowed a retry, and a retry is granted only when none applies."""
    situation = Situation(
        failure=failure,
        policy=policy,
        attempt=attempt,
        attempts=attempts,
        backoff=backoff,
        elapsed=elapsed,
        deadline=deadline,
        testing_attempts=testing_attempts,
        recoverable=recoverable,
        breaker_open=breaker_open,
        budget_left=budget_left,
    )
    decision = decide(situation)
    limit = policy.attempts if policy.attempts is not None else attempts
    if testing_attempts is not None:
        limit = min(limit, testing_attempts)
    ra = failure.retry_after
    waits_for_server = policy.respect_retry_after and ra is not None and ra > 0
    expected = (
        "not_retryable"
        if not policy.retry
        else "server_declined"
        if failure.should_retry is False
        else "request_too_large"
        if failure.oversized
        else "not_recoverable"
        if not recoverable
        else "attempts_exhausted"
        if attempt >= limit
        else "retry_after_too_long"
        if waits_for_server and ra is not None and ra > policy.max_retry_after
        else None
    )
    if expected is not None:
        assert (decision.retry, decision.reason) == (False, expected)
        return
    if deadline is not None and elapsed + decision.wait > deadline:
        assert decision.reason == "deadline"
        return
    if decision.reason == "deadline":
        assert deadline is not None
        return
    if breaker_open:
        assert (decision.retry, decision.reason) == (False, "breaker_open")
    elif not budget_left:
        assert (decision.retry, decision.reason) == (False, "retry_budget")
    else:
        assert decision.retry
        assert decision.reason is None
        cap = (policy.backoff or backoff).maximum
        assert decision.wait == ra if waits_for_server else decision.wait <= cap
    assert decision.reason is None or decision.reason in GIVE_UP_REASONS


# -- PolicyTable.lookup: most specific key wins -----------------------------------------------

P_CODE, P_EXC, P_STATUS, P_KIND = (ErrorPolicy(attempts=n) for n in (11, 12, 13, 14))


@given(
    status=st.sampled_from(STATUSES),
    code=st.sampled_from(["server_error", "rate_limit_exceeded", "odd_code"]),
    with_code=st.booleans(),
    with_exc=st.booleans(),
    with_status=st.booleans(),
)
def test_lookup_most_specific_key_wins_code_then_class_then_status(
    status: int, code: str, with_code: bool, with_exc: bool, with_status: bool
) -> None:
    """For an HTTP failure: a code key beats an exception-class key, which beats the status
    key; with none of them the status defaults apply."""
    user: dict[Any, ErrorPolicy] = {}
    if with_code:
        user[code] = P_CODE
    if with_exc:
        user[openai.APIStatusError] = P_EXC
    if with_status:
        user[status] = P_STATUS
    failure = Failure(kind="status", status=status, code=code, exception=sdk_error(status, code))
    got = PolicyTable(user).lookup(failure)
    if with_code:
        assert got is P_CODE
    elif with_exc:
        assert got is P_EXC
    elif with_status:
        assert got is P_STATUS
    else:
        assert got == PolicyTable().lookup(failure)


@given(kind=st.sampled_from(["connection", "timeout"]), with_exc=st.booleans())
def test_lookup_class_beats_kind(kind: str, with_exc: bool) -> None:
    """A transport failure: an exception-class key beats its kind key."""
    user: dict[Any, ErrorPolicy] = {kind: P_KIND}
    if with_exc:
        user[openai.APIConnectionError] = P_EXC
    failure = Failure(kind=kind, exception=connection_error())  # type: ignore[arg-type]
    assert PolicyTable(user).lookup(failure) is (P_EXC if with_exc else P_KIND)


@given(user_429=policies)
def test_user_429_policy_governs_rate_limits_but_insufficient_quota_stays_never(
    user_429: ErrorPolicy,
) -> None:
    """{429: p} changes rate_limit_exceeded handling; the default
    "insufficient_quota": never() still holds (code beats status)."""
    table = PolicyTable({429: user_429})
    rate = Failure(kind="status", status=429, code="rate_limit_exceeded")
    quota = Failure(kind="status", status=429, code="insufficient_quota")
    assert table.lookup(rate) is user_429
    got = table.lookup(quota)
    assert got == ErrorPolicy.never()
    assert (got.retry, got.trips_breaker) == (False, False)


def test_default_table_matches_the_design() -> None:
    """The default table as DESIGN.md states it, checked through lookup."""
    table = PolicyTable()

    def of(status: int, code: str | None = None) -> ErrorPolicy:
        return table.lookup(Failure(kind="status", status=status, code=code))

    for status in (400, 401, 403, 404, 422):
        assert (of(status).retry, of(status).trips_breaker) == (False, False)
    assert (of(429, "insufficient_quota").retry, of(429, "insufficient_quota").trips_breaker) == (
        False,
        False,
    )
    assert (of(429, "rate_limit_exceeded").retry, of(429).trips_breaker) == (True, False)
    for status in (408, 409, 500, 502, 503, 504, 599):
        assert (of(status).retry, of(status).trips_breaker) == (True, True)
    for kind in ("connection", "timeout"):
        policy = table.lookup(Failure(kind=kind))  # type: ignore[arg-type]
        assert (policy.retry, policy.trips_breaker) == (True, True)
    assert DEFAULT_POLICIES["insufficient_quota"] == ErrorPolicy.never()


# -- Backoff ---------------------------------------------------------------------------------


@given(backoff=backoffs, attempt=st.integers(1, 5000))
def test_backoff_waits_are_within_zero_and_the_cap(backoff: Backoff, attempt: int) -> None:
    """Every jitter mode: 0 <= wait <= maximum, finite, for any attempt number."""
    wait = backoff.compute(attempt)
    assert math.isfinite(wait)
    assert 0.0 <= wait <= backoff.maximum


@given(
    initial=st.floats(min_value=0.0, max_value=10.0),
    maximum=st.floats(min_value=0.0, max_value=60.0),
    multiplier=st.floats(min_value=1.0, max_value=4.0),
    attempt=st.integers(1, 40),
)
def test_backoff_shapes_follow_the_exponential_cap(
    initial: float, maximum: float, multiplier: float, attempt: int
) -> None:
    """jitter="none" is exactly min(initial * multiplier**(n-1), maximum); "equal" lies in
    [cap/2, cap]; "full" in [0, cap]."""
    cap = min(initial * multiplier ** (attempt - 1), maximum)
    kwargs = {"initial": initial, "maximum": maximum, "multiplier": multiplier}
    assert Backoff(jitter="none", **kwargs).compute(attempt) == pytest.approx(cap, rel=1e-9)
    equal = Backoff(jitter="equal", **kwargs).compute(attempt)
    assert cap / 2 - 1e-9 <= equal <= cap + 1e-9
    assert 0.0 <= Backoff(jitter="full", **kwargs).compute(attempt) <= cap + 1e-9


# -- parse_retry_after -------------------------------------------------------------------------

NOW = 1_800_000_000.0


@given(ms=st.floats(min_value=0, max_value=1e7), seconds=st.floats(min_value=0, max_value=1e5))
def test_parse_retry_after_numbers(ms: float, seconds: float) -> None:
    """retry-after-ms wins (÷1000), then retry-after seconds; names are case-insensitive."""
    assert parse_retry_after({"Retry-After-Ms": repr(ms), "retry-after": repr(seconds)}) == (
        pytest.approx(ms / 1000)
    )
    assert parse_retry_after({"RETRY-AFTER": repr(seconds)}) == pytest.approx(seconds)


@given(offset=st.integers(min_value=-(10**6), max_value=10**6))
def test_parse_retry_after_http_date_against_a_pinned_now(offset: int) -> None:
    """An HTTP date is seconds from `now`; a date in the past is 0."""
    when = datetime.fromtimestamp(NOW + offset, tz=timezone.utc)
    header = format_datetime(when, usegmt=True)
    assert parse_retry_after({"retry-after": header}, now=NOW) == max(0.0, float(offset))


@given(
    headers=st.dictionaries(
        st.sampled_from(["retry-after", "retry-after-ms", "Retry-After", "x-other"]),
        st.text(max_size=40),
    ),
    now=st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False)),
)
def test_parse_retry_after_is_total_and_never_negative(
    headers: dict[str, str], now: float | None
) -> None:
    """Any header text: no exception, and the result is None or a non-negative number."""
    value = parse_retry_after(headers, now=now)
    assert value is None or value >= 0


@pytest.mark.parametrize("raw", ["-1", "nan", "soon", "", "Wed, 99 Foo 2015", "1_0", "1_000.5"])
def test_parse_retry_after_rejects_negative_nan_and_garbage(raw: str) -> None:
    """Negative, NaN and unparsable values mean "no Retry-After" (Python's digit
    separators too: ``float("1_0")`` is 10, but no HTTP server means that)."""
    assert parse_retry_after({"retry-after": raw}, now=NOW) is None


# -- classify ----------------------------------------------------------------------------------

_EXCEPTIONS = st.sampled_from(
    [
        ValueError("x"),
        TypeError("x"),
        KeyError("x"),
        RuntimeError("x"),
        asyncio.CancelledError(),
        KeyboardInterrupt(),
        SystemExit(1),
        GeneratorExit(),
        StopIteration(),
        openai.OpenAIError("x"),
        connection_error(),
        openai.APITimeoutError(request=connection_error().request),
    ]
)
_OBJECTS = st.one_of(
    st.none(),
    st.integers(),
    st.text(),
    st.binary(),
    st.floats(),
    st.lists(st.integers()),
    st.dictionaries(st.text(), st.text()),
    st.builds(object),
    st.sampled_from([int, object, Exception]),
)


@given(subject=st.one_of(_EXCEPTIONS, _OBJECTS))
def test_classify_is_total_over_exceptions_and_objects(subject: object) -> None:
    """classify never raises, and returns a Failure or None."""
    result = classify(subject)
    assert result is None or isinstance(result, Failure)


@given(
    status=st.integers(400, 599),
    code=st.one_of(st.none(), st.text(max_size=20)),
    retry_after=st.text(max_size=30),
)
def test_classify_is_total_over_sdk_status_errors(
    status: int, code: str | None, retry_after: str
) -> None:
    """Any SDK status error, any Retry-After text: a "status" Failure with that status."""
    try:
        exc = sdk_error(status, code, headers={"retry-after": retry_after})
    except (ValueError, UnicodeEncodeError):  # not encodable as a header: not a real answer
        return
    failure = classify(exc)
    assert failure is not None
    assert (failure.kind, failure.status, failure.code) == ("status", status, code)
    assert failure.retry_after is None or failure.retry_after >= 0
    assert failure.exception is exc


def test_classify_tells_a_request_too_large_for_the_quota_from_a_rate_limit() -> None:
    """The API's words (a 429 with code rate_limit_exceeded either way): only "Request too
    large" is oversized, and only on a 429."""
    too_large = (
        "Request too large for gpt-5 in organization org-x on tokens per min (TPM): Limit "
        "30000, Requested 36055. The input or output tokens must be reduced in order to run "
        "successfully."
    )
    busy = (
        "Rate limit reached for gpt-5 in organization org-x on tokens per min (TPM): Limit "
        "30000, Used 29000, Requested 3082. Please try again in 9.816s."
    )

    def oversized(status: int, message: str) -> bool:
        failure = classify(sdk_error(status, "rate_limit_exceeded", message=message))
        assert failure is not None
        return failure.oversized

    assert oversized(429, too_large)
    assert not oversized(429, busy)
    assert not oversized(400, too_large)
    # A gateway that answers in plain text (the SDK keeps the text as the body).
    request = httpx2.Request("POST", "http://fake.openai.test/v1/responses")
    plain = openai.RateLimitError(
        "Error code: 429", response=httpx2.Response(429, request=request), body=too_large
    )
    failure = classify(plain)
    assert failure is not None
    assert failure.oversized


@pytest.mark.parametrize(
    "subject",
    [asyncio.CancelledError(), KeyboardInterrupt(), ValueError("bug"), SystemExit(0)],
    ids=["CancelledError", "KeyboardInterrupt", "ValueError", "SystemExit"],
)
def test_classify_returns_none_for_what_is_not_a_server_fault(subject: BaseException) -> None:
    """Cancellation, interrupts and the caller's own bugs are "not ours"."""
    assert classify(subject) is None


def test_classify_maps_sdk_transport_errors_to_kinds() -> None:
    """APIConnectionError -> "connection", APITimeoutError -> "timeout"."""
    conn = connection_error()
    assert classify(conn) == Failure(kind="connection", exception=conn)
    timeout = openai.APITimeoutError(request=conn.request)
    assert classify(timeout) == Failure(kind="timeout", exception=timeout)


def test_classify_reads_the_http_date_against_now() -> None:
    """classify(exc, now=...) parses an HTTP-date Retry-After relative to `now`."""
    when = format_datetime(datetime.fromtimestamp(NOW + 42, tz=timezone.utc), usegmt=True)
    failure = classify(sdk_error(429, headers={"retry-after": when}), now=NOW)
    assert failure is not None
    assert failure.retry_after == 42.0


class _HostileEvent:
    """An object whose attributes cannot be read (a broken proxy, a lazy model...)."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"cannot read {name}")


def test_classify_is_total_even_for_objects_whose_attributes_raise() -> None:
    """classify never raises 'for any object', including one whose attribute access
    raises something other than AttributeError."""
    assert classify(_HostileEvent()) is None
