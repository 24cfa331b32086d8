"""The in-process rate limiter: :class:`MemoryLimiter`, the default store's
:class:`~resilient_responses._backends.LimiterBackend`.

Glue around pyrate-limiter's GCRA (one "theoretical arrival time" per rate and key) with
the semantics :mod:`._ratelimit` describes: configured or learned limits, the first-call
gate, holds, callers lined up one request's worth of capacity apart. The Redis limiter
(:mod:`._redis_limiter`) runs the same step in Lua and falls back to this one.
"""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Final

from ._ratelimit import (
    FREE_TRUST,
    GATE_POLL,
    GATE_SECONDS,
    LIMIT_REQUESTS,
    LIMIT_TOKENS,
    QUEUE_AHEAD,
    RateLimit,
    _normalized,
    burst_for,
    glance,
    jittered,
    reconcile_delta,
)

if TYPE_CHECKING:
    from pyrate_limiter import GCRA, Rate

    from ._backends import LimiterBackend

__all__ = ["MemoryLimiter"]

#: Weight of the newest request in the running "typical request" token estimate.
_TYPICAL_WEIGHT: Final = 0.2


@functools.cache
def _gcra() -> GCRA:
    # Imported on first use: an application that never paces never pays for pyrate-limiter.
    from pyrate_limiter import GCRA

    return GCRA()


#: pyrate-limiter counts in milliseconds; the in-process limiter hands it microseconds as
#: its "milliseconds" (so its state is in nanoseconds), so a clock's fractions of a
#: millisecond count: waits are exact to the microsecond. (Redis stays in milliseconds:
#: server time in nanoseconds would not fit a Lua double.)
_MINUTE: Final = 60_000_000


def _rate(per_minute: float, burst: int) -> Rate:
    from pyrate_limiter import Rate

    if per_minute == int(per_minute):
        return Rate(int(per_minute), _MINUTE, burst)
    # A fractional limit: the same rate in thousandths over a thousand minutes.
    return Rate(round(per_minute * 1000), _MINUTE * 1000, burst)


class _Dim:
    """One GCRA rate of one key (requests or tokens) and its state."""

    __slots__ = ("burst", "emission", "limit", "rates", "tat")

    def __init__(self, limit: float, burst_seconds: float) -> None:
        self.limit = limit
        self.burst = burst_for(limit, burst_seconds)
        self.rates = [_rate(limit, self.burst)]
        self.emission = int(_gcra().redis_args(self.rates)[0])  # nanoseconds per unit
        # Theoretical arrival time, ns; None: never used (admits one request, then empty).
        self.tat: int | None = None

    def step(self, now_us: int, weight: int) -> tuple[int, int]:
        """``(new_tat, 0)`` when *weight* fits now (not committed), else ``(tat, wait_us)``."""
        tat = self.tat
        if tat is None:
            tat = now_us * 1000 + max(0, self.burst - weight) * self.emission
        state, decision = _gcra().step(self.rates, (tat,), now_us, weight)
        if decision.allowed:
            return int(state[0]), 0
        return tat, max(1, decision.retry_after_ms or 1)

    def shift(self, now_us: int, units: float) -> None:
        """Charge (or refund, when negative) *units* outside admission: GCRA's own
        ``max(tat, now) + weight * emission``, without its admission test."""
        now_ns = now_us * 1000
        base = now_ns if self.tat is None or self.tat < now_ns else self.tat
        self.tat = base + round(units * self.emission)

    def empty(self, now_us: int) -> None:
        """No burst left: the next admission waits one emission interval."""
        floor = now_us * 1000 + self.burst * self.emission
        if self.tat is None or self.tat < floor:
            self.tat = floor


class _Key:
    """What one process knows of one key."""

    __slots__ = (
        "free",
        "gate",
        "hold",
        "known",
        "looked",
        "queue",
        "requests",
        "tokens",
        "typical",
    )

    def __init__(self, config: RateLimit) -> None:
        rpm, tpm = config.requests_per_minute, config.tokens_per_minute
        bs = config.burst_seconds
        self.requests = None if rpm is None else _Dim(rpm, bs)
        self.tokens = None if tpm is None else _Dim(tpm, bs)
        # known: no first-call gate (something configured, or an answer has taught us).
        self.known = not config.gated
        # free: known to have no limit and no hold: acquire returns at once, lock-free.
        self.free = False
        self.gate = 0.0  # clock time the first call's gate times out (0: not taken)
        self.hold = 0.0  # clock time every caller may go again (0: no hold)
        self.typical = 0.0  # running estimate of a request's tokens
        self.queue = 0.0  # clock time the last caller lined up gets its turn
        self.looked = 0.0  # clock time a free key's answer headers were last read

    def cost(self, tokens: int) -> float:
        """Seconds of capacity one request of *tokens* takes at the tighter rate."""
        ns = 0
        if self.requests is not None:
            ns = self.requests.emission
        if self.tokens is not None and tokens > 0:
            ns = max(ns, tokens * self.tokens.emission)
        return ns / 1e9

    def line_up(self, now: float, wait: float, tokens: int) -> float:
        """The wait of a refused caller whose capacity is back in *wait* seconds: behind
        the last caller lined up, by this request's worth of capacity (GCRA's own spacing
        once the bucket is empty)."""
        at = now + wait
        turn = self.queue + self.cost(tokens)
        if turn > at:
            if turn - now > QUEUE_AHEAD:
                return max(wait, QUEUE_AHEAD)  # too far back: ask again then
            at = turn
        self.queue = at
        return at - now

    def leave(self, now: float, tokens: int) -> None:
        """A caller lined up left without asking again: the line moves back by its place."""
        if self.queue > now:
            self.queue = max(now, self.queue - self.cost(tokens))


def _now_us(clock: Callable[[], float]) -> tuple[float, int]:
    now = clock()
    return now, round(now * 1_000_000)


class MemoryLimiter:
    """The in-process :class:`~resilient_responses._backends.LimiterBackend`.

    Thread-safe (one lock; the free path takes none); no I/O, so the async forms call the
    sync ones. *clock* is the engine's (seconds, monotonic or injected).
    """

    __slots__ = ("_clock", "_config", "_keys", "_lock")

    def __init__(self, config: RateLimit, clock: Callable[[], float]) -> None:
        self._config = config
        self._clock = clock
        self._keys: dict[str, _Key] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"MemoryLimiter({self._config!r}, keys={len(self._keys)})"

    def _entry(self, key: str) -> _Key:
        entry = self._keys.get(key)
        if entry is None:
            entry = self._keys[key] = _Key(self._config)
        return entry

    # -- acquire ------------------------------------------------------------------------

    def free(self, key: str) -> bool:
        """Whether *key* is known to have no limits (acquire takes nothing)."""
        entry = self._keys.get(key)
        return entry is not None and entry.free

    def acquire(self, key: str, tokens: int) -> float:
        """Take one request and *tokens* tokens of *key*'s capacity: 0.0 when taken, else
        the seconds to wait before asking again (nothing taken)."""
        entry = self._keys.get(key)
        if entry is not None and entry.free:
            return 0.0
        with self._lock:
            wait = self._acquire_locked(self._entry(key), tokens)
        return jittered(wait)

    def _acquire_locked(self, entry: _Key, tokens: int) -> float:
        now, now_us = _now_us(self._clock)
        if entry.hold:
            if entry.hold > now:
                return entry.line_up(now, entry.hold - now, tokens)
            entry.hold = 0.0
        requests, limited = entry.requests, entry.tokens
        if requests is None and limited is None:
            if entry.known:
                entry.free = True
                return 0.0
            if not entry.gate:
                entry.gate = now + GATE_SECONDS  # this caller goes alone
                return 0.0
            if now < entry.gate:
                return min(GATE_POLL, entry.gate - now)
            return 0.0  # no answer in time: open until one comes
        new_requests = 0
        if requests is not None:
            new_requests, wait_us = requests.step(now_us, 1)
            if wait_us:
                return entry.line_up(now, wait_us / 1e6, tokens)
        if limited is not None:
            # A request of no estimated tokens (a decorated call: its request is not seen)
            # is still held while the bucket is in debt for tokens reported earlier.
            weight = max(1, min(tokens, limited.burst))
            new_tokens, wait_us = limited.step(now_us, weight)
            if wait_us:  # nothing committed: the request unit stays
                return entry.line_up(now, wait_us / 1e6, tokens)
            # Charged in full, but never more than a minute's worth: the server refuses a
            # request larger than its limit, and must not leave the key a longer debt.
            charged = min(tokens, math.ceil(limited.limit))
            limited.tat = new_tokens + (charged - weight) * limited.emission
        if requests is not None:
            requests.tat = new_requests
        if tokens > 0:
            entry.typical = (
                float(tokens)
                if not entry.typical
                else entry.typical + _TYPICAL_WEIGHT * (tokens - entry.typical)
            )
        return 0.0

    async def aacquire(self, key: str, tokens: int) -> float:
        """The async form of :meth:`acquire` (no I/O)."""
        return self.acquire(key, tokens)

    # -- observe ------------------------------------------------------------------------

    def observe(self, key: str, headers: Mapping[str, str], status: int | None) -> None:
        """Learn from one answer (*status* ``None``: the attempt got no answer)."""
        if not self._config.from_headers:
            return
        entry = self._keys.get(key)
        if entry is not None and entry.free and status is not None and 200 <= status < 300:
            # A key known to have no limits: its answers' headers are read again only
            # every few seconds (two case-insensitive lookups per answer add up).
            now = self._clock()
            if now - entry.looked < FREE_TRUST:
                return
            entry.looked = now
        headers = _normalized(headers)
        limit_requests = headers.get(LIMIT_REQUESTS)
        limit_tokens = headers.get(LIMIT_TOKENS)
        if limit_requests is None and limit_tokens is None:
            if entry is not None and entry.free:
                return  # the hot path of a server without limits
            with self._lock:
                entry = self._entry(key)
                entry.gate = 0.0  # answered (or failed): the next caller may go
                if status is not None and 200 <= status < 300 and not entry.known:
                    entry.known = True  # no x-ratelimit headers: nothing to pace
            return
        typical = entry.typical if entry is not None else 0.0
        requests, tokens, hold = glance(headers, limit_requests, limit_tokens, status, typical)
        with self._lock:
            self._learn_locked(self._entry(key), requests, tokens, hold)

    def _learn_locked(
        self, entry: _Key, requests: int | None, tokens: int | None, hold: float
    ) -> None:
        config = self._config
        now, now_us = _now_us(self._clock)
        if config.requests_per_minute is None and requests is not None:
            entry.requests = self._learned(entry.requests, requests, now_us)
        if config.tokens_per_minute is None and tokens is not None:
            entry.tokens = self._learned(entry.tokens, tokens, now_us)
        entry.known = True
        entry.free = False
        entry.gate = 0.0
        if hold > 0:
            entry.hold = max(entry.hold, now + hold)

    def _learned(self, dim: _Dim | None, limit: int, now_us: int) -> _Dim:
        if dim is not None and dim.limit == limit:
            return dim
        fresh = _Dim(limit, self._config.burst_seconds)
        if dim is None:
            # Learned just now: the server's short-period bucket may be spent already.
            fresh.empty(now_us)
        else:
            fresh.tat = dim.tat  # the limit changed; what was sent still counts
        return fresh

    async def aobserve(self, key: str, headers: Mapping[str, str], status: int | None) -> None:
        """The async form of :meth:`observe` (no I/O)."""
        self.observe(key, headers, status)

    # -- reconcile ----------------------------------------------------------------------

    def reconcile(self, key: str, estimated: int, actual: int) -> None:
        """The response reported *actual* tokens where *estimated* were taken: charge the
        excess (see :func:`reconcile_delta`: no refund)."""
        entry = self._keys.get(key)
        if entry is None or entry.tokens is None:
            return
        delta = reconcile_delta(estimated, actual)
        if not delta:
            return
        with self._lock:
            limited = entry.tokens
            if limited is not None:
                limited.shift(_now_us(self._clock)[1], delta)

    async def areconcile(self, key: str, estimated: int, actual: int) -> None:
        """The async form of :meth:`reconcile` (no I/O)."""
        self.reconcile(key, estimated, actual)

    def leave(self, key: str, tokens: int) -> None:
        """A caller told to wait left instead (cancelled, out of time): give its place in
        the line back, so the callers after it are not held for nobody."""
        entry = self._keys.get(key)
        if entry is None:
            return
        with self._lock:
            entry.leave(self._clock(), tokens)

    async def aleave(self, key: str, tokens: int) -> None:
        """The async form of :meth:`leave` (no I/O)."""
        self.leave(key, tokens)

    def refund(self, key: str, tokens: int, *, oversized_only: bool = False) -> None:
        """A request taken at *tokens* was refused before it ran: give its tokens back (as
        much as was charged: a minute's at most); with *oversized_only* (a 429), only
        when it is larger than the whole limit (see ``LimiterBackend.refund``)."""
        entry = self._keys.get(key)
        if entry is None or entry.tokens is None or tokens <= 0:
            return
        with self._lock:
            limited = entry.tokens
            if limited is not None and not (oversized_only and tokens <= limited.limit):
                give = min(tokens, math.ceil(limited.limit))
                limited.shift(_now_us(self._clock)[1], -give)

    async def arefund(self, key: str, tokens: int, *, oversized_only: bool = False) -> None:
        """The async form of :meth:`refund` (no I/O)."""
        self.refund(key, tokens, oversized_only=oversized_only)


if TYPE_CHECKING:

    def _conforms(limiter: MemoryLimiter) -> LimiterBackend:
        # mypy checks here that the in-process limiter keeps the engine's protocol.
        return limiter
