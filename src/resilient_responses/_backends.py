"""The live-state protocols: what the engine asks of breakers and the retry budget.

A :class:`Store` hands each :class:`~resilient_responses.Resilience` its *backends*: one
:class:`BreakerBackend` (every breaker key) and one :class:`BudgetBackend`. The engine only
talks to these protocols, so the in-process :class:`MemoryStore` (pybreaker's state machine,
the local budget) and a fleet store (``RedisStore``: atomic Lua transitions shared by every
process) are interchangeable.

Every backend method has a sync and an async form. The sync paths run in the caller's
thread; the async paths must never block the event loop (a Redis store uses
``redis.asyncio`` there). In-process backends do no I/O, so their async forms just call the
sync ones.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    from ._breaker import BreakerConfig
    from ._budget import RetryBudget
    from ._ratelimit import RateLimit
    from .events import EngineEvent

__all__ = [
    "Admission",
    "BreakerBackend",
    "BreakerState",
    "BudgetBackend",
    "Emit",
    "LimiterBackend",
    "StateListener",
    "Store",
]

BreakerState = Literal["closed", "open", "half-open"]

#: ``(key, old_state, new_state)``: called by the process that made a transition, once.
StateListener = Callable[[str, str, str], None]

#: Hands an engine event (e.g. ``StoreUnavailable``) to the ``Resilience``'s hooks.
Emit = Callable[["EngineEvent"], None]


@dataclass(frozen=True, slots=True)
class Admission:
    """One attempt's pass through a breaker; give it back to :meth:`BreakerBackend.record`.

    Attributes:
        key: the breaker key admitted.
        probe: the attempt holds one of the half-open probe slots (a lease in a fleet store).
        lease: the fleet store's probe lease id (``None`` in-process or when not a probe).
        clean: the breaker was closed with no failure counted when admitted, so a success
            changes nothing and need not be recorded (the hot path skips the round trip).
    """

    key: str
    probe: bool = False
    lease: str | None = None
    clean: bool = False


class BreakerBackend(Protocol):
    """Circuit breakers for every key of one ``Resilience``.

    Semantics (the same in every store): a tripping failure while closed counts toward
    ``fail_max`` and opens the breaker when it is reached; any success while closed resets
    the count; an open breaker refuses (:class:`~resilient_responses.CircuitOpenError` with
    the seconds until the next probe) until ``reset_timeout`` has passed, then turns
    half-open; half-open admits at most ``half_open_probes`` attempts at once, closes after
    ``success_threshold`` successes and reopens on a tripping failure.
    """

    def admit(self, key: str) -> Admission:
        """Let one attempt through, or raise ``CircuitOpenError``."""
        ...

    async def aadmit(self, key: str) -> Admission:
        """The async form of :meth:`admit`."""
        ...

    def record(self, admission: Admission, tripped: bool | None) -> BreakerState:
        """The outcome of an admitted attempt: ``True`` a tripping failure, ``False`` a
        success (or a failure that does not trip), ``None`` nothing known (cancelled, the
        caller's own bug): only the probe slot is released. Returns the breaker's state
        after the outcome (a fleet store reads it in the same round trip)."""
        ...

    async def arecord(self, admission: Admission, tripped: bool | None) -> BreakerState:
        """The async form of :meth:`record`."""
        ...

    def release(self, admission: Admission) -> None:
        """Give back a probe slot without waiting on I/O (finalizers, ``__del__``): a
        fleet store may schedule it or leave it to the lease's expiry."""
        ...

    def state(self, key: str) -> BreakerState:
        """The state of *key*'s breaker now."""
        ...

    def retry_in(self, key: str) -> float:
        """Seconds until *key*'s open breaker lets a probe through (0.0 when not open)."""
        ...

    def states(self) -> Mapping[str, BreakerState]:
        """The state of every key this process has used."""
        ...


class BudgetBackend(Protocol):
    """The retry budget of one ``Resilience`` (Finagle's: deposits per call, a token per
    retry, a floor per second), thread-safe and never below zero."""

    def deposit(self) -> None:
        """Record one call."""
        ...

    async def adeposit(self) -> None:
        """The async form of :meth:`deposit`."""
        ...

    def try_withdraw(self) -> bool:
        """Take one retry token; ``False`` (nothing taken) when fewer than one is left."""
        ...

    async def atry_withdraw(self) -> bool:
        """The async form of :meth:`try_withdraw`."""
        ...

    @property
    def level(self) -> float:
        """Retry tokens available now (never negative)."""
        ...


class LimiterBackend(Protocol):
    """Client-side pacing of one ``Resilience``, per key (base URL + model): requests and
    tokens per minute, configured or learned from the server's ``x-ratelimit-*`` headers.
    Shared by every process of a fleet store."""

    def free(self, key: str) -> bool:
        """Whether *key* is known to have no limits now: :meth:`acquire` would take
        nothing, so a caller need not estimate its tokens. Never a round trip."""
        ...

    def acquire(self, key: str, tokens: int) -> float:
        """Take one request and *tokens* tokens of *key*'s capacity: ``0.0`` when taken
        now; else the seconds to wait before asking again (nothing was taken)."""
        ...

    async def aacquire(self, key: str, tokens: int) -> float:
        """The async form of :meth:`acquire`."""
        ...

    def observe(self, key: str, headers: Mapping[str, str], status: int | None) -> None:
        """Learn from an answer's headers (limits, remaining capacity, resets): capacity
        the server says is used up holds every caller of *key* until it is back (a 429's
        Retry-After is the retry policy of the call that got it, not the key's)."""
        ...

    async def aobserve(self, key: str, headers: Mapping[str, str], status: int | None) -> None:
        """The async form of :meth:`observe`."""
        ...

    def reconcile(self, key: str, estimated: int, actual: int) -> None:
        """A response reported *actual* tokens where *estimated* were taken: the excess is
        charged; a smaller *actual* gives nothing back (the API counts the estimate)."""
        ...

    async def areconcile(self, key: str, estimated: int, actual: int) -> None:
        """The async form of :meth:`reconcile`."""
        ...

    def leave(self, key: str, tokens: int) -> None:
        """A caller told to wait left instead (cancelled, out of time): give its place in
        the line back."""
        ...

    async def aleave(self, key: str, tokens: int) -> None:
        """The async form of :meth:`leave`."""
        ...

    def refund(self, key: str, tokens: int, *, oversized_only: bool = False) -> None:
        """A request taken at *tokens* was refused before it ran (a 4xx answer): give
        its tokens back. *oversized_only* (a 429): only when the request is larger than
        the key's whole token limit, one the server can never admit; a 429 for capacity
        keeps its charge, the back-pressure a crowded quota needs."""
        ...

    async def arefund(self, key: str, tokens: int, *, oversized_only: bool = False) -> None:
        """The async form of :meth:`refund`."""
        ...


class Store(Protocol):
    """Builds the live state of one ``Resilience``: ``Resilience(store=...)``.

    One store may serve several ``Resilience`` objects; each gets its own backends, which
    share state by key (a fleet store shares it with every process using the same prefix).
    """

    def breaker_backend(
        self, config: BreakerConfig, on_change: StateListener, emit: Emit
    ) -> BreakerBackend:
        """The breakers, configured by *config*; *on_change* hears every transition."""
        ...

    def budget_backend(
        self, config: RetryBudget, clock: Callable[[], float], emit: Emit
    ) -> BudgetBackend:
        """The retry budget configured by *config*."""
        ...

    def limiter_backend(
        self, config: RateLimit, clock: Callable[[], float], emit: Emit
    ) -> LimiterBackend:
        """The pacing configured by *config* (``Resilience(rate_limit=...)``)."""
        ...
