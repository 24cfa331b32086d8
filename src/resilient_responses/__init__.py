"""Make OpenAI Responses API calls and streams survive production faults.

Three ways in, one engine behind them: the drop-in clients (:class:`ResilientOpenAI`,
:class:`AsyncResilientOpenAI`), the decorator (:func:`resilient`, or a shared
:class:`Resilience`), and the fault-injection kit in :mod:`resilient_responses.testing`.
"""

from ._breaker import BreakerConfig
from ._budget import RetryBudget
from ._classify import Failure, classify
from ._client import AsyncResilientOpenAI, ResilientOpenAI
from ._core import Resilience, resilient
from ._guard import StreamGuard, amoderation_check, moderation_check
from ._policy import Backoff, ErrorPolicy
from ._redis_store import RedisStore
from ._store import MemoryStore
from ._stream_policy import StreamPolicy
from .exceptions import (
    BudgetExceededError,
    CircuitOpenError,
    DeadlineExceededError,
    GuardTripped,
    ResilienceError,
    StreamInterruptedError,
)
from .instrumentation import CostBudget, EventRouter, OpenTelemetryTracer, PriceTable

__all__ = [
    "AsyncResilientOpenAI",
    "Backoff",
    "BreakerConfig",
    "BudgetExceededError",
    "CircuitOpenError",
    "CostBudget",
    "DeadlineExceededError",
    "ErrorPolicy",
    "EventRouter",
    "Failure",
    "GuardTripped",
    "MemoryStore",
    "OpenTelemetryTracer",
    "PriceTable",
    "RedisStore",
    "Resilience",
    "ResilienceError",
    "ResilientOpenAI",
    "RetryBudget",
    "StreamGuard",
    "StreamInterruptedError",
    "StreamPolicy",
    "amoderation_check",
    "classify",
    "moderation_check",
    "resilient",
]
