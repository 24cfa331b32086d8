"""Exception or stream event -> :class:`Failure`: the one normalised record of what went wrong.

Pure and total: :func:`classify` never raises and never does I/O. Anything that is not a
fault of the network or the server (cancellation, ``KeyboardInterrupt``, a ``TypeError`` in
the caller's code, a response that failed validation) maps to ``None``: "not ours", and the
engine lets it pass through untouched.
"""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

import httpx2
import openai
from openai.types.responses import Response

from .exceptions import ResilienceError

__all__ = [
    "KNOWN_ERROR_CODES",
    "Failure",
    "FailureKind",
    "answer_failure",
    "classify",
    "parse_retry_after",
]

FailureKind = Literal[
    "status",
    "circuit_open",
    "connection",
    "timeout",
    "pool_timeout",
    "stream_truncated",
    "stream_stalled",
    "stream_sequence",
    "stream_error",
]


def _response_error_codes() -> frozenset[str]:
    # The codes a failed Response can carry, read from the SDK (it knows the newest ones).
    from openai.types.responses import ResponseError

    return frozenset(get_args(ResponseError.model_fields["code"].annotation))


#: OpenAI error codes this library knows by name: HTTP error codes and the codes of a
#: failed Response. A policy key close to one of these but not equal is a typo.
KNOWN_ERROR_CODES: frozenset[str] = _response_error_codes() | {
    "insufficient_quota",
    "rate_limit_exceeded",
    "server_error",
    "context_length_exceeded",
    "invalid_api_key",
    "invalid_request_error",
    "model_not_found",
    "invalid_prompt",
    "invalid_value",
    "invalid_type",
    "unsupported_parameter",
    "unsupported_value",
    "unknown_parameter",
    "missing_required_parameter",
    "string_above_max_length",
    "billing_hard_limit_reached",
    "unsupported_country_region_territory",
}


@dataclass(frozen=True, slots=True)
class Failure:
    """What went wrong with one attempt, in a form policies can match on.

    Attributes:
        kind: ``"status"`` (an HTTP error answer), ``"circuit_open"`` (our own breaker
            refused the attempt; only policies see it), ``"connection"``, ``"timeout"``,
            ``"pool_timeout"`` (no free connection in the local pool: our own exhaustion,
            not the server's), ``"stream_truncated"`` (the body ended without a terminal
            event), ``"stream_stalled"`` (no event within the idle timeout or the deadline),
            ``"stream_sequence"`` (sequence numbers skipped, went back or restarted within
            one response) or ``"stream_error"`` (the server declared a failure inside the
            stream: an ``error`` event or ``response.failed``).
        status: the HTTP status for ``"status"`` failures, else ``None``.
        code: the OpenAI error code (``"insufficient_quota"``, ``"rate_limit_exceeded"``,
            ``"server_error"``, ...), when the server sent one.
        type: the OpenAI error type (``"invalid_request_error"``, ...), when sent.
        retry_after: seconds the server asked us to wait (``retry-after-ms``, then
            ``retry-after`` as seconds or as an HTTP date), ``None`` when absent or unparsable.
        should_retry: the server's ``x-should-retry`` header (``True``/``False``), if sent.
        request_id: the ``x-request-id`` of the failed answer, if any.
        exception: the exception this was classified from (``None`` for stream events).
        oversized: a ``429`` for a request larger than the whole tokens-per-minute limit
            ("Request too large for ... on tokens per min (TPM): Limit 30000, Requested
            36055"): no wait lets it through, so it is never retried.
    """

    kind: FailureKind
    status: int | None = None
    code: str | None = None
    type: str | None = None
    retry_after: float | None = None
    should_retry: bool | None = None
    request_id: str | None = None
    exception: BaseException | None = None
    oversized: bool = False

    def describe(self) -> str:
        """A short human summary, e.g. ``"429 rate_limit_exceeded"`` or ``"connection"``."""
        head = str(self.status) if self.status is not None else self.kind
        return f"{head} {self.code}" if self.code else head


def _too_large(exc: openai.APIStatusError) -> bool:
    """The API's answer to a request larger than the tokens-per-minute limit itself: a 429
    like any rate limit (code ``rate_limit_exceeded``, type ``tokens``), told apart only by
    its message, "Request too large for <model> ... Limit 30000, Requested 36055"."""
    body = exc.body
    message = body.get("message") if isinstance(body, Mapping) else body
    return isinstance(message, str) and "Request too large" in message


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait according to the server, or ``None``.

    Reads ``retry-after-ms`` first, then ``retry-after`` as (possibly fractional) seconds,
    then ``retry-after`` as an HTTP date relative to *now* (``time.time()`` by default).
    A negative, NaN or unparsable value (digit separators included: ``1_0`` is not ten
    seconds) is skipped (the next form is tried, ``None`` when none is valid); a date in
    the past is ``0.0``;
    an overflowing number is ``math.inf`` (the policy then gives up rather than wait less).
    Header names are matched case-insensitively.
    """
    lowered = (
        {k.lower(): v for k, v in headers.items()} if not _is_httpx_headers(headers) else headers
    )
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        raw = lowered.get(name)
        if raw is None or "_" in raw:  # "1_0" is Python's syntax for 10, not HTTP's
            continue
        try:
            value = float(raw)
        except ValueError:
            continue
        if math.isnan(value) or value < 0:
            continue  # garbage here must not hide a valid value in the other header
        return value / divisor
    raw = lowered.get("retry-after")
    if raw is None:
        return None
    try:
        parsed = email.utils.parsedate_tz(raw)
        if parsed is None:
            return None
        when = float(email.utils.mktime_tz(parsed))
    except (TypeError, ValueError, OverflowError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


def _is_httpx_headers(headers: Mapping[str, str]) -> bool:
    # httpx2.Headers is already case-insensitive; copying it would cost a dict per failure.
    return isinstance(headers, httpx2.Headers)


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    if headers is None:
        return None
    value = headers.get(name)
    return value if isinstance(value, str) else None


def _should_retry_header(headers: Mapping[str, str] | None) -> bool | None:
    value = _header(headers, "x-should-retry")
    if value == "true":
        return True
    if value == "false":
        return False
    return None


def _attr(obj: object, name: str) -> Any:
    """``getattr(obj, name, None)`` that stays total: a property may raise anything."""
    try:
        return getattr(obj, name, None)
    except Exception:  # noqa: BLE001 - classify() must never raise; cancellation is not Exception
        return None


def _event_failure(event: Any) -> Failure | None:
    if _attr(event, "object") == "response":
        # A Response answered 200 but declared failed by the server (non-streaming create).
        if _attr(event, "status") != "failed":
            return None
        code = _attr(_attr(event, "error"), "code")
        return Failure(kind="stream_error", code=code if isinstance(code, str) else None)
    event_type = _attr(event, "type")
    if event_type == "error":
        code = _attr(event, "code")
        return Failure(kind="stream_error", code=code if isinstance(code, str) else None)
    if event_type == "response.failed":
        code = _attr(_attr(_attr(event, "response"), "error"), "code")
        return Failure(kind="stream_error", code=code if isinstance(code, str) else None)
    return None


def answer_failure(result: object) -> Failure | None:
    """The failure a successful answer declares (a ``Response`` whose status is
    ``"failed"``), else ``None``: :func:`classify` for answers, with the SDK's own
    ``Response`` read directly (once per call)."""
    if type(result) is Response:
        return _event_failure(result) if result.status == "failed" else None
    return classify(result)


def classify(subject: object, *, now: float | None = None) -> Failure | None:
    """Normalise an SDK exception or a Responses stream event into a :class:`Failure`.

    Returns ``None`` for anything that is not a transport or server fault: cancellation,
    programming errors, validation errors, errors this library raised itself, stream
    events other than ``error`` and ``response.failed``, and responses whose status is not
    ``"failed"``.

    >>> import openai, httpx2
    >>> req = httpx2.Request("POST", "https://api.openai.com/v1/responses")
    >>> classify(openai.APITimeoutError(request=req)).kind
    'timeout'
    >>> classify(ValueError("bug")) is None
    True
    """
    if not isinstance(subject, BaseException):
        return _event_failure(subject)
    if isinstance(subject, ResilienceError):
        return None
    if isinstance(subject, openai.APIStatusError):
        headers = subject.response.headers
        return Failure(
            kind="status",
            status=subject.status_code,
            code=subject.code,
            type=subject.type,
            retry_after=parse_retry_after(headers, now=now),
            should_retry=_should_retry_header(headers),
            request_id=subject.request_id,
            exception=subject,
            oversized=subject.status_code == 429 and _too_large(subject),
        )
    if isinstance(subject, httpx2.PoolTimeout) or (
        isinstance(subject, openai.APITimeoutError)
        and isinstance(subject.__cause__, httpx2.PoolTimeout)
    ):
        # No free connection in the local pool: our own exhaustion, not the server's.
        return Failure(kind="pool_timeout", exception=subject)
    if isinstance(subject, (openai.APITimeoutError, httpx2.TimeoutException)):
        return Failure(kind="timeout", exception=subject)
    if isinstance(subject, (openai.APIConnectionError, httpx2.TransportError)):
        return Failure(kind="connection", exception=subject)
    if isinstance(subject, openai.APIResponseValidationError):
        return None
    if isinstance(subject, openai.APIError):
        # An error the SDK raised from inside a stream body (legacy `error` payloads).
        return Failure(kind="stream_error", code=subject.code, type=subject.type, exception=subject)
    return None
