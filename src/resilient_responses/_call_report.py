"""What a call tells the world: logs (through the hooks), spans, stats and observers.

:class:`CallReports` is the reporting half of :class:`~resilient_responses._call.CallState`:
it turns a call's outcomes into engine events, span calls, the stats' end-of-call update and
the :class:`~resilient_responses.events.CallReport` of ``observe_calls``; the other half
decides.
"""

from __future__ import annotations

from ._classify import Failure
from ._cost import Usage
from ._engine import Engine
from ._policy import Decision, GiveUpReason
from .events import (
    CallReport,
    CallSpan,
    EngineEvent,
    GaveUp,
    RateLimited,
    RetryScheduled,
    current_observers,
)
from .exceptions import add_note

__all__ = ["CallReports"]

_NOTE_PREFIX = "resilient_responses:"


class CallReports:
    """Reporting for one call (a base of ``CallState``, which holds the state)."""

    __slots__ = (
        "attempt",
        "attempts_sent",
        "began",
        "breaker_seen",
        "decision",
        "engine",
        "finished",
        "history",
        "key",
        "last_exception",
        "model",
        "paced_s",
        "spans",
        "start",
    )

    engine: Engine
    key: str
    model: str | None
    attempt: int
    attempts_sent: int
    began: float
    start: float
    finished: bool
    breaker_seen: str | None
    decision: Decision | None
    last_exception: BaseException | None
    history: list[tuple[Failure, float | None]]
    paced_s: float
    spans: tuple[CallSpan, ...]

    def elapsed(self) -> float:
        """Seconds since the call began (since a stream's last progress)."""
        return self.engine.config.clock() - self.start

    def time_left(self) -> float | None:
        """Seconds the deadline leaves the next attempt (``None``: no deadline)."""
        deadline = self.engine.config.deadline
        return None if deadline is None else deadline - self.elapsed()

    def emit(self, event: EngineEvent) -> None:
        """Hand *event* to the hooks and to this call's spans."""
        self.engine.emit(event)
        for span in self.spans:
            span.event(event)

    def breaker_state(self) -> str | None:
        """The breaker's state as this call last saw it (``None`` without a breaker)."""
        return self.breaker_seen

    def finish(
        self,
        *,
        ok: bool,
        result: object = None,
        error: BaseException | None = None,
        usage: Usage | None = None,
    ) -> None:
        """The call is over: count it (with the usage of its final answer), close its spans,
        tell the observers. Only the first call counts."""
        if self.finished:
            return
        self.finished = True
        engine = self.engine
        elapsed = engine.config.clock() - self.began
        engine.stats.call_done(
            self.key,
            ok=ok,
            elapsed_s=elapsed,
            attempts=self.attempts_sent,
            usage=usage,
            model=self.model or (getattr(result, "model", None) if usage is not None else None),
        )
        for span in self.spans:
            span.finished(ok=ok, result=result, error=error)
        observers = current_observers()
        if observers:
            decision = self.decision
            reason = None if ok or decision is None else decision.reason
            report = CallReport(
                self.key, self.model, ok, self.attempts_sent, elapsed, error, reason
            )
            for observer in observers:
                try:
                    observer(report)
                except Exception as exc:  # noqa: BLE001, PERF203 - never changes a call
                    engine.instrumentation_failed(observer, exc)

    def retry_scheduled(self, failure: Failure, decision: Decision) -> None:
        """Log that another attempt follows after ``decision.wait``."""
        self.emit(
            RetryScheduled(
                key=self.key,
                model=self.model,
                attempt=self.attempt,
                failure=failure,
                wait_s=decision.wait,
                elapsed_s=self.elapsed(),
                breaker_state=self.breaker_state(),
            )
        )

    def rate_limited(self, waited: float) -> None:
        """Count and log the time one attempt waited for rate-limit capacity (once per
        attempt, however many times it asked)."""
        if waited > 0:
            self.paced_s += waited
            self.engine.stats.rate_limited(self.key, waited)
            self.emit(
                RateLimited(key=self.key, model=self.model, attempt=self.attempt, wait_s=waited)
            )

    def gave_up(self, failure: Failure, reason: GiveUpReason, *, log: bool = True) -> None:
        """The call failed for good: note every attempt on the SDK error that will be
        re-raised, log ``gave_up`` (unless the caller reports its own event), end the call.
        Once: a call that has ended is left as it is."""
        if self.finished:
            return
        if self.last_exception is not None:
            add_note(self.last_exception, self.note(reason))
        if log:
            self.emit(
                GaveUp(
                    key=self.key,
                    model=self.model,
                    attempt=self.attempt,
                    failure=failure,
                    reason=reason,
                    elapsed_s=self.elapsed(),
                    breaker_state=self.breaker_state(),
                )
            )
        self.finish(ok=False, error=self.last_exception)

    def _report(self, failure: Failure, decision: Decision) -> Decision:
        if decision.retry:
            self.retry_scheduled(failure, decision)
        else:
            self.gave_up(failure, decision.reason or "not_retryable")
        return decision

    def note(self, reason: str) -> str:
        """The PEP 678 note listing every attempt, added to the re-raised SDK error."""
        paced = self.paced_s
        lines = [
            f"{_NOTE_PREFIX} gave up after {self.attempt} attempt"
            f"{'s' if self.attempt != 1 else ''} in {self.elapsed():.3f}s ({reason}"
            f"{'; the circuit breaker opened' if reason == 'breaker_open' else ''}"
            f"{f'; {paced:.3f}s of it waiting for rate-limit capacity' if paced else ''})"
        ]
        for number, (failure, wait) in enumerate(self.history, start=1):
            waited = f", waited {wait:.3f}s" if wait is not None else ""
            lines.append(f"  attempt {number}: {failure.describe()}{waited}")
        return "\n".join(lines)
