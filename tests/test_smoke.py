"""End-to-end smoke: the three ways in work against the in-process fake."""

from __future__ import annotations

import openai
import pytest

import resilient_responses as rr
from resilient_responses.testing import FakeResponsesAPI, Fault


def test_drop_in_client_retries_a_503_and_returns_the_sdk_type(vtime) -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.status(503)])
    client = rr.ResilientOpenAI(fake.client(), resilience=rr.Resilience(sleep=vtime.sleep))
    response = client.responses.create(model="gpt-5-mini", input="hi")
    assert isinstance(response, openai.types.responses.Response)
    assert response.status == "completed"
    assert len(fake.requests) == 2
    assert len(vtime.sleeps) == 1


async def test_decorator_on_async_function_reraises_sdk_error_after_attempts(vtime) -> None:
    fake = FakeResponsesAPI()
    fake.plan([], then=Fault.status(500))
    raw = fake.async_client(max_retries=0)

    @rr.resilient(attempts=3, sleep=vtime.sleep, clock=vtime.clock, breaker=None)
    async def ask(text: str) -> openai.types.responses.Response:
        return await raw.responses.create(model="gpt-5-mini", input=text)

    with pytest.raises(openai.InternalServerError) as info:
        await ask("hi")
    assert len(fake.requests) == 3
    assert "gave up after 3 attempts" in "\n".join(info.value.__notes__)
