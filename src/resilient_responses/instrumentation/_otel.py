"""OpenTelemetry traces and metrics for resilient calls (the ``otel`` extra).

One CLIENT span per call, named after the GenAI semantic conventions (``chat gpt-5-mini``),
with one child span per attempt, so a call retried twice shows three attempt spans. Engine
events become span events (``resilience.retry_scheduled``, ``resilience.stream_resumed``,
...). Metrics: counters ``resilience.attempts``, ``resilience.retries``,
``resilience.breaker.transitions`` and the histogram ``resilience.call.duration`` (s).

Attributes carry metadata only (model, response id, token counts, status codes, error
types): never a prompt, an output, an exception message, a key or a header, because
exception messages can quote request bodies.

opentelemetry is imported only when an :class:`OpenTelemetryTracer` is built, so importing
``resilient_responses`` without the extra installed costs nothing.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from .._classify import Failure
from .._cost import usage_from
from ..events import (
    BreakerStateChanged,
    CallSpan,
    EngineEvent,
    GaveUp,
    RetryScheduled,
    StreamInterrupted,
    StreamRecovered,
)

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import Span, TracerProvider

__all__ = ["OpenTelemetryTracer"]

_SCOPE = "resilient_responses"
_OPERATION = "chat"  # the GenAI conventions' operation for OpenAI's text generation APIs
# SDK methods that generate text; the others (retrieve, cancel, delete...) have no GenAI
# operation name, so they keep their own, namespaced.
_GENERATING = frozenset({"create", "parse", "stream", "compact"})


def _operation_name(method: str | None) -> str:
    if method is None or method in _GENERATING:
        return _OPERATION
    return f"responses.{method}"


_PROVIDER = "openai"
_INSTALL_HINT = 'OpenTelemetryTracer needs OpenTelemetry: pip install "resilient-responses[otel]"'
# The GenAI conventions' advice for gen_ai.client.operation.duration: calls take from
# tens of milliseconds to minutes.
_DURATION_BUCKETS = (
    0.01,
    0.02,
    0.04,
    0.08,
    0.16,
    0.32,
    0.64,
    1.28,
    2.56,
    5.12,
    10.24,
    20.48,
    40.96,
    81.92,
    163.84,
)

Attributes = dict[str, str | bool | int | float]


def _version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("resilient-responses")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return None


def _exception_type(exc: BaseException) -> str:
    # The class name, as OpenTelemetry's own instrumentations record it: low-cardinality
    # and free of the message (which may quote the request).
    return type(exc).__qualname__


def failure_error_type(failure: Failure) -> str:
    """``error.type`` of a failure: its exception's class, else the status, code or kind."""
    if failure.exception is not None:
        return _exception_type(failure.exception)
    if failure.status is not None:
        return str(failure.status)
    return failure.code or failure.kind


def failure_attributes(failure: Failure) -> Attributes:
    """The attributes describing *failure* (metadata only)."""
    attributes: Attributes = {
        "error.type": failure_error_type(failure),
        "resilience.failure.kind": failure.kind,
    }
    if failure.status is not None:
        attributes["http.response.status_code"] = failure.status
    if failure.code:
        attributes["resilience.failure.code"] = failure.code
    if failure.request_id:
        attributes["resilience.request_id"] = failure.request_id
    return attributes


def _result_attributes(result: object) -> Attributes:
    """Response id, model and token usage of a call's result (a Response, or anything)."""
    attributes: Attributes = {}
    if result is None:
        return attributes
    response_id = getattr(result, "id", None)
    if isinstance(response_id, str):
        attributes["gen_ai.response.id"] = response_id
    model = getattr(result, "model", None)
    if isinstance(model, str):
        attributes["gen_ai.response.model"] = model
    usage = usage_from(result)
    if usage is not None:
        attributes["gen_ai.usage.input_tokens"] = usage.input_tokens
        attributes["gen_ai.usage.output_tokens"] = usage.output_tokens
        attributes["gen_ai.usage.cache_read.input_tokens"] = usage.cached_input_tokens
        attributes["gen_ai.usage.reasoning.output_tokens"] = usage.reasoning_tokens
    return attributes


class OpenTelemetryTracer:
    """Traces every call of a :class:`~resilient_responses.Resilience` with OpenTelemetry.

    Pass it as a tracer, and as a hook too to count circuit breaker transitions (the
    engine reports those outside any call)::

        otel = OpenTelemetryTracer()
        policy = Resilience(tracers=[otel], hooks=[otel])

    Each call is a CLIENT span (``chat <model>``) carrying ``gen_ai.system`` /
    ``gen_ai.provider.name`` (``"openai"``), ``gen_ai.operation.name``,
    ``gen_ai.request.model``, ``gen_ai.request.stream``, ``resilience.breaker_key`` and, on
    success, ``gen_ai.response.id``, ``gen_ai.response.model`` and ``gen_ai.usage.*``; on
    failure ``error.type`` and status ERROR. Each attempt is a child span
    ``resilient_responses.attempt`` with ``resilience.attempt`` and, when it failed,
    ``error.type``, ``resilience.failure.kind``, ``http.response.status_code`` and
    ``resilience.failure.code``. Retries and stream recoveries are span events
    (``resilience.retry_scheduled``, ``resilience.stream_resumed`` with the response id and
    sequence number, ``resilience.stream_restarted``).

    Metrics: ``resilience.attempts`` (per finished attempt, ``error.type`` on failures),
    ``resilience.retries`` (attempts after a call's first, resumes and restarts included),
    ``resilience.breaker.transitions`` (needs ``hooks=[tracer]``) and
    ``resilience.call.duration`` in seconds.

    Args:
        tracer_provider: where spans go; ``None`` uses the global provider.
        meter_provider: where metrics go; ``None`` uses the global provider.

    Raises:
        ImportError: ``opentelemetry-api`` is not installed.
    """

    __slots__ = (
        "_attempts",
        "_duration",
        "_retries",
        "_status",
        "_trace",
        "_tracer",
        "_transitions",
    )

    def __init__(
        self,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
    ) -> None:
        try:
            from opentelemetry import metrics, trace
        except ImportError as exc:
            raise ImportError(_INSTALL_HINT) from exc
        version = _version()
        self._trace = trace
        self._status = trace.Status
        self._tracer = trace.get_tracer(_SCOPE, version, tracer_provider=tracer_provider)
        meter = metrics.get_meter(_SCOPE, version or "", meter_provider=meter_provider)
        self._attempts = meter.create_counter(
            "resilience.attempts", unit="{attempt}", description="Attempts made by calls."
        )
        self._retries = meter.create_counter(
            "resilience.retries",
            unit="{retry}",
            description="Attempts after a call's first (retries, stream resumes and restarts).",
        )
        self._transitions = meter.create_counter(
            "resilience.breaker.transitions",
            unit="{transition}",
            description="Circuit breaker state changes.",
        )
        self._duration = meter.create_histogram(
            "resilience.call.duration",
            unit="s",
            description="Duration of calls across all their attempts and waits.",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )

    def __repr__(self) -> str:
        return "OpenTelemetryTracer()"

    def call_started(
        self, key: str, model: str | None, *, stream: bool, operation: str | None = None
    ) -> CallSpan:
        """Open the span of one call (the engine calls this)."""
        return _CallSpan(self, key, model, stream=stream, operation=_operation_name(operation))

    def __call__(self, event: EngineEvent) -> None:
        """As a hook: count breaker transitions (per-call events reach the call's span)."""
        if isinstance(event, BreakerStateChanged):
            self._transitions.add(
                1,
                {
                    "resilience.breaker_key": event.key,
                    "resilience.breaker_state": event.new,
                    "resilience.breaker.previous_state": event.old,
                },
            )


class _CallSpan:
    """The span of one call and the span of its current attempt."""

    __slots__ = (
        "_attempt",
        "_count",
        "_done",
        "_last_failure",
        "_metric",
        "_otel",
        "_span",
        "_start",
    )

    def __init__(
        self,
        otel: OpenTelemetryTracer,
        key: str,
        model: str | None,
        *,
        stream: bool,
        operation: str = _OPERATION,
    ) -> None:
        self._otel = otel
        self._metric: Attributes = {"resilience.breaker_key": key}
        attributes: Attributes = {
            "gen_ai.operation.name": operation,
            "gen_ai.system": _PROVIDER,
            "gen_ai.provider.name": _PROVIDER,
            "gen_ai.request.stream": stream,
            "resilience.breaker_key": key,
        }
        if model:
            attributes["gen_ai.request.model"] = model
            self._metric["gen_ai.request.model"] = model
        name = f"{operation} {model}" if model else operation
        self._span: Span = otel._tracer.start_span(
            name, kind=otel._trace.SpanKind.CLIENT, attributes=attributes
        )
        self._attempt: Span | None = None
        self._count = 0
        self._done = False
        self._last_failure: Failure | None = None
        self._start = time.perf_counter()

    # -- attempts ------------------------------------------------------------------------

    def attempt_started(self, attempt: int) -> None:
        if self._done:
            return
        self._end_attempt(None)  # one that never reported its outcome
        self._count += 1
        otel = self._otel
        self._attempt = otel._tracer.start_span(
            "resilient_responses.attempt",
            context=otel._trace.set_span_in_context(self._span),
            kind=otel._trace.SpanKind.INTERNAL,
            attributes={"resilience.attempt": attempt},
        )
        if self._count > 1:
            otel._retries.add(1, self._metric)

    def attempt_failed(self, attempt: int, failure: Failure) -> None:
        self._last_failure = failure
        self._end_attempt(failure_attributes(failure))

    def attempt_succeeded(self, attempt: int) -> None:
        self._end_attempt(None)

    def _end_attempt(self, failed: Attributes | None) -> None:
        """End the open attempt span; *failed* holds ``error.type`` etc. when it failed."""
        span, self._attempt = self._attempt, None
        if span is None:
            return
        metric = self._metric
        if failed is not None:
            span.set_attributes(failed)
            otel = self._otel
            span.set_status(otel._status(otel._trace.StatusCode.ERROR, str(failed["error.type"])))
            metric = {**metric, "error.type": failed["error.type"]}
        span.end()
        self._otel._attempts.add(1, metric)

    # -- events --------------------------------------------------------------------------

    def event(self, event: EngineEvent) -> None:
        if self._done:
            # The engine reports GaveUp / StreamInterrupted after finishing the call; an
            # ended span takes no more data, and finished() already recorded the outcome.
            return
        span = self._span
        if isinstance(event, RetryScheduled):
            attributes: Attributes = {
                "resilience.attempt": event.attempt,
                "resilience.wait_s": event.wait_s,
                **failure_attributes(event.failure),
            }
            if event.breaker_state is not None:
                attributes["resilience.breaker_state"] = event.breaker_state
                span.set_attribute("resilience.breaker_state", event.breaker_state)
            span.add_event("resilience.retry_scheduled", attributes)
        elif isinstance(event, StreamRecovered):
            attributes = {
                "resilience.attempt": event.attempt,
                "resilience.wait_s": event.wait_s,
                **failure_attributes(event.failure),
            }
            if event.response_id is not None:
                attributes["gen_ai.response.id"] = event.response_id
            if event.sequence_number is not None:
                attributes["resilience.sequence_number"] = event.sequence_number
            how = "resumed" if event.how == "resume" else "restarted"
            span.add_event(f"resilience.stream_{how}", attributes)
        elif isinstance(event, (GaveUp, StreamInterrupted)):
            attributes = {
                "resilience.attempt": event.attempt,
                "resilience.reason": event.reason,
                **failure_attributes(event.failure),
            }
            name = "gave_up" if isinstance(event, GaveUp) else "stream_interrupted"
            span.add_event(f"resilience.{name}", attributes)
        elif isinstance(event, BreakerStateChanged):
            span.set_attribute("resilience.breaker_state", event.new)

    def finished(self, *, ok: bool, result: object | None, error: BaseException | None) -> None:
        if self._done:
            return
        self._done = True
        otel = self._otel
        span = self._span
        error_type: str | None = None
        if not ok:
            if error is not None:
                error_type = _exception_type(error)
            elif self._last_failure is not None:
                error_type = failure_error_type(self._last_failure)
            else:
                error_type = "_OTHER"  # the conventions' value when nothing better is known
        # Still open when the call ended inside it: an exception that is not the API's
        # (it fails the call as it is), or a stream its consumer closed early.
        self._end_attempt(None if error_type is None else {"error.type": error_type})
        span.set_attributes(_result_attributes(result) if ok else {})
        span.set_attribute("resilience.attempts", self._count)
        metric = self._metric
        if error_type is not None:
            span.set_attribute("error.type", error_type)
            span.set_status(otel._status(otel._trace.StatusCode.ERROR, error_type))
            metric = {**metric, "error.type": error_type}
        span.end()
        otel._duration.record(time.perf_counter() - self._start, metric)
