"""openai-agents over ``AsyncResilientOpenAI``: ``Runner.run`` and ``Runner.run_streamed``.

How openai-agents calls the SDK (``agents/models/openai_responses.py``): non-stream turns
go through ``client.responses.create(...)``; streamed turns through
``client.responses.with_streaming_response.create(stream=True)``, entering the context
manager, ``await api_response.parse()`` for the event stream and reading
``api_response.request_id``. It does not wrap SDK errors: a dropped stream reaches the
caller of ``Runner`` as ``openai.APIConnectionError``, its own connection error type.

The tool-calling tests script the fake with ``Reply`` and ``FakeResponsesAPI(responder=)``:
the responder answers from the request body, so a retried, restarted or resumed request
gets the same turn as its first attempt.
"""

from __future__ import annotations

from typing import Any

import openai
import pytest
from agents import Agent, OpenAIResponsesModel, RunConfig, Runner, function_tool

from resilient_responses import StreamInterruptedError
from resilient_responses.testing import FakeResponsesAPI, Fault, Reply

from ._support import (
    ANSWER,
    CALL_CASES,
    MODEL,
    STREAM_CASES,
    Case,
    async_client,
    case_params,
    check_requests,
    final_request_id,
    has_tool_output,
    inside_arguments,
    plan,
    resilience,
    sends_tool_output,
    tripping_resilience,
)

PROMPT = "What is the weather in Paris?"
TOOL_ANSWER = "It is sunny in Paris"
RUN_CONFIG = RunConfig(tracing_disabled=True)


def agent_for(client: openai.AsyncOpenAI, tools: list[Any] | None = None) -> Agent[Any]:
    return Agent(
        name="weather",
        instructions="Answer in one sentence.",
        model=OpenAIResponsesModel(MODEL, client),
        tools=tools or [],
    )


async def raw_events(result: Any) -> list[Any]:
    """Drain a streamed run; the Responses events the agent received, in order."""
    return [e.data async for e in result.stream_events() if e.type == "raw_response_event"]


# -- text answers ----------------------------------------------------------------------


@case_params(CALL_CASES)
async def test_run_answers_after_each_call_fault(
    fake: FakeResponsesAPI, base_url: str, case: Case
) -> None:
    """``Runner.run``: every transport fault and a failed response are retried by the
    engine; the agent gets the fault-free answer."""
    plan(fake, case)
    async with async_client(base_url, resilience()) as client:
        result = await Runner.run(agent_for(client), PROMPT, run_config=RUN_CONFIG)
    assert result.final_output == ANSWER
    check_requests(fake, case)


@case_params(STREAM_CASES)
async def test_run_streamed_recovers_or_raises_a_connection_error(
    fake: FakeResponsesAPI, base_url: str, case: Case
) -> None:
    """``Runner.run_streamed`` (``with_streaming_response.create(stream=True)``): faults
    before output are retried or restarted, a background stream cut after output is resumed
    with every event delivered once, and a plain stream cut after output reaches the agent
    as ``openai.APIConnectionError``."""
    plan(fake, case)
    async with async_client(base_url, resilience(resumable=case.resumable)) as client:
        result = Runner.run_streamed(agent_for(client), PROMPT, run_config=RUN_CONFIG)
        if case.outcome == "connection_error":
            with pytest.raises(openai.APIConnectionError) as caught:
                await raw_events(result)
            assert isinstance(caught.value, StreamInterruptedError)
            assert caught.value.partial_text == "It is "
        else:
            events = await raw_events(result)
            assert result.final_output == ANSWER
            deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
            assert "".join(deltas) == ANSWER  # no delta lost, none twice
            if case.resumed or case.fault is None:
                numbers = [e.sequence_number for e in events]
                assert numbers == list(range(len(numbers)))
    check_requests(fake, case)


async def test_run_streamed_reports_the_final_attempts_request_id(
    fake: FakeResponsesAPI, base_url: str
) -> None:
    """openai-agents reads ``api_response.request_id`` of the streaming response: after a
    retried 500 it is the id of the attempt that answered."""
    fake.plan([Fault.status(500)])
    async with async_client(base_url, resilience()) as client:
        result = Runner.run_streamed(agent_for(client), PROMPT, run_config=RUN_CONFIG)
        await raw_events(result)
    assert result.final_output == ANSWER
    assert result.raw_responses[-1].request_id == final_request_id(fake) == "req_2"


async def test_run_reports_the_final_attempts_request_id(
    fake: FakeResponsesAPI, base_url: str
) -> None:
    """``Runner.run`` reads ``response._request_id``: the id of the attempt that answered."""
    fake.plan([Fault.status(500)])
    async with async_client(base_url, resilience()) as client:
        result = await Runner.run(agent_for(client), PROMPT, run_config=RUN_CONFIG)
    assert result.raw_responses[-1].request_id == final_request_id(fake) == "req_2"


async def test_open_breaker_reaches_the_agent_as_an_openai_api_error(
    fake: FakeResponsesAPI, base_url: str
) -> None:
    """What the library raises in place of an SDK call is an ``openai.APIError``, so code
    around ``Runner`` that handles SDK errors handles an open circuit too."""
    fake.plan([], then=Fault.status(503))
    async with async_client(base_url, tripping_resilience()) as client:
        with pytest.raises(openai.InternalServerError):
            await Runner.run(agent_for(client), PROMPT, run_config=RUN_CONFIG)
        with pytest.raises(openai.APIError):  # CircuitOpenError, no request sent
            await Runner.run(agent_for(client), PROMPT, run_config=RUN_CONFIG)
    assert len(fake.requests) == 1


# -- an agent with one function tool -----------------------------------------------


def weather_tool(calls: list[str]) -> Any:
    @function_tool
    def get_weather(city: str) -> str:
        """The current weather in a city."""
        calls.append(city)
        return f"sunny in {city}"

    return get_weather


def tool_fake() -> FakeResponsesAPI:
    """A fake that answers with a ``get_weather`` call, then (once the tool's output is in
    the request's input) with text. Keyed on the request body, so a retried or restarted
    request gets the same reply as the first attempt."""

    def respond(body: dict[str, Any]) -> Any:
        if has_tool_output(body):
            return Reply.text(TOOL_ANSWER)
        return Reply.function_call("get_weather", {"city": "Paris"})

    return FakeResponsesAPI(responder=respond)


@pytest.mark.parametrize(
    ("faults", "requests"),
    [
        pytest.param([None], 2, id="no_fault"),
        pytest.param([Fault.status(500)], 3, id="status_500_first_turn"),
        pytest.param([None, Fault.truncate()], 3, id="body_cut_short_second_turn"),
    ],
)
async def test_run_with_a_tool_calls_it_exactly_once(
    faults: list[Fault | None], requests: int
) -> None:
    """``Runner.run`` through a function-call turn and a text turn: a fault in either turn
    is retried, the tool runs once."""
    calls: list[str] = []
    fake = tool_fake()
    fake.plan(faults)
    with fake.serve() as url:
        async with async_client(url, resilience()) as client:
            agent = agent_for(client, [weather_tool(calls)])
            result = await Runner.run(agent, PROMPT, run_config=RUN_CONFIG)
    assert result.final_output == TOOL_ANSWER
    assert calls == ["Paris"]
    assert len(fake.requests) == requests
    assert sends_tool_output(fake.requests[-1])


async def test_run_streamed_with_a_tool_resumes_inside_the_argument_deltas() -> None:
    """A background stream reset in the middle of the function call's argument deltas is
    resumed: the agent sees the whole call once, calls the tool once, and finishes."""
    calls: list[str] = []
    fake = tool_fake()
    fake.plan([Fault.reset(after_events=inside_arguments(tool_fake, PROMPT, background=True))])
    with fake.serve() as url:
        async with async_client(url, resilience(resumable=True)) as client:
            agent = agent_for(client, [weather_tool(calls)])
            result = Runner.run_streamed(agent, PROMPT, run_config=RUN_CONFIG)
            events = await raw_events(result)
    assert result.final_output == TOOL_ANSWER
    assert calls == ["Paris"]
    # The call's arguments reached the agent exactly once, split where the stream broke.
    deltas = [e.delta for e in events if e.type == "response.function_call_arguments.delta"]
    done = [e.arguments for e in events if e.type == "response.function_call_arguments.done"]
    assert len(done) == 1
    assert "".join(deltas) == done[0]
    # POST (cut), GET resume with starting_after, POST carrying the tool's output.
    seen = fake.requests
    assert [r.method for r in seen] == ["POST", "GET", "POST"]
    assert seen[1].query.get("starting_after") is not None
    assert sends_tool_output(fake.requests[-1])


async def test_run_streamed_with_a_tool_plain_cut_in_arguments_raises() -> None:
    """Without ``make_resumable`` the same cut cannot be resumed (output was delivered):
    it reaches the agent as ``openai.APIConnectionError`` and the tool never runs."""
    calls: list[str] = []
    fake = tool_fake()
    fake.plan([Fault.reset(after_events=inside_arguments(tool_fake, PROMPT, background=False))])
    with fake.serve() as url:
        async with async_client(url, resilience()) as client:
            agent = agent_for(client, [weather_tool(calls)])
            result = Runner.run_streamed(agent, PROMPT, run_config=RUN_CONFIG)
            with pytest.raises(openai.APIConnectionError):
                await raw_events(result)
    assert calls == []
    assert len(fake.requests) == 1
