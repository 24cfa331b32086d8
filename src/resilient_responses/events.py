"""Frozen records of what the engine did, fed to instrumentation hooks.

The engine never formats a log line: it builds one of these and hands it to every hook
(structlog by default, OpenTelemetry when configured). Records carry only metadata:
never an API key, a header, a prompt or an output.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ._classify import Failure

__all__ = [
    "BreakerStateChanged",
    "CallSpan",
    "CallSucceeded",
    "CallTracer",
    "CostBudgetCrossed",
    "EngineEvent",
    "GaveUp",
    "Hook",
    "RetryScheduled",
    "SdkRetriesDetected",
    "StreamInterrupted",
    "StreamRecovered",
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
    """The call failed for good after *attempt* attempts, for *reason*."""

    key: str
    model: str | None
    attempt: int
    failure: Failure
    reason: str
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
