"""The retry loop: tenacity drives it, :func:`decide` rules it, sync and async alike.

``Engine`` is the immutable configuration plus the shared live parts (breakers, budget,
stats) of one :class:`~resilient_responses.Resilience`. ``CallState`` is one call: it admits
each attempt through the breaker, turns each outcome into a :class:`Decision`, and logs.
It is plugged into tenacity as the ``retry`` predicate and the ``wait`` strategy, so the
sync loop (``tenacity.Retrying``) and the async loop (``tenacity.AsyncRetrying``) are a few
lines each and share every decision. Streams reuse ``CallState`` for their recoveries.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import httpx2
import openai
import tenacity

from ._backends import Admission, BreakerBackend, BudgetBackend
from ._classify import Failure, classify
from ._config import get_testing
from ._policy import Backoff, Decision, ErrorPolicy, PolicyTable, decide
from .events import (
    BreakerStateChanged,
    CallReport,
    CallSpan,
    CallSucceeded,
    CallTracer,
    CostBudgetCrossed,
    EngineEvent,
    GaveUp,
    Hook,
    RetryScheduled,
    SdkRetriesDetected,
    current_observers,
)
from .exceptions import CircuitOpenError, DeadlineExceededError
from .instrumentation._pricing import CostBudget, Usage, usage_from
from .instrumentation._stats import StatsCollector

__all__ = ["CallState", "Engine", "add_note", "run_async", "run_sync"]

T = TypeVar("T")

_NOTE_PREFIX = "resilient_responses:"


def add_note(exc: BaseException, note: str) -> None:
    """PEP 678 ``add_note``, with the same ``__notes__`` list on Python 3.10."""
    if sys.version_info >= (3, 11):
        exc.add_note(note)
    else:  # pragma: no cover - exercised only on 3.10
        notes = getattr(exc, "__notes__", None)
        if not isinstance(notes, list):
            notes = []
            exc.__notes__ = notes  # type: ignore[attr-defined]
        notes.append(note)


@dataclass(eq=False)
class Engine:
    """Everything a call needs from its ``Resilience``; built once, shared by all calls."""

    table: PolicyTable
    attempts: int
    deadline: float | None
    backoff: Backoff
    breakers: BreakerBackend | None
    budget: BudgetBackend | None
    hooks: tuple[Hook, ...]
    stats: StatsCollector
    clock: Callable[[], float]
    sleep: Callable[[float], object] | None
    log_successes: bool
    cost_budget: CostBudget | None = None
    tracers: tuple[CallTracer, ...] = ()
    sdk_retries_warned: bool = False
    #: The "circuit_open" policy retries: callers wait for the breaker instead of failing.
    waits_for_breaker: bool = False

    def emit(self, event: EngineEvent) -> None:
        for hook in self.hooks:
            hook(event)

    def account_usage(
        self, key: str, model: str | None, result: object, *, wasted: bool = False
    ) -> None:
        """Add the tokens and cost of a response to the stats and the cost budget.

        ``wasted=True``: tokens paid for a response that was thrown away (a failed response
        restarted), counted in the totals and separately as waste.
        """
        usage = usage_from(result)
        if usage is None:
            return
        model = model or getattr(result, "model", None)
        self.stats.usage(key, model, usage, wasted=wasted)
        self.charge(model, usage)

    def charge(self, model: str | None, usage: Usage) -> None:
        """Record the cost of *usage* in the cost budget, logging thresholds it crosses."""
        budget = self.cost_budget
        if budget is not None:
            for warning in budget.record(self.stats.prices.cost(model, usage)):
                self.emit(
                    CostBudgetCrossed(
                        window=warning.window,
                        threshold=warning.threshold,
                        limit_usd=float(warning.limit_usd),
                        spent_usd=float(warning.spent_usd),
                        exceeded=warning.exceeded,
                    )
                )

    def on_breaker_change(self, key: str, old: str, new: str) -> None:
        if new == "open":
            self.stats.breaker_opened(key)
        self.emit(BreakerStateChanged(key=key, old=old, new=new))

    def do_sleep(self, seconds: float) -> None:
        if seconds <= 0 or get_testing().enabled:
            return
        (self.sleep or time.sleep)(seconds)

    async def do_asleep(self, seconds: float) -> None:
        if seconds <= 0 or get_testing().enabled:
            return
        if self.sleep is None:
            await asyncio.sleep(seconds)
            return
        result = self.sleep(seconds)
        if inspect.isawaitable(result):
            await result


class CallState:
    """One call across its attempts. Not shared between calls."""

    __slots__ = (
        "_admission",
        "_deferred",
        "attempt",
        "attempts_sent",
        "began",
        "breaker_waits",
        "decision",
        "engine",
        "finished",
        "history",
        "idempotency_key",
        "inspect_result",
        "key",
        "last_exception",
        "model",
        "spans",
        "start",
        "via_client",
    )

    def __init__(
        self,
        engine: Engine,
        key: str,
        model: str | None,
        *,
        via_client: bool,
        stream: bool = False,
        operation: str | None = None,
    ) -> None:
        self.engine = engine
        self.key = key
        self.model = model
        self.via_client = via_client
        self.attempt = 0  # attempts since the call began, or since a stream's last progress
        self.attempts_sent = 0  # requests actually sent, for the stats
        self.breaker_waits = 0  # times the call waited for an open breaker
        self.start = self.began = engine.clock()
        self.history: list[tuple[Failure, float | None]] = []
        self.decision: Decision | None = None
        self.finished = False
        self.last_exception: BaseException | None = None
        self._admission: Admission | None = None
        self._deferred: tuple[BaseException | None] | None = None
        #: Set by the drop-in client for generating calls: finds a failure the server
        #: declared in a successful answer (a Response with status "failed").
        self.inspect_result: Callable[[object], Failure | None] | None = None
        # 128 random bits, as a uuid4 has, without building a UUID object per call.
        self.idempotency_key = f"rr-{os.urandom(16).hex()}" if via_client else ""
        if engine.budget is not None:
            engine.budget.deposit()
        self.spans: tuple[CallSpan, ...] = (
            tuple(
                t.call_started(key, model, stream=stream, operation=operation)
                for t in engine.tracers
            )
            if engine.tracers
            else ()
        )

    def emit(self, event: EngineEvent) -> None:
        """Hand *event* to the hooks and to this call's spans."""
        self.engine.emit(event)
        for span in self.spans:
            span.event(event)

    def finish(
        self,
        *,
        ok: bool,
        result: object = None,
        error: BaseException | None = None,
        usage: Usage | None = None,
    ) -> None:
        """The call is over: count it (with the usage of its final answer), close its
        spans. Only the first call counts."""
        if self.finished:
            return
        self.finished = True
        engine = self.engine
        elapsed = engine.clock() - self.began
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
            report = CallReport(
                key=self.key,
                model=self.model,
                ok=ok,
                attempts=self.attempts_sent,
                elapsed_s=elapsed,
                error=error,
            )
            for observer in observers:
                observer(report)

    # -- one attempt --------------------------------------------------------------------

    def elapsed(self) -> float:
        return self.engine.clock() - self.start

    def breaker_state(self) -> str | None:
        breakers = self.engine.breakers
        return breakers.state(self.key) if breakers is not None else None

    def begin(self, *, log_give_up: bool = True) -> None:
        """Admit the next attempt through the breaker (raises when it is open).

        ``log_give_up=False``: when the breaker refuses, the caller logs the end of the
        call itself and then calls :meth:`finish_deferred`.
        """
        budget = self.engine.cost_budget
        if budget is not None:
            budget.check()  # a spent hard budget: BudgetExceededError, nothing sent
        self.attempt += 1
        self.decision = None
        breakers = self.engine.breakers
        if breakers is not None:
            try:
                self._admission = breakers.admit(self.key)
            except CircuitOpenError as exc:
                if self.engine.waits_for_breaker:
                    # Like a 503 whose Retry-After is the breaker's `retry_in`. Waiting sends
                    # nothing: it draws nothing from the retry budget and no attempt from
                    # the other failures' limits (the "circuit_open" policy bounds it).
                    self.attempt -= 1
                    self.breaker_waits += 1
                    refused = Failure(
                        kind="circuit_open", retry_after=exc.retry_in or None, exception=exc
                    )
                    decision = self.failure(
                        refused,
                        None,
                        log_give_up=log_give_up,
                        budget=False,
                        attempt=self.breaker_waits,
                    )
                    if decision.retry:
                        raise  # the loop waits `decision.wait` and asks again
                    if self.last_exception is not None:
                        raise self.last_exception from None
                    if decision.reason == "deadline":
                        # Nothing was ever sent: the call ran out of time waiting.
                        raise DeadlineExceededError(
                            self.engine.deadline or 0.0, self.engine.clock() - self.began
                        ) from exc
                    raise
                if self.last_exception is None:
                    self._end_failed(exc, defer=not log_give_up)
                    raise
                # Opened by other calls while we waited: stop, and re-raise our last SDK
                # error rather than an error about a request we never sent.
                self.attempt -= 1
                self._give_up(self.history[-1][0], "breaker_open", log=log_give_up)
                raise self.last_exception from None
        self.attempts_sent += 1
        for span in self.spans:
            span.attempt_started(self.attempt)

    def _record(self, tripped: bool | None) -> None:
        admission, self._admission = self._admission, None
        if admission is not None:
            breakers = self.engine.breakers
            assert breakers is not None
            breakers.record(admission, tripped)

    def succeeded(self, result: object = None) -> None:
        """Account a successful attempt; *result* is the SDK's answer (for usage and ids)."""
        self._record(False)
        engine = self.engine
        elapsed = self.elapsed()
        for span in self.spans:
            span.attempt_succeeded(self.attempt)
        usage = (
            usage_from(result)
            if result is not None and getattr(result, "usage", None) is not None
            else None
        )
        if usage is not None and engine.cost_budget is not None:
            engine.charge(self.model or getattr(result, "model", None), usage)
        if engine.log_successes:
            request_id = getattr(result, "_request_id", None)
            self.emit(
                CallSucceeded(
                    key=self.key,
                    model=self.model,
                    attempt=self.attempt,
                    elapsed_s=elapsed,
                    request_id=request_id if isinstance(request_id, str) else None,
                )
            )
        self.finish(ok=True, result=result, usage=usage)

    def settle(self, result: object) -> None:
        """The attempt returned *result*: a success, or a failure the server declared in it.

        A declared failure that will be retried raises an internal exception so that the
        loop retries; one that will not is returned to the caller as the SDK returned it.
        """
        failure = self.inspect_result(result) if self.inspect_result is not None else None
        if failure is None:
            self.succeeded(result)
            return
        decision = self.failure(failure, None)
        if getattr(result, "usage", None) is not None:
            # Paid either way; thrown away when retried.
            self.engine.account_usage(self.key, self.model, result, wasted=decision.retry)
        if decision.retry:
            raise _DeclaredFailure

    def progress(self) -> None:
        """A stream made progress after a recovery: attempts and deadline start over."""
        self.attempt = 1
        self.start = self.engine.clock()
        self.history.clear()

    def failed(self, exc: BaseException | None) -> Decision | None:
        """Account a failed attempt and decide; ``None`` when *exc* is not ours to handle
        (cancellation, the caller's own bug): the breaker learns nothing from it."""
        failure = classify(exc) if exc is not None else None
        if failure is None:
            self._record(None)
            self.finish(ok=False, error=exc)
            return None
        return self.failure(failure, exc)

    def abandon(self, error: BaseException | None = None) -> None:
        """The caller left before the call ended: release the attempt (the breaker learns
        nothing) and end the call: a success when the consumer simply stopped (closed a
        stream, ``GeneratorExit``), a failure when *error* is on its way out
        (cancellation during a wait, the caller's own bug)."""
        self._record(None)
        if isinstance(error, GeneratorExit):
            error = None
        if self._deferred is not None:
            self.finish_deferred()  # a give-up whose logging was left to the caller
        else:
            self.finish(ok=error is None, error=error)

    def failure(
        self,
        failure: Failure,
        exc: BaseException | None,
        *,
        log: bool = True,
        log_give_up: bool | None = None,
        recoverable: bool = True,
        progressed: bool = False,
        budget: bool = True,
        attempt: int | None = None,
    ) -> Decision:
        """Account *failure* (from an exception or a stream) and decide what to do next.

        With ``recoverable=False`` the caller already knows it cannot retry (a stream that
        may not be restarted): the failure is still counted, and no retry is scheduled.
        With ``log=False`` (or ``log_give_up=False`` for the give-up alone) the caller
        logs the outcome itself (streams log their own ``stream_resumed`` /
        ``stream_interrupted``) and, after a give-up, calls :meth:`finish_deferred`, so
        that its event still reaches the call's spans.

        ``progressed=True``: the attempt delivered new stream events before it was cut.
        If it is recovered, the breaker counts it as a success: the server was answering,
        the fault was on the way (a failure to recover still counts against it).
        ``budget=False``: a retry that does not draw on the retry budget (waiting for the
        breaker sends nothing). *attempt*: the count the policy's limit applies to (the
        call's attempts by default).
        """
        engine = self.engine
        policy = engine.table.lookup(failure)
        engine.stats.failure(self.key, failure)
        for span in self.spans:
            span.attempt_failed(self.attempt, failure)
        if exc is not None:
            self.last_exception = exc
            if not self.via_client:
                self._warn_sdk_retries(exc)
        testing = get_testing()
        attempts = engine.attempts
        if testing.attempts is not None:
            attempts = min(attempts, testing.attempts)
            if policy.attempts is not None:
                policy = _capped(policy, testing.attempts)
        elapsed = self.elapsed()
        if not recoverable:
            decision = Decision(False, reason="not_recoverable", policy=policy)
        else:
            decision = decide(
                failure,
                policy,
                attempt=self.attempt if attempt is None else attempt,
                attempts=attempts,
                backoff=engine.backoff,
                elapsed=elapsed,
                deadline=engine.deadline,
            )
        self._record(policy.trips_breaker and not (progressed and decision.retry))
        if decision.retry and not engine.waits_for_breaker and self.breaker_state() == "open":
            decision = Decision(False, reason="breaker_open", policy=policy)
        if (
            decision.retry
            and budget
            and engine.budget is not None
            and not engine.budget.try_withdraw()
        ):
            decision = Decision(False, reason="retry_budget", policy=policy)
        self.decision = decision
        if decision.retry:
            self.history.append((failure, decision.wait))
            if log:
                self.emit(
                    RetryScheduled(
                        key=self.key,
                        model=self.model,
                        attempt=self.attempt,
                        failure=failure,
                        wait_s=decision.wait,
                        elapsed_s=elapsed,
                        breaker_state=self.breaker_state(),
                    )
                )
        else:
            self.history.append((failure, None))
            self._give_up(
                failure,
                decision.reason or "not_retryable",
                log=log if log_give_up is None else log_give_up,
            )
        return decision

    def _give_up(self, failure: Failure, reason: str, *, log: bool = True) -> None:
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
        self._end_failed(self.last_exception, defer=not log)

    def _end_failed(self, error: BaseException | None, *, defer: bool) -> None:
        if defer:
            self._deferred = (error,)
        else:
            self.finish(ok=False, error=error)

    def finish_deferred(self) -> None:
        """Finish a call whose give-up was left to the caller to log (see :meth:`failure`)."""
        deferred, self._deferred = self._deferred, None
        if deferred is not None:
            self.finish(ok=False, error=deferred[0])

    def note(self, reason: str) -> str:
        """The PEP 678 note listing every attempt, added to the re-raised SDK error."""
        lines = [
            f"{_NOTE_PREFIX} gave up after {self.attempt} attempt"
            f"{'s' if self.attempt != 1 else ''} in {self.elapsed():.3f}s ({reason}"
            f"{'; the circuit breaker opened' if reason == 'breaker_open' else ''})"
        ]
        for number, (failure, wait) in enumerate(self.history, start=1):
            waited = f", waited {wait:.3f}s" if wait is not None else ""
            lines.append(f"  attempt {number}: {failure.describe()}{waited}")
        return "\n".join(lines)

    def _warn_sdk_retries(self, exc: BaseException) -> None:
        # The decorator cannot see the client inside the user's code, but a failed
        # request says how many retries the SDK had already taken.
        engine = self.engine
        if engine.sdk_retries_warned:
            return
        request = getattr(getattr(exc, "response", None), "request", None)
        count = request.headers.get("x-stainless-retry-count") if request is not None else None
        if count not in (None, "0"):
            engine.sdk_retries_warned = True
            self.emit(SdkRetriesDetected(key=self.key, retries_taken=str(count)))

    # -- tenacity glue -------------------------------------------------------------------

    def tenacity_retry(self, retry_state: tenacity.RetryCallState | None) -> bool:
        decision = self.decision
        return decision is not None and decision.retry

    def tenacity_wait(self, retry_state: tenacity.RetryCallState | None) -> float:
        decision = self.decision
        return decision.wait if decision is not None else 0.0


def _capped(policy: ErrorPolicy, attempts: int) -> ErrorPolicy:
    own = policy.attempts if policy.attempts is not None else attempts
    return replace(policy, attempts=min(own, attempts))


class _DeclaredFailure(Exception):
    """Internal: the answer declared a failure that will be retried. Never escapes."""


#: What an attempt can raise with a retry decided: every exception `classify` knows (SDK
#: and httpx errors, our CircuitOpenError while waiting for the breaker) and a declared
#: failure. Anything else passes through untouched.
_MAY_RETRY = (openai.OpenAIError, httpx2.HTTPError, _DeclaredFailure)


def _once(state: CallState, fn: Callable[[CallState], T]) -> T:
    state.begin()
    done = False
    try:
        result = fn(state)
        done = True
    finally:
        # Not `except`: cancellation and the caller's own errors pass through untouched,
        # only their outcome is recorded (`failed` ignores what it cannot classify).
        if not done:
            state.failed(sys.exc_info()[1])
    state.settle(result)
    return result


async def _aonce(state: CallState, fn: Callable[[CallState], Awaitable[T]]) -> T:
    state.begin()
    done = False
    try:
        result = await fn(state)
        done = True
    finally:
        if not done:
            state.failed(sys.exc_info()[1])
    state.settle(result)
    return result


def _retrying(state: CallState) -> dict[str, Any]:
    return {
        "retry": state.tenacity_retry,
        "wait": state.tenacity_wait,
        "stop": tenacity.stop_never,
        "reraise": True,
    }


def run_sync(state: CallState, fn: Callable[[CallState], T]) -> T:
    """Call ``fn(state)`` until it succeeds or :func:`decide` gives up.

    The first attempt runs before tenacity's machinery is built: most calls succeed at
    once and should not pay for a retry loop they do not use. From the first retry on,
    tenacity drives the loop, with :func:`decide` as its ``retry`` and ``wait``.
    """
    try:
        try:
            return _once(state, fn)
        except _MAY_RETRY:
            if not state.tenacity_retry(None):
                raise
        state.engine.do_sleep(state.tenacity_wait(None))
        for attempt in tenacity.Retrying(sleep=state.engine.do_sleep, **_retrying(state)):
            with attempt:
                return _once(state, fn)
        raise AssertionError("unreachable")  # pragma: no cover
    finally:
        if not state.finished:  # left while waiting between attempts (cancelled)
            state.abandon(sys.exc_info()[1])


async def run_async(state: CallState, fn: Callable[[CallState], Awaitable[T]]) -> T:
    """The async twin of :func:`run_sync`."""
    try:
        try:
            return await _aonce(state, fn)
        except _MAY_RETRY:
            if not state.tenacity_retry(None):
                raise
        await state.engine.do_asleep(state.tenacity_wait(None))
        async for attempt in tenacity.AsyncRetrying(
            sleep=state.engine.do_asleep, **_retrying(state)
        ):
            with attempt:
                return await _aonce(state, fn)
        raise AssertionError("unreachable")  # pragma: no cover
    finally:
        if not state.finished:
            state.abandon(sys.exc_info()[1])
