"""AsyncChatCompletionsAdapter against the in-process fake: the async twin of
test_chat_sync.py."""

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


async def drain(stream: Any, into: list[ChatCompletionChunk]) -> None:
    """Collect chunks one by one, so those seen before an exception survive it."""
    async for chunk in stream:
        into.append(chunk)  # noqa: PERF401 - kept when the stream raises


def content(chunks: list[ChatCompletionChunk]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


async def test_async_acceptance_conversation_validates_and_equals_the_responses_output() -> None:
    """System message, two turns and a function tool: a valid ChatCompletion whose text is
    the Responses output, and a request the Responses API understands."""
    fake = FakeResponsesAPI()
    completions = rr.AsyncChatCompletionsAdapter(fake.async_client())
    completion = await completions.create(
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


async def test_async_acceptance_stream_chunks_validate_and_concatenate_to_the_completion() -> None:
    fake = FakeResponsesAPI()
    completions = rr.AsyncChatCompletionsAdapter(fake.async_client())
    completion = await completions.create(model=MODEL, messages=CONVERSATION, tools=[WEATHER_TOOL])
    async with await completions.create(
        model=MODEL,
        messages=CONVERSATION,
        tools=[WEATHER_TOOL],
        stream=True,
        stream_options={"include_usage": True},
    ) as stream:
        chunks = [chunk async for chunk in stream]
    assert all(ChatCompletionChunk.model_validate(c.model_dump()) == c for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert content(chunks) == completion.choices[0].message.content
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage == completion.usage
    assert fake.requests[-1].json["stream"] is True
    assert fake.open_streams == 0


async def test_async_a_503_is_retried_by_the_engine_and_the_caller_sees_one_completion() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.status(503)])
    completions = rr.AsyncChatCompletionsAdapter(fake.async_client())
    completion = await completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    assert completion.choices[0].message.content
    first, second = fake.requests
    assert first.json == second.json
    assert first.headers["idempotency-key"] == second.headers["idempotency-key"]


async def test_async_a_stream_cut_before_output_restarts_without_duplicate_chunks() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.reset(after_events=1)])
    completions = rr.AsyncChatCompletionsAdapter(fake.async_client())
    messages = [{"role": "user", "content": "hi"}]
    stream = await completions.create(model=MODEL, messages=messages, stream=True)
    chunks = [chunk async for chunk in stream]
    assert len(fake.requests) == 2
    assert sum(1 for c in chunks if c.choices[0].delta.role) == 1
    assert content(chunks) == responses_text(messages)
    assert [c.choices[0].finish_reason for c in chunks].count("stop") == 1


async def test_async_a_stream_cut_after_output_raises_after_the_chunks_it_delivered() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.reset(after_events=6)])
    completions = rr.AsyncChatCompletionsAdapter(fake.async_client())
    messages = [{"role": "user", "content": "hi"}]
    chunks: list[ChatCompletionChunk] = []
    stream = await completions.create(model=MODEL, messages=messages, stream=True)
    with pytest.raises(StreamInterruptedError):
        await drain(stream, chunks)
    assert content(chunks)
    assert responses_text(messages).startswith(content(chunks))
    assert fake.open_streams == 0


async def test_async_a_failure_the_server_declares_mid_stream_raises_api_error() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.failed(after_events=6, code="invalid_prompt", message="nope")])
    completions = rr.AsyncChatCompletionsAdapter(fake.async_client())
    stream = await completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True
    )
    with pytest.raises(openai.APIError) as info:
        async for _ in stream:
            pass
    assert info.value.code == "invalid_prompt"
    assert str(info.value.request.url).endswith("/v1/responses")


async def test_async_closing_the_stream_early_closes_the_http_stream() -> None:
    fake = FakeResponsesAPI()
    completions = rr.AsyncChatCompletionsAdapter(fake.async_client())
    stream = await completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True
    )
    first = await stream.__anext__()
    assert first.choices[0].delta.role == "assistant"
    assert fake.open_streams == 1
    await stream.close()
    assert fake.open_streams == 0
    with pytest.raises(StopAsyncIteration):
        await stream.__anext__()


async def test_async_invalid_arguments_send_nothing() -> None:
    fake = FakeResponsesAPI()
    completions = rr.AsyncChatCompletionsAdapter(fake.async_client())
    with pytest.raises(ValueError, match="logit_bias"):
        await completions.create(model=MODEL, messages=CONVERSATION, logit_bias={"1": 5})  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="messages"):
        await completions.create(model=MODEL, messages=[])
    assert fake.requests == []


async def test_async_plain_client_is_wrapped_and_wrong_clients_are_type_errors() -> None:
    fake = FakeResponsesAPI()
    plain = fake.async_client()
    completions = rr.AsyncChatCompletionsAdapter(plain)
    assert isinstance(completions.client, rr.AsyncResilientOpenAI)
    resilient = rr.AsyncResilientOpenAI(plain)
    assert rr.AsyncChatCompletionsAdapter(resilient).client is resilient
    with pytest.raises(TypeError, match="sync"):
        rr.AsyncChatCompletionsAdapter(fake.client())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="str"):
        rr.AsyncChatCompletionsAdapter("sk-key")  # type: ignore[arg-type]
