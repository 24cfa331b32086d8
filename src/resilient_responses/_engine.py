"""The engine of one ``Resilience``: its frozen configuration and its live state.

:class:`EngineConfig` is everything a ``Resilience`` was configured with, validated and
frozen. :class:`Engine` adds the live state built from it once: breakers and the retry
budget (from the store), the stats collector, the hooks. One call's books are kept by
:class:`~resilient_responses._call.CallState`.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ._backends import BreakerBackend, BudgetBackend, LimiterBackend, Store
from ._breaker import BreakerConfig
from ._budget import RetryBudget
from ._cache import ResponseCache
from ._classify import Failure
from ._config import get_testing
from ._cost import Usage, usage_from
from ._cost_budget import CostBudget
from ._policy import Backoff, Fallbacks, PolicyTable
from ._ratelimit import RateLimit
from ._stream_policy import StreamPolicy
from .events import (
    BreakerStateChanged,
    CallSpan,
    CallTracer,
    CostBudgetCrossed,
    EngineEvent,
    Hook,
    SdkRetriesDetected,
)
from .instrumentation._stats import StatsCollector
from .instrumentation._structlog import report_instrumentation_error

__all__ = ["Engine", "EngineConfig", "SafeSpan", "start_spans"]


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """What a ``Resilience`` was configured with, validated; never changes."""

    table: PolicyTable
    attempts: int
    deadline: float | None
    backoff: Backoff
    breaker: BreakerConfig | None
    budget: RetryBudget | None
    stream: StreamPolicy
    store: Store
    log_successes: bool
    cost_budget: CostBudget | None
    clock: Callable[[], float]
    sleep: Callable[[float], object] | None
    cache: ResponseCache | None = None
    rate_limit: RateLimit | None = None
    fallbacks: Fallbacks = field(default_factory=lambda: MappingProxyType({}))
    context_fallbacks: Fallbacks = field(default_factory=lambda: MappingProxyType({}))
    #: No response cache and no fallbacks: a request is sent as it is (read per call, so
    #: worked out once).
    plain: bool = field(init=False)

    def __post_init__(self) -> None:
        plain = self.cache is None and not self.fallbacks and not self.context_fallbacks
        object.__setattr__(self, "plain", plain)

    @property
    def waits_for_breaker(self) -> bool:
        """A retrying ``"circuit_open"`` policy: callers wait for the breaker's next probe."""
        refused = Failure(kind="circuit_open")
        return self.breaker is not None and self.table.lookup(refused).retry


class Engine:
    """The live state of one ``Resilience``, built once from its :class:`EngineConfig`."""

    __slots__ = (
        "breakers",
        "broken",
        "budget",
        "config",
        "hooks",
        "limiter",
        "sdk_retries_warned",
        "stats",
        "tracers",
        "waits_for_breaker",
    )

    def __init__(
        self,
        config: EngineConfig,
        *,
        stats: StatsCollector,
        hooks: tuple[Hook, ...],
        tracers: tuple[CallTracer, ...],
    ) -> None:
        self.config = config
        self.stats = stats
        self.hooks = hooks
        self.tracers = tracers
        self.waits_for_breaker = config.waits_for_breaker
        self.sdk_retries_warned = False
        #: Instrumentation components that raised (ids), each reported once.
        self.broken: set[int] = set()
        store = config.store
        self.breakers: BreakerBackend | None = (
            store.breaker_backend(config.breaker, self.on_breaker_change, self.emit)
            if config.breaker is not None
            else None
        )
        self.budget: BudgetBackend | None = (
            store.budget_backend(config.budget, config.clock, self.emit)
            if config.budget is not None
            else None
        )
        self.limiter: LimiterBackend | None = (
            store.limiter_backend(config.rate_limit, config.clock, self.emit)
            if config.rate_limit is not None
            else None
        )

    def emit(self, event: EngineEvent) -> None:
        for hook in self.hooks:
            try:
                hook(event)
            except Exception as exc:  # noqa: BLE001, PERF203 - instrumentation never changes a call
                self.instrumentation_failed(hook, exc)

    def instrumentation_failed(self, component: object, exc: Exception) -> None:
        """A hook, tracer or observer raised: skipped, and logged once per component."""
        if id(component) not in self.broken:
            self.broken.add(id(component))
            report_instrumentation_error(component, exc)

    def on_breaker_change(self, key: str, old: str, new: str) -> None:
        if new == "open":
            self.stats.breaker_opened(key)
        self.emit(BreakerStateChanged(key=key, old=old, new=new))

    def sdk_retries(self, key: str, exc: BaseException) -> SdkRetriesDetected | None:
        """The one-time warning that a decorated call's own OpenAI client retries too
        (attempts multiply): a failed request says how many retries the SDK had taken."""
        request = getattr(getattr(exc, "response", None), "request", None)
        count = request.headers.get("x-stainless-retry-count") if request is not None else None
        if count in (None, "0"):
            return None
        self.sdk_retries_warned = True
        return SdkRetriesDetected(key=key, retries_taken=str(count))

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
        budget = self.config.cost_budget
        if budget is None:
            return
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

    def sleep(self, seconds: float) -> None:
        if seconds <= 0 or get_testing().enabled:
            return
        (self.config.sleep or time.sleep)(seconds)

    async def asleep(self, seconds: float) -> None:
        if seconds <= 0 or get_testing().enabled:
            return
        sleep = self.config.sleep
        if sleep is None:
            await asyncio.sleep(seconds)
            return
        result = sleep(seconds)
        if inspect.isawaitable(result):
            await result


class SafeSpan:
    """A tracer's span whose failures are isolated: a raising method is skipped (and
    reported once), the call goes on."""

    __slots__ = ("_engine", "_span")

    def __init__(self, span: CallSpan, engine: Engine) -> None:
        self._span = span
        self._engine = engine

    def _guard(self, method: str, *args: Any, **kwargs: Any) -> None:
        try:
            getattr(self._span, method)(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - instrumentation never changes a call
            self._engine.instrumentation_failed(self._span, exc)

    def attempt_started(self, attempt: int) -> None:
        self._guard("attempt_started", attempt)

    def attempt_failed(self, attempt: int, failure: Failure) -> None:
        self._guard("attempt_failed", attempt, failure)

    def attempt_succeeded(self, attempt: int) -> None:
        self._guard("attempt_succeeded", attempt)

    def event(self, event: EngineEvent) -> None:
        self._guard("event", event)

    def finished(self, *, ok: bool, result: object | None, error: BaseException | None) -> None:
        self._guard("finished", ok=ok, result=result, error=error)


def start_spans(
    engine: Engine, key: str, model: str | None, *, stream: bool, operation: str | None
) -> tuple[CallSpan, ...]:
    """One span per tracer for a new call; a tracer that fails to start one is skipped."""
    spans: list[CallSpan] = []
    for tracer in engine.tracers:
        try:
            span = tracer.call_started(key, model, stream=stream, operation=operation)
        except Exception as exc:  # noqa: BLE001 - instrumentation never changes a call
            engine.instrumentation_failed(tracer, exc)
            continue
        spans.append(SafeSpan(span, engine))
    return tuple(spans)
