"""ChatCompletionsAdapter against the in-process fake: what is sent, what comes back, and
that the engine's retries and stream recovery apply (sync; see test_chat_async.py)."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

import resilient_responses as rr
from resilient_responses.exceptions import StreamInterruptedError
from resilient_responses.testing import FakeResponsesAPI, Fault

from ._chat_support import CONVERSATION, EXPECTED_INPUT, EXPECTED_TOOLS, MODEL, WEATHER_TOOL


def responses_text(input_value: Any) -> str:
    """What the Responses API (the fake, deterministic per input) answers directly."""
    with FakeResponsesAPI().client(max_retries=0) as raw:
        return raw.responses.create(model=MODEL, input=input_value).output_text


def content(chunks: list[ChatCompletionChunk]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def test_acceptance_conversation_validates_and_equals_the_responses_output() -> None:
    """System message, two turns and a function tool: a valid ChatCompletion whose text is
    the Responses output, and a request the Responses API understands."""
    fake = FakeResponsesAPI()
    completions = rr.ChatCompletionsAdapter(fake.client())
    completion = completions.create(
        model=MODEL, messages=CONVERSATION, tools=[WEATHER_TOOL], max_completion_tokens=200
    )
    assert isinstance(completion, ChatCompletion)
    assert ChatCompletion.model_validate(completion.model_dump()) == completion
    assert completion.choices[0].message.content == responses_text(EXPECTED_INPUT)
    assert completion.choices[0].finish_reason == "stop"

    (sent,) = fake.requests
    assert (sent.method, sent.path) == ("POST", "/v1/responses")
    assert sent.json == {
        "model": MODEL,
        "input": EXPECTED_INPUT,
        "tools": EXPECTED_TOOLS,
        "max_output_tokens": 200,
        "store": False,
    }


def test_acceptance_stream_chunks_validate_and_concatenate_to_the_completion() -> None:
    fake = FakeResponsesAPI()
    completions = rr.ChatCompletionsAdapter(fake.client())
    completion = completions.create(model=MODEL, messages=CONVERSATION, tools=[WEATHER_TOOL])
    with completions.create(
        model=MODEL,
        messages=CONVERSATION,
        tools=[WEATHER_TOOL],
        stream=True,
        stream_options={"include_usage": True},
    ) as stream:
        chunks = list(stream)
    assert all(ChatCompletionChunk.model_validate(c.model_dump()) == c for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert content(chunks) == completion.choices[0].message.content
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage == completion.usage
    assert fake.requests[-1].json["stream"] is True
    assert fake.open_streams == 0


def test_a_503_is_retried_by_the_engine_and_the_caller_sees_one_completion() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.status(503)])
    completions = rr.ChatCompletionsAdapter(fake.client())
    completion = completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    assert completion.choices[0].message.content
    first, second = fake.requests
    assert first.json == second.json
    assert first.headers["idempotency-key"] == second.headers["idempotency-key"]


def test_a_stream_cut_before_output_restarts_without_duplicate_chunks() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.reset(after_events=1)])
    completions = rr.ChatCompletionsAdapter(fake.client())
    messages = [{"role": "user", "content": "hi"}]
    chunks = list(completions.create(model=MODEL, messages=messages, stream=True))
    assert len(fake.requests) == 2
    assert sum(1 for c in chunks if c.choices[0].delta.role) == 1
    assert content(chunks) == responses_text(messages)
    assert [c.choices[0].finish_reason for c in chunks].count("stop") == 1


def test_a_stream_cut_after_output_raises_after_the_chunks_it_delivered() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.reset(after_events=6)])
    completions = rr.ChatCompletionsAdapter(fake.client())
    messages = [{"role": "user", "content": "hi"}]
    chunks: list[ChatCompletionChunk] = []
    with pytest.raises(StreamInterruptedError):
        chunks.extend(completions.create(model=MODEL, messages=messages, stream=True))
    assert content(chunks)
    assert responses_text(messages).startswith(content(chunks))
    assert fake.open_streams == 0


def test_a_failure_the_server_declares_mid_stream_raises_api_error() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.failed(after_events=6, code="invalid_prompt", message="nope")])
    completions = rr.ChatCompletionsAdapter(fake.client())
    stream = completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True
    )
    with pytest.raises(openai.APIError) as info:
        list(stream)
    assert info.value.code == "invalid_prompt"
    assert str(info.value.request.url).endswith("/v1/responses")


def test_a_declared_failure_names_its_request_without_the_base_urls_credentials() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.failed(after_events=6, code="invalid_prompt", message="nope")])
    secret = "http://user:PASSWORD123@fake.openai.test/v1"
    completions = rr.ChatCompletionsAdapter(fake.client(base_url=secret))
    stream = completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True
    )
    with pytest.raises(openai.APIError) as info:
        list(stream)
    url = str(info.value.request.url)
    assert url.endswith("/v1/responses")
    assert "PASSWORD123" not in url


def test_closing_the_stream_early_closes_the_http_stream() -> None:
    fake = FakeResponsesAPI()
    completions = rr.ChatCompletionsAdapter(fake.client())
    stream = completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True
    )
    assert next(stream).choices[0].delta.role == "assistant"
    assert fake.open_streams == 1
    stream.close()
    assert fake.open_streams == 0
    with pytest.raises(StopIteration):
        next(stream)


def test_invalid_arguments_send_nothing() -> None:
    fake = FakeResponsesAPI()
    completions = rr.ChatCompletionsAdapter(fake.client())
    with pytest.raises(ValueError, match="logit_bias"):
        completions.create(model=MODEL, messages=CONVERSATION, logit_bias={"1": 5})  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="messages"):
        completions.create(model=MODEL, messages=[])
    assert fake.requests == []


def test_plain_client_is_wrapped_and_wrong_clients_are_type_errors() -> None:
    fake = FakeResponsesAPI()
    plain = fake.client()
    completions = rr.ChatCompletionsAdapter(plain)
    assert isinstance(completions.client, rr.ResilientOpenAI)
    resilient = rr.ResilientOpenAI(plain)
    assert rr.ChatCompletionsAdapter(resilient).client is resilient
    with pytest.raises(TypeError, match="async"):
        rr.ChatCompletionsAdapter(fake.async_client())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="str"):
        rr.ChatCompletionsAdapter("sk-key")  # type: ignore[arg-type]
