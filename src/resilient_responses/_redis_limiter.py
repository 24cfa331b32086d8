"""Rate limits on Redis: one GCRA bucket per key and limit for the whole fleet, learned
limits shared, a fleet-wide first-call gate; no round trip for a key without limits."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Any, Final

from ._backends import Emit
from ._memory_limiter import MemoryLimiter
from ._ratelimit import (
    GATE_POLL,
    GATE_SECONDS,
    LIMIT_REQUESTS,
    LIMIT_TOKENS,
    QUEUE_AHEAD,
    RateLimit,
    glance,
    jittered,
    reconcile_delta,
)
from ._ratelimit import _normalized as _normalized_headers
from ._redis_conn import (
    _LOCAL,
    _digest,
    _FleetBackend,
    _Shared,
)
from ._redis_scripts import (
    ACQUIRED_FREE,
    ACQUIRED_GATE,
    ACQUIRED_OPEN,
    ACQUIRED_TOKENS,
    WAIT_GATE,
    WAIT_TOKENS,
)

__all__ = ["RedisLimiter"]

#: A rate-limit key with no limits is taken on trust for this long (seconds) before a
#: process asks Redis again: no round trip per call on a server that sends no limits.
FREE_FOR: Final = 5.0
#: A process rewrites the limits it learned at most this often (seconds), keeping the
#: fleet's copy alive; in between, an answer that says nothing new costs no round trip.
RELEARN_EVERY: Final = 30.0
#: What the fleet learned of a key outlives its last write by this much (milliseconds).
LIMITS_TTL_MS: Final = 3_600_000


class RedisLimiter(_FleetBackend[MemoryLimiter]):
    """The fleet :class:`~resilient_responses._backends.LimiterBackend`: one GCRA state per
    key and rate in Redis (pyrate-limiter's layout and Lua step), learned limits, holds and
    the first-call gate shared by every process with the same prefix; falls back to an
    in-process :class:`~resilient_responses._memory_limiter.MemoryLimiter`.

    Round trips: one per :meth:`acquire` on a key with limits (none on a key known to have
    none); :meth:`observe` only when the answer says something the fleet does not know yet
    (a new limit, used-up capacity, a 429, the end of this process's first call);
    :meth:`reconcile` only when the key has a token limit and a response used more than
    its estimate.
    """

    __slots__ = (
        "_acquire_tail",
        "_config",
        "_free",
        "_gates",
        "_keys",
        "_learned",
        "_now",
        "_token_limited",
        "_typical",
    )

    def __init__(
        self,
        shared: _Shared,
        config: RateLimit,
        clock: Callable[[], float],
        emit: Emit,
        *,
        server_time: bool = True,
    ) -> None:
        super().__init__(shared, emit, lambda: MemoryLimiter(config, clock))
        self._config = config
        # Server time, so every host agrees; tests pass server_time=False to drive the
        # fleet's state with *clock* (virtual time, whole milliseconds).
        self._now: Callable[[], str] = (
            (lambda: "") if server_time else (lambda: str(math.floor(clock() * 1000 + 1e-6)))
        )
        self._acquire_tail = (
            _num(config.requests_per_minute),
            _num(config.tokens_per_minute),
            repr(config.burst_seconds),
            "1" if config.gated else "0",
            str(round(GATE_SECONDS * 1000)),
            str(round(GATE_POLL * 1000)),
            str(LIMITS_TTL_MS),
            str(round(QUEUE_AHEAD * 1000)),
        )
        self._keys: dict[str, tuple[str, str, str]] = {}
        self._free: dict[str, float] = {}  # key -> monotonic time the trust ends
        self._gates: set[str] = set()  # keys whose first call this process sent
        self._learned: dict[str, tuple[int, int, float]] = {}  # key -> (lr, lt, written at)
        self._token_limited: dict[str, bool] = {}
        self._typical: dict[str, float] = {}

    def _redis_keys(self, key: str) -> tuple[str, str, str]:
        keys = self._keys.get(key)
        if keys is None:
            tag = _digest(key)
            base = f"{self._shared.prefix}:ratelimit"
            keys = (f"{base}:{{{tag}}}", f"{base}:requests:{{{tag}}}", f"{base}:tokens:{{{tag}}}")
            self._keys[key] = keys
        return keys

    # -- acquire ------------------------------------------------------------------------

    def _acquire_fn(self, key: str, tokens: int) -> Callable[[Any, Any], Any]:
        keys = self._redis_keys(key)
        args = (self._now(), str(max(0, tokens)), *self._acquire_tail)
        return lambda client, scripts: scripts.acquire(keys, args, client=client)

    def _acquired(self, key: str, tokens: int, reply: Any) -> float:
        wait_ms, code = int(reply[0]), int(reply[1])
        if code == ACQUIRED_FREE:
            self._free[key] = time.monotonic() + FREE_FOR
        elif code == ACQUIRED_GATE:
            self._gates.add(key)
        elif code in (ACQUIRED_OPEN, WAIT_GATE):
            self._learned.pop(key, None)  # the fleet knows nothing of it (anymore)
        elif code in (ACQUIRED_TOKENS, WAIT_TOKENS):
            self._token_limited[key] = True
        if wait_ms > 0:
            return jittered(wait_ms / 1000)
        if tokens > 0:
            typical = self._typical.get(key)
            self._typical[key] = tokens if typical is None else typical + 0.2 * (tokens - typical)
        return 0.0

    def _free_now(self, key: str) -> bool:
        until = self._free.get(key)
        return until is not None and until > time.monotonic()

    def free(self, key: str) -> bool:
        """Whether *key* is known to have no limits (this process's trust, no round trip)."""
        return self._free_now(key) or (self._degraded and self._local.free(key))

    def acquire(self, key: str, tokens: int) -> float:
        """Take one request and *tokens* tokens of *key*'s capacity, fleet-wide (one round
        trip; none on a key known to have no limits): 0.0, or the seconds to wait."""
        if self._free_now(key):
            return 0.0
        reply = self._call("acquire", self._acquire_fn(key, tokens))
        if reply is _LOCAL:
            return self._local.acquire(key, tokens)
        return self._acquired(key, tokens, reply)

    async def aacquire(self, key: str, tokens: int) -> float:
        """The async form of :meth:`acquire`."""
        if self._free_now(key):
            return 0.0
        reply = await self._acall("acquire", self._acquire_fn(key, tokens))
        if reply is _LOCAL:
            return self._local.acquire(key, tokens)
        return self._acquired(key, tokens, reply)

    # -- observe ------------------------------------------------------------------------

    def _observe_fn(
        self, key: str, headers: Mapping[str, str], status: int | None
    ) -> tuple[Callable[[Any, Any], Any], tuple[int, int], bool] | None:
        """The script call this answer needs, the limits it writes and whether it holds
        the key; ``None``: nothing the fleet does not know."""
        config = self._config
        limit_requests = headers.get(LIMIT_REQUESTS)
        limit_tokens = headers.get(LIMIT_TOKENS)
        if limit_requests is None and limit_tokens is None:
            hold = 0.0  # a 429's Retry-After is its call's retry policy, not the key's
            no_limits = config.gated and status is not None and 200 <= status < 300
            if key not in self._gates and (not no_limits or self._free_now(key)):
                return None
            learned = (0, 0)
        else:
            typical = self._typical.get(key, 0.0)
            requests, tokens, hold = glance(headers, limit_requests, limit_tokens, status, typical)
            learned = (
                requests or 0 if config.requests_per_minute is None else 0,
                tokens or 0 if config.tokens_per_minute is None else 0,
            )
            written = self._learned.get(key)
            current = (
                written is not None
                and written[:2] == learned
                and time.monotonic() - written[2] < RELEARN_EVERY
            )
            if hold <= 0 and current and key not in self._gates:
                return None
            no_limits = False
        keys = self._redis_keys(key)
        args = (
            self._now(),
            str(learned[0]),
            str(learned[1]),
            str(math.ceil((hold or 0.0) * 1000)),
            "1" if no_limits else "0",
            repr(config.burst_seconds),
            str(LIMITS_TTL_MS),
        )

        def fn(client: Any, scripts: Any) -> Any:
            return scripts.observe(keys, args, client=client)

        return fn, learned, bool(hold and hold > 0)

    def _observed(self, key: str, learned: tuple[int, int], held: bool) -> None:
        self._gates.discard(key)
        if learned != (0, 0):
            self._learned[key] = (*learned, time.monotonic())
        if held or learned != (0, 0):
            self._free.pop(key, None)  # no longer free of limits, or held: ask Redis

    def observe(self, key: str, headers: Mapping[str, str], status: int | None) -> None:
        """Learn from one answer (see :meth:`MemoryLimiter.observe`); a round trip only
        when it tells the fleet something new."""
        if not self._config.from_headers:
            return
        headers = _normalized_headers(headers)
        planned = self._observe_fn(key, headers, status)
        if planned is None:
            if self._degraded:
                self._local.observe(key, headers, status)
            return
        fn, learned, held = planned
        if self._call("observe", fn) is _LOCAL:
            self._local.observe(key, headers, status)
            return
        self._observed(key, learned, held)

    async def aobserve(self, key: str, headers: Mapping[str, str], status: int | None) -> None:
        """The async form of :meth:`observe`."""
        if not self._config.from_headers:
            return
        headers = _normalized_headers(headers)
        planned = self._observe_fn(key, headers, status)
        if planned is None:
            if self._degraded:
                self._local.observe(key, headers, status)
            return
        fn, learned, held = planned
        if await self._acall("observe", fn) is _LOCAL:
            self._local.observe(key, headers, status)
            return
        self._observed(key, learned, held)

    # -- reconcile ----------------------------------------------------------------------

    def _shift_fn(self, key: str, delta: int, *, oversized_only: bool = False) -> Any:
        if not delta or not self._token_limited.get(key):
            return None
        meta, _, tokens = self._redis_keys(key)
        args = (
            self._now(),
            str(delta),
            _num(self._config.tokens_per_minute),
            repr(self._config.burst_seconds),
            "1" if oversized_only else "0",
        )
        return lambda client, scripts: scripts.reconcile((meta, tokens), args, client=client)

    def _leave_fn(self, key: str, tokens: int) -> Callable[[Any, Any], Any]:
        meta = self._redis_keys(key)[0]
        args = (self._now(), str(max(0, tokens)), *self._acquire_tail[:3])
        return lambda client, scripts: scripts.leave((meta,), args, client=client)

    def _run(self, op: str, fn: Any, local: Callable[[], None]) -> None:
        """*fn* on Redis, or *local* (the in-process limiter) when Redis does not answer;
        with nothing to send (*fn* ``None``), *local* only while Redis is down."""
        if fn is None:
            if self._degraded:
                local()
        elif self._call(op, fn) is _LOCAL:
            local()

    async def _arun(self, op: str, fn: Any, local: Callable[[], None]) -> None:
        """The async form of :meth:`_run`."""
        if fn is None:
            if self._degraded:
                local()
        elif await self._acall(op, fn) is _LOCAL:
            local()

    def reconcile(self, key: str, estimated: int, actual: int) -> None:
        """Charge the tokens a response used beyond its estimate (a round trip only on a
        key with a token limit, and only when there is an excess)."""
        fn = self._shift_fn(key, reconcile_delta(estimated, actual))
        self._run("reconcile", fn, lambda: self._local.reconcile(key, estimated, actual))

    async def areconcile(self, key: str, estimated: int, actual: int) -> None:
        """The async form of :meth:`reconcile`."""
        fn = self._shift_fn(key, reconcile_delta(estimated, actual))
        await self._arun("reconcile", fn, lambda: self._local.reconcile(key, estimated, actual))

    def leave(self, key: str, tokens: int) -> None:
        """Give back a place in the fleet's line (one round trip)."""
        self._run("leave", self._leave_fn(key, tokens), lambda: self._local.leave(key, tokens))

    async def aleave(self, key: str, tokens: int) -> None:
        """The async form of :meth:`leave`."""
        await self._arun(
            "leave", self._leave_fn(key, tokens), lambda: self._local.leave(key, tokens)
        )

    def refund(self, key: str, tokens: int, *, oversized_only: bool = False) -> None:
        """Give back the tokens of a request refused before it ran (one round trip, on a
        key with a token limit; see ``LimiterBackend.refund``)."""
        fn = self._shift_fn(key, -tokens, oversized_only=oversized_only) if tokens > 0 else None
        self._run(
            "refund", fn, lambda: self._local.refund(key, tokens, oversized_only=oversized_only)
        )

    async def arefund(self, key: str, tokens: int, *, oversized_only: bool = False) -> None:
        """The async form of :meth:`refund`."""
        fn = self._shift_fn(key, -tokens, oversized_only=oversized_only) if tokens > 0 else None
        await self._arun(
            "refund", fn, lambda: self._local.refund(key, tokens, oversized_only=oversized_only)
        )


def _num(value: float | None) -> str:
    """A configured limit as a script argument (``0``: not configured)."""
    return "0" if value is None else repr(value)
