"""Frozen records of what the engine did, fed to instrumentation hooks.

The engine never formats a log line: it builds one of these and hands it to every hook
(structlog by default, OpenTelemetry when configured). Records carry only metadata:
never an API key, a header, a prompt or an output.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Protocol

from ._classify import Failure
from ._policy import GIVE_UP_REASONS, GiveUpReason

__all__ = [
    "BreakerStateChanged",
    "CallSpan",
    "CallReport",
    "CallSucceeded",
    "CallTracer",
    "CostBudgetCrossed",
    "EngineEvent",
    "FellBack",
    "GIVE_UP_REASONS",
    "GaveUp",
    "GiveUpReason",
    "Hook",
    "RateLimited",
    "RetryScheduled",
    "SdkRetriesDetected",
    "StoreUnavailable",
    "StreamInterrupted",
    "StreamRecovered",
    "observe_calls",
]


@dataclass(frozen=True, slots=True)
class RetryScheduled:
    """Attempt *attempt* failed; the next starts after *wait_s* seconds."""

    key: str
    model: str | None
    attempt: int
    failure: Failure
    wait_s: float
    elapsed_s: float
    breaker_state: str | None


@dataclass(frozen=True, slots=True)
class GaveUp:
    """The call failed for good after *attempt* attempts, for *reason* (one of
    :data:`GIVE_UP_REASONS`)."""

    key: str
    model: str | None
    attempt: int
    failure: Failure
    reason: GiveUpReason
    elapsed_s: float
    breaker_state: str | None


@dataclass(frozen=True, slots=True)
class BreakerStateChanged:
    """The breaker of *key* moved from *old* to *new*."""

    key: str
    old: str
    new: str


@dataclass(frozen=True, slots=True)
class StreamRecovered:
    """A broken stream was resumed (``how="resume"``) or restarted (``how="restart"``)."""

    key: str
    model: str | None
    how: str
    attempt: int
    failure: Failure
    response_id: str | None
    sequence_number: int | None
    wait_s: float
    elapsed_s: float


@dataclass(frozen=True, slots=True)
class StreamInterrupted:
    """A stream could not be recovered; the consumer gets ``StreamInterruptedError``."""

    key: str
    model: str | None
    attempt: int
    failure: Failure
    reason: str
    response_id: str | None
    sequence_number: int | None
    elapsed_s: float


@dataclass(frozen=True, slots=True)
class CostBudgetCrossed:
    """Spending crossed ``threshold`` (a share of the *window*'s limit) of a CostBudget."""

    window: str
    threshold: float
    limit_usd: float
    spent_usd: float
    exceeded: bool


@dataclass(frozen=True, slots=True)
class SdkRetriesDetected:
    """A decorated call's own OpenAI client retried too (attempts multiply). Once per engine."""

    key: str
    retries_taken: str


@dataclass(frozen=True, slots=True)
class StoreUnavailable:
    """A fleet store (e.g. Redis) failed or timed out; *fallback* says what happens now.

    ``fallback="local"``: calls carry on with in-process state until the store is back.
    Emitted at most once a minute per store backend.
    """

    store: str
    operation: str
    error: str
    fallback: str


@dataclass(frozen=True, slots=True)
class FellBack:
    """A call on *model* gave up (*reason*, *failure*) and goes on with *fallback*."""

    key: str
    model: str | None
    fallback: str
    failure: Failure | None
    reason: str


@dataclass(frozen=True, slots=True)
class RateLimited:
    """An attempt waits *wait_s* seconds for rate-limit capacity of *key* before sending."""

    key: str
    model: str | None
    attempt: int
    wait_s: float


@dataclass(frozen=True, slots=True)
class CallSucceeded:
    """The call succeeded on attempt *attempt* (emitted only with ``log_successes=True``)."""

    key: str
    model: str | None
    attempt: int
    elapsed_s: float
    request_id: str | None


EngineEvent = (
    RetryScheduled
    | GaveUp
    | BreakerStateChanged
    | StreamRecovered
    | StreamInterrupted
    | CallSucceeded
    | CostBudgetCrossed
    | SdkRetriesDetected
    | StoreUnavailable
    | FellBack
    | RateLimited
)
Hook = Callable[[EngineEvent], None]


class CallSpan(Protocol):
    """One call's trace, as an instrumentation backend (e.g. OpenTelemetry) records it.

    The engine calls these in order: for each attempt ``attempt_started`` then
    ``attempt_failed`` or ``attempt_succeeded``; every :data:`EngineEvent` of the call goes
    to ``event``; ``finished`` exactly once at the end.
    """

    def attempt_started(self, attempt: int) -> None: ...

    def attempt_failed(self, attempt: int, failure: Failure) -> None: ...

    def attempt_succeeded(self, attempt: int) -> None: ...

    def event(self, event: EngineEvent) -> None: ...

    def finished(self, *, ok: bool, result: object | None, error: BaseException | None) -> None: ...


class CallTracer(Protocol):
    """Starts a :class:`CallSpan` per call (``Resilience(tracers=[...])``)."""

    def call_started(
        self, key: str, model: str | None, *, stream: bool, operation: str | None = None
    ) -> CallSpan:
        """*operation* is the SDK method (``"create"``, ``"retrieve"``...), ``None`` for
        decorated functions."""
        ...


@dataclass(frozen=True, slots=True)
class CallReport:
    """How one call ended, handed to the callbacks of :func:`observe_calls`.

    Attributes:
        key: the call's breaker key.
        model: the model named by the call, if any.
        ok: the call succeeded (a stream: it ended with its terminal event, or the
            consumer stopped reading).
        attempts: HTTP requests the call sent (resumes and restarts of a stream included).
        elapsed_s: seconds from the call's start to its end.
        error: what the call raised, when it failed with an error.
        reason: why it gave up (``None`` when it succeeded, or ended without a decision:
            cancelled, refused by an open breaker before sending).
    """

    key: str
    model: str | None
    ok: bool
    attempts: int
    elapsed_s: float
    error: BaseException | None
    reason: GiveUpReason | None = None


CallObserver = Callable[[CallReport], None]

_OBSERVERS: ContextVar[tuple[CallObserver, ...]] = ContextVar(
    "resilient_responses_call_observers", default=()
)


@contextmanager
def observe_calls(callback: CallObserver) -> Iterator[None]:
    """Hand a :class:`CallReport` to *callback* for every call that ends in this context.

    The context is the current thread or asyncio task (a ``contextvars`` context), so
    concurrent tasks observe only their own calls. A callback must be quick and must not
    raise.

    >>> reports = []
    >>> with observe_calls(reports.append):
    ...     pass
    >>> reports
    []
    """
    token = _OBSERVERS.set((*_OBSERVERS.get(), callback))
    try:
        yield
    finally:
        _OBSERVERS.reset(token)


def current_observers() -> tuple[CallObserver, ...]:
    """The callbacks observing calls in this context (the engine reports to them)."""
    return _OBSERVERS.get()
