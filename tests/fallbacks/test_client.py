"""Resilience(fallbacks=...) on the drop-in client: a primary that gives up on a retryable
failure (or meets its open breaker) answers from the next model; the caller's own errors
never fall back; context_length_exceeded goes only to context_fallbacks; streams fall back
only before any event."""

from __future__ import annotations

from typing import Any

import openai
import pydantic
import pytest
import structlog

import resilient_responses as rr
from resilient_responses.testing import FakeResponsesAPI, Fault, set_testing

PRIMARY, FALLBACK = "gpt-5", "gpt-5-mini"


def _client(fake: FakeResponsesAPI, **config: Any) -> rr.ResilientOpenAI:
    config.setdefault("fallbacks", {PRIMARY: (FALLBACK,)})
    return rr.ResilientOpenAI(fake.client(), resilience=rr.Resilience(**config))


def _models(fake: FakeResponsesAPI) -> list[str]:
    return [r.json["model"] for r in fake.requests if r.json]


def test_a_primary_in_an_outage_answers_from_the_fallback() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.status(503)] * 4)  # the primary's 4 attempts
    client = _client(fake)
    with set_testing(True), structlog.testing.capture_logs() as logs:
        response = client.responses.create(model=PRIMARY, input="hi")
    assert response.status == "completed"
    assert response.model == FALLBACK
    assert _models(fake) == [PRIMARY] * 4 + [FALLBACK]
    [event] = [e for e in logs if e["event"] == "resilient_responses.fallback"]
    assert (event["model"], event["fallback_model"], event["reason"]) == (
        PRIMARY,
        FALLBACK,
        "attempts_exhausted",
    )
    by_key = client.resilience.stats().by_key
    assert sum(ks.fallbacks for ks in by_key.values()) == 1


def test_an_open_primary_breaker_goes_straight_to_the_fallback() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.status(503)])
    client = _client(fake, attempts=1, breaker=rr.BreakerConfig(fail_max=1))
    with set_testing(True):
        assert client.responses.create(model=PRIMARY, input="1").model == FALLBACK  # opens
        assert client.responses.create(model=PRIMARY, input="2").model == FALLBACK
    assert _models(fake) == [PRIMARY, FALLBACK, FALLBACK]  # nothing sent to the open primary


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_the_callers_own_errors_never_fall_back(status: int) -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.status(status)])
    client = _client(fake)
    with pytest.raises(openai.APIStatusError):
        client.responses.create(model=PRIMARY, input="hi")
    assert _models(fake) == [PRIMARY]


def test_insufficient_quota_never_falls_back() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.status(429, code="insufficient_quota")])
    client = _client(fake)
    with pytest.raises(openai.RateLimitError):
        client.responses.create(model=PRIMARY, input="hi")
    assert len(fake.requests) == 1


def test_context_length_goes_only_to_context_fallbacks() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.status(400, code="context_length_exceeded")] * 2)
    client = _client(fake, context_fallbacks={FALLBACK: ("gpt-5-long",)})
    with pytest.raises(openai.BadRequestError):
        client.responses.create(model=PRIMARY, input="long")  # gpt-5 has none
    assert client.responses.create(model=FALLBACK, input="long").model == "gpt-5-long"
    assert _models(fake) == [PRIMARY, FALLBACK, "gpt-5-long"]


def test_the_chain_is_followed_in_order() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.status(500)] * 2)
    client = _client(fake, attempts=1, breaker=None, fallbacks={PRIMARY: (FALLBACK, "gpt-4o")})
    assert client.responses.create(model=PRIMARY, input="x").model == "gpt-4o"
    assert _models(fake) == [PRIMARY, FALLBACK, "gpt-4o"]


def test_a_stream_that_cannot_open_falls_back() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.status(503)] * 4)
    client = _client(fake)
    with set_testing(True):
        events = list(client.responses.create(model=PRIMARY, input="s", stream=True))
    assert events[-1].response.model == FALLBACK


def test_a_stream_cut_after_output_does_not_fall_back() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.reset(after_events=5)])
    client = _client(fake)
    with pytest.raises(rr.StreamInterruptedError):
        list(client.responses.create(model=PRIMARY, input="s", stream=True))
    assert _models(fake) == [PRIMARY]


async def test_async_primary_outage_answers_from_the_fallback() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.status(503)] * 4)
    client = rr.AsyncResilientOpenAI(
        fake.async_client(), resilience=rr.Resilience(fallbacks={PRIMARY: (FALLBACK,)})
    )
    with set_testing(True):
        response = await client.responses.create(model=PRIMARY, input="hi")
        stream = await client.responses.create(model=PRIMARY, input="s", stream=True)
        events = [e async for e in stream]
    assert response.model == FALLBACK
    assert events[-1].response.model == PRIMARY  # the outage was over by then


class _Answer(pydantic.BaseModel):
    text: str


def test_parse_falls_back_like_create() -> None:
    fake = FakeResponsesAPI(text=lambda body: '{"text": "Paris"}')
    fake.plan([Fault.status(503)] * 4)
    client = _client(fake)
    with set_testing(True):
        parsed = client.responses.parse(model=PRIMARY, input="hi", text_format=_Answer)
    assert parsed.model == FALLBACK
    assert parsed.output_parsed == _Answer(text="Paris")
    assert _models(fake) == [PRIMARY] * 4 + [FALLBACK]


async def test_async_parse_falls_back_like_create() -> None:
    fake = FakeResponsesAPI(text=lambda body: '{"text": "Paris"}')
    fake.plan([Fault.status(503)] * 4)
    client = rr.AsyncResilientOpenAI(
        fake.async_client(), resilience=rr.Resilience(fallbacks={PRIMARY: (FALLBACK,)})
    )
    with set_testing(True):
        parsed = await client.responses.parse(model=PRIMARY, input="hi", text_format=_Answer)
    assert parsed.model == FALLBACK
    assert parsed.output_parsed == _Answer(text="Paris")
    assert _models(fake) == [PRIMARY] * 4 + [FALLBACK]


def test_parse_with_a_callers_error_never_falls_back() -> None:
    fake = FakeResponsesAPI(text=lambda body: '{"text": "Paris"}')
    fake.plan([Fault.status(400)])
    client = _client(fake)
    with set_testing(True), pytest.raises(openai.BadRequestError):
        client.responses.parse(model=PRIMARY, input="hi", text_format=_Answer)
    assert _models(fake) == [PRIMARY]
