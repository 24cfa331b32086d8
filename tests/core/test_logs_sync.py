"""Structured logs: stable event names, flat fields, no secrets, no prompts, no outputs."""

from __future__ import annotations

import contextlib
import string

import openai
import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st

import resilient_responses as rr
from resilient_responses.testing import FakeResponsesAPI, Fault

from ._support import MODEL, Clock, client_key, events_named


def _client(fake: FakeResponsesAPI, vtime, **config) -> rr.ResilientOpenAI:
    resilience = rr.Resilience(sleep=vtime.sleep, clock=vtime.clock, **config)
    return rr.ResilientOpenAI(fake.client(), resilience=resilience)


def test_retry_emits_retry_scheduled_warning_with_flat_fields(vtime, logs) -> None:
    """A retried 503: one `retry_scheduled` warning carrying attempt, status_code,
    error_code, request_id, wait_s (the real sleep) and breaker_key; nothing else."""
    fake = FakeResponsesAPI()
    fake.plan([Fault.status(503), None])
    client = _client(fake, vtime)
    client.responses.create(model=MODEL, input="hi")

    (event,) = logs
    assert event["event"] == "resilient_responses.retry_scheduled"
    assert event["log_level"] == "warning"
    assert event["attempt"] == 1
    assert event["status_code"] == 503
    assert event["error_code"] == "server_error"
    assert event["request_id"] == "req_1"
    assert event["wait_s"] == pytest.approx(vtime.sleeps[0], abs=1e-6)
    assert event["breaker_key"] == client_key(client)
    assert event["model"] == MODEL


def test_retry_scheduled_for_a_connection_error_has_no_status(vtime, logs) -> None:
    """Transport failures log status_code / error_code / request_id as None."""
    fake = FakeResponsesAPI()
    fake.plan([Fault.connect_error(), None])
    _client(fake, vtime).responses.create(model=MODEL, input="hi")
    (event,) = events_named(logs, "retry_scheduled")
    assert event["status_code"] is None
    assert event["error_code"] is None
    assert event["request_id"] is None
    assert event["failure"] == "connection"


def test_giving_up_emits_gave_up_error_with_the_reason(vtime, logs) -> None:
    """A 503 outage with attempts=2: one retry_scheduled (attempt 1), then gave_up (error)
    at attempt 2, reason attempts_exhausted, and no call_succeeded."""
    fake = FakeResponsesAPI()
    fake.plan([], then=Fault.status(503))
    with pytest.raises(openai.InternalServerError):
        _client(fake, vtime, attempts=2).responses.create(model=MODEL, input="hi")
    assert [e["event"] for e in logs] == [
        "resilient_responses.retry_scheduled",
        "resilient_responses.gave_up",
    ]
    gave_up = logs[1]
    assert gave_up["log_level"] == "error"
    assert gave_up["reason"] == "attempts_exhausted"
    assert gave_up["attempt"] == 2
    assert gave_up["status_code"] == 503
    assert gave_up["request_id"] == "req_2"


def test_not_retryable_failure_logs_gave_up_not_retryable(vtime, logs) -> None:
    """A 401 gives up at once: a single gave_up, reason not_retryable."""
    fake = FakeResponsesAPI()
    fake.plan([Fault.status(401)])
    with pytest.raises(openai.AuthenticationError):
        _client(fake, vtime).responses.create(model=MODEL, input="hi")
    assert [(e["event"], e["reason"]) for e in logs] == [
        ("resilient_responses.gave_up", "not_retryable")
    ]


def test_successes_are_silent_by_default(vtime, logs) -> None:
    """No call_succeeded (nor anything else) for a clean call unless log_successes=True."""
    _client(FakeResponsesAPI(), vtime).responses.create(model=MODEL, input="hi")
    assert logs == []


def test_log_successes_emits_call_succeeded_debug(vtime, logs) -> None:
    """log_successes=True: one call_succeeded at debug level, with attempt and request_id."""
    fake = FakeResponsesAPI()
    fake.plan([Fault.status(500), None])
    _client(fake, vtime, log_successes=True).responses.create(model=MODEL, input="hi")
    (event,) = events_named(logs, "call_succeeded")
    assert event["log_level"] == "debug"
    assert event["attempt"] == 2
    assert event["request_id"] == "req_2"


_SECRET_CHARS = string.ascii_letters + string.digits
_FAULTS = st.sampled_from(
    [
        None,
        Fault.status(503),
        Fault.status(429, retry_after=1),
        Fault.status(400),
        Fault.status(401),
        Fault.status(429, code="insufficient_quota"),
        Fault.connect_error(),
        Fault.timeout(),
    ]
)


@given(
    api_key=st.text(_SECRET_CHARS, min_size=24, max_size=60).map(lambda s: "sk-" + s),
    # Framed so that a prompt cannot be a substring of our own event or field names.
    prompt=st.text(min_size=12, max_size=80)
    .filter(lambda s: s.strip() == s and s.isprintable())
    .map(lambda s: f"<<{s}>>"),
    plan=st.lists(_FAULTS, max_size=4),
    log_successes=st.booleans(),
)
def test_logs_never_contain_the_api_key_the_prompt_or_the_output(
    api_key: str, prompt: str, plan: list[Fault | None], log_successes: bool
) -> None:
    """Whatever happens to the call, no captured event (as repr) contains the API key,
    the prompt or the model's output text."""
    clock = Clock()
    fake = FakeResponsesAPI()
    fake.plan(plan)
    resilience = rr.Resilience(
        attempts=3, log_successes=log_successes, sleep=clock.sleep, clock=clock.clock
    )
    client = rr.ResilientOpenAI(fake.client(api_key=api_key), resilience=resilience)
    output = ""
    with structlog.testing.capture_logs() as logs, contextlib.suppress(openai.APIError):
        output = client.responses.create(model=MODEL, input=prompt).output_text
    dumped = "\n".join(repr(event) for event in logs)
    assert api_key not in dumped
    assert api_key[3:] not in dumped
    assert prompt not in dumped
    assert repr(prompt)[1:-1] not in dumped
    if output:
        assert output not in dumped
    # The fake saw the key (redacted in its log) and the prompt: the call was real.
    assert fake.requests[0].json["input"] == prompt
