"""The fleet store: breakers, the retry budget and rate limits shared by every process, on
Redis.

Every transition is one Lua script (:mod:`._redis_scripts`) run by SHA, timed by the
server's clock, so a fleet of processes behaves like one careful client: ``fail_max``
failures open the breaker for all of them, exactly ``half_open_probes`` probes go out
fleet-wide when the reset timeout has passed (each holding a lease that expires, so a
prober that crashed cannot wedge the circuit), and the process whose script made a
transition is the one that reports it.

When Redis does not answer within ``timeout`` (``on_error="local"``, the default), each
backend carries on with in-process state (pybreaker's breakers, the local budget, local
pacing: the same as :class:`~resilient_responses.MemoryStore`), says so through a
``StoreUnavailable`` event at most once a minute, and asks Redis again after
``reconnect_after`` seconds, instead of paying the timeout on every call. A call never
fails because Redis is down.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hashlib
import math
import os
import re
import threading
import time
import warnings
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from itertools import count
from types import ModuleType
from typing import TYPE_CHECKING, Any, Final, Generic, Literal, TypeVar, cast

from ._backends import Admission, BreakerState, Emit, StateListener
from ._breaker import BreakerConfig, MemoryBreakers
from ._budget import RetryBudget, RetryBudgetState
from ._checks import check_seconds as _check_seconds
from ._ratelimit import (
    GATE_POLL,
    GATE_SECONDS,
    LIMIT_REQUESTS,
    LIMIT_TOKENS,
    QUEUE_AHEAD,
    MemoryLimiter,
    RateLimit,
    glance,
    jittered,
    reconcile_delta,
)
from ._ratelimit import _normalized as _normalized_headers
from ._redis_scripts import (
    ACQUIRED_FREE,
    ACQUIRED_GATE,
    ACQUIRED_OPEN,
    ACQUIRED_TOKENS,
    BREAKER_ADMIT,
    BREAKER_PEEK,
    BREAKER_RECORD,
    BUDGET,
    WAIT_GATE,
    WAIT_TOKENS,
    limiter_scripts,
)
from .events import StoreUnavailable
from .exceptions import CircuitOpenError

if TYPE_CHECKING:
    import redis
    import redis.asyncio
    from redis.commands.core import AsyncScript, Script

    from ._backends import BreakerBackend, BudgetBackend, LimiterBackend, Store

__all__ = ["RedisBreakers", "RedisBudget", "RedisLimiter", "RedisStore"]

OnError = Literal["local", "raise"]

_HINT: Final = "RedisStore needs redis-py: pip install 'resilient-responses[redis]'"
#: A breaker's keys outlive its last write by the reset timeout plus this (seconds): a key
#: nobody uses for an hour is forgotten (a closed breaker, or failures counted long ago).
STATE_TTL_SLACK: Final = 3600.0
#: Smallest probe lease (seconds) when none is given: the lease is the reset timeout, but
#: never shorter than a slow model's answer is likely to take.
MIN_PROBE_LEASE: Final = 10.0
#: StoreUnavailable is emitted at most once per this many seconds per backend.
ANNOUNCE_EVERY: Final = 60.0
#: A process sends its calls' budget deposits at most this often (seconds); a retry sends
#: the ones held back with its withdrawal, so this process never misses its own deposits.
FLUSH_EVERY: Final = 0.1
#: A rate-limit key with no limits is taken on trust for this long (seconds) before a
#: process asks Redis again: no round trip per call on a server that sends no limits.
FREE_FOR: Final = 5.0
#: A process rewrites the limits it learned at most this often (seconds), keeping the
#: fleet's copy alive; in between, an answer that says nothing new costs no round trip.
RELEARN_EVERY: Final = 30.0
#: What the fleet learned of a key outlives its last write by this much (milliseconds).
LIMITS_TTL_MS: Final = 3_600_000

ScriptT = TypeVar("ScriptT")
LocalT = TypeVar("LocalT")


def _import_redis() -> ModuleType:
    try:
        import redis
        import redis.asyncio
    except ImportError as exc:
        raise ImportError(_HINT) from exc
    return redis


class _Local:
    """Marks a reply that did not come from Redis: use the in-process state instead."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "LOCAL"


_LOCAL: Final = _Local()

_CREDENTIALS = re.compile(r"(\w+://)[^/@\s]*@")


def _describe(exc: BaseException) -> str:
    """The error for a log line: its type and message, with any URL credentials masked."""
    text = _CREDENTIALS.sub(r"\1***@", f"{type(exc).__name__}: {exc}")
    return text[:300]


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _digest(text: str) -> str:
    # 128 bits of SHA-256: no credential in a key (a base URL may carry one) reaches Redis.
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _socket_timeout(client: Any) -> float | None:
    kwargs = getattr(getattr(client, "connection_pool", None), "connection_kwargs", {})
    value = kwargs.get("socket_timeout")
    return float(value) if isinstance(value, (int, float)) else None


@dataclass(frozen=True, slots=True)
class _Scripts(Generic[ScriptT]):
    """The store's Lua scripts, registered on one client (run by SHA; loaded on NOSCRIPT)."""

    admit: ScriptT
    record: ScriptT
    peek: ScriptT
    budget: ScriptT
    acquire: ScriptT
    observe: ScriptT
    reconcile: ScriptT


def _register(client: Any) -> _Scripts[Any]:
    acquire, observe, reconcile = limiter_scripts()
    return _Scripts(
        admit=client.register_script(BREAKER_ADMIT),
        record=client.register_script(BREAKER_RECORD),
        peek=client.register_script(BREAKER_PEEK),
        budget=client.register_script(BUDGET),
        acquire=client.register_script(acquire),
        observe=client.register_script(observe),
        reconcile=client.register_script(reconcile),
    )


class _Connection:
    """The store's clients: one sync client, and an async client per event loop.

    redis.asyncio connections belong to the loop that opened them. A client built by
    :meth:`RedisStore.from_url` gets a fresh async client for each loop that uses it (a
    process may run several loops, e.g. one per test or per ``asyncio.run``); one passed
    as ``async_client`` serves the first loop that uses it, and any other loop runs the
    sync client in a worker thread, so no loop ever blocks on Redis.
    """

    __slots__ = (
        "_factory",
        "_fixed",
        "_fixed_taken",
        "_lock",
        "_loops",
        "_releaser",
        "_releaser_pid",
        "_tasks",
        "client",
        "scripts",
    )

    def __init__(self, client: redis.Redis, async_client: redis.asyncio.Redis | None) -> None:
        self.client = client
        self.scripts: _Scripts[Script] = _register(client)
        self._fixed = async_client
        self._fixed_taken = False
        self._factory: Callable[[], redis.asyncio.Redis] | None = None
        self._loops: dict[
            int,
            tuple[
                weakref.ref[asyncio.AbstractEventLoop], redis.asyncio.Redis, _Scripts[AsyncScript]
            ],
        ] = {}
        self._lock = threading.Lock()
        self._releaser: concurrent.futures.ThreadPoolExecutor | None = None
        self._releaser_pid = 0
        # Lease releases scheduled on an event loop, kept alive until they finish.
        self._tasks: set[asyncio.Task[None]] = set()

    def for_loop(self) -> tuple[redis.asyncio.Redis, _Scripts[AsyncScript]] | None:
        """The async client (and its scripts) of the running loop; ``None``: use a thread."""
        loop = asyncio.get_running_loop()
        entry = self._loops.get(id(loop))
        if entry is not None and entry[0]() is loop:
            return entry[1], entry[2]
        with self._lock:
            entry = self._loops.get(id(loop))
            if entry is not None and entry[0]() is loop:
                return entry[1], entry[2]
            # Forget the clients of loops that are gone: their connections are unusable.
            for ident, (ref, _, _) in list(self._loops.items()):
                gone = ref()
                if gone is None or gone.is_closed():
                    del self._loops[ident]
            if self._fixed is not None:
                if self._fixed_taken:
                    return None
                self._fixed_taken = True
                client = self._fixed
            elif self._factory is not None:
                client = self._factory()
            else:
                return None
            scripts: _Scripts[AsyncScript] = _register(client)
            self._loops[id(loop)] = (weakref.ref(loop), client, scripts)
            return client, scripts

    def releaser(self) -> concurrent.futures.ThreadPoolExecutor:
        """A worker thread for work that must not wait (lease release from finalizers)."""
        with self._lock:
            # A forked child (a pre-forking server) inherits the executor but not its thread.
            if self._releaser is None or self._releaser_pid != os.getpid():
                self._releaser = concurrent.futures.ThreadPoolExecutor(
                    max_workers=1, thread_name_prefix="resilient_responses-redis"
                )
                self._releaser_pid = os.getpid()
            return self._releaser

    def keep(self, task: asyncio.Task[None]) -> None:
        """Hold a reference to *task* until it is done (the loop only keeps a weak one)."""
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def aclose(self, *, owned: bool) -> None:
        """Close the running loop's async client (when the store built it)."""
        entry = self._loops.pop(id(asyncio.get_running_loop()), None)
        if entry is not None and owned and entry[1] is not self._fixed:
            await entry[1].aclose()

    def close(self, *, owned: bool) -> None:
        """Close the sync client (when the store built it); forget the async clients."""
        with self._lock:
            releaser, self._releaser = self._releaser, None
            self._loops.clear()
        if releaser is not None:
            releaser.shutdown(wait=False)
        if owned:
            self.client.close()


#: Connections of each event loop's async client built by ``from_url``, and how long a
#: Redis call may wait for one of them (queueing behind other calls, not a slow Redis).
ASYNC_CONNECTIONS: Final = 8
POOL_WAIT: Final = 2.0


class _Health:
    """Whether to ask Redis now: after a failure, not again for *reconnect_after* seconds
    (then one caller asks; the others keep to local state until it has answered)."""

    __slots__ = ("_announced", "_down_until", "_lock", "_reconnect_after")

    def __init__(self, reconnect_after: float) -> None:
        self._reconnect_after = reconnect_after
        self._down_until = 0.0
        self._announced: float | None = None
        self._lock = threading.Lock()

    def announce(self) -> bool:
        """``True`` at most once a minute for the whole store: time to log that Redis is
        unavailable (every backend of the store shares this, so one outage is one line)."""
        now = time.monotonic()
        with self._lock:
            if self._announced is not None and now - self._announced < ANNOUNCE_EVERY:
                return False
            self._announced = now
            return True

    def skip(self) -> bool:
        """``True``: Redis failed lately; use local state without asking it."""
        if self._down_until == 0.0:
            return False
        with self._lock:
            now = time.monotonic()
            if now < self._down_until:
                return True
            self._down_until = now + self._reconnect_after
            return False

    def failed(self) -> None:
        with self._lock:
            self._down_until = time.monotonic() + self._reconnect_after

    def answered(self) -> None:
        self._down_until = 0.0


@dataclass(frozen=True, slots=True)
class _Shared:
    """What every backend of one store shares."""

    conn: _Connection
    health: _Health
    prefix: str
    on_error: OnError
    probe_lease: float | None
    errors: tuple[type[BaseException], ...]


class _FleetBackend(Generic[LocalT]):
    """Runs one Redis operation with the store's error policy: on a Redis error or timeout,
    ``on_error="local"`` answers from in-process state (rebuilt fresh when Redis is back),
    ``"raise"`` raises; either way ``StoreUnavailable`` is emitted at most once a minute
    for the whole store."""

    __slots__ = ("_degraded", "_emit", "_local", "_lock", "_make_local", "_shared")

    def __init__(self, shared: _Shared, emit: Emit, make_local: Callable[[], LocalT]) -> None:
        self._shared = shared
        self._emit = emit
        self._make_local = make_local
        self._local = make_local()
        self._degraded = False
        self._lock = threading.Lock()

    def _call(self, op: str, fn: Callable[[Any, Any], Any]) -> Any:
        """``fn(client, scripts)`` on the sync client, or :data:`_LOCAL`."""
        shared = self._shared
        if shared.on_error == "local" and shared.health.skip():
            self._degraded = True  # another backend of the store found Redis down
            return _LOCAL
        try:
            reply = fn(shared.conn.client, shared.conn.scripts)
        except shared.errors as exc:
            self._unavailable(op, exc)
            return _LOCAL
        if self._degraded:
            self._recovered()
        return reply

    async def _acall(self, op: str, fn: Callable[[Any, Any], Any]) -> Any:
        """``await fn(client, scripts)`` on this loop's async client (or the sync client in
        a worker thread), or :data:`_LOCAL`."""
        shared = self._shared
        if shared.on_error == "local" and shared.health.skip():
            self._degraded = True  # another backend of the store found Redis down
            return _LOCAL
        target = shared.conn.for_loop()
        try:
            if target is None:
                reply = await asyncio.to_thread(fn, shared.conn.client, shared.conn.scripts)
            else:
                reply = await fn(*target)
        except shared.errors as exc:
            self._unavailable(op, exc)
            return _LOCAL
        if self._degraded:
            self._recovered()
        return reply

    def _unavailable(self, op: str, exc: BaseException) -> None:
        shared = self._shared
        if shared.health.announce():
            self._emit(
                StoreUnavailable(
                    store="redis", operation=op, error=_describe(exc), fallback=shared.on_error
                )
            )
        if shared.on_error == "raise":
            raise exc
        shared.health.failed()
        self._degraded = True

    def _recovered(self) -> None:
        # Redis answers again: its state is the truth; the next outage starts afresh.
        shared = self._shared
        shared.health.answered()
        self._degraded = False
        self._local = self._make_local()


class RedisBreakers(_FleetBackend[MemoryBreakers]):
    """The fleet :class:`~resilient_responses._backends.BreakerBackend`: one breaker per key,
    in Redis, every transition an atomic script; falls back to in-process breakers."""

    __slots__ = (
        "_config",
        "_keys",
        "_lease_ids",
        "_lease_ms",
        "_lease_prefix",
        "_on_change",
        "_record_tail",
        "_reset_ms",
        "_ttl_ms",
    )

    def __init__(
        self, shared: _Shared, config: BreakerConfig, on_change: StateListener, emit: Emit
    ) -> None:
        super().__init__(shared, emit, lambda: MemoryBreakers(config, on_change))
        self._config = config
        self._on_change = on_change
        lease = shared.probe_lease
        if lease is None:
            lease = max(config.reset_timeout, MIN_PROBE_LEASE)
        self._reset_ms = str(round(config.reset_timeout * 1000))
        self._lease_ms = str(max(1, round(lease * 1000)))
        self._ttl_ms = str(round((config.reset_timeout + STATE_TTL_SLACK) * 1000))
        self._record_tail = (
            str(config.fail_max),
            self._reset_ms,
            str(config.success_threshold),
            self._ttl_ms,
        )
        self._keys: dict[str, tuple[str, str]] = {}
        self._lease_prefix = os.urandom(6).hex()
        self._lease_ids = count(1)

    def _redis_keys(self, key: str) -> tuple[str, str]:
        keys = self._keys.get(key)
        if keys is None:
            tag = _digest(key)
            prefix = self._shared.prefix
            keys = (f"{prefix}:breaker:{{{tag}}}", f"{prefix}:probes:{{{tag}}}")
            self._keys[key] = keys
        return keys

    # -- admission ----------------------------------------------------------------------

    def _admit_fn(self, key: str) -> tuple[str, Callable[[Any, Any], Any]]:
        keys = self._redis_keys(key)
        lease = f"{self._lease_prefix}-{next(self._lease_ids)}"
        args = (
            self._reset_ms,
            str(self._config.half_open_probes),
            lease,
            self._lease_ms,
            self._ttl_ms,
        )
        return lease, lambda client, scripts: scripts.admit(keys, args, client=client)

    def _admitted(self, key: str, lease: str, reply: Any) -> Admission:
        verdict, clean, retry_ms, moved = (int(x) for x in reply)
        if moved:
            self._on_change(key, "open", "half-open")
        if verdict == 1:
            return Admission(key, clean=clean == 1)
        if verdict == 2:
            return Admission(key, probe=True, lease=lease)
        raise CircuitOpenError(key, retry_ms / 1000)

    def admit(self, key: str) -> Admission:
        """Let one attempt through, or raise ``CircuitOpenError`` (one round trip)."""
        lease, fn = self._admit_fn(key)
        reply = self._call("admit", fn)
        if reply is _LOCAL:
            return self._local.admit(key)
        return self._admitted(key, lease, reply)

    async def aadmit(self, key: str) -> Admission:
        """The async form of :meth:`admit`."""
        lease, fn = self._admit_fn(key)
        reply = await self._acall("admit", fn)
        if reply is _LOCAL:
            return self._local.admit(key)
        return self._admitted(key, lease, reply)

    # -- outcomes -----------------------------------------------------------------------

    def _record_fn(self, admission: Admission, tripped: bool | None) -> Any:
        """The script call for an outcome; ``None`` nothing to send; :data:`_LOCAL` an
        admission the in-process breakers made (while Redis was down)."""
        if admission.probe and admission.lease is None:
            return _LOCAL
        if tripped is None:
            if admission.lease is None:
                return None
            outcome = "-1"
        elif not tripped and admission.clean:
            return None  # a success on a clean closed breaker changes nothing
        else:
            outcome = "1" if tripped else "0"
        keys = self._redis_keys(admission.key)
        args = (outcome, admission.lease or "", *self._record_tail)
        return lambda client, scripts: scripts.record(keys, args, client=client)

    def _changed(self, admission: Admission, reply: Any) -> BreakerState:
        """Report the transitions of a record reply; the state after it."""
        moves = [_text(x) for x in reply]
        for i in range(1, len(moves) - 1, 2):
            self._on_change(admission.key, moves[i], moves[i + 1])
        return cast(BreakerState, moves[0])

    @staticmethod
    def _unsent(admission: Admission) -> BreakerState:
        # Nothing was sent (a success on a clean closed breaker): closed, as admitted.
        return "half-open" if admission.probe else "closed"

    def record(self, admission: Admission, tripped: bool | None) -> BreakerState:
        """Account an admitted attempt's outcome (see ``BreakerBackend.record``); the
        breaker's state after it, from the same round trip."""
        fn = self._record_fn(admission, tripped)
        if fn is None:
            return self._unsent(admission)
        reply = _LOCAL if fn is _LOCAL else self._call("record", fn)
        if reply is _LOCAL:
            return self._local.record(admission, tripped)
        return self._changed(admission, reply)

    async def arecord(self, admission: Admission, tripped: bool | None) -> BreakerState:
        """The async form of :meth:`record`."""
        fn = self._record_fn(admission, tripped)
        if fn is None:
            return self._unsent(admission)
        reply = _LOCAL if fn is _LOCAL else await self._acall("record", fn)
        if reply is _LOCAL:
            return self._local.record(admission, tripped)
        return self._changed(admission, reply)

    def release(self, admission: Admission) -> None:
        """Give back a probe lease without waiting: on the running loop when there is one,
        else on a worker thread; if neither can run it, the lease expires by itself."""
        if not admission.probe:
            return
        if admission.lease is None:
            self._local.record(admission, None)
            return
        _, probes = self._redis_keys(admission.key)
        lease = admission.lease
        errors = self._shared.errors
        conn = self._shared.conn

        def drop() -> None:
            with contextlib.suppress(*errors):
                conn.client.zrem(probes, lease)

        async def adrop() -> None:
            target = conn.for_loop()
            with contextlib.suppress(*errors):
                if target is None:
                    await asyncio.to_thread(drop)
                else:
                    await target[0].zrem(probes, lease)

        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        with contextlib.suppress(RuntimeError):  # interpreter shutting down: lease expires
            if loop is not None:
                conn.keep(loop.create_task(adrop()))
            else:
                conn.releaser().submit(drop)

    # -- reading ------------------------------------------------------------------------

    def state(self, key: str) -> BreakerState:
        """*key*'s state now, as Redis says (one round trip)."""
        breaker, _ = self._redis_keys(key)
        reply = self._call("state", lambda client, _: client.hget(breaker, "s"))
        if reply is _LOCAL:
            return self._local.state(key)
        return _breaker_state(reply)

    def retry_in(self, key: str) -> float:
        """Seconds until *key*'s open breaker lets a probe through, by the server's clock."""
        breaker, _ = self._redis_keys(key)
        args = (self._reset_ms,)
        reply = self._call(
            "retry_in", lambda client, scripts: scripts.peek((breaker,), args, client=client)
        )
        if reply is _LOCAL:
            return self._local.retry_in(key)
        return int(reply[1]) / 1000

    def states(self) -> Mapping[str, BreakerState]:
        """The state of every key this process has used (one pipelined round trip)."""
        known = list(self._keys.items())

        def fn(client: Any, _: Any) -> Any:
            pipe = client.pipeline(transaction=False)
            for _, (breaker, _) in known:
                pipe.hget(breaker, "s")
            return pipe.execute()

        reply = self._call("states", fn) if known else []
        if reply is _LOCAL:
            return {key: self._local.state(key) for key, _ in known}
        return {key: _breaker_state(value) for (key, _), value in zip(known, reply, strict=True)}


def _breaker_state(value: object) -> BreakerState:
    if value is None:
        return "closed"
    text = _text(value)
    if text == "open":
        return "open"
    if text == "half-open":
        return "half-open"
    return "closed"


class RedisBudget(_FleetBackend[RetryBudgetState]):
    """The fleet :class:`~resilient_responses._backends.BudgetBackend`: one budget shared by
    every process with the same prefix and configuration, in server-time buckets.

    Deposits are sent at most every ``FLUSH_EVERY`` seconds (one round trip per call would
    double the cost of a call for a figure that only matters when retries begin); a
    withdrawal carries the deposits held back, atomically with it.
    """

    __slots__ = ("_flushed_at", "_key", "_pending", "_tail")

    def __init__(
        self, shared: _Shared, config: RetryBudget, clock: Callable[[], float], emit: Emit
    ) -> None:
        super().__init__(shared, emit, lambda: RetryBudgetState(config, clock))
        size = max(1, math.ceil(config.ttl))
        tag = _digest(f"{config.ratio!r}:{config.min_per_second!r}:{config.ttl!r}")[:16]
        self._key = (f"{shared.prefix}:budget:{{{tag}}}",)
        self._tail = (
            str(size),
            repr(float(config.ratio)),
            repr(float(config.min_per_second * config.ttl)),
            str((size + 1) * 1000),
        )
        self._pending = 0
        self._flushed_at = -math.inf

    def _fn(self, deposits: int, withdraw: bool) -> Callable[[Any, Any], Any]:
        keys = self._key
        args = (str(deposits), "1" if withdraw else "0", *self._tail)
        return lambda client, scripts: scripts.budget(keys, args, client=client)

    def _deposited(self) -> int:
        """Count one deposit; the number to send now (0: hold it back)."""
        now = time.monotonic()
        with self._lock:
            self._pending += 1
            if now - self._flushed_at < FLUSH_EVERY:
                return 0
            deposits, self._pending, self._flushed_at = self._pending, 0, now
            return deposits

    def _drain(self) -> int:
        with self._lock:
            deposits, self._pending = self._pending, 0
            self._flushed_at = time.monotonic()
            return deposits

    def _deposit_locally(self, deposits: int) -> None:
        for _ in range(deposits):
            self._local.deposit()

    def deposit(self) -> None:
        """Record one call."""
        deposits = self._deposited()
        if deposits and self._call("deposit", self._fn(deposits, False)) is _LOCAL:
            self._deposit_locally(deposits)

    async def adeposit(self) -> None:
        """The async form of :meth:`deposit`."""
        deposits = self._deposited()
        if deposits and await self._acall("deposit", self._fn(deposits, False)) is _LOCAL:
            self._deposit_locally(deposits)

    def _withdrawn(self, deposits: int, reply: Any) -> bool:
        if reply is _LOCAL:
            self._deposit_locally(deposits)
            return self._local.try_withdraw()
        return int(reply[0]) == 1

    def try_withdraw(self) -> bool:
        """Take one retry token from the fleet's budget; ``False`` when fewer than one."""
        deposits = self._drain()
        return self._withdrawn(deposits, self._call("try_withdraw", self._fn(deposits, True)))

    async def atry_withdraw(self) -> bool:
        """The async form of :meth:`try_withdraw`."""
        deposits = self._drain()
        reply = await self._acall("try_withdraw", self._fn(deposits, True))
        return self._withdrawn(deposits, reply)

    @property
    def level(self) -> float:
        """Retry tokens available to the fleet now (never negative)."""
        deposits = self._drain()
        reply = self._call("level", self._fn(deposits, False))
        if reply is _LOCAL:
            self._deposit_locally(deposits)
            return self._local.level
        return max(0.0, float(_text(reply[1])))


class RedisLimiter(_FleetBackend[MemoryLimiter]):
    """The fleet :class:`~resilient_responses._backends.LimiterBackend`: one GCRA state per
    key and rate in Redis (pyrate-limiter's layout and Lua step), learned limits, holds and
    the first-call gate shared by every process with the same prefix; falls back to an
    in-process :class:`~resilient_responses._ratelimit.MemoryLimiter`.

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

    def _reconcile_fn(self, key: str, estimated: int, actual: int) -> Any:
        delta = reconcile_delta(estimated, actual)
        if not delta or not self._token_limited.get(key):
            return None
        meta, _, tokens = self._redis_keys(key)
        args = (
            self._now(),
            str(delta),
            _num(self._config.tokens_per_minute),
            repr(self._config.burst_seconds),
        )
        return lambda client, scripts: scripts.reconcile((meta, tokens), args, client=client)

    def reconcile(self, key: str, estimated: int, actual: int) -> None:
        """Charge the tokens a response used beyond its estimate (a round trip only on a
        key with a token limit, and only when there is an excess)."""
        fn = self._reconcile_fn(key, estimated, actual)
        if fn is None:
            if self._degraded:
                self._local.reconcile(key, estimated, actual)
            return
        if self._call("reconcile", fn) is _LOCAL:
            self._local.reconcile(key, estimated, actual)

    async def areconcile(self, key: str, estimated: int, actual: int) -> None:
        """The async form of :meth:`reconcile`."""
        fn = self._reconcile_fn(key, estimated, actual)
        if fn is None:
            if self._degraded:
                self._local.reconcile(key, estimated, actual)
            return
        if await self._acall("reconcile", fn) is _LOCAL:
            self._local.reconcile(key, estimated, actual)


def _num(value: float | None) -> str:
    """A configured limit as a script argument (``0``: not configured)."""
    return "0" if value is None else repr(value)


class RedisStore:
    """Breakers, the retry budget and rate limits in Redis, shared by every process using
    the same *prefix*: ``Resilience(store=RedisStore.from_url("redis://localhost:6379/0"))``.

    Args:
        client: a ``redis.Redis`` (sync) for the sync paths, and for async ones when no
            async client serves the running loop (then in a worker thread).
        async_client: a ``redis.asyncio.Redis`` for the async paths, used on the first
            event loop that uses it.
        prefix: namespace of every key the store writes.
        on_error: ``"local"`` (default): when Redis fails or is slow, carry on with
            in-process state and ask Redis again after *reconnect_after* seconds;
            ``"raise"``: raise the Redis error.
        timeout: seconds a Redis call may take. :meth:`from_url` builds its clients with
            it (connect and read timeouts, no redis-py retries); clients you pass keep
            their own settings, so build them with ``socket_timeout=`` and
            ``socket_connect_timeout=`` (a warning says when a client has none or a
            larger one) and ``retry=Retry(NoBackoff(), 0)``.
        probe_lease: seconds a half-open probe holds its slot before the lease expires
            (a prober that crashed frees it then); default: the breaker's reset timeout,
            at least 10 s.
        reconnect_after: after a Redis failure, seconds to stay on local state before
            asking Redis again.

    Keys (each with a TTL): ``<prefix>:breaker:{<sha256 of the key>}`` (a hash),
    ``<prefix>:probes:{<same>}`` (probe leases), ``<prefix>:budget:{<config>}``, and per
    rate-limit key ``<prefix>:ratelimit:{<sha256>}`` (learned limits, holds, the
    first-call gate) with ``<prefix>:ratelimit:requests:{<same>}`` and ``...:tokens:...``
    (GCRA state). Keys are hashed, so a base URL in them (and any credential in the URL)
    never reaches Redis. ``BreakerConfig(storage=...)`` (pybreaker storages) is for
    :class:`~resilient_responses.MemoryStore`: a ``RedisStore`` rejects it.

    >>> from resilient_responses import RedisStore, Resilience
    >>> store = RedisStore.from_url("redis://127.0.0.1:6379/0")  # doctest: +SKIP
    >>> policy = Resilience(store=store)  # doctest: +SKIP
    """

    __slots__ = ("_owned", "_shared", "_timeout")

    def __init__(
        self,
        *,
        client: redis.Redis | None = None,
        async_client: redis.asyncio.Redis | None = None,
        prefix: str = "resilient_responses",
        on_error: OnError = "local",
        timeout: float = 0.05,
        probe_lease: float | None = None,
        reconnect_after: float = 1.0,
    ) -> None:
        redis_module = _import_redis()
        if client is None:
            raise TypeError(
                "RedisStore needs client= (a redis.Redis), or use RedisStore.from_url(url)"
            )
        if not isinstance(client, redis_module.Redis):
            raise TypeError(
                f"client must be a redis.Redis (sync; pass a redis.asyncio.Redis as "
                f"async_client), got {type(client).__name__}"
            )
        if async_client is not None and not isinstance(async_client, redis_module.asyncio.Redis):
            raise TypeError(
                f"async_client must be a redis.asyncio.Redis or None, "
                f"got {type(async_client).__name__}"
            )
        if not isinstance(prefix, str):
            raise TypeError(f"prefix must be a str, got {type(prefix).__name__}")
        if not prefix or any(c in prefix for c in "{} \t\r\n"):
            raise ValueError(
                f"prefix must be a non-empty str without braces or whitespace, got {prefix!r}"
            )
        if not isinstance(on_error, str):
            raise TypeError(f"on_error must be 'local' or 'raise', got {type(on_error).__name__}")
        if on_error not in ("local", "raise"):
            raise ValueError(f"on_error must be 'local' or 'raise', got {on_error!r}")
        timeout = _check_seconds("timeout", timeout, allow_zero=False)
        if math.isinf(timeout):
            raise ValueError("timeout must be a finite number of seconds > 0")
        if probe_lease is not None:
            probe_lease = _check_seconds("probe_lease", probe_lease, allow_zero=False)
            if math.isinf(probe_lease):
                raise ValueError("probe_lease must be a finite number of seconds > 0, or None")
        reconnect_after = _check_seconds("reconnect_after", reconnect_after)
        for name, given in (("client", client), ("async_client", async_client)):
            if given is None:
                continue
            bound = _socket_timeout(given)
            if bound is None or bound > timeout:
                warnings.warn(
                    f"RedisStore: the {name} waits {bound or 'forever'} s for Redis (its "
                    f"socket_timeout), more than timeout={timeout:g}: build it with "
                    f"socket_timeout={timeout:g}, or use RedisStore.from_url",
                    UserWarning,
                    stacklevel=2,
                )
        self._timeout = timeout
        self._owned = False
        self._shared = _Shared(
            conn=_Connection(client, async_client),
            health=_Health(reconnect_after),
            prefix=prefix,
            on_error=on_error,
            probe_lease=probe_lease,
            errors=(redis_module.RedisError, OSError),
        )

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        prefix: str = "resilient_responses",
        on_error: OnError = "local",
        timeout: float = 0.05,
        probe_lease: float | None = None,
        reconnect_after: float = 1.0,
    ) -> RedisStore:
        """A store on the Redis at *url* (``redis://``, ``rediss://`` or ``unix://``).

        Builds a sync client and, for each event loop that uses the store, an async one,
        each with *timeout* as its connect and read timeout and no redis-py retries (a
        Redis that is down costs one *timeout*, then nothing until *reconnect_after*).
        The other arguments are :class:`RedisStore`'s.
        """
        redis_module = _import_redis()
        if not isinstance(url, str):
            raise TypeError(f"url must be a str, got {type(url).__name__}")
        bound = _check_seconds("timeout", timeout, allow_zero=False)
        from redis.asyncio.retry import Retry as AsyncRetry
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        options: dict[str, Any] = {"socket_timeout": bound, "socket_connect_timeout": bound}
        client = redis_module.Redis.from_url(url, retry=Retry(NoBackoff(), 0), **options)

        def async_client() -> redis.asyncio.Redis:
            # A few connections per loop, waited for: hundreds of coroutines starting at
            # once would otherwise open hundreds of connections together, and the ones
            # that cannot connect within *timeout* would send the store to local state.
            pool = redis_module.asyncio.BlockingConnectionPool.from_url(
                url, max_connections=ASYNC_CONNECTIONS, timeout=POOL_WAIT, **options
            )
            built: redis.asyncio.Redis = redis_module.asyncio.Redis(
                connection_pool=pool, retry=AsyncRetry(NoBackoff(), 0)
            )
            return built

        store = cls(
            client=client,
            prefix=prefix,
            on_error=on_error,
            timeout=timeout,
            probe_lease=probe_lease,
            reconnect_after=reconnect_after,
        )
        store._shared.conn._factory = async_client
        store._owned = True
        return store

    def __repr__(self) -> str:
        # Never the URL: it may carry a password.
        shared = self._shared
        return (
            f"RedisStore(prefix={shared.prefix!r}, on_error={shared.on_error!r}, "
            f"timeout={self._timeout!r})"
        )

    @property
    def prefix(self) -> str:
        """The namespace of every key this store writes."""
        return self._shared.prefix

    def breaker_backend(
        self, config: BreakerConfig, on_change: StateListener, emit: Emit
    ) -> RedisBreakers:
        """The breakers of one ``Resilience``, in Redis (state shared by key)."""
        if config.storage is not None:
            raise ValueError(
                "BreakerConfig.storage (a pybreaker storage) works with MemoryStore only: "
                "with RedisStore the breakers already live in Redis; drop storage="
            )
        return RedisBreakers(self._shared, config, on_change, emit)

    def budget_backend(
        self, config: RetryBudget, clock: Callable[[], float], emit: Emit
    ) -> RedisBudget:
        """The retry budget of one ``Resilience``, shared by every process whose store has
        the same prefix and whose budget the same configuration (*clock* only serves the
        local fallback: the fleet's buckets follow the server's clock)."""
        return RedisBudget(self._shared, config, clock, emit)

    def limiter_backend(
        self, config: RateLimit, clock: Callable[[], float], emit: Emit
    ) -> RedisLimiter:
        """The pacing of one ``Resilience``, shared by every process whose store has the
        same prefix, by key (*clock* only serves the local fallback: the fleet's rates
        follow the server's clock)."""
        return RedisLimiter(self._shared, config, clock, emit)

    def close(self) -> None:
        """Close the clients this store built (:meth:`from_url`); passed ones stay open."""
        self._shared.conn.close(owned=self._owned)

    async def aclose(self) -> None:
        """Close the running loop's async client, when this store built it."""
        await self._shared.conn.aclose(owned=self._owned)


if TYPE_CHECKING:

    def _conforms(
        store: RedisStore, breakers: RedisBreakers, budget: RedisBudget, limiter: RedisLimiter
    ) -> tuple[Store, BreakerBackend, BudgetBackend, LimiterBackend]:
        # mypy checks here that the fleet store keeps the engine's protocols.
        return store, breakers, budget, limiter
