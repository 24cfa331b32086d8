"""Structured logs from the async paths: same names and fields as sync."""

from __future__ import annotations

import openai
import pytest

import resilient_responses as rr
from resilient_responses.testing import FakeResponsesAPI, Fault

from ._support import MODEL, client_key, events_named


async def test_async_retry_then_give_up_logs_retry_scheduled_and_gave_up(vtime, logs) -> None:
    """attempts=3 against 429 then 503s: two retry_scheduled warnings with the failure's
    fields and the slept wait, then one gave_up error; no call_succeeded."""
    fake = FakeResponsesAPI()
    fake.plan([Fault.status(429, retry_after=2)], then=Fault.status(503))
    resilience = rr.Resilience(attempts=3, sleep=vtime.asleep, clock=vtime.clock)
    client = rr.AsyncResilientOpenAI(fake.async_client(), resilience=resilience)
    with pytest.raises(openai.InternalServerError):
        await client.responses.create(model=MODEL, input="hi")

    scheduled = events_named(logs, "retry_scheduled")
    assert [e["log_level"] for e in scheduled] == ["warning", "warning"]
    assert [e["attempt"] for e in scheduled] == [1, 2]
    assert [e["status_code"] for e in scheduled] == [429, 503]
    assert [e["error_code"] for e in scheduled] == ["rate_limit_exceeded", "server_error"]
    assert [e["request_id"] for e in scheduled] == ["req_1", "req_2"]
    assert [e["wait_s"] for e in scheduled] == pytest.approx(vtime.sleeps, abs=1e-6)
    assert scheduled[0]["wait_s"] == 2.0
    assert {e["breaker_key"] for e in scheduled} == {client_key(client)}
    (gave_up,) = events_named(logs, "gave_up")
    assert gave_up["log_level"] == "error"
    assert gave_up["attempt"] == 3
    assert events_named(logs, "call_succeeded") == []


async def test_async_decorator_logs_use_the_function_key(vtime, logs) -> None:
    """Decorated coroutine: breaker_key is the function's module + qualified name."""
    fake = FakeResponsesAPI()
    fake.plan([Fault.status(500), None])
    raw = fake.async_client(max_retries=0)

    @rr.resilient(sleep=vtime.asleep, clock=vtime.clock, log_successes=True)
    async def ask() -> str:
        return (await raw.responses.create(model=MODEL, input="x")).output_text

    await ask()
    expected_key = f"{ask.__module__}.{ask.__qualname__}"
    (scheduled,) = events_named(logs, "retry_scheduled")
    assert scheduled["breaker_key"] == expected_key
    (succeeded,) = events_named(logs, "call_succeeded")
    assert succeeded["breaker_key"] == expected_key
    assert succeeded["attempt"] == 2
