"""A call and the rate limit: :class:`CallPacing` is the half of
:class:`~resilient_responses._call.CallState` that waits for capacity before each attempt,
tells the limiter what each answer said, and settles the tokens a response reported.

Every wait is part of the call: within its deadline (a wait that would pass it gives up at
once, without sending), cancellable, and holding no breaker admission. A caller that was
told to wait and leaves instead (cancelled, out of time) gives its place in the line back.
"""

from __future__ import annotations

from collections.abc import Mapping

from ._backends import Admission
from ._call_report import CallReports
from ._classify import Failure
from ._policy import pace
from ._tokens import estimate_tokens
from .exceptions import DeadlineExceededError

__all__ = ["CallPacing"]

#: What a call that gave up waiting for rate-limit capacity reports as its failure.
_NO_CAPACITY = Failure(kind="status", status=429, code="rate_limit_exceeded")


class CallPacing(CallReports):
    """Rate-limit pacing for one call (a base of ``CallState``, which sets the fields)."""

    __slots__ = ("_admission", "free", "paced", "quota", "tokens")

    #: The attempt's breaker admission, given back while it waits for capacity.
    _admission: Admission | None
    #: Whether attempts wait for capacity (every drop-in call; a decorated one only
    #: against limits configured: it sees no headers).
    paced: bool
    #: The limiter's key: the breaker's, plus a digest of the client's credentials.
    quota: str
    #: The request's estimated tokens (0: not estimated).
    tokens: int
    #: The key was known to have no limits when the call began: its first request takes
    #: nothing from the limiter, and a single answer's tokens need no settling (where the
    #: answer taught the limiter limits, its headers already counted them).
    free: bool

    def weigh(self, body: Mapping[str, object]) -> None:
        """Estimate the request's tokens (*body*: its ``create`` keywords) when paced and
        its key is not known to be free of limits."""
        limiter = self.engine.limiter
        if self.paced and limiter is not None:
            if limiter.free(self.quota):
                self.free = True
            else:
                self.tokens = estimate_tokens(body)

    # -- before an attempt ------------------------------------------------------------------

    def capacity(self) -> float:
        """Take capacity for the attempt: ``0.0``, or the seconds to wait first."""
        if self.free and not self.attempts_sent:
            return 0.0
        limiter = self.engine.limiter if self.paced else None
        return limiter.acquire(self.quota, self.tokens) if limiter is not None else 0.0

    async def acapacity(self) -> float:
        """The async twin of :meth:`capacity`."""
        if self.free and not self.attempts_sent:
            return 0.0
        limiter = self.engine.limiter if self.paced else None
        return await limiter.aacquire(self.quota, self.tokens) if limiter is not None else 0.0

    def wait_for_capacity(self, wait: float) -> float:
        """Wait *wait* seconds for capacity (see :meth:`_hold`); returns *wait*."""
        waited = False
        try:
            self._hold(wait)
            self.engine.sleep(wait)
            waited = True
        finally:
            if not waited and (limiter := self.engine.limiter) is not None:
                try:
                    limiter.leave(self.quota, self.tokens)
                except Exception as exc:  # noqa: BLE001 - see _left
                    self._left(exc)
        return wait

    async def await_capacity(self, wait: float) -> float:
        """The async twin of :meth:`wait_for_capacity`."""
        waited = False
        try:
            self._hold(wait)
            await self.engine.asleep(wait)
            waited = True
        finally:
            if not waited and (limiter := self.engine.limiter) is not None:
                try:
                    await limiter.aleave(self.quota, self.tokens)
                except Exception as exc:  # noqa: BLE001 - see _left
                    self._left(exc)
        return wait

    def _unanswered(self) -> None:
        """The attempt ended without an answer and without a failure of ours (a
        cancellation, the caller's own error): the key's first-call gate opens, as after a
        connection error, so the callers behind it do not wait it out."""
        try:
            self.observe({}, None)
        except Exception as exc:  # noqa: BLE001 - see _left
            self._left(exc)

    async def _aunanswered(self) -> None:
        """The async twin of :meth:`_unanswered`."""
        try:
            await self.aobserve({}, None)
        except Exception as exc:  # noqa: BLE001 - see _left
            self._left(exc)

    def _left(self, exc: Exception) -> None:
        # Giving the place back is a courtesy to the callers behind: a fleet store that
        # raises then must not replace what is leaving (a cancellation, the deadline).
        self.engine.instrumentation_failed(self.engine.limiter, exc)

    def _hold(self, wait: float) -> None:
        """Give the attempt's breaker admission back while it waits, or give up at once,
        without sending, when the wait would pass the deadline."""
        admission, self._admission = self._admission, None
        if admission is not None and self.engine.breakers is not None:
            self.engine.breakers.release(admission)
        decision = pace(wait, elapsed=self.elapsed(), deadline=self.engine.config.deadline)
        if decision.retry:
            return
        self.decision = decision
        self.attempt -= 1
        error = DeadlineExceededError(
            self.engine.config.deadline or 0.0,
            self.engine.config.clock() - self.began,
            waiting_for=f"rate-limit capacity of {self.key!r} (back in {wait:.3f}s)",
        )
        self.gave_up(_NO_CAPACITY, "rate_limited")
        if self.last_exception is not None:
            raise self.last_exception from None
        raise error

    # -- after it -------------------------------------------------------------------------

    def observe(self, headers: Mapping[str, str], status: int | None) -> None:
        """An answer's headers for the rate limit. A request refused before it ran (4xx)
        gets its tokens back; after a 429 only one larger than the whole limit (one
        refused for capacity keeps its charge: the back-pressure a crowded key needs)."""
        if self.paced and (limiter := self.engine.limiter) is not None:
            limiter.observe(self.quota, headers, status)
            if self.tokens and status is not None and 400 <= status < 500:
                limiter.refund(self.quota, self.tokens, oversized_only=status == 429)

    async def aobserve(self, headers: Mapping[str, str], status: int | None) -> None:
        """The async twin of :meth:`observe`."""
        if self.paced and (limiter := self.engine.limiter) is not None:
            await limiter.aobserve(self.quota, headers, status)
            if self.tokens and status is not None and 400 <= status < 500:
                await limiter.arefund(self.quota, self.tokens, oversized_only=status == 429)

    def settle_tokens(self, used: int | None) -> None:
        """A response reported *used* tokens: charge what the estimate missed."""
        if self.free and self.attempts_sent == 1:
            return
        limiter = self.engine.limiter if self.paced else None
        if used is not None and limiter and (self.tokens or not limiter.free(self.quota)):
            limiter.reconcile(self.quota, self.tokens, used)

    async def asettle_tokens(self, used: int | None) -> None:
        """The async twin of :meth:`settle_tokens`."""
        if self.free and self.attempts_sent == 1:
            return
        limiter = self.engine.limiter if self.paced else None
        if used is not None and limiter and (self.tokens or not limiter.free(self.quota)):
            await limiter.areconcile(self.quota, self.tokens, used)
