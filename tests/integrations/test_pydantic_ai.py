"""pydantic-ai over ``AsyncResilientOpenAI``: ``OpenAIResponsesModel`` text, structured
output and streaming.

How pydantic-ai calls the SDK (``pydantic_ai/models/openai/_responses_model.py``): every
request is ``client.responses.create(..., stream=False|True)``; a stream is used with
``async with``, peeked for its first event, iterated, and closed with ``await
stream.close()``. Its error mapping (``_errors.py`` ``map_api_errors``) turns
``openai.APIStatusError`` into ``ModelHTTPError``, ``openai.APIConnectionError`` into
``ModelConnectionError`` and any other ``openai.APIError`` into a ``ModelAPIError``; anything
else escapes, and its ``FallbackModel`` only falls back on ``ModelAPIError``.
"""

from __future__ import annotations

from typing import Any

import openai
import pytest
from pydantic_ai import Agent, NativeOutput
from pydantic_ai.exceptions import ModelConnectionError, ModelHTTPError
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart
from pydantic_ai.models.fallback import FallbackModel
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.models.openai import OpenAIResponsesModel
from pydantic_ai.providers.openai import OpenAIProvider

from resilient_responses import StreamInterruptedError
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
    inside_arguments,
    plan,
    resilience,
    tripping_resilience,
)

PROMPT = "What is the weather in Paris?"
FALLBACK_ANSWER = "answered by the fallback model"


def model_for(client: openai.AsyncOpenAI) -> OpenAIResponsesModel:
    return OpenAIResponsesModel(MODEL, provider=OpenAIProvider(openai_client=client))


def fallback_answer(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    return ModelResponse(parts=[TextPart(FALLBACK_ANSWER)])


@case_params(CALL_CASES)
async def test_text_output_after_each_call_fault(
    fake: FakeResponsesAPI, base_url: str, case: Case
) -> None:
    """``agent.run`` (``responses.create``): every fault is retried by the engine."""
    plan(fake, case)
    async with async_client(base_url, resilience()) as client:
        result = await Agent(model_for(client)).run(PROMPT)
    assert result.output == ANSWER
    check_requests(fake, case)


@case_params(CALL_CASES)
async def test_structured_output_after_each_call_fault(
    fake: FakeResponsesAPI, base_url: str, case: Case
) -> None:
    """Structured output as a JSON schema (``NativeOutput``): a body cut short is retried,
    never parsed half-way."""
    plan(fake, case)
    async with async_client(base_url, resilience()) as client:
        agent = Agent(model_for(client), output_type=NativeOutput(Weather))
        result = await agent.run(PROMPT)
    assert result.output == WEATHER
    check_requests(fake, case)


@case_params(STREAM_CASES)
async def test_streaming_recovers_or_raises_model_connection_error(
    fake: FakeResponsesAPI, base_url: str, case: Case
) -> None:
    """``agent.run_stream``: faults before output are retried or restarted, a background
    stream cut after output is resumed (each delta once), and a plain stream cut after
    output reaches pydantic-ai as its ``ModelConnectionError``."""
    plan(fake, case)
    async with async_client(base_url, resilience(resumable=case.resumable)) as client:
        agent = Agent(model_for(client))
        if case.outcome == "connection_error":
            with pytest.raises(ModelConnectionError) as caught:
                async with agent.run_stream(PROMPT) as result:
                    await result.get_output()
            assert isinstance(caught.value.__cause__, StreamInterruptedError)
        else:
            async with agent.run_stream(PROMPT) as result:
                deltas = [d async for d in result.stream_text(delta=True)]
            assert "".join(deltas) == ANSWER
            assert await result.get_output() == ANSWER
    check_requests(fake, case)


@pytest.mark.parametrize(
    "case",
    [c for c in STREAM_CASES if c.id in ("no_fault", "reset_after_output_background")],
    ids=lambda c: c.id,
)
async def test_streamed_structured_output(
    fake: FakeResponsesAPI, base_url: str, case: Case
) -> None:
    """Streamed structured output: a resumed stream parses to the fault-free object."""
    plan(fake, case)
    async with async_client(base_url, resilience(resumable=case.resumable)) as client:
        agent = Agent(model_for(client), output_type=NativeOutput(Weather))
        async with agent.run_stream(PROMPT) as result:
            output = await result.get_output()
    assert output == WEATHER
    check_requests(fake, case)


async def test_fallback_model_falls_back_when_the_breaker_is_open(
    fake: FakeResponsesAPI, base_url: str
) -> None:
    """An open circuit must reach ``FallbackModel`` as a ``ModelAPIError`` (the library
    raises an ``openai.APIError`` in place of the call), so the fallback model answers
    without a request being sent."""
    fake.plan([], then=Fault.status(503))
    async with async_client(base_url, tripping_resilience()) as client:
        agent = Agent(FallbackModel(model_for(client), FunctionModel(fallback_answer)))
        first = await agent.run(PROMPT)  # 503: the breaker opens
        second = await agent.run(PROMPT)  # CircuitOpenError: no request
    assert first.output == FALLBACK_ANSWER
    assert second.output == FALLBACK_ANSWER
    assert len(fake.requests) == 1


async def test_fallback_model_falls_back_on_a_stream_that_cannot_open(
    fake: FakeResponsesAPI, base_url: str
) -> None:
    """A stream whose every attempt fails before any event (an outage) reaches
    ``FallbackModel`` as a ``ModelAPIError``: the fallback model answers."""

    async def fallback_stream(messages: list[ModelMessage], info: AgentInfo) -> Any:
        yield FALLBACK_ANSWER

    fake.plan([], then=Fault.status(503))
    async with async_client(base_url, resilience(attempts=2)) as client:
        model = FallbackModel(model_for(client), FunctionModel(stream_function=fallback_stream))
        async with Agent(model).run_stream(PROMPT) as result:
            output = await result.get_output()
    assert output == FALLBACK_ANSWER
    assert len(fake.requests) == 2


async def ask(agent: Agent[Any, Any], *, stream: bool) -> Any:
    """The agent's output, from ``run`` or ``run_stream``."""
    if not stream:
        return (await agent.run(PROMPT)).output
    async with agent.run_stream(PROMPT) as result:
        return await result.get_output()


@pytest.mark.parametrize("stream", [False, True], ids=["run", "run_stream"])
async def test_model_settings_max_retries_does_not_stack_on_the_engine(
    fake: FakeResponsesAPI, base_url: str, stream: bool
) -> None:
    """``ModelSettings(max_retries=5)`` reaches the client as ``with_options(max_retries=5)``;
    the drop-in client keeps the SDK's retries off, so an outage costs the engine's
    ``attempts`` requests (2), not 2 x 6."""
    fake.plan([], then=Fault.status(503))
    async with async_client(base_url, resilience(attempts=2)) as client:
        agent = Agent(model_for(client), model_settings={"max_retries": 5})
        with pytest.raises(ModelHTTPError) as caught:
            await ask(agent, stream=stream)
    assert caught.value.status_code == 503
    assert len(fake.requests) == 2


# -- tool-mode structured output ---------------------------------------------------


def final_result_fake() -> FakeResponsesAPI:
    """A fake that answers every request with a call of pydantic-ai's ``final_result``
    output tool (its default structured-output mode)."""

    def respond(body: dict[str, Any]) -> Any:
        return Reply.function_call("final_result", WEATHER.model_dump())

    return FakeResponsesAPI(responder=respond)


def tool_mode_fault(kind: str) -> Fault | None:
    if kind == "status_500":
        return Fault.status(500)
    if kind == "inside_arguments":
        cut = inside_arguments(final_result_fake, PROMPT, background=True)
        return Fault.reset(after_events=cut)
    return None


@pytest.mark.parametrize(
    ("fault", "resumable", "requests"),
    [
        pytest.param("none", False, 1, id="no_fault"),
        pytest.param("status_500", False, 2, id="status_500"),
        pytest.param("inside_arguments", True, 2, id="reset_inside_arguments_background"),
    ],
)
async def test_tool_mode_structured_output_streamed(
    fault: str, resumable: bool, requests: int
) -> None:
    """``output_type=Weather`` makes the model call the ``final_result`` tool; a background
    stream cut inside the call's argument deltas is resumed and parses to the same object."""
    fake = final_result_fake()
    fake.plan([tool_mode_fault(fault)])
    with fake.serve() as url:
        async with async_client(url, resilience(resumable=resumable)) as client:
            agent = Agent(model_for(client), output_type=Weather)
            async with agent.run_stream(PROMPT) as result:
                output = await result.get_output()
    assert output == WEATHER
    assert len(fake.requests) == requests


async def test_tool_mode_structured_output_plain_cut_inside_arguments_raises() -> None:
    """Without ``make_resumable`` the same cut inside the ``final_result`` call's argument
    deltas cannot be resumed: pydantic-ai raises its ``ModelConnectionError``."""
    fake = final_result_fake()
    cut = inside_arguments(final_result_fake, PROMPT, background=False)
    fake.plan([Fault.reset(after_events=cut)])
    with fake.serve() as url:
        async with async_client(url, resilience()) as client:
            agent = Agent(model_for(client), output_type=Weather)
            with pytest.raises(ModelConnectionError) as caught:
                async with agent.run_stream(PROMPT) as result:
                    await result.get_output()
    assert isinstance(caught.value.__cause__, StreamInterruptedError)
    assert len(fake.requests) == 1
