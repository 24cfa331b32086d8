"""Item 8: credentials in the base URL (user info, query string) never leave the client:
not in a log event, an error message, ``stats()`` or an OpenTelemetry span."""

from __future__ import annotations

import json

import openai
import pytest
import structlog
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import resilient_responses as rr
from resilient_responses.testing import FakeResponsesAPI, Fault, set_testing

from ._support import KEY, MODEL

SECRETS = ("PASSWORD123", "TOKEN456")


def test_no_credential_of_the_base_url_reaches_logs_errors_stats_or_spans(
    fake: FakeResponsesAPI, base_url: str
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    policy = rr.Resilience(
        attempts=2,
        breaker=rr.BreakerConfig(fail_max=2),
        tracers=[rr.OpenTelemetryTracer(tracer_provider=provider)],
    )
    secret_url = base_url.replace("http://", f"http://user:{SECRETS[0]}@") + f"?token={SECRETS[1]}"
    client = rr.ResilientOpenAI(base_url=secret_url, api_key=KEY, resilience=policy)
    fake.plan([Fault.status(503)] * 2)
    errors: list[str] = []
    with structlog.testing.capture_logs() as logs, set_testing(True):
        with pytest.raises(openai.InternalServerError) as first:
            client.responses.create(model=MODEL, input="hi")
        with pytest.raises(rr.CircuitOpenError) as refused:
            client.responses.create(model=MODEL, input="hi")
    errors += [str(first.value), *getattr(first.value, "__notes__", []), str(refused.value)]
    seen = json.dumps(
        {
            "logs": logs,
            "errors": errors,
            "key": refused.value.key,
            "stats": policy.stats().as_dict(),
            "spans": [dict(span.attributes or {}) for span in exporter.get_finished_spans()],
        },
        default=str,
    )
    assert logs
    assert exporter.get_finished_spans()
    for secret in SECRETS:
        assert secret not in seen
    assert "127.0.0.1" in refused.value.key  # redacted, not erased
