"""Where live state lives: :class:`MemoryStore` (in-process, the default).

``Resilience(store=...)`` takes any :class:`~resilient_responses._backends.Store`; the
fleet store (``RedisStore``) shares breakers, the retry budget and rate-limit state across
processes and hosts.
"""

from __future__ import annotations

from collections.abc import Callable

from ._backends import BreakerBackend, BudgetBackend, Emit, LimiterBackend, StateListener
from ._breaker import BreakerConfig, MemoryBreakers
from ._budget import RetryBudget, RetryBudgetState
from ._memory_limiter import MemoryLimiter
from ._ratelimit import RateLimit

__all__ = ["MemoryStore"]


class MemoryStore:
    """Live state in this process only: pybreaker's state machine per key, a local budget,
    local pacing (pyrate-limiter's GCRA per key).

    The default. Every ``Resilience`` it serves gets its own breakers, budget and pacing
    (two ``Resilience`` objects never share a breaker or a rate limit through a
    ``MemoryStore``).

    >>> from resilient_responses import Resilience
    >>> Resilience(store=MemoryStore()).stats().total.calls
    0
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return "MemoryStore()"

    def breaker_backend(
        self, config: BreakerConfig, on_change: StateListener, emit: Emit
    ) -> BreakerBackend:
        return MemoryBreakers(config, on_change)

    def budget_backend(
        self, config: RetryBudget, clock: Callable[[], float], emit: Emit
    ) -> BudgetBackend:
        return RetryBudgetState(config, clock)

    def limiter_backend(
        self, config: RateLimit, clock: Callable[[], float], emit: Emit
    ) -> LimiterBackend:
        return MemoryLimiter(config, clock)
