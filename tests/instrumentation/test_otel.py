"""OpenTelemetryTracer: a CLIENT span per call, a child span per attempt, GenAI attributes,
stream recoveries as span events, metrics, nothing sensitive, and no import cost."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

import openai
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from resilient_responses import (
    AsyncResilientOpenAI,
    BreakerConfig,
    Resilience,
    ResilientOpenAI,
)
from resilient_responses.instrumentation import OpenTelemetryTracer
from resilient_responses.testing import FakeResponsesAPI, Fault

MODEL = "gpt-5-mini"
CALL = f"chat {MODEL}"
ATTEMPT = "resilient_responses.attempt"


@dataclass
class Otel:
    """A tracer wired to in-memory exporters (never the global providers)."""

    provider: TracerProvider
    exporter: InMemorySpanExporter
    reader: InMemoryMetricReader
    tracer: OpenTelemetryTracer

    def spans(self, name: str | None = None) -> list[ReadableSpan]:
        return [s for s in self.exporter.get_finished_spans() if name is None or s.name == name]

    def call_span(self) -> ReadableSpan:
        (span,) = [s for s in self.spans() if s.name != ATTEMPT]
        return span

    def points(self, name: str) -> list[Any]:
        data = self.reader.get_metrics_data()
        found: list[Any] = []
        if data is None:
            return found
        for resource_metrics in data.resource_metrics:
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    if metric.name == name:
                        found.extend(metric.data.data_points)
        return found

    def total(self, name: str, **where: object) -> int:
        return sum(
            p.value
            for p in self.points(name)
            if all(p.attributes.get(k) == v for k, v in where.items())
        )


@pytest.fixture
def otel() -> Iterator[Otel]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    yield Otel(provider, exporter, reader, OpenTelemetryTracer(provider, meter_provider))
    provider.shutdown()
    meter_provider.shutdown()


@pytest.fixture
def fake() -> FakeResponsesAPI:
    return FakeResponsesAPI()


def resilience(otel: Otel, **config: Any) -> Resilience:
    config.setdefault("sleep", lambda _seconds: None)  # no real waiting in tests
    return Resilience(tracers=[otel.tracer], hooks=[otel.tracer], **config)


def attempts_of(otel: Otel) -> Sequence[ReadableSpan]:
    return sorted(otel.spans(ATTEMPT), key=lambda s: s.start_time or 0)


def all_attribute_values(otel: Otel) -> list[object]:
    values: list[object] = []
    for span in otel.spans():
        values.extend((span.attributes or {}).values())
        for event in span.events:
            values.extend((event.attributes or {}).values())
    return values


# -- spans ------------------------------------------------------------------------------


def test_a_call_is_one_client_span_with_genai_attributes_and_one_attempt_child(
    otel: Otel, fake: FakeResponsesAPI
) -> None:
    client = ResilientOpenAI(fake.client(), resilience=resilience(otel))
    response = client.responses.create(model=MODEL, input="hello")
    call = otel.call_span()
    assert call.name == CALL
    assert call.kind is SpanKind.CLIENT
    assert call.status.status_code is StatusCode.UNSET
    attributes = dict(call.attributes or {})
    assert response.usage is not None
    assert attributes == {
        "gen_ai.operation.name": "chat",
        "gen_ai.system": "openai",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": MODEL,
        "gen_ai.request.stream": False,
        "resilience.breaker_key": f"{fake.client().base_url} {MODEL}",
        "gen_ai.response.id": response.id,
        "gen_ai.response.model": response.model,
        "gen_ai.usage.input_tokens": response.usage.input_tokens,
        "gen_ai.usage.output_tokens": response.usage.output_tokens,
        "gen_ai.usage.cache_read.input_tokens": 0,
        "gen_ai.usage.reasoning.output_tokens": 0,
        "resilience.attempts": 1,
    }
    (attempt,) = attempts_of(otel)
    assert attempt.parent is not None
    assert attempt.parent.span_id == call.context.span_id
    assert dict(attempt.attributes or {}) == {"resilience.attempt": 1}
    assert otel.total("resilience.attempts") == 1
    assert otel.total("resilience.retries") == 0


def test_a_call_retried_twice_has_three_attempt_spans_the_first_two_failed(
    otel: Otel, fake: FakeResponsesAPI
) -> None:
    fake.plan([Fault.status(503), Fault.status(503), None])
    client = ResilientOpenAI(fake.client(), resilience=resilience(otel))
    client.responses.create(model=MODEL, input="hello")
    spans = attempts_of(otel)
    assert [s.attributes["resilience.attempt"] for s in spans if s.attributes] == [1, 2, 3]
    for failed in spans[:2]:
        assert failed.status.status_code is StatusCode.ERROR
        assert failed.attributes is not None
        assert failed.attributes["http.response.status_code"] == 503
        assert failed.attributes["error.type"] == "InternalServerError"
        assert failed.attributes["resilience.failure.kind"] == "status"
    assert spans[2].status.status_code is StatusCode.UNSET
    assert "error.type" not in (spans[2].attributes or {})
    call = otel.call_span()
    assert call.status.status_code is StatusCode.UNSET
    assert call.attributes is not None
    assert call.attributes["resilience.attempts"] == 3
    assert call.attributes["resilience.breaker_state"] == "closed"
    retries = [e for e in call.events if e.name == "resilience.retry_scheduled"]
    assert [e.attributes["resilience.attempt"] for e in retries if e.attributes] == [1, 2]
    assert otel.total("resilience.attempts") == 3
    assert otel.total("resilience.attempts", **{"error.type": "InternalServerError"}) == 2
    assert otel.total("resilience.retries") == 2
    (duration,) = otel.points("resilience.call.duration")
    assert duration.count == 1
    assert "error.type" not in duration.attributes


async def test_async_calls_are_traced_the_same_way(otel: Otel, fake: FakeResponsesAPI) -> None:
    fake.plan([Fault.status(429, code="rate_limit_exceeded"), None])
    client = AsyncResilientOpenAI(fake.async_client(), resilience=resilience(otel))
    response = await client.responses.create(model=MODEL, input="hello")
    first, second = attempts_of(otel)
    assert first.attributes is not None
    assert first.attributes["http.response.status_code"] == 429
    assert first.attributes["resilience.failure.code"] == "rate_limit_exceeded"
    assert first.attributes["error.type"] == "RateLimitError"
    assert second.status.status_code is StatusCode.UNSET
    assert otel.call_span().attributes is not None
    assert otel.call_span().attributes["gen_ai.response.id"] == response.id  # type: ignore[index]


def test_a_failed_call_records_error_type_and_status_error(
    otel: Otel, fake: FakeResponsesAPI
) -> None:
    fake.plan([Fault.status(400)])
    client = ResilientOpenAI(fake.client(), resilience=resilience(otel))
    with pytest.raises(openai.BadRequestError):
        client.responses.create(model=MODEL, input="hello")
    call = otel.call_span()
    assert call.status.status_code is StatusCode.ERROR
    assert call.status.description == "BadRequestError"
    assert call.attributes is not None
    assert call.attributes["error.type"] == "BadRequestError"
    assert "gen_ai.response.id" not in call.attributes
    (attempt,) = attempts_of(otel)
    assert attempt.status.status_code is StatusCode.ERROR
    assert attempt.attributes is not None
    assert attempt.attributes["http.response.status_code"] == 400
    (duration,) = otel.points("resilience.call.duration")
    assert duration.attributes["error.type"] == "BadRequestError"


def test_a_call_that_runs_out_of_attempts_is_an_error_with_every_attempt(
    otel: Otel, fake: FakeResponsesAPI
) -> None:
    fake.plan([], then=Fault.status(502))
    client = ResilientOpenAI(fake.client(), resilience=resilience(otel, attempts=3))
    with pytest.raises(openai.InternalServerError):
        client.responses.create(model=MODEL, input="hello")
    assert len(otel.spans(ATTEMPT)) == 3
    assert all(s.status.status_code is StatusCode.ERROR for s in otel.spans(ATTEMPT))
    call = otel.call_span()
    assert call.status.status_code is StatusCode.ERROR
    assert call.attributes is not None
    assert call.attributes["error.type"] == "InternalServerError"
    assert call.attributes["resilience.attempts"] == 3


def test_an_exception_that_is_not_the_apis_fails_the_call_and_its_open_attempt(
    otel: Otel,
) -> None:
    policy = resilience(otel)

    @policy
    def broken() -> None:
        raise ValueError("not an API error")

    with pytest.raises(ValueError, match="not an API error"):
        broken()
    call = otel.call_span()
    assert call.name == "chat"  # no model known
    assert call.status.status_code is StatusCode.ERROR
    assert call.attributes is not None
    assert call.attributes["error.type"] == "ValueError"
    (attempt,) = attempts_of(otel)
    assert attempt.status.status_code is StatusCode.ERROR
    assert attempt.attributes is not None
    assert attempt.attributes["error.type"] == "ValueError"
    assert "not an API error" not in all_attribute_values(otel)


def test_the_call_span_joins_the_callers_trace(otel: Otel, fake: FakeResponsesAPI) -> None:
    client = ResilientOpenAI(fake.client(), resilience=resilience(otel))
    with otel.provider.get_tracer("app").start_as_current_span("handle request") as parent:
        client.responses.create(model=MODEL, input="hello")
    call = next(s for s in otel.spans() if s.name == CALL)
    assert call.parent is not None
    assert call.parent.span_id == parent.get_span_context().span_id
    assert call.context.trace_id == parent.get_span_context().trace_id


# -- streams ----------------------------------------------------------------------------


def test_a_resumed_stream_records_the_event_with_response_id_and_sequence_number(
    otel: Otel, fake: FakeResponsesAPI
) -> None:
    fake.plan([Fault.reset(after_events=7)])
    client = ResilientOpenAI(fake.client(), resilience=resilience(otel))
    events = list(client.responses.create(model=MODEL, input="hi", stream=True, background=True))
    assert events[-1].type == "response.completed"
    call = otel.call_span()
    assert call.attributes is not None
    assert call.attributes["gen_ai.request.stream"] is True
    response_id = call.attributes["gen_ai.response.id"]
    assert response_id == events[0].response.id  # type: ignore[union-attr]
    (resumed,) = [e for e in call.events if e.name == "resilience.stream_resumed"]
    assert resumed.attributes is not None
    assert resumed.attributes["gen_ai.response.id"] == response_id
    assert resumed.attributes["resilience.sequence_number"] == 6  # the last one before the cut
    assert resumed.attributes["resilience.failure.kind"] == "connection"
    first, second = attempts_of(otel)
    assert first.status.status_code is StatusCode.ERROR
    assert second.status.status_code is StatusCode.UNSET
    assert cast(int, call.attributes["gen_ai.usage.output_tokens"]) > 0
    assert otel.total("resilience.retries") == 1


def test_a_restarted_stream_records_a_restart_event(otel: Otel, fake: FakeResponsesAPI) -> None:
    fake.plan([Fault.reset(after_events=1)])
    client = ResilientOpenAI(fake.client(), resilience=resilience(otel))
    events = list(client.responses.create(model=MODEL, input="hi", stream=True))
    assert events[-1].type == "response.completed"
    names = [e.name for e in otel.call_span().events]
    assert names == ["resilience.stream_restarted"]


def test_a_stream_closed_early_ends_its_spans(otel: Otel, fake: FakeResponsesAPI) -> None:
    client = ResilientOpenAI(fake.client(), resilience=resilience(otel))
    with client.responses.create(model=MODEL, input="hi", stream=True) as stream:
        next(iter(stream))
    call = otel.call_span()
    assert call.end_time is not None
    assert call.status.status_code is StatusCode.UNSET
    assert len(otel.spans(ATTEMPT)) == 1


# -- breaker, privacy -------------------------------------------------------------------


def test_breaker_transitions_are_counted_when_the_tracer_is_also_a_hook(
    otel: Otel, fake: FakeResponsesAPI
) -> None:
    fake.plan([], then=Fault.status(503))
    client = ResilientOpenAI(
        fake.client(),
        resilience=resilience(otel, attempts=5, breaker=BreakerConfig(fail_max=2)),
    )
    with pytest.raises(openai.InternalServerError):
        client.responses.create(model=MODEL, input="hello")
    assert otel.total("resilience.breaker.transitions", **{"resilience.breaker_state": "open"}) == 1


def test_no_prompt_output_key_or_header_reaches_an_attribute(
    otel: Otel, fake: FakeResponsesAPI
) -> None:
    fake.plan([Fault.status(503), Fault.reset(after_events=6)])
    client = ResilientOpenAI(fake.client(api_key="sk-very-secret"), resilience=resilience(otel))
    prompt = "confidential prompt words"
    response = client.responses.create(model=MODEL, input=prompt)
    streamed = list(client.responses.create(model=MODEL, input=prompt, stream=True))
    assert streamed
    values = [str(v) for v in all_attribute_values(otel)]
    for secret in (prompt, response.output_text, "sk-very-secret", "Bearer"):
        assert not any(secret in v for v in values), secret
    for word in response.output_text.split():
        assert word not in values


def test_importing_the_library_does_not_import_opentelemetry() -> None:
    # pybreaker imports redis-py when it is installed (the redis extra), and recent redis-py
    # imports opentelemetry when that is installed: not the library's doing, so the child
    # runs as an install without redis-py would.
    code = (
        "import sys\n"
        "sys.modules['redis'] = None\n"
        "import resilient_responses, resilient_responses.instrumentation as i\n"
        "assert i.OpenTelemetryTracer\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'opentelemetry'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    assert out.strip() == "[]"


def test_without_opentelemetry_building_the_tracer_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    with pytest.raises(ImportError, match=r'pip install "resilient-responses\[otel\]"'):
        OpenTelemetryTracer()
