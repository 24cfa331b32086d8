"""The fleet store's plumbing: Redis clients (sync and ``redis.asyncio``, one per event
loop), scripts registered once and run by SHA, every call bounded by the store's timeout,
and the local fallback shared by the backends of one store (:class:`_FleetBackend`): when
Redis does not answer, each backend carries on with in-process state, says so at most
once a minute, and asks Redis again after ``reconnect_after`` seconds.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import os
import re
import threading
import time
import weakref
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any, Final, Generic, Literal, TypeVar

from ._backends import Emit
from ._redis_scripts import (
    BREAKER_ADMIT,
    BREAKER_PEEK,
    BREAKER_RECORD,
    BUDGET,
    limiter_scripts,
)
from .events import StoreUnavailable

if TYPE_CHECKING:
    import redis
    import redis.asyncio
    from redis.commands.core import AsyncScript, Script


__all__: list[str] = []

OnError = Literal["local", "raise"]

_HINT: Final = "RedisStore needs redis-py: pip install 'resilient-responses[redis]'"
#: StoreUnavailable is emitted at most once per this many seconds per backend.
ANNOUNCE_EVERY: Final = 60.0

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
    leave: ScriptT


def _register(client: Any) -> _Scripts[Any]:
    acquire, observe, reconcile, leave = limiter_scripts()
    return _Scripts(
        admit=client.register_script(BREAKER_ADMIT),
        record=client.register_script(BREAKER_RECORD),
        peek=client.register_script(BREAKER_PEEK),
        budget=client.register_script(BUDGET),
        acquire=client.register_script(acquire),
        observe=client.register_script(observe),
        reconcile=client.register_script(reconcile),
        leave=client.register_script(leave),
    )


async def _closer(client: redis.asyncio.Redis) -> AsyncGenerator[None, None]:
    """Closes *client* when its event loop ends: ``asyncio.run`` (and every runner) ends by
    closing the async generators still open, and this one's ``finally`` closes the
    client's connections, so a store used from many short-lived loops leaves none behind
    for the garbage collector."""
    try:
        yield
    finally:
        await client.aclose()
        await client.connection_pool.disconnect()  # a pool passed in is not closed with it


async def _start(closer: AsyncGenerator[None, None]) -> None:
    await closer.__anext__()  # registered with the running loop from here on


class _Connection:
    """The store's clients: one sync client, and an async client per event loop.

    redis.asyncio connections belong to the loop that opened them. A client built by
    :meth:`RedisStore.from_url` gets a fresh async client for each loop that uses it (a
    process may run several loops, e.g. one per test or per ``asyncio.run``); one passed
    as ``async_client`` serves the first loop that uses it, and any other loop runs the
    sync client in a worker thread, so no loop ever blocks on Redis.
    """

    __slots__ = (
        "_closers",
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
        # Each loop's closer of its async client (the loop itself holds it only weakly).
        self._closers: dict[int, AsyncGenerator[None, None]] = {}
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
                    self._closers.pop(ident, None)
            if self._fixed is not None:
                if self._fixed_taken:
                    return None
                self._fixed_taken = True
                client = self._fixed
            elif self._factory is not None:
                client = self._factory()
                closer = self._closers[id(loop)] = _closer(client)
                self.keep(loop.create_task(_start(closer)))
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
        loop_id = id(asyncio.get_running_loop())
        entry = self._loops.pop(loop_id, None)
        closer = self._closers.pop(loop_id, None)
        if closer is not None:
            await closer.aclose()  # its finally closes the client
        elif entry is not None and owned and entry[1] is not self._fixed:
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
