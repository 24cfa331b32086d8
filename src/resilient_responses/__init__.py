"""Make OpenAI Responses API calls and streams survive production faults.

Three ways in, one engine behind them: the drop-in clients (:class:`ResilientOpenAI`,
:class:`AsyncResilientOpenAI`), the decorator (:func:`resilient`, or a shared
:class:`Resilience`), and the fault-injection kit in :mod:`resilient_responses.testing`.
"""

from ._batch import Outcome, arun_batch, run_batch
from ._breaker import BreakerConfig
from ._budget import RetryBudget
from ._cache import ResponseCache
from ._chat import AsyncChatCompletionsAdapter, ChatCompletionsAdapter
from ._classify import Failure, classify
from ._client import AsyncResilientOpenAI, ResilientOpenAI
from ._core import Resilience, resilient
from ._guard import StreamGuard, amoderation_check, moderation_check
from ._policy import Backoff, ErrorPolicy
from ._ratelimit import RateLimit
from ._redis_store import RedisStore
from ._store import MemoryStore
from ._stream_policy import StreamPolicy
from .events import CallReport, CallSpan, CallTracer, GiveUpReason, Hook, observe_calls
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
    "AsyncChatCompletionsAdapter",
    "AsyncResilientOpenAI",
    "Backoff",
    "BreakerConfig",
    "BudgetExceededError",
    "CallReport",
    "CallSpan",
    "CallTracer",
    "ChatCompletionsAdapter",
    "CircuitOpenError",
    "CostBudget",
    "DeadlineExceededError",
    "ErrorPolicy",
    "EventRouter",
    "Failure",
    "GiveUpReason",
    "GuardTripped",
    "Hook",
    "MemoryStore",
    "OpenTelemetryTracer",
    "Outcome",
    "PriceTable",
    "RateLimit",
    "RedisStore",
    "Resilience",
    "ResilienceError",
    "ResilientOpenAI",
    "ResponseCache",
    "RetryBudget",
    "StreamGuard",
    "StreamInterruptedError",
    "StreamPolicy",
    "amoderation_check",
    "arun_batch",
    "classify",
    "moderation_check",
    "observe_calls",
    "resilient",
    "run_batch",
]
