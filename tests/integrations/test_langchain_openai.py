"""langchain-openai over the drop-in clients: ``ChatOpenAI(use_responses_api=True)``.

How langchain-openai calls the SDK (``langchain_openai/chat_models/base.py``):
``invoke`` / ``ainvoke`` use ``root_client.responses.with_raw_response.create(...)`` and
``.parse()`` (``with_raw_response.parse`` for a pydantic schema); ``stream`` / ``astream``
use ``root_client.responses.create(stream=True)`` in a ``with`` block, or, with
``include_response_headers=True``, ``root_client.with_raw_response.responses.create(
stream=True)`` then ``.parse()`` and ``.headers``. Every path catches ``openai.APIError``
and re-raises it as its own class (``OpenAIConnectionError``, both an
``openai.APIConnectionError`` and a ``langchain_core`` ``ModelConnectionError``...).

All four clients are passed: given only some, ``ChatOpenAI`` silently builds plain SDK
clients for the others.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from langchain_core.exceptions import ModelConnectionError
from langchain_core.messages import AIMessageChunk
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI

from resilient_responses import (
    AsyncResilientOpenAI,
    Resilience,
    ResilientOpenAI,
    StreamInterruptedError,
)
from resilient_responses.testing import FakeResponsesAPI, Fault, Reply

from ._support import (
    ANSWER,
    CALL_CASES,
    MODEL,
    STREAM_CASES,
    WEATHER,
    Case,
    Weather,
    async_client,
    case_params,
    check_requests,
    final_request_id,
    inside_arguments,
    plan,
    resilience,
    sync_client,
    tripping_resilience,
)

PROMPT = "What is the weather in Paris?"


def chat_model(sync: ResilientOpenAI, aio: AsyncResilientOpenAI, **options: Any) -> ChatOpenAI:
    return ChatOpenAI(
        model=MODEL,
        use_responses_api=True,
        root_client=sync,
        client=sync.chat.completions,
        root_async_client=aio,
        async_client=aio.chat.completions,
        **options,
    )


@pytest.fixture
def chat_for(base_url: str) -> Iterator[Any]:
    """``chat_for(engine, **options)``: a ``ChatOpenAI`` over drop-in clients sharing
    *engine* (for sync tests; the clients are closed afterwards)."""
    made: list[tuple[ResilientOpenAI, AsyncResilientOpenAI]] = []

    def make(engine: Resilience, **options: Any) -> ChatOpenAI:
        made.append((sync_client(base_url, engine), async_client(base_url, engine)))
        return chat_model(*made[-1], **options)

    yield make
    for sync, aio in made:
        sync.close()
        asyncio.run(aio.close())


def joined(chunks: list[AIMessageChunk]) -> AIMessageChunk:
    message = chunks[0]
    for chunk in chunks[1:]:
        message = message + chunk
    return message


def check_connection_error(exc: BaseException) -> None:
    """LangChain's own connection error, caused by the library's interruption."""
    assert isinstance(exc, ModelConnectionError)
    assert isinstance(exc, openai.APIConnectionError)
    assert isinstance(exc.__cause__, StreamInterruptedError)


def answering_post_id(fake: FakeResponsesAPI, case: Case) -> str | None:
    """The ``x-request-id`` the headers must show, when no restart follows the open."""
    restarted_after_open = case.fault is not None and case.fault.kind in ("reset", "failed")
    if restarted_after_open and not case.resumed:
        return None
    return final_request_id(fake)


# -- invoke ----------------------------------------------------------------------------


@case_params(CALL_CASES)
def test_invoke_after_each_call_fault(fake: FakeResponsesAPI, chat_for: Any, case: Case) -> None:
    """``invoke`` (``with_raw_response.create`` + ``.parse()``): a body cut short and a
    failed response are retried like every other fault."""
    plan(fake, case)
    message = chat_for(resilience()).invoke(PROMPT)
    assert message.text == ANSWER
    check_requests(fake, case)


@case_params(CALL_CASES)
async def test_ainvoke_after_each_call_fault(
    fake: FakeResponsesAPI, base_url: str, case: Case
) -> None:
    """``ainvoke``: the async twin."""
    plan(fake, case)
    engine = resilience()
    with sync_client(base_url, engine) as sync:
        async with async_client(base_url, engine) as aio:
            message = await chat_model(sync, aio).ainvoke(PROMPT)
    assert message.text == ANSWER
    check_requests(fake, case)


@case_params(CALL_CASES)
def test_with_structured_output_after_each_call_fault(
    fake: FakeResponsesAPI, chat_for: Any, case: Case
) -> None:
    """``with_structured_output(Weather)`` (``with_raw_response.parse``): never parses a
    half body, never returns a failed response."""
    plan(fake, case)
    chat = chat_for(resilience())
    assert chat.with_structured_output(Weather).invoke(PROMPT) == WEATHER
    check_requests(fake, case)


@pytest.mark.parametrize(
    "case",
    [c for c in CALL_CASES if c.id in ("no_fault", "status_500", "body_cut_short")],
    ids=lambda c: c.id,
)
def test_invoke_response_headers_are_the_answering_attempts(
    fake: FakeResponsesAPI, chat_for: Any, case: Case
) -> None:
    """``include_response_headers=True`` reads ``raw_response.headers``: those of the
    attempt that answered."""
    plan(fake, case)
    message = chat_for(resilience(), include_response_headers=True).invoke(PROMPT)
    assert message.text == ANSWER
    assert message.response_metadata["headers"]["x-request-id"] == final_request_id(fake)
    check_requests(fake, case)


def test_open_breaker_is_an_openai_api_error(fake: FakeResponsesAPI, chat_for: Any) -> None:
    """LangChain handles ``openai.APIError``: an open circuit must be one, so it goes
    through LangChain's error handling like any SDK failure."""
    fake.plan([], then=Fault.status(503))
    chat = chat_for(tripping_resilience())
    with pytest.raises(openai.InternalServerError):
        chat.invoke(PROMPT)
    with pytest.raises(openai.APIError):  # CircuitOpenError: no request sent
        chat.invoke(PROMPT)
    assert len(fake.requests) == 1


# -- stream ----------------------------------------------------------------------------


@case_params(STREAM_CASES)
@pytest.mark.parametrize("headers", [False, True], ids=["plain", "include_response_headers"])
def test_stream_recovers_or_raises_its_connection_error(
    fake: FakeResponsesAPI, chat_for: Any, case: Case, headers: bool
) -> None:
    """``stream`` (``responses.create(stream=True)``, or ``with_raw_response`` with
    ``include_response_headers=True``): each delta exactly once after a resume; a plain
    stream cut after output raises LangChain's ``OpenAIConnectionError``."""
    plan(fake, case)
    chat = chat_for(resilience(resumable=case.resumable), include_response_headers=headers)
    if case.outcome == "connection_error":
        with pytest.raises(openai.APIConnectionError) as caught:
            for _ in chat.stream(PROMPT):
                pass
        check_connection_error(caught.value)
    else:
        chunks = list(chat.stream(PROMPT))
        assert "".join(c.text for c in chunks) == ANSWER
        if headers:
            seen = joined(chunks).response_metadata["headers"]
            expected = answering_post_id(fake, case)
            assert seen["x-request-id"] == (expected or seen["x-request-id"])
    check_requests(fake, case)


@case_params(STREAM_CASES)
@pytest.mark.parametrize("headers", [False, True], ids=["plain", "include_response_headers"])
async def test_astream_recovers_or_raises_its_connection_error(
    fake: FakeResponsesAPI, base_url: str, case: Case, headers: bool
) -> None:
    """``astream``: the async twin (through ``stream_chunk_timeout``'s wrapper, which
    ``aclose()``s the stream's iterator)."""
    plan(fake, case)
    engine = resilience(resumable=case.resumable)
    with sync_client(base_url, engine) as sync:
        async with async_client(base_url, engine) as aio:
            chat = chat_model(sync, aio, include_response_headers=headers)
            if case.outcome == "connection_error":
                with pytest.raises(openai.APIConnectionError) as caught:
                    async for _ in chat.astream(PROMPT):
                        pass
                check_connection_error(caught.value)
            else:
                chunks = [c async for c in chat.astream(PROMPT)]
                assert "".join(c.text for c in chunks) == ANSWER
                if headers:
                    seen = joined(chunks).response_metadata["headers"]
                    expected = answering_post_id(fake, case)
                    assert seen["x-request-id"] == (expected or seen["x-request-id"])
    check_requests(fake, case)


# -- a tool call cut inside its argument deltas ----------------------------------------


@tool
def get_weather(city: str) -> str:
    """The current weather in a city."""
    return f"sunny in {city}"


WEATHER_CALL = {"name": "get_weather", "args": {"city": "Paris"}, "type": "tool_call"}


def tool_call_fake() -> FakeResponsesAPI:
    """A fake whose model answers every request with a ``get_weather`` call."""
    return FakeResponsesAPI(
        responder=lambda body: Reply.function_call("get_weather", {"city": "Paris"})
    )


def check_tool_call(chunks: list[AIMessageChunk]) -> None:
    """The call reached LangChain whole and once (a replayed delta would make its
    arguments invalid JSON: an ``invalid_tool_calls`` entry)."""
    message = joined(chunks)
    assert message.invalid_tool_calls == []
    assert [{k: v for k, v in call.items() if k != "id"} for call in message.tool_calls] == [
        WEATHER_CALL
    ]


def cut_tool_call_fake(resumable: bool) -> FakeResponsesAPI:
    fake = tool_call_fake()
    cut = inside_arguments(tool_call_fake, PROMPT, background=resumable)
    fake.plan([Fault.reset(after_events=cut)])
    return fake


@pytest.mark.parametrize("resumable", [True, False], ids=["background", "plain"])
def test_stream_tool_call_cut_inside_its_arguments(resumable: bool) -> None:
    """``bind_tools(...).stream``: a background stream reset inside the call's argument
    deltas is resumed (the call arrives whole, once); a plain one raises LangChain's
    connection error after one request."""
    fake = cut_tool_call_fake(resumable)
    engine = resilience(resumable=resumable)
    with fake.serve() as url, sync_client(url, engine) as sync:
        aio = async_client(url, engine)
        chat = chat_model(sync, aio).bind_tools([get_weather])
        if resumable:
            check_tool_call(list(chat.stream(PROMPT)))
        else:
            with pytest.raises(openai.APIConnectionError) as caught:
                list(chat.stream(PROMPT))
            check_connection_error(caught.value)
        asyncio.run(aio.close())
    assert [r.method for r in fake.requests] == (["POST", "GET"] if resumable else ["POST"])


@pytest.mark.parametrize("resumable", [True, False], ids=["background", "plain"])
async def test_astream_tool_call_cut_inside_its_arguments(resumable: bool) -> None:
    """``bind_tools(...).astream``: the async twin."""
    fake = cut_tool_call_fake(resumable)
    engine = resilience(resumable=resumable)
    with fake.serve() as url, sync_client(url, engine) as sync:
        async with async_client(url, engine) as aio:
            chat = chat_model(sync, aio).bind_tools([get_weather])
            if resumable:
                check_tool_call([c async for c in chat.astream(PROMPT)])
            else:
                with pytest.raises(openai.APIConnectionError) as caught:
                    [c async for c in chat.astream(PROMPT)]
                check_connection_error(caught.value)
    assert [r.method for r in fake.requests] == (["POST", "GET"] if resumable else ["POST"])
