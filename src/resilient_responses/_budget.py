"""Retry budget: caps retries to a share of traffic, so an outage does not become a storm.

Finagle's design: every call deposits *ratio* of a retry token, every retry withdraws a
whole one, and a floor of *min_per_second* retries per second keeps low-traffic clients
able to retry at all. Deposits and withdrawals are counted in one-second buckets over a
sliding *ttl* window, so memory is bounded and old traffic stops counting.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ._checks import check_seconds

__all__ = ["RetryBudget", "RetryBudgetState"]


@dataclass(frozen=True, slots=True)
class RetryBudget:
    """Configuration: at most *ratio* retries per call, plus *min_per_second* retries.

    >>> RetryBudget(ratio=0.2, min_per_second=10.0)
    RetryBudget(ratio=0.2, min_per_second=10.0, ttl=10.0)
    """

    ratio: float = 0.2
    min_per_second: float = 10.0
    ttl: float = 10.0

    def __post_init__(self) -> None:
        if isinstance(self.ratio, bool) or not isinstance(self.ratio, (int, float)):
            raise TypeError("RetryBudget.ratio must be a number in [0, 1000]")
        if math.isnan(self.ratio) or not 0 <= self.ratio <= 1000:
            raise ValueError(f"RetryBudget.ratio must be in [0, 1000], got {self.ratio!r}")
        check_seconds("RetryBudget.min_per_second", self.min_per_second)
        if math.isinf(self.min_per_second):
            raise ValueError("RetryBudget.min_per_second must be finite")
        check_seconds("RetryBudget.ttl", self.ttl, allow_zero=False)
        if math.isinf(self.ttl) or self.ttl > 3600:
            raise ValueError("RetryBudget.ttl must be at most 3600 seconds")

    def create(self, clock: Callable[[], float] = time.monotonic) -> RetryBudgetState:
        """A fresh budget, shared by every call of one ``Resilience``."""
        return RetryBudgetState(self, clock)


class RetryBudgetState:
    """The in-process :class:`~resilient_responses._backends.BudgetBackend`. Thread-safe;
    never lets the balance fall below zero; no I/O, so the async forms call the sync ones."""

    __slots__ = ("_buckets", "_clock", "_config", "_lock", "_size")

    def __init__(self, config: RetryBudget, clock: Callable[[], float]) -> None:
        self._config = config
        self._clock = clock
        self._lock = threading.Lock()
        self._size = max(1, math.ceil(config.ttl))
        # second -> [deposits, withdrawals]; at most `_size` entries live at once.
        self._buckets: dict[int, list[float]] = {}

    def _bucket(self, now: float) -> list[float]:
        second = int(now)
        oldest = second - self._size + 1
        for stale in [s for s in self._buckets if s < oldest]:
            del self._buckets[stale]
        bucket = self._buckets.get(second)
        if bucket is None:
            bucket = self._buckets[second] = [0.0, 0.0]
        return bucket

    def _balance_locked(self) -> float:
        deposits = sum(b[0] for b in self._buckets.values())
        withdrawals = sum(b[1] for b in self._buckets.values())
        reserve = self._config.min_per_second * self._config.ttl
        return deposits * self._config.ratio + reserve - withdrawals

    def deposit(self) -> None:
        """Record one call (its first attempt)."""
        with self._lock:
            self._bucket(self._clock())[0] += 1.0

    async def adeposit(self) -> None:
        self.deposit()

    def try_withdraw(self) -> bool:
        """Take one retry token; ``False`` (and nothing taken) when fewer than one is left."""
        with self._lock:
            bucket = self._bucket(self._clock())
            if self._balance_locked() < 1.0:
                return False
            bucket[1] += 1.0
            return True

    async def atry_withdraw(self) -> bool:
        return self.try_withdraw()

    @property
    def level(self) -> float:
        """Retry tokens available now (never negative)."""
        with self._lock:
            self._bucket(self._clock())
            return max(0.0, self._balance_locked())
