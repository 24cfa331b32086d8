"""A plain create answered 200 but declared failed, and a body cut half-way: the drop-in
client treats both as the faults they are (a decorator around raw SDK calls cannot)."""

from __future__ import annotations

import openai
import pytest

import resilient_responses as rr
from resilient_responses.testing import FakeResponsesAPI, Fault


def _client(fake: FakeResponsesAPI, vtime) -> rr.ResilientOpenAI:
    resilience = rr.Resilience(sleep=vtime.sleep, clock=vtime.clock)
    return rr.ResilientOpenAI(fake.client(), resilience=resilience)


@pytest.mark.parametrize("code", ["server_error", "rate_limit_exceeded"])
def test_failed_response_with_transient_code_is_retried(vtime, code: str) -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.failed(code=code)])
    client = _client(fake, vtime)
    response = client.responses.create(model="gpt-5-mini", input="hi")
    assert response.status == "completed"
    assert len(fake.requests) == 2
    assert len(vtime.sleeps) == 1


def test_failed_response_with_caller_code_is_returned_as_the_sdk_returns_it(vtime, logs) -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.failed(code="invalid_prompt")])
    client = _client(fake, vtime)
    response = client.responses.create(model="gpt-5-mini", input="hi")
    assert response.status == "failed"
    assert response.error is not None
    assert response.error.code == "invalid_prompt"
    assert len(fake.requests) == 1
    gave_up = [e for e in logs if e["event"] == "resilient_responses.gave_up"]
    assert gave_up
    assert gave_up[0]["error_code"] == "invalid_prompt"
    assert client.resilience.stats().total.failures == 1


def test_failed_responses_until_attempts_run_out_return_the_last_failed_one(vtime) -> None:
    fake = FakeResponsesAPI()
    fake.plan([], then=Fault.failed(code="server_error"))
    client = _client(fake, vtime)
    response = client.responses.create(model="gpt-5-mini", input="hi")
    assert response.status == "failed"
    assert len(fake.requests) == 4


def test_retrieve_of_a_failed_response_is_not_retried(vtime) -> None:
    """Reading a response that failed earlier is not a failure of the read."""
    fake = FakeResponsesAPI()
    fake.plan([Fault.failed(code="server_error")])
    raw = fake.client(max_retries=0)
    created = raw.responses.create(model="gpt-5-mini", input="hi", background=True, store=True)
    client = _client(fake, vtime)
    before = len(fake.requests)
    client.responses.retrieve(created.id)
    assert len(fake.requests) - before == 1


def test_cleanly_cut_json_body_is_retried_then_raised_as_a_connection_error(vtime) -> None:
    fake = FakeResponsesAPI()
    fake.plan([], then=Fault.truncate(after_events=0))
    client = _client(fake, vtime)
    with pytest.raises(openai.APIConnectionError) as info:
        client.responses.create(model="gpt-5-mini", input="hi")
    assert len(fake.requests) == 4
    assert info.value.__cause__ is not None
    assert type(info.value.__cause__).__name__ == "JSONDecodeError"


async def test_async_failed_response_is_retried_and_cut_body_too(vtime) -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.failed(code="server_error"), Fault.truncate(after_events=0)])
    resilience = rr.Resilience(sleep=vtime.asleep, clock=vtime.clock)
    client = rr.AsyncResilientOpenAI(fake.async_client(), resilience=resilience)
    response = await client.responses.create(model="gpt-5-mini", input="hi")
    assert response.status == "completed"
    assert len(fake.requests) == 3
