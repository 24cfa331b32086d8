"""Circuit breakers on pybreaker: one per key, no serialisation, a bounded half-open probe.

pybreaker's ``CircuitBreaker.call`` holds a lock for the whole guarded call, and cannot
await. We let pybreaker own the state machine and its storage (memory or Redis), and drive
it in two short steps around each attempt, neither of which holds a lock while the
request is in flight:

1. *admission* (:meth:`KeyedBreaker.admit`): read the state; when open and the reset timeout
   has not passed, refuse with :class:`CircuitOpenError` without touching the network; when
   it has passed, let pybreaker move to half-open; in half-open, hand out at most
   ``half_open_probes`` probe slots (pybreaker itself would let every caller through).
2. *accounting* (:meth:`Admission.record`): once the outcome is known, replay it through
   ``breaker.calling()`` (pybreaker's own context manager) so pybreaker counts it with its
   own rules: a failure that trips the breaker is raised inside the block, anything else
   leaves it cleanly (a failure whose policy does not trip the breaker is a success: the
   server answered). An outcome that says nothing about the server (cancellation, a bug
   in the caller's code) is not recorded at all.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, cast

import pybreaker

from ._backends import Admission, BreakerState, StateListener
from ._checks import check_attempts, check_seconds
from .exceptions import CircuitOpenError

__all__ = ["BreakerConfig", "KeyedBreaker", "MemoryBreakers"]

StorageFactory = Callable[[str], Any]
KeyFunc = Callable[..., str]


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    """Circuit breaker settings, applied per key.

    Attributes:
        fail_max: consecutive tripping failures that open the breaker.
        reset_timeout: seconds the breaker stays open before letting a probe through.
        success_threshold: successful probes needed to close it again.
        half_open_probes: how many probes may be in flight at once while half-open.
        key: derives the breaker key from a decorated call's arguments,
            ``key(*args, **kwargs) -> str``. The drop-in client keys by base URL + model,
            the decorator by the function's qualified name, unless this is given.
        storage: a factory ``key -> pybreaker storage`` (e.g. a
            ``pybreaker.CircuitRedisStorage`` per key, to share state across processes and
            hosts); ``None`` keeps state in memory.

    >>> BreakerConfig(fail_max=3, reset_timeout=10.0).fail_max
    3
    """

    fail_max: int = 5
    reset_timeout: float = 30.0
    success_threshold: int = 1
    half_open_probes: int = 1
    key: KeyFunc | None = None
    storage: StorageFactory | None = None

    def __post_init__(self) -> None:
        check_attempts("BreakerConfig.fail_max", self.fail_max)
        check_seconds("BreakerConfig.reset_timeout", self.reset_timeout)
        check_attempts("BreakerConfig.success_threshold", self.success_threshold)
        check_attempts("BreakerConfig.half_open_probes", self.half_open_probes)
        if self.key is not None and not callable(self.key):
            raise TypeError("BreakerConfig.key must be a callable (*args, **kwargs) -> str")
        if self.storage is not None and not callable(self.storage):
            raise TypeError(
                "BreakerConfig.storage must be a callable key -> pybreaker storage "
                "(e.g. lambda key: pybreaker.CircuitRedisStorage("
                "pybreaker.STATE_CLOSED, redis, namespace=key))"
            )


class _Trip(Exception):
    """Raised inside ``calling()`` to make pybreaker count a failure."""


def _raise_if(tripped: bool) -> None:
    if tripped:
        raise _Trip


class _Listener(pybreaker.CircuitBreakerListener):
    def __init__(self, key: str, on_change: StateListener) -> None:
        self._key = key
        self._on_change = on_change

    def state_change(self, cb: Any, old_state: Any, new_state: Any) -> None:
        old = getattr(old_state, "name", None) or "closed"
        self._on_change(self._key, old, new_state.name)


class KeyedBreaker:
    """The breaker of one key: a ``pybreaker.CircuitBreaker`` plus the probe limit."""

    __slots__ = ("_cb", "_config", "_lock", "_probes", "key")

    def __init__(self, key: str, config: BreakerConfig, on_change: StateListener) -> None:
        self.key = key
        self._config = config
        storage = config.storage(key) if config.storage is not None else None
        self._cb = pybreaker.CircuitBreaker(
            fail_max=config.fail_max,
            reset_timeout=config.reset_timeout,
            success_threshold=config.success_threshold,
            listeners=[_Listener(key, on_change)],
            state_storage=storage,
            name=key,
            throw_new_error_on_trip=False,
        )
        self._lock = threading.Lock()
        self._probes = 0

    @property
    def state(self) -> BreakerState:
        """``"closed"``, ``"open"`` or ``"half-open"``, as pybreaker's storage says."""
        return cast(BreakerState, str(self._cb.current_state))

    @property
    def storage(self) -> Any:
        """The pybreaker storage (memory or Redis) behind this key."""
        return self._cb._state_storage

    def retry_in(self) -> float:
        """Seconds until an open breaker lets a probe through (0.0 when it would now)."""
        if self.state != pybreaker.STATE_OPEN:
            return 0.0
        opened_at: datetime | None = self.storage.opened_at
        if opened_at is None:
            return 0.0
        elapsed = (datetime.now(timezone.utc) - opened_at).total_seconds()
        return max(0.0, self._config.reset_timeout - elapsed)

    def admit(self) -> Admission:
        """Let one attempt through, or raise :class:`CircuitOpenError`."""
        storage = self._cb._state_storage  # read directly: the hot path, once per attempt
        state = storage.state
        if state == pybreaker.STATE_CLOSED:
            return Admission(self.key, clean=storage.counter == 0)
        if state == pybreaker.STATE_OPEN:
            retry_in = self.retry_in()
            if retry_in > 0:
                raise CircuitOpenError(self.key, retry_in)
            with self._lock:
                if self.state == pybreaker.STATE_OPEN:
                    self._cb.half_open()
        with self._lock:
            state = self.state
            if state == pybreaker.STATE_CLOSED:
                return Admission(self.key)
            if state == pybreaker.STATE_OPEN:
                raise CircuitOpenError(self.key, self.retry_in())
            if self._probes >= self._config.half_open_probes:
                raise CircuitOpenError(self.key, 0.0)
            self._probes += 1
        return Admission(self.key, probe=True)

    def record(self, admission: Admission, tripped: bool | None) -> BreakerState:
        """Account the outcome of *admission*; the state after it."""
        if admission.clean and tripped is False:
            return "closed"  # the hot path: a success on a clean closed breaker changes nothing
        try:
            if tripped is not None and not (admission.clean and not tripped):
                self._account(tripped)
        finally:
            if admission.probe:
                self._release_probe()
        return self.state

    def _release_probe(self) -> None:
        with self._lock:
            self._probes = max(0, self._probes - 1)

    def _account(self, tripped: bool) -> None:
        if not tripped:
            storage = self.storage
            # The hot path: a success while closed with no failure counted changes nothing
            # in pybreaker (it would reset a zero counter), so skip its generator dance.
            if storage.counter == 0 and storage.state == pybreaker.STATE_CLOSED:
                return
        try:
            with self._cb.calling():
                _raise_if(tripped)
        except _Trip:
            pass
        except pybreaker.CircuitBreakerError:
            # Opened by another caller meanwhile and its timeout has not passed: pybreaker
            # refuses the block, so there is nothing left to count.
            pass


class MemoryBreakers:
    """The in-process :class:`~resilient_responses._store.BreakerBackend`: one pybreaker
    breaker per key, created on first use. Thread-safe; no I/O, so the async forms call
    the sync ones."""

    __slots__ = ("_breakers", "_config", "_lock", "_on_change")

    def __init__(self, config: BreakerConfig, on_change: StateListener) -> None:
        self._config = config
        self._on_change = on_change
        self._breakers: dict[str, KeyedBreaker] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> KeyedBreaker:
        """The breaker for *key*."""
        breaker = self._breakers.get(key)
        if breaker is None:
            with self._lock:
                breaker = self._breakers.get(key)
                if breaker is None:
                    breaker = self._breakers[key] = KeyedBreaker(key, self._config, self._on_change)
        return breaker

    def admit(self, key: str) -> Admission:
        return self.get(key).admit()

    async def aadmit(self, key: str) -> Admission:
        return self.get(key).admit()

    def record(self, admission: Admission, tripped: bool | None) -> BreakerState:
        return self.get(admission.key).record(admission, tripped)

    async def arecord(self, admission: Admission, tripped: bool | None) -> BreakerState:
        return self.record(admission, tripped)

    def release(self, admission: Admission) -> None:
        self.get(admission.key).record(admission, None)

    def state(self, key: str) -> BreakerState:
        return self.get(key).state

    def retry_in(self, key: str) -> float:
        return self.get(key).retry_in()

    def states(self) -> Mapping[str, BreakerState]:
        """Every key's state, as pybreaker's storage says now."""
        return {key: b.state for key, b in list(self._breakers.items())}
