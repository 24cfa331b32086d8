"""The structlog hook: one stable, namespaced event name per engine event, flat fields.

The logger is fetched lazily on every event (``structlog.get_logger`` is cheap and returns
a lazy proxy), so whatever the application configured, including
``structlog.testing.capture_logs()``, sees our events. The library never configures
structlog itself.
"""

from __future__ import annotations

from typing import Any

import structlog

from .._classify import Failure
from ..events import (
    BreakerStateChanged,
    CallSucceeded,
    CostBudgetCrossed,
    EngineEvent,
    FellBack,
    GaveUp,
    RateLimited,
    RetryScheduled,
    SdkRetriesDetected,
    StoreUnavailable,
    StreamInterrupted,
    StreamRecovered,
)

__all__ = ["LOGGER_NAME", "StructlogHook", "report_instrumentation_error"]

LOGGER_NAME = "resilient_responses"


def _failure_fields(failure: Failure) -> dict[str, Any]:
    return {
        "failure": failure.kind,
        "status_code": failure.status,
        "error_code": failure.code,
        "request_id": failure.request_id,
    }


class StructlogHook:
    """Logs engine events through structlog.

    Args:
        logger: a structlog logger (bound or not); ``None`` fetches
            ``structlog.get_logger("resilient_responses")`` at each event.
    """

    __slots__ = ("_logger",)

    def __init__(self, logger: Any | None = None) -> None:
        self._logger = logger

    def _log(self) -> Any:
        return self._logger if self._logger is not None else structlog.get_logger(LOGGER_NAME)

    def __call__(self, event: EngineEvent) -> None:
        log = self._log()
        if isinstance(event, RetryScheduled):
            log.warning(
                "resilient_responses.retry_scheduled",
                breaker_key=event.key,
                model=event.model,
                attempt=event.attempt,
                wait_s=round(event.wait_s, 6),
                elapsed_s=round(event.elapsed_s, 6),
                breaker_state=event.breaker_state,
                **_failure_fields(event.failure),
            )
        elif isinstance(event, GaveUp):
            log.error(
                "resilient_responses.gave_up",
                breaker_key=event.key,
                model=event.model,
                attempt=event.attempt,
                reason=event.reason,
                elapsed_s=round(event.elapsed_s, 6),
                breaker_state=event.breaker_state,
                **_failure_fields(event.failure),
            )
        elif isinstance(event, BreakerStateChanged):
            log.warning(
                "resilient_responses.breaker_state_changed",
                breaker_key=event.key,
                breaker_state=event.new,
                previous_state=event.old,
            )
        elif isinstance(event, StreamRecovered):
            log.warning(
                f"resilient_responses.stream_{'resumed' if event.how == 'resume' else 'restarted'}",
                breaker_key=event.key,
                model=event.model,
                attempt=event.attempt,
                response_id=event.response_id,
                sequence_number=event.sequence_number,
                wait_s=round(event.wait_s, 6),
                elapsed_s=round(event.elapsed_s, 6),
                **_failure_fields(event.failure),
            )
        elif isinstance(event, StreamInterrupted):
            log.warning(
                "resilient_responses.stream_interrupted",
                breaker_key=event.key,
                model=event.model,
                attempt=event.attempt,
                reason=event.reason,
                response_id=event.response_id,
                sequence_number=event.sequence_number,
                elapsed_s=round(event.elapsed_s, 6),
                **_failure_fields(event.failure),
            )
        elif isinstance(event, CostBudgetCrossed):
            log.warning(
                "resilient_responses.cost_budget_" + ("exceeded" if event.exceeded else "warning"),
                window=event.window,
                threshold=event.threshold,
                limit_usd=event.limit_usd,
                spent_usd=event.spent_usd,
            )
        elif isinstance(event, SdkRetriesDetected):
            log.warning(
                "resilient_responses.sdk_retries_detected",
                breaker_key=event.key,
                retries_taken=event.retries_taken,
                hint="the wrapped code's openai client retries too, so attempts multiply: "
                "build it with max_retries=0, or use ResilientOpenAI",
            )
        elif isinstance(event, StoreUnavailable):
            log.warning(
                "resilient_responses.store_unavailable",
                store=event.store,
                operation=event.operation,
                error=event.error,
                fallback=event.fallback,
            )
        elif isinstance(event, FellBack):
            log.warning(
                "resilient_responses.fallback",
                breaker_key=event.key,
                model=event.model,
                fallback_model=event.fallback,
                reason=event.reason,
                **(_failure_fields(event.failure) if event.failure is not None else {}),
            )
        elif isinstance(event, RateLimited):
            # Pacing is routine under load: a short wait is debug, a long one a warning.
            level = log.warning if event.wait_s >= 1.0 else log.debug
            level(
                "resilient_responses.rate_limited",
                breaker_key=event.key,
                model=event.model,
                attempt=event.attempt,
                wait_s=round(event.wait_s, 6),
            )
        elif isinstance(event, CallSucceeded):
            log.debug(
                "resilient_responses.call_succeeded",
                breaker_key=event.key,
                model=event.model,
                attempt=event.attempt,
                elapsed_s=round(event.elapsed_s, 6),
                request_id=event.request_id,
            )


def report_instrumentation_error(component: object, exc: Exception) -> None:
    """Log, once per component, that a hook, tracer or observer raised; the call goes on.

    Logged on the library's own logger (the failing component may be the configured
    logger itself). Only the component's type and the error's type are logged: never its
    message, which could carry a prompt or an output.
    """
    try:
        structlog.get_logger(LOGGER_NAME).error(
            "resilient_responses.instrumentation_failed",
            component=type(component).__name__,
            error=type(exc).__name__,
            hint="a hook, tracer, call observer or the rate limit raised; it is skipped for "
            "this event and the call is unaffected (logged once per component)",
        )
    except Exception:  # noqa: BLE001 - reporting a broken logger must not break the call
        return
