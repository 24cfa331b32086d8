"""Injected time for tests: a clock that only moves when something sleeps."""

from __future__ import annotations

__all__ = ["VirtualClock"]


class VirtualClock:
    """A clock and a sleep for ``Resilience(clock=..., sleep=...)``: nothing really waits.

    Sleeping advances the clock and records the wait, so a test can assert the exact
    backoff or Retry-After the engine honoured, and that no wait crossed the deadline.
    ``sleep`` serves sync and async calls alike (the engine awaits what it returns when
    it returns an awaitable); ``asleep`` is the coroutine twin for code that awaits it.
    The instance itself is a clock too (calling it returns :meth:`clock`), so
    ``FakeResponsesAPI(quota=..., clock=time)`` and the engine can share one virtual time.

    >>> import resilient_responses as rr
    >>> time = VirtualClock()
    >>> resilience = rr.Resilience(clock=time.clock, sleep=time.sleep)
    >>> time.sleep(1.5); time.clock()
    1001.5
    >>> time.sleeps
    [1.5]
    """

    __slots__ = ("now", "sleeps")

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def clock(self) -> float:
        """The current virtual time, in seconds."""
        return self.now

    def __call__(self) -> float:
        """The current virtual time (the instance is a ``() -> float`` clock)."""
        return self.now

    def sleep(self, seconds: float) -> None:
        """Record the wait and move the clock forward by it."""
        self.sleeps.append(seconds)
        self.now += seconds

    async def asleep(self, seconds: float) -> None:
        """The coroutine twin of :meth:`sleep`."""
        self.sleep(seconds)

    @property
    def slept(self) -> float:
        """The sum of all waits so far."""
        return sum(self.sleeps)

    def __repr__(self) -> str:
        return f"VirtualClock(now={self.now!r}, sleeps={self.sleeps!r})"
