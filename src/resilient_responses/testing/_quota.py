"""A rate-limit quota for the fake, modelled on the API's.

Per-minute limits are token buckets: capacity = the limit, refilled continuously at
limit / 60 per second. Like the API, which enforces a per-minute quota over shorter periods
("60,000 requests/minute may be enforced as 1,000 requests/second"), each bucket also has a
burst bucket of capacity limit * period / 60 refilled at the same rate: a minute's requests
sent in the first second still earn 429s. Pure: the fake passes the time in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from resilient_responses._tokens import estimate_tokens

__all__ = [
    "Admission",
    "Quota",
    "QuotaState",
    "estimate_tokens",
    "go_duration",
    "retry_after_headers",
]

# Float slack when comparing bucket levels (levels up to ~1e8, doubles keep ~1e-8 there).
_EPS = 1e-6
_ORG = "org-fake"
_MORE = "Visit https://platform.openai.com/account/rate-limits to learn more."


def _limit(name: str, value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int > 0 or None, got {type(value).__name__}")
    if value <= 0:
        raise ValueError(f"{name} must be an int > 0 or None, got {value!r}")
    return value


def go_duration(seconds: float) -> str:
    """A duration as the API writes it in ``x-ratelimit-reset-*`` (Go's format, whole
    milliseconds, rounded up).

    >>> [go_duration(s) for s in (0, 0.02, 1, 1.5, 90.5, 360, 3600)]
    ['0s', '20ms', '1s', '1.5s', '1m30.5s', '6m0s', '1h0m0s']
    """
    ms = max(0, math.ceil(seconds * 1000 - 1e-6))
    if ms == 0:
        return "0s"
    if ms < 1000:
        return f"{ms}ms"
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    whole, frac = divmod(rest, 1000)
    secs = f"{whole}.{frac:03d}".rstrip("0").rstrip(".") if frac else str(whole)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


@dataclass(frozen=True, slots=True)
class Quota:
    """A rate-limit quota for :class:`FakeResponsesAPI` (``FakeResponsesAPI(quota=...)``).

    *requests_per_minute* and *tokens_per_minute* (at least one) are token buckets of that
    capacity, refilled continuously at limit / 60 per second. *period* (seconds, 0 < period
    <= 60, default 1) is how finely the API enforces them: a bucket also holds at most
    limit * period / 60 (at least 1) at once, so a burst of a minute's quota in one second
    earns 429s even though the minute has room; ``period=60`` is a plain per-minute bucket.
    A request bigger than the burst bucket passes when that bucket is full (and leaves it in
    debt), so any request within the per-minute limit can pass.

    What counts: ``POST /responses`` and ``POST /responses/compact``, one request and
    :func:`estimate_tokens` tokens each (the characters of ``input`` and ``instructions``
    / 4, rounded up, plus ``max_output_tokens``: the same function the client's
    ``RateLimit`` paces with); other endpoints only report the quota. A request over the quota
    is answered ``429`` with code ``rate_limit_exceeded``, type ``requests`` or ``tokens``,
    and ``retry-after`` (seconds) / ``retry-after-ms``; it consumes nothing. A request whose
    tokens exceed ``tokens_per_minute`` can never pass: ``429`` "Request too large", without
    Retry-After. Every answer carries ``x-ratelimit-limit-*``, ``x-ratelimit-remaining-*``
    (what the per-minute bucket holds, after this request) and ``x-ratelimit-reset-*`` (time
    until it is full again, e.g. ``20ms``, ``6m0s``) for ``requests`` and ``tokens``; a
    limit left ``None`` is unlimited and sends no headers.

    Guarantee (what the property tests pin): in any window of T seconds the fake accepts at
    most ``burst + limit * T / 60`` requests, and as many tokens plus the largest request's
    excess over the burst, where ``burst = max(limit * period / 60, 1)``; never more than
    ``limit * (1 + T / 60)`` in any case.

    Example::

        fake = FakeResponsesAPI(quota=Quota(requests_per_minute=600), clock=VirtualClock())
    """

    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    period: float = 1.0

    def __post_init__(self) -> None:
        _limit("requests_per_minute", self.requests_per_minute)
        _limit("tokens_per_minute", self.tokens_per_minute)
        if self.requests_per_minute is None and self.tokens_per_minute is None:
            raise ValueError("a Quota needs requests_per_minute, tokens_per_minute or both")
        period = self.period
        if isinstance(period, bool) or not isinstance(period, (int, float)):
            raise TypeError(f"period must be a number of seconds, got {type(period).__name__}")
        if not 0 < period <= 60:
            raise ValueError(f"period must be a number of seconds in (0, 60], got {period!r}")


class _Bucket:
    """One per-minute limit: the minute bucket and its burst bucket."""

    __slots__ = ("burst", "burst_level", "level", "limit", "rate", "stamp")

    def __init__(self, limit: int, period: float, now: float) -> None:
        self.limit = float(limit)
        self.rate = limit / 60.0
        self.burst = max(limit * period / 60.0, 1.0)
        self.level = self.limit
        self.burst_level = self.burst
        self.stamp = now

    def refill(self, now: float) -> None:
        elapsed = now - self.stamp
        if elapsed > 0:
            # A clock that goes back (an injected one) refills nothing.
            self.stamp = now
            self.level = min(self.limit, self.level + elapsed * self.rate)
            self.burst_level = min(self.burst, self.burst_level + elapsed * self.rate)

    def wait(self, cost: float) -> float:
        """Seconds until *cost* can pass (0: now)."""
        need = max(cost - self.level, min(cost, self.burst) - self.burst_level)
        return 0.0 if need <= _EPS else need / self.rate

    def take(self, cost: float) -> None:
        self.level -= cost
        self.burst_level -= cost

    def headers(self, kind: str) -> dict[str, str]:
        remaining = max(0, math.floor(self.level + _EPS))
        return {
            f"x-ratelimit-limit-{kind}": str(int(self.limit)),
            f"x-ratelimit-remaining-{kind}": str(remaining),
            f"x-ratelimit-reset-{kind}": go_duration((self.limit - self.level) / self.rate),
        }


@dataclass(frozen=True, slots=True)
class Admission:
    """The quota's verdict on one request.

    Attributes:
        headers: the ``x-ratelimit-*`` headers to send (after this request, if admitted).
        error: the 429 body when rejected, else ``None``.
        retry_after: seconds to wait before the same request would pass (``None``: admitted,
            or it can never pass).
    """

    headers: dict[str, str]
    error: dict[str, Any] | None = None
    retry_after: float | None = None


class QuotaState:
    """The live buckets of a :class:`Quota` (not thread-safe: the fake holds its lock)."""

    __slots__ = ("_requests", "_tokens")

    def __init__(self, quota: Quota, now: float) -> None:
        rpm, tpm = quota.requests_per_minute, quota.tokens_per_minute
        self._requests = None if rpm is None else _Bucket(rpm, quota.period, now)
        self._tokens = None if tpm is None else _Bucket(tpm, quota.period, now)

    def _buckets(self) -> list[tuple[str, _Bucket]]:
        out = []
        if self._requests is not None:
            out.append(("requests", self._requests))
        if self._tokens is not None:
            out.append(("tokens", self._tokens))
        return out

    def _headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        for kind, bucket in self._buckets():
            headers.update(bucket.headers(kind))
        return headers

    def report(self, now: float) -> Admission:
        """The headers of a request that does not count (retrieve, cancel...)."""
        for _, bucket in self._buckets():
            bucket.refill(now)
        return Admission(self._headers())

    def admit(self, body: object, now: float) -> Admission:
        """Admit (and charge) one counted request, or say why not and for how long."""
        tokens = estimate_tokens(body)
        model = body.get("model") if isinstance(body, dict) else None
        model = model if isinstance(model, str) else "the model"
        costs = {"requests": 1.0, "tokens": float(tokens)}
        for _, bucket in self._buckets():
            bucket.refill(now)
        if self._tokens is not None and tokens > self._tokens.limit:
            limit = int(self._tokens.limit)
            message = (
                f"Request too large for {model} in organization {_ORG} on tokens per min "
                f"(TPM): Limit {limit}, Requested {tokens}. The input or output tokens must be "
                f"reduced in order to run successfully. {_MORE}"
            )
            return Admission(self._headers(), _error(message, "tokens"))
        waits = [(bucket.wait(costs[kind]), kind, bucket) for kind, bucket in self._buckets()]
        wait, kind, bucket = max(waits, key=lambda w: w[0])
        if wait > 0:
            used = int(bucket.limit) - max(0, math.floor(bucket.level + _EPS))
            per = "requests per min (RPM)" if kind == "requests" else "tokens per min (TPM)"
            message = (
                f"Rate limit reached for {model} in organization {_ORG} on {per}: "
                f"Limit {int(bucket.limit)}, Used {used}, Requested {int(costs[kind])}. "
                f"Please try again in {go_duration(wait)}. {_MORE}"
            )
            return Admission(self._headers(), _error(message, kind), wait)
        for kind, bucket in self._buckets():
            bucket.take(costs[kind])
        return Admission(self._headers())


def _error(message: str, type_: str) -> dict[str, Any]:
    return {
        "error": {
            "message": message,
            "type": type_,
            "param": None,
            "code": "rate_limit_exceeded",
        }
    }


def retry_after_headers(seconds: float) -> dict[str, str]:
    """``retry-after`` (whole seconds, rounded up) and ``retry-after-ms`` for a wait."""
    # Rounded up, never down: waiting what the header says is always enough.
    ms = max(1, math.ceil(seconds * 1000))
    return {"retry-after": str(max(1, math.ceil(ms / 1000))), "retry-after-ms": str(ms)}
