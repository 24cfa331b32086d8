"""One call's books: :class:`CallState` keeps a call across its attempts.

It admits each attempt through the breaker, turns each failure into a
:class:`~resilient_responses._policy.Situation` and lets the pure
:func:`~resilient_responses._policy.decide` rule on it, records the outcome with the
breaker and the budget, and reports it (logs, spans, stats, observers). It never sleeps and
never sends: the retry loops (``_loop``) and the stream shells do the I/O.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import Callable
from dataclasses import replace

from ._backends import Admission
from ._call_pacing import CallPacing
from ._classify import Failure, classify
from ._config import get_testing
from ._cost import usage_from
from ._engine import Engine, start_spans
from ._policy import Decision, Situation, decide, trips
from .events import CallSpan, CallSucceeded
from .exceptions import CircuitOpenError, DeadlineExceededError

__all__ = ["CallState", "DeclaredFailure"]


_UNANSWERED = frozenset({"connection", "timeout", "pool_timeout"})  # got no answer at all


class _IdempotencyKeys:
    """Idempotency keys unique across calls, threads and processes: 64 random bits from
    the OS per process (drawn again in a forked child) and a counter, 32 hex digits as a
    uuid4 has. One ``os.urandom`` call per process instead of one per call (a system call
    costs more than the rest of the key); a key needs to be unique, not secret (the API key
    that could replay it is the secret)."""

    __slots__ = ("_counter", "_prefix")

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._prefix = f"rr-{os.urandom(8).hex()}"
        self._counter = itertools.count()

    def next(self) -> str:
        return f"{self._prefix}{next(self._counter):016x}"


_KEYS = _IdempotencyKeys()
if hasattr(os, "register_at_fork"):  # not on Windows
    os.register_at_fork(after_in_child=_KEYS._reset)


class CallState(CallPacing):
    """One call across its attempts (one stream across its connections). Not shared.

    The loops drive it: :meth:`begin` before each attempt, then :meth:`settle` with the
    answer or :meth:`failed` with the exception; each judges and reports the outcome.
    Streams judge their faults with :meth:`judge` and report them in their own words.
    """

    __slots__ = (
        "breaker_waits",
        "delivered",
        "idempotency_key",
        "inspect_result",
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
        quota: str | None = None,
    ) -> None:
        self.engine = engine
        self.key = key
        #: The rate limit's key: the breaker's, plus the client's credentials' digest.
        self.quota = quota or key
        self.model = model
        self.via_client = via_client
        self.attempt = 0  # attempts since the call began, or since a stream's last progress
        self.attempts_sent = 0  # requests actually sent, for the stats
        self.breaker_waits = 0  # times the call waited for an open breaker
        self.start = self.began = engine.config.clock()
        self.history: list[tuple[Failure, float | None]] = []
        self.paced_s = 0.0  # seconds the attempts waited for rate-limit capacity
        self.decision: Decision | None = None
        self.finished = False
        #: A stream delivered events: its give-ups are reported as interruptions.
        self.delivered = False
        self.last_exception: BaseException | None = None
        self._admission: Admission | None = None
        #: Set by the drop-in client for generating calls: finds a failure the server
        #: declared in a successful answer (a Response with status "failed").
        self.inspect_result: Callable[[object], Failure | None] | None = None
        self.idempotency_key = _KEYS.next() if via_client else ""
        #: The breaker's state as last seen (admission, outcome): what logs report, so no
        #: log line costs a round trip to a fleet store.
        self.breaker_seen: str | None = None
        #: Estimated tokens of the request, taken from the rate limit before each attempt.
        self.tokens = 0
        self.free = False
        #: Whether attempts wait for rate-limit capacity: every drop-in client call; a
        #: decorated function only against limits configured (it sees no headers).
        rate_limit = engine.config.rate_limit
        # In testing mode nothing sleeps, so nothing is paced (waiters would spin): pacing
        # is tested with an injected sleep and clock instead.
        self.paced = (
            engine.limiter is not None
            and not get_testing().enabled
            and (via_client or (rate_limit is not None and rate_limit.configured))
        )
        self.spans: tuple[CallSpan, ...] = (
            start_spans(engine, key, model, stream=stream, operation=operation)
            if engine.tracers
            else ()
        )

    # -- admission ------------------------------------------------------------------------

    def begin(self) -> None:
        """Admit the next attempt through the breaker, then the rate limit; raises when
        either refuses. No breaker admission is held while waiting for capacity."""
        engine = self._next_attempt()
        breakers = engine.breakers
        waited = 0.0
        try:
            while True:
                if breakers is not None:
                    try:
                        self._admission = breakers.admit(self.key)
                    except CircuitOpenError as exc:
                        self._refused(exc)
                if (wait := self.capacity()) <= 0:
                    break
                waited += self.wait_for_capacity(wait)
        finally:
            if waited > 0:
                self.rate_limited(waited)
        budget = engine.budget
        if budget is not None and self.attempts_sent == 0:
            budget.deposit()  # one per call, at its first request
        self._admitted()

    async def abegin(self) -> None:
        """The async twin of :meth:`begin` (a fleet store answers without blocking)."""
        engine = self._next_attempt()
        breakers = engine.breakers
        waited = 0.0
        try:
            while True:
                if breakers is not None:
                    try:
                        self._admission = await breakers.aadmit(self.key)
                    except CircuitOpenError as exc:
                        self._refused(exc)
                if (wait := await self.acapacity()) <= 0:
                    break
                waited += await self.await_capacity(wait)
                # An injected sleep may not yield: let the caller we wait for run.
                await asyncio.sleep(0)
        finally:
            if waited > 0:
                self.rate_limited(waited)
        budget = engine.budget
        if budget is not None and self.attempts_sent == 0:
            await budget.adeposit()
        self._admitted()

    def _next_attempt(self) -> Engine:
        """Count the attempt about to be admitted (a spent hard cost budget raises
        ``BudgetExceededError`` first: nothing is sent); returns the engine."""
        engine = self.engine
        if engine.config.cost_budget is not None:
            engine.config.cost_budget.check()
        self.attempt += 1
        self.decision = None
        return engine

    def _admitted(self) -> None:
        admission = self._admission
        if admission is not None:
            self.breaker_seen = "half-open" if admission.probe else "closed"
        self.attempts_sent += 1
        for span in self.spans:
            span.attempt_started(self.attempt)

    def _refused(self, exc: CircuitOpenError) -> None:
        """The breaker refused the attempt. Always raises: the ``CircuitOpenError`` with a
        retry decided (the loop waits ``decision.wait`` and asks again) or to fail fast;
        the call's last SDK error when the breaker opened while the call was retrying;
        ``DeadlineExceededError`` when waiting for the breaker ran out of time before
        anything was sent. A stream that delivered events reports its own interruption
        (and ends the call then)."""
        self.attempt -= 1
        self.breaker_seen = "open" if exc.retry_in > 0 else "half-open"
        if self.engine.waits_for_breaker:
            # Like a 503 whose Retry-After is the breaker's `retry_in`. Waiting sends
            # nothing: it draws nothing from the retry budget and no attempt from the
            # other failures' limits (the "circuit_open" policy bounds it).
            self.breaker_waits += 1
            refused = Failure(kind="circuit_open", retry_after=exc.retry_in or None, exception=exc)
            _, decision = self._judge(refused, None, attempt=self.breaker_waits)
            self._settle_decision(refused, decision)
            if decision.retry:
                self.retry_scheduled(refused, decision)
                raise exc
            if not self.delivered:
                self.gave_up(refused, decision.reason or "not_retryable")
            if self.last_exception is not None:
                raise self.last_exception from None
            if decision.reason == "deadline":
                deadline = self.engine.config.deadline or 0.0
                raise DeadlineExceededError(
                    deadline, self.engine.config.clock() - self.began
                ) from exc
            raise exc
        if self.last_exception is None:
            if not self.delivered:
                self.finish(ok=False, error=exc)
            raise exc
        # Opened by other calls while we waited: stop, and re-raise our last SDK error
        # rather than an error about a request we never sent.
        last = self.history[-1][0]
        decision = decide(replace(self._situation(last), breaker_open=True))
        self.decision = decision
        if not self.delivered:
            self.gave_up(last, decision.reason or "breaker_open")
        raise self.last_exception from None

    def _record(self, tripped: bool | None) -> str | None:
        admission, self._admission = self._admission, None
        breakers = self.engine.breakers
        if admission is None or breakers is None:
            return None
        self.breaker_seen = state = breakers.record(admission, tripped)
        return state

    async def _arecord(self, tripped: bool | None) -> str | None:
        admission, self._admission = self._admission, None
        breakers = self.engine.breakers
        if admission is None or breakers is None:
            return None
        self.breaker_seen = state = await breakers.arecord(admission, tripped)
        return state

    def holds_probe(self) -> bool:
        """The attempt in flight holds one of the half-open breaker's probe slots."""
        return self._admission is not None and self._admission.probe

    def answered(self, verdict: str) -> bool:
        """A streaming probe's first event: the server answered, so the breaker gets its
        verdict (and the probe slot back) now, not when the stream ends. A declared
        failure is left to :meth:`judge`, which knows whether it trips the breaker.
        Returns ``False`` (no verdict is pending any more)."""
        if verdict != "declared" and verdict != "fault":
            self._record(False)
        return False

    async def aanswered(self, verdict: str) -> bool:
        """The async twin of :meth:`answered`."""
        if verdict != "declared" and verdict != "fault":
            await self._arecord(False)
        return False

    def abandon(self, error: BaseException | None = None) -> None:
        """The caller left before the call ended: release the attempt (the breaker learns
        nothing) and end the call: a success when the consumer simply stopped (closed a
        stream, ``GeneratorExit``), a failure when *error* is on its way out (cancellation
        during a wait, the caller's own bug). Never waits on I/O (finalizers call it)."""
        admission, self._admission = self._admission, None
        if admission is not None and self.engine.breakers is not None:
            self.engine.breakers.release(admission)
        if self.finished:  # the usual case: a stream closed (or collected) after its end
            return
        if isinstance(error, GeneratorExit):
            error = None
        self.finish(ok=error is None, error=error)

    # -- answers --------------------------------------------------------------------------

    def settle(self, result: object) -> None:
        """The attempt returned *result*: a success, or a failure the server declared in it
        (retried by raising an internal exception the loop catches, or returned as the SDK
        returned it)."""
        failure = self.inspect_result(result) if self.inspect_result is not None else None
        if failure is None:
            self._record(False)
            self.settle_tokens(self._success(result))
        else:
            self._declared(failure, result, self.judge(failure))

    async def asettle(self, result: object) -> None:
        """The async twin of :meth:`settle`."""
        failure = self.inspect_result(result) if self.inspect_result is not None else None
        if failure is None:
            await self._arecord(False)
            await self.asettle_tokens(self._success(result))
        else:
            self._declared(failure, result, await self.ajudge(failure))

    def _success(self, result: object) -> int | None:
        engine = self.engine
        for span in self.spans:
            span.attempt_succeeded(self.attempt)
        usage = (
            usage_from(result)
            if result is not None and getattr(result, "usage", None) is not None
            else None
        )
        if usage is not None and engine.config.cost_budget is not None:
            engine.charge(self.model or getattr(result, "model", None), usage)
        if engine.config.log_successes:
            request_id = getattr(result, "_request_id", None)
            self.emit(
                CallSucceeded(
                    key=self.key,
                    model=self.model,
                    attempt=self.attempt,
                    elapsed_s=self.elapsed(),
                    request_id=request_id if isinstance(request_id, str) else None,
                )
            )
        self.finish(ok=True, result=result, usage=usage)
        return None if usage is None else usage.input_tokens + usage.output_tokens

    def _declared(self, failure: Failure, result: object, decision: Decision) -> None:
        if getattr(result, "usage", None) is not None:
            # Paid either way; thrown away when retried.
            self.engine.account_usage(self.key, self.model, result, wasted=decision.retry)
        self._report(failure, decision)
        if decision.retry:
            raise DeclaredFailure

    def progress(self) -> None:
        """A stream made progress after a recovery: attempts and deadline start over."""
        if self.attempt > 1:
            self.attempt = 1
            self.start = self.engine.config.clock()
            self.history.clear()
            self.paced_s = 0.0

    # -- failures -------------------------------------------------------------------------

    def failed(self, exc: BaseException | None) -> Decision | None:
        """Judge and report a failed attempt from its exception; ``None`` when *exc* is not
        ours (cancellation, the caller's own bug): the breaker learns nothing, the call
        ends."""
        failure = classify(exc) if exc is not None else None
        if failure is None:
            self._unanswered()
            self.abandon(exc)
            return None
        return self._report(failure, self.judge(failure, exc))

    async def afailed(self, exc: BaseException | None) -> Decision | None:
        """The async twin of :meth:`failed`."""
        failure = classify(exc) if exc is not None else None
        if failure is None:
            await self._aunanswered()
            self.abandon(exc)
            return None
        return self._report(failure, await self.ajudge(failure, exc))

    def judge(
        self,
        failure: Failure,
        exc: BaseException | None = None,
        *,
        recoverable: bool = True,
        progressed: bool = False,
    ) -> Decision:
        """Account a failed attempt and decide what follows, without reporting it.

        ``progressed``: the attempt delivered new stream events before it was cut; when it
        is recovered, the breaker counts it as a success (the server was answering).
        """
        situation, decision = self._judge(failure, exc, recoverable=recoverable)
        if failure.status is None and failure.kind in _UNANSWERED:
            self.observe({}, None)  # no answer: the rate limit's first-call gate opens
        state = self._record(trips(decision, progressed))
        budget = self.engine.budget
        asked = budget is not None and self._asks_budget(decision, state)
        left = budget.try_withdraw() if budget is not None and asked else True
        return self._vetoed(situation, decision, state, left)

    async def ajudge(
        self,
        failure: Failure,
        exc: BaseException | None = None,
        *,
        recoverable: bool = True,
        progressed: bool = False,
    ) -> Decision:
        """The async twin of :meth:`judge`."""
        situation, decision = self._judge(failure, exc, recoverable=recoverable)
        if failure.status is None and failure.kind in _UNANSWERED:
            await self.aobserve({}, None)
        state = await self._arecord(trips(decision, progressed))
        budget = self.engine.budget
        asked = self._asks_budget(decision, state)
        left = await budget.atry_withdraw() if budget is not None and asked else True
        return self._vetoed(situation, decision, state, left)

    def _judge(
        self,
        failure: Failure,
        exc: BaseException | None,
        *,
        attempt: int | None = None,
        recoverable: bool = True,
    ) -> tuple[Situation, Decision]:
        self.engine.stats.failure(self.key, failure)
        for span in self.spans:
            span.attempt_failed(self.attempt, failure)
        if exc is not None:
            self.last_exception = exc
            if not self.via_client and not self.engine.sdk_retries_warned:
                warning = self.engine.sdk_retries(self.key, exc)
                if warning is not None:
                    self.emit(warning)
        situation = self._situation(failure, attempt=attempt, recoverable=recoverable)
        return situation, decide(situation)

    def _situation(
        self, failure: Failure, *, attempt: int | None = None, recoverable: bool = True
    ) -> Situation:
        config = self.engine.config
        return Situation(
            failure=failure,
            policy=config.table.lookup(failure),
            attempt=self.attempt if attempt is None else attempt,
            attempts=config.attempts,
            backoff=config.backoff,
            elapsed=self.elapsed(),
            deadline=config.deadline,
            testing_attempts=get_testing().attempts,
            recoverable=recoverable,
        )

    def _asks_budget(self, decision: Decision, state: str | None) -> bool:
        """A retry draws on the budget unless the open breaker vetoes it first."""
        return decision.retry and (state != "open" or self.engine.waits_for_breaker)

    def _vetoed(
        self, situation: Situation, decision: Decision, state: str | None, budget_left: bool
    ) -> Decision:
        """An open breaker or an empty retry budget vetoes a retry: :func:`decide` rules
        again with what the breaker and the budget said."""
        breaker_open = state == "open" and not self.engine.waits_for_breaker
        if decision.retry and (breaker_open or not budget_left):
            found = replace(situation, breaker_open=breaker_open, budget_left=budget_left)
            decision = decide(found)
        self._settle_decision(situation.failure, decision)
        return decision

    def _settle_decision(self, failure: Failure, decision: Decision) -> None:
        self.decision = decision
        self.history.append((failure, decision.wait if decision.retry else None))


class DeclaredFailure(Exception):
    """Internal: an answer declared a failure that will be retried. Never escapes."""
