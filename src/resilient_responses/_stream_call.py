"""One resilient stream's decisions: the stream contract's core joined to a call's books.

:class:`StreamCall` is what the sync and async shells ask before each connection and after
each fault: whether to resume, restart, deliver a declared failure, or raise
:class:`~resilient_responses.StreamInterruptedError`. Every recovery goes through the call's
:class:`~resilient_responses._call.CallState`, so resumes and restarts obey the same
policies, attempt limits, deadline, retry budget and breaker as calls. It does no I/O
itself; where the answer needs the store (the breaker, the budget), the method has an
``a``-prefixed async twin a few lines long.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx2
import openai

from ._call import CallState
from ._classify import Failure, classify
from ._contract import Mode, StreamCore
from ._policy import Decision
from ._stream_policy import StreamPolicy
from .events import StreamInterrupted, StreamRecovered
from .exceptions import CircuitOpenError, StreamInterruptedError

__all__ = [
    "OPEN_ERRORS",
    "OUT_OF_SEQUENCE",
    "READ_ERRORS",
    "TRUNCATED",
    "StallWatch",
    "StreamCall",
    "stream_failure",
]

#: What reading a stream's body can raise for a transport fault (a malformed event, the
#: SDK's `json.JSONDecodeError`, is a corrupted body: a transport fault too).
READ_ERRORS = (openai.APIConnectionError, httpx2.TransportError, json.JSONDecodeError)
#: What opening a stream can raise for a failure the engine judges.
OPEN_ERRORS = (openai.APIError, httpx2.HTTPError)
#: A body that ended without a terminal event.
TRUNCATED = Failure(kind="stream_truncated")
#: Sequence numbers that skipped, stepped back or started over within one response.
OUT_OF_SEQUENCE = Failure(kind="stream_sequence")


def stream_failure(exc: BaseException) -> Failure | None:
    """Mid-stream, a read timeout is a stall, a dropped or corrupted body a cut; ``None``
    for what is not a transport fault (our own errors)."""
    if isinstance(exc, json.JSONDecodeError):
        return Failure(kind="connection", exception=exc)
    failure = classify(exc)
    if failure is None:
        return None
    if failure.kind == "timeout":
        return Failure(kind="stream_stalled", exception=exc)
    return failure


class StallWatch:
    """Time between *events*, not bytes: a stream that sends only SSE comments (a proxy's
    ``: keepalive``) stalls all the same.

    The SDK's SSE decoder reads through it (``_stream_open``): a chunk that carries an
    event restarts the clock once the consumer asks for more (its own time on an event is
    not the server's silence); any other that arrives after :attr:`limit` seconds without
    an event raises ``httpx2.ReadTimeout`` (which the SDK turns into a timeout: a stall).
    Total silence is the socket's read timeout, set to the same limit.
    """

    __slots__ = ("clock", "deadline", "first", "idle", "last")

    def __init__(self, policy: StreamPolicy, deadline: float | None, clock: Any) -> None:
        self.first = policy.first_event_timeout or policy.idle_timeout
        self.idle = policy.idle_timeout
        self.deadline = deadline
        self.clock: Callable[[], float] = clock
        self.last = clock()

    def allowance(self, first_event_seen: bool) -> float | None:
        """The idle (or, before the first event, first-event) timeout, if one is set."""
        return self.idle if first_event_seen else self.first

    def limit(self, first_event_seen: bool) -> float | None:
        """Seconds allowed without an event: the idle (or first-event) timeout, and never
        more than the deadline, which for a stream counts from its last event."""
        allowance = self.allowance(first_event_seen)
        if allowance is None:
            return self.deadline
        return allowance if self.deadline is None else min(allowance, self.deadline)

    def chunks(self, chunks: Iterator[bytes], limit: float) -> Iterator[bytes]:
        # The clock restarts when the reader asks for the chunk after an event's: the time
        # the consumer spends on the events is its own, not the server's silence.
        clock = self.clock
        self.last = clock()
        for chunk in chunks:
            if b"data:" in chunk:
                yield chunk
                self.last = clock()
            else:
                self.check(clock(), limit)
                yield chunk

    async def achunks(self, chunks: AsyncIterator[bytes], limit: float) -> AsyncIterator[bytes]:
        clock = self.clock
        self.last = clock()
        async for chunk in chunks:
            if b"data:" in chunk:
                yield chunk
                self.last = clock()
            else:
                self.check(clock(), limit)
                yield chunk

    def check(self, now: float, limit: float) -> None:
        """Raise ``httpx2.ReadTimeout`` when no event came for more than *limit* seconds."""
        if now - self.last > limit:
            raise httpx2.ReadTimeout(f"no stream event for {now - self.last:.3f}s")


class StreamCall:
    """The call behind one resilient stream, across its connections."""

    __slots__ = ("core", "on_completed", "on_new_response", "policy", "state", "watch")

    def __init__(self, state: CallState, core: StreamCore, policy: StreamPolicy) -> None:
        self.state = state
        self.core = core
        self.policy = policy
        config = state.engine.config
        self.watch = StallWatch(policy, config.deadline, config.clock)
        #: Called when a restart begins a new response (the SDK helper resets its state).
        self.on_new_response: Any = None
        #: Receives the completed response once the consumer took the terminal event.
        self.on_completed: Callable[[Any], None] | None = None
        stats = state.engine.stats
        core.on_first_event = lambda: stats.first_event(
            state.key, state.engine.config.clock() - state.began
        )
        core.on_progress = self._progressed

    def _progressed(self) -> None:
        # Progress after failures: attempts and deadline start over, so a long stream cut
        # several times is resumed every time it moves on.
        self.state.progress()

    def completed(self, event: Any) -> None:
        """The consumer took the terminal *event* without stopping: hand a completed
        response on (to the cache). A consumer that stopped at it (a guard that flagged
        the text) never gets here."""
        if self.on_completed is not None and getattr(event, "type", None) == "response.completed":
            self.on_completed(event.response)

    # -- opening --------------------------------------------------------------------------

    def connecting(self) -> str:
        """A connection is about to be opened: ``"create"`` or ``"resume"``."""
        self.state.delivered = self.core.deliver_count > 0
        return self.core.connecting()

    def refused(self, exc: BaseException) -> float:
        """Opening was refused before sending (the breaker, the deadline): the wait before
        asking again, or raises (the error itself before anything was delivered, an
        interruption after)."""
        state = self.state
        decision = state.decision
        if isinstance(exc, CircuitOpenError) and decision is not None and decision.retry:
            return decision.wait
        if not self.core.deliver_count:
            raise exc
        last = state.history[-1][0] if state.history else Failure(kind="connection")
        raise self.interrupted(last, exc) from exc

    def open_failed(self, exc: BaseException) -> float:
        """Opening failed with *exc*: the wait before opening again, or raises (*exc*
        itself, or an interruption when events were delivered before)."""
        failure = classify(exc)
        if failure is None:
            self.state.abandon(exc)
            raise exc
        return self._open_failed(failure, exc, self.state.judge(failure, exc))

    async def aopen_failed(self, exc: BaseException) -> float:
        """The async twin of :meth:`open_failed`."""
        failure = classify(exc)
        if failure is None:
            self.state.abandon(exc)
            raise exc
        return self._open_failed(failure, exc, await self.state.ajudge(failure, exc))

    def _open_failed(self, failure: Failure, exc: BaseException, decision: Decision) -> float:
        if decision.retry:
            self.state.retry_scheduled(failure, decision)
            return decision.wait
        if self.core.deliver_count:
            raise self.interrupted(failure, exc)
        self.state.gave_up(failure, decision.reason or "not_retryable")
        raise exc

    # -- faults ---------------------------------------------------------------------------

    def _faulted(self) -> Mode | None:
        # A stream's deadline counts from its last event: a long stream cut late is still
        # recovered, a silent one is not.
        state = self.state
        if self.core.progressed and self.watch.last > state.start:
            # The waits for rate-limit capacity before it are no longer part of the total.
            state.start = self.watch.last
            state.paced_s = 0.0
        return self.core.mode(declared=False)

    def fault(self, failure: Failure, exc: BaseException | None) -> float:
        """A transport fault mid-stream: the wait before recovering, or raises the
        interruption."""
        mode = self._faulted()
        decision = self.state.judge(
            failure, exc, recoverable=mode is not None, progressed=self.core.progressed
        )
        return self._recover(mode, failure, exc, decision)

    async def afault(self, failure: Failure, exc: BaseException | None) -> float:
        """The async twin of :meth:`fault`."""
        mode = self._faulted()
        decision = await self.state.ajudge(
            failure, exc, recoverable=mode is not None, progressed=self.core.progressed
        )
        return self._recover(mode, failure, exc, decision)

    def _recover(
        self, mode: Mode | None, failure: Failure, exc: BaseException | None, decision: Decision
    ) -> float:
        if mode is not None and decision.retry:
            self._recovered(mode, failure, decision.wait)
            return decision.wait
        raise self.interrupted(failure, exc)

    def declared(self, event: Any) -> float | None:
        """A failure the server declared (``error`` / ``response.failed``): the wait before
        a restart, or ``None``: deliver the event as the SDK would, and end."""
        failure = classify(event) or Failure(kind="stream_error")
        mode = self.core.mode(declared=True)
        decision = self.state.judge(failure, None, recoverable=mode is not None)
        return self._declared(event, failure, mode, decision)

    async def adeclared(self, event: Any) -> float | None:
        """The async twin of :meth:`declared`."""
        failure = classify(event) or Failure(kind="stream_error")
        mode = self.core.mode(declared=True)
        decision = await self.state.ajudge(failure, None, recoverable=mode is not None)
        return self._declared(event, failure, mode, decision)

    def _declared(
        self, event: Any, failure: Failure, mode: Mode | None, decision: Decision
    ) -> float | None:
        state = self.state
        restarting = mode is not None and decision.retry
        # A failed response may still report usage: it was paid, and wasted if restarted.
        response = getattr(event, "response", None)
        if response is not None and getattr(response, "usage", None) is not None:
            state.engine.account_usage(state.key, state.model, response, wasted=restarting)
        if mode is not None and decision.retry:
            self._recovered(mode, failure, decision.wait)
            return decision.wait
        self.core.deliver_declared(event)
        state.gave_up(failure, decision.reason or "not_retryable")
        return None

    # -- reporting ------------------------------------------------------------------------

    def _recovered(self, mode: Mode, failure: Failure, wait: float) -> None:
        state = self.state
        core = self.core
        stats = state.engine.stats
        (stats.stream_resumed if mode == "resume" else stats.stream_restarted)(state.key)
        state.emit(
            StreamRecovered(
                key=state.key,
                model=state.model,
                how=mode,
                attempt=state.attempt,
                failure=failure,
                response_id=core.response_id,
                sequence_number=core.last_seq,
                wait_s=wait,
                elapsed_s=state.elapsed(),
            )
        )
        if mode == "restart":
            core.restarting()
            if self.on_new_response is not None:
                self.on_new_response()

    def interrupted(self, failure: Failure, exc: BaseException | None) -> StreamInterruptedError:
        """Log the interruption, end the call, and build the error for the consumer."""
        state = self.state
        core = self.core
        state.engine.stats.stream_interrupted(state.key)
        reason = failure.kind if failure.kind != "status" else failure.describe()
        state.emit(
            StreamInterrupted(
                key=state.key,
                model=state.model,
                attempt=state.attempt,
                failure=failure,
                reason=reason,
                response_id=core.response_id,
                sequence_number=core.last_seq,
                elapsed_s=state.elapsed(),
            )
        )
        decision = state.decision
        state.gave_up(
            failure,
            decision.reason if decision is not None and decision.reason else "not_recoverable",
            log=False,
        )
        partial = core.partial_text
        error = StreamInterruptedError(
            f"stream of response {core.response_id or '(not created)'} interrupted after "
            f"sequence number {core.last_seq} ({failure.describe()}); "
            f"{len(partial)} characters of text were delivered",
            response_id=core.response_id,
            last_sequence_number=core.last_seq,
            partial_text=partial,
            reason=failure.kind,
        )
        error.__cause__ = exc
        return error
