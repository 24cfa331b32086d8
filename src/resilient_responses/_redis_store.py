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

import math
import time
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from ._backends import Emit, StateListener
from ._breaker import BreakerConfig
from ._budget import RetryBudget, RetryBudgetState
from ._checks import check_seconds as _check_seconds
from ._ratelimit import (
    RateLimit,
)
from ._redis_breakers import RedisBreakers
from ._redis_conn import (
    _LOCAL,
    OnError,
    _Connection,
    _digest,
    _FleetBackend,
    _Health,
    _import_redis,
    _Shared,
    _socket_timeout,
    _text,
)
from ._redis_limiter import RedisLimiter

if TYPE_CHECKING:
    import redis
    import redis.asyncio

    from ._backends import BreakerBackend, BudgetBackend, LimiterBackend, Store

__all__ = ["RedisBreakers", "RedisBudget", "RedisLimiter", "RedisStore"]

#: A process sends its calls' budget deposits at most this often (seconds); a retry sends
#: the ones held back with its withdrawal, so this process never misses its own deposits.
FLUSH_EVERY: Final = 0.1
#: Connections of each event loop's async client built by ``from_url``, and how long a
#: Redis call may wait for one of them (queueing behind other calls, not a slow Redis).
ASYNC_CONNECTIONS: Final = 8
POOL_WAIT: Final = 2.0


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
