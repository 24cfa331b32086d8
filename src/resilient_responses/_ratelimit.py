"""Client-side pacing: requests and tokens per minute per key, configured or learned from the
server's ``x-ratelimit-*`` headers, so callers stop discovering the quota by hitting it.

The algorithm is pyrate-limiter's GCRA (a leaky bucket kept as one "theoretical arrival
time" per rate): it paces smoothly at the rate while letting a small burst through, takes a
weight per item (a request's tokens), says in closed form how long a refused item must wait,
keeps constant state per key, and ships the same step as a Redis Lua script (the fleet store
runs it, see :mod:`._redis_scripts`). This module is the configuration and the header reader
(what the server says, and the holds it implies); the in-process limiter that applies them
is :mod:`._memory_limiter`.

Semantics shared by every store (the Redis limiter mirrors them in Lua):

* Per key and per dimension (requests: weight 1; tokens: the request's estimate), a GCRA
  rate of ``limit`` per minute with ``burst = max(1, floor(limit * burst_seconds / 60))``.
  A key starts with room for one request only: its first request goes at once, and the
  burst is earned by idling (the server's short-period bucket may be spent already: by
  the requests that taught us the limit, or by the process we replace).
* A token weight above the burst is admitted against a full bucket and charged in full
  (the bucket goes into debt), as the API does with a request larger than its burst.
* ``from_headers``: a limit not configured is learned from the headers; capacity the
  server says is used up holds every caller of the key (a 429's Retry-After is left to the
  retry policy of the call that got it).
* ``from_headers`` with nothing configured: while no answer for a key was observed, one
  caller goes alone and the others wait for its answer (at most ``GATE_SECONDS``); an
  answer without x-ratelimit headers marks the key free (no pacing, a dict lookup).
* A refused caller takes nothing. It is told when capacity for it is back (GCRA's exact
  retry-after); callers refused while others already wait are lined up behind them, one
  request's worth of capacity apart (see :data:`QUEUE_AHEAD`), so each asks about once.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import httpx2

from ._checks import check_bool, check_seconds
from ._classify import parse_retry_after
from ._tokens import estimate_tokens

__all__ = [
    "GATE_POLL",
    "GATE_SECONDS",
    "JITTER",
    "QUEUE_AHEAD",
    "RateLimit",
    "Reading",
    "burst_for",
    "estimate_tokens",
    "glance",
    "hold_seconds",
    "jittered",
    "parse_duration",
    "read_headers",
    "reconcile_delta",
]

#: How long the first caller of an unknown key holds the others back (seconds): after
#: that, if no answer came, the key is open until one does (a slow model must not stall
#: every caller behind its first call).
GATE_SECONDS: Final = 2.0
#: How often callers held back by the first-call gate ask again (seconds).
GATE_POLL: Final = 0.05
#: At most this much (seconds, uniform) is added to every wait, so waiters spread out.
JITTER: Final = 0.002
#: Callers refused at once are lined up, each told the moment its turn should come (the
#: next one one request's worth of capacity later), at most this far ahead (seconds);
#: later ones are told to ask again then. Without it every waiter would wake at every
#: free slot: N asks (N Redis round trips, N task wake-ups) per admission.
QUEUE_AHEAD: Final = 5.0
#: How long a key known to have no limits is trusted before an answer's headers are read
#: again (seconds): a server that starts sending limits is heard within this.
FREE_TRUST: Final = 5.0
#: The largest limit a RateLimit accepts, per minute.
MAX_PER_MINUTE: Final = 1e10
#: The smallest (one request per 1,000 minutes).
MIN_PER_MINUTE: Final = 1e-3

LIMIT_REQUESTS: Final = "x-ratelimit-limit-requests"
LIMIT_TOKENS: Final = "x-ratelimit-limit-tokens"
_HEADERS: Final = (
    LIMIT_REQUESTS,
    "x-ratelimit-remaining-requests",
    "x-ratelimit-reset-requests",
    LIMIT_TOKENS,
    "x-ratelimit-remaining-tokens",
    "x-ratelimit-reset-tokens",
)


def _check_limit(name: str, value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number per minute or None, got {type(value).__name__}")
    if math.isnan(value) or not MIN_PER_MINUTE <= value <= MAX_PER_MINUTE:
        raise ValueError(
            f"{name} must be a finite number per minute in [{MIN_PER_MINUTE:g}, "
            f"{MAX_PER_MINUTE:g}], or None; got {value!r}"
        )
    return float(value)


def burst_for(per_minute: float, burst_seconds: float) -> int:
    """The GCRA burst of a limit: *burst_seconds* worth of it, at least 1.

    >>> burst_for(1200, 1.0), burst_for(30, 1.0), burst_for(90_000, 0.5)
    (20, 1, 750)
    """
    return max(1, math.floor(per_minute * burst_seconds / 60))


@dataclass(frozen=True, slots=True)
class RateLimit:
    """Client-side pacing per key (base URL + model): ``Resilience(rate_limit=RateLimit())``.

    Before each attempt a call waits for one request and its estimated tokens of its key's
    capacity. *requests_per_minute* / *tokens_per_minute* configure a limit; with
    *from_headers* (default) the limits not configured are learned from the server's
    ``x-ratelimit-*`` headers, and the server saying capacity is used up holds every caller
    of the key until it is back (a 429's Retry-After is the retry policy of the call that
    received it, not the key's). With nothing configured
    the first call of a key goes alone, so a crowd of first calls does not burst into a
    limit nobody knows yet; a server that sends no x-ratelimit headers is not paced.

    *burst_seconds* (0 < s <= 60): how much may go at once after an idle spell: that many
    seconds' worth of each limit (at least one request). OpenAI enforces a per-minute quota
    over shorter periods, so a minute's requests sent in one second still earn 429s.

    Over any window of ``w`` seconds a key admits at most ``limit * w / 60 + burst``
    (requests, and tokens plus the excess of a request larger than the burst).

    >>> RateLimit(requests_per_minute=500, tokens_per_minute=200_000).burst_seconds
    1.0
    """

    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None
    from_headers: bool = True
    burst_seconds: float = 1.0

    def __post_init__(self) -> None:
        requests = _check_limit("RateLimit.requests_per_minute", self.requests_per_minute)
        tokens = _check_limit("RateLimit.tokens_per_minute", self.tokens_per_minute)
        check_bool("RateLimit.from_headers", self.from_headers)
        burst = check_seconds("RateLimit.burst_seconds", self.burst_seconds, allow_zero=False)
        if burst > 60:
            raise ValueError(
                f"RateLimit.burst_seconds must be a number of seconds in (0, 60], "
                f"got {self.burst_seconds!r}"
            )
        if not self.from_headers and requests is None and tokens is None:
            raise ValueError(
                "RateLimit(from_headers=False) without requests_per_minute or "
                "tokens_per_minute paces nothing; pass rate_limit=None to turn pacing off"
            )
        object.__setattr__(self, "requests_per_minute", requests)
        object.__setattr__(self, "tokens_per_minute", tokens)
        object.__setattr__(self, "burst_seconds", burst)

    @property
    def configured(self) -> bool:
        """A limit is configured (a decorated call, which sees no headers, is paced)."""
        return self.requests_per_minute is not None or self.tokens_per_minute is not None

    @property
    def gated(self) -> bool:
        """Unknown keys send their first call alone (learning, nothing configured)."""
        return (
            self.from_headers
            and self.requests_per_minute is None
            and (self.tokens_per_minute is None)
        )


# -- reading the headers ---------------------------------------------------------------------

_UNITS: Final = {
    "h": 3600.0,
    "m": 60.0,
    "s": 1.0,
    "ms": 1e-3,
    "us": 1e-6,
    "µs": 1e-6,  # Go writes the micro sign (U+00B5)
    "μs": 1e-6,  # and reads the Greek mu (U+03BC)
    "ns": 1e-9,
}
_PART: Final = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|h|m|s)")


def parse_duration(text: str) -> float | None:
    """Seconds in a Go duration as the API writes ``x-ratelimit-reset-*``; ``None`` when
    it is not one.

    >>> [parse_duration(t) for t in ("20ms", "1s", "6m0s", "1m30.5s", "1h0m0s", "0")]
    [0.02, 1.0, 360.0, 90.5, 3600.0, 0.0]
    >>> parse_duration("soon") is None
    True
    """
    text = text.strip()
    if text == "0":
        return 0.0
    total = 0.0
    position = 0
    for match in _PART.finditer(text):
        if match.start() != position:
            return None
        total += float(match[1]) * _UNITS[match[2]]
        position = match.end()
    if position == 0 or position != len(text):
        return None
    return total


def _count(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        number = int(value.strip())
    except ValueError:
        try:
            real = float(value)
        except ValueError:
            return None
        if not math.isfinite(real):
            return None
        number = math.floor(real)
    return number if number >= 0 else None


def _duration(value: str | None) -> float | None:
    return None if value is None else parse_duration(value)


@dataclass(frozen=True, slots=True)
class Reading:
    """What one answer's headers say about the quota (``None``: not said or unreadable).

    Attributes:
        limit_requests, remaining_requests, reset_requests: ``x-ratelimit-*-requests``
            (reset in seconds: until the per-minute bucket is full again).
        limit_tokens, remaining_tokens, reset_tokens: the same for tokens.
        retry_after: a 429's ``retry-after-ms`` / ``retry-after`` (seconds).
    """

    limit_requests: int | None = None
    remaining_requests: int | None = None
    reset_requests: float | None = None
    limit_tokens: int | None = None
    remaining_tokens: int | None = None
    reset_tokens: float | None = None
    retry_after: float | None = None

    @property
    def limits(self) -> bool:
        """Whether the answer carried a limit at all."""
        return self.limit_requests is not None or self.limit_tokens is not None


def _normalized(headers: Mapping[str, str]) -> Mapping[str, str]:
    # httpx2.Headers (what the SDK hands over) is case-insensitive already.
    if isinstance(headers, httpx2.Headers) or not headers:
        return headers
    return {k.lower(): v for k, v in headers.items()}


def read_headers(headers: Mapping[str, str], status: int | None = None) -> Reading:
    """The quota as one answer's headers state it (a 429's Retry-After included).

    >>> read_headers({"x-ratelimit-limit-requests": "60", "x-ratelimit-remaining-requests":
    ...     "0", "x-ratelimit-reset-requests": "1s"}).remaining_requests
    0
    """
    headers = _normalized(headers)
    limit_r, remaining_r, reset_r, limit_t, remaining_t, reset_t = (
        headers.get(name) for name in _HEADERS
    )
    limit_requests = _count(limit_r)
    limit_tokens = _count(limit_t)
    return Reading(
        limit_requests=limit_requests or None,
        remaining_requests=_count(remaining_r),
        reset_requests=_duration(reset_r),
        limit_tokens=limit_tokens or None,
        remaining_tokens=_count(remaining_t),
        reset_tokens=_duration(reset_t),
        retry_after=parse_retry_after(headers) if status == 429 else None,
    )


def _refill_time(deficit: float, limit: int | None, reset: float | None) -> float:
    # Until *deficit* units are back: at limit/60 per second, never past the full reset.
    waits = [reset] if reset is not None else []
    if limit:
        waits.append(deficit * 60.0 / limit)
    return min(waits) if waits else 0.0


def hold_seconds(reading: Reading, status: int | None, typical_tokens: float) -> float:
    """How long every caller of the key should wait after this answer (0: not at all).

    Capacity the server says is used up: no request left, or fewer tokens left than a
    typical request needs, holds until that much is back (the refill at the limit's rate,
    never past the reset header: "until the bucket is full" would hold a minute for one
    request's worth). A 429's Retry-After is not the key's business: it governs the retry
    of the call that got it (its ``ErrorPolicy``, which may say not to respect it), while
    the quota state comes from the x-ratelimit headers real 429s carry too.

    >>> hold_seconds(Reading(limit_requests=1200, remaining_requests=0, reset_requests=9.0),
    ...     200, 0.0)
    0.05
    """
    hold = 0.0
    if reading.remaining_requests is not None and reading.remaining_requests < 1:
        hold = _refill_time(1.0, reading.limit_requests, reading.reset_requests)
    need = max(1.0, typical_tokens)
    if reading.remaining_tokens is not None and reading.remaining_tokens < need:
        wait = _refill_time(
            need - reading.remaining_tokens, reading.limit_tokens, reading.reset_tokens
        )
        hold = max(hold, wait)
    return hold if math.isfinite(hold) else 0.0


def _short(headers: Mapping[str, str], name: str, need: float) -> bool:
    remaining = _count(headers.get(name))
    return remaining is not None and remaining < need


def glance(
    headers: Mapping[str, str],
    limit_requests: str | None,
    limit_tokens: str | None,
    status: int | None,
    typical_tokens: float,
) -> tuple[int | None, int | None, float]:
    """``(requests limit, tokens limit, hold seconds)`` of an answer whose limit headers
    (*limit_requests*, *limit_tokens*) were read already: the cheap read of the common
    answer (capacity left, not a 429); resets and Retry-After are parsed only when
    capacity is used up or the answer is a 429 (then it is :func:`hold_seconds`)."""
    hold = 0.0
    if (
        status == 429
        or _short(headers, _HEADERS[1], 1.0)
        or _short(headers, _HEADERS[4], max(1.0, typical_tokens))
    ):
        hold = hold_seconds(read_headers(headers, status), status, typical_tokens)
    return _count(limit_requests) or None, _count(limit_tokens) or None, hold


def jittered(wait: float) -> float:
    """*wait* plus up to :data:`JITTER` seconds, so the callers it holds back spread out
    (0.0 stays 0.0)."""
    return wait + random.random() * JITTER if wait > 0 else 0.0


def reconcile_delta(estimated: int, actual: int) -> int:
    """Tokens to charge once a response reports *actual* where *estimated* were taken: the
    excess, never a refund.

    The API counts a request's estimate (``max_output_tokens`` included) against the quota
    when it admits it, and gives nothing back when fewer were used (the kit's fake does
    the same): a client that refunded the difference would send faster than the server
    counts, and earn 429s (12 of 200 calls against the fake's token quota, none without).

    >>> reconcile_delta(1200, 1500), reconcile_delta(1200, 300)
    (300, 0)
    """
    return max(0, actual - max(0, estimated))
