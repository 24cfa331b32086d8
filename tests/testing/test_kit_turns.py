"""Scripted agent turns: ``Reply``, ``FakeResponsesAPI(turns=...)`` and ``responder=``.

Function calls, reasoning and several items per response, with the events the API sends for
them, tools echoed, tool outputs arriving in the next request, and faults at any point of
those streams (in-process sync and async, background replay, over HTTP)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openai.types.responses import (
    ResponseFunctionCallArgumentsDeltaEvent,
    ResponseFunctionToolCall,
    ResponseReasoningItem,
)
from openai.types.responses.response_stream_event import ResponseStreamEvent

from resilient_responses.testing import FakeResponsesAPI, Fault, Reply

MODEL = "gpt-5-mini"
TOOLS: list[Any] = [
    {
        "type": "function",
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
        },
    }
]
AGENT_TURNS = [
    Reply.reasoning("The user wants the weather.")
    + Reply.function_call("get_weather", {"city": "Paris"}),
    Reply.text("It is sunny in Paris."),
]


def get_weather(city: str) -> str:
    return f"sunny in {city}"


def run_agent(client: openai.OpenAI, question: str) -> str:
    """A minimal agent loop: call the model, run the tools it asks for, until it answers."""
    items: list[Any] = [{"role": "user", "content": question}]
    for _ in range(5):
        response = client.responses.create(model=MODEL, input=items, tools=TOOLS)
        items.extend(item.model_dump(exclude_none=True) for item in response.output)
        calls = [o for o in response.output if isinstance(o, ResponseFunctionToolCall)]
        if not calls:
            return response.output_text
        for call in calls:
            output = get_weather(**json.loads(call.arguments))
            items.append(
                {"type": "function_call_output", "call_id": call.call_id, "output": output}
            )
    raise AssertionError("the agent did not finish")


# -- the Reply value -----------------------------------------------------------------------------


def test_reply_constructors_and_repr() -> None:
    combo = Reply.reasoning(["a", "b"], text="t") + Reply.function_call(
        "f", {"x": 1}, call_id="call_1"
    )
    assert len(combo.items) == 2
    assert repr(combo) == (
        "Reply.reasoning(('a', 'b'), text='t') + Reply.function_call('f', '{\"x\":1}', "
        "call_id='call_1')"
    )
    assert Reply.of(Reply.text("a"), Reply.text("b")) == Reply.text("a") + Reply.text("b")
    assert (Reply.text("a") + Reply.text("b")).output_text == "ab"
    assert Reply.function_call("f").items[0].arguments == "{}"  # type: ignore[union-attr]
    assert Reply.function_call("f", '{"bad": ').items[0].arguments == '{"bad": '  # type: ignore[union-attr]
    assert hash(Reply.text("x")) == hash(Reply.text("x"))


@pytest.mark.parametrize(
    ("build", "exc", "words"),
    [
        (lambda: Reply.text(3), TypeError, "text"),  # type: ignore[arg-type]
        (lambda: Reply.function_call(""), ValueError, "name"),
        (lambda: Reply.function_call("f", 3), TypeError, "arguments"),  # type: ignore[arg-type]
        (lambda: Reply.function_call("f", {"x": object()}), TypeError, "JSON"),
        (lambda: Reply.function_call("f", call_id=""), ValueError, "call_id"),
        (lambda: Reply.reasoning([1]), TypeError, "summary"),  # type: ignore[list-item]
        (lambda: Reply.reasoning(text=1), TypeError, "text"),  # type: ignore[arg-type]
        (lambda: Reply.of(), ValueError, "at least one"),
        (lambda: Reply.of("x"), TypeError, "Reply"),  # type: ignore[arg-type]
        (lambda: Reply(("x",)), TypeError, "items"),  # type: ignore[arg-type]
        (lambda: FakeResponsesAPI(turns=[Reply.text("a")], text=str), ValueError, "at most one"),
        (lambda: FakeResponsesAPI(turns=["a"]), TypeError, "turns"),  # type: ignore[list-item]
        (lambda: FakeResponsesAPI(turns=Reply.text("a")), TypeError, "turns"),  # type: ignore[arg-type]
        (lambda: FakeResponsesAPI(responder=3), TypeError, "responder"),  # type: ignore[arg-type]
    ],
)
def test_validation(build: object, exc: type[Exception], words: str) -> None:
    with pytest.raises(exc, match=words):
        build()  # type: ignore[operator]


# -- agent loops --------------------------------------------------------------------------------


def test_turns_drive_a_whole_agent_loop() -> None:
    fake = FakeResponsesAPI(turns=AGENT_TURNS)
    with fake.client(max_retries=0) as client:
        assert run_agent(client, "Weather in Paris?") == "It is sunny in Paris."
    assert fake.turns_left == 0
    first, second = (r.json for r in fake.requests)
    assert first["tools"] == TOOLS
    (call,) = [i for i in second["input"] if i.get("type") == "function_call"]
    outputs = [i for i in second["input"] if i.get("type") == "function_call_output"]
    assert outputs == [
        {"type": "function_call_output", "call_id": call["call_id"], "output": "sunny in Paris"}
    ]
    assert call["call_id"].startswith("call_")


def test_turns_echo_tools_and_report_usage(client: openai.OpenAI) -> None:
    fake = FakeResponsesAPI(turns=AGENT_TURNS)
    with fake.client(max_retries=0) as agent:
        response = agent.responses.create(
            model=MODEL, input="q", tools=TOOLS, tool_choice="required", parallel_tool_calls=False
        )
    reasoning, call = response.output
    assert isinstance(reasoning, ResponseReasoningItem)
    assert [s.text for s in reasoning.summary] == ["The user wants the weather."]
    assert reasoning.encrypted_content is None  # only with include=[...]
    assert isinstance(call, ResponseFunctionToolCall)
    assert (call.name, json.loads(call.arguments), call.status) == (
        "get_weather",
        {"city": "Paris"},
        "completed",
    )
    tool = response.tools[0]
    assert tool.type == "function"
    assert (tool.name, tool.strict, tool.description) == (
        "get_weather",
        True,
        "The weather in a city.",
    )
    assert (response.tool_choice, response.parallel_tool_calls) == ("required", False)
    assert response.output_text == ""
    usage = response.usage
    assert usage is not None
    assert usage.output_tokens_details.reasoning_tokens == 5
    assert usage.output_tokens == 5 + 5  # reasoning words + argument tokens
    # Without turns the tools are echoed too (the default answer stays one message).
    plain = client.responses.create(model=MODEL, input="q", tools=TOOLS)
    assert plain.tools[0].name == "get_weather"  # type: ignore[union-attr]


def test_a_responder_answers_each_request_from_its_body() -> None:
    seen: list[dict[str, Any]] = []

    def responder(body: dict[str, Any]) -> Reply:
        seen.append(body)
        outputs = [
            item["output"]
            for item in body["input"]
            if isinstance(item, dict) and item.get("type") == "function_call_output"
        ]
        if outputs:
            return Reply.text(f"The tool said: {outputs[-1]}")
        city = body["input"][0]["content"].split()[-1].rstrip("?")
        return Reply.function_call("get_weather", {"city": city})

    fake = FakeResponsesAPI(responder=responder)
    with fake.client(max_retries=0) as client:
        assert run_agent(client, "Weather in Lyon?") == "The tool said: sunny in Lyon"
    assert len(seen) == 2
    seen[0]["input"].clear()  # the responder got a copy: the fake's log is untouched
    assert fake.requests[0].json["input"]


def test_a_responder_may_return_a_str_and_must_return_a_reply() -> None:
    fake = FakeResponsesAPI(responder=lambda body: "plain " + str(body["input"]))
    with fake.client(max_retries=0) as client:
        assert client.responses.create(model=MODEL, input="x").output_text == "plain x"
    broken = FakeResponsesAPI(responder=lambda body: 3)  # type: ignore[arg-type,return-value]
    # In-process the responder's error reaches the caller as it is (the SDK does not wrap it).
    with broken.client(max_retries=0) as client, pytest.raises(TypeError, match="Reply or a str"):
        client.responses.create(model=MODEL, input="x")


def test_retries_and_restarts_get_the_same_turn() -> None:
    """A retry re-sends the same body: it must see the answer it would have seen."""
    fake = FakeResponsesAPI(turns=AGENT_TURNS)
    fake.plan([Fault.status(500), None, Fault.reset(after_events=6)])
    with fake.client(max_retries=1) as client:
        response = client.responses.create(model=MODEL, input="q", tools=TOOLS)
        assert response.output[1].type == "function_call"
        with pytest.raises(openai.APIConnectionError):
            list(client.responses.create(model=MODEL, input="q", tools=TOOLS, stream=True))
        events = list(client.responses.create(model=MODEL, input="q", tools=TOOLS, stream=True))
    assert events[-1].response.output[1].type == "function_call"  # type: ignore[union-attr]
    assert fake.turns_left == 1


def test_turns_run_out_with_a_clear_400() -> None:
    fake = FakeResponsesAPI(turns=[Reply.text("only one")])
    with fake.client(max_retries=0) as client:
        assert client.responses.create(model=MODEL, input="a").output_text == "only one"
        with pytest.raises(openai.BadRequestError, match="no scripted turn left"):
            client.responses.create(model=MODEL, input="b")
        assert client.responses.create(model=MODEL, input="a").output_text == "only one"


def test_invalid_tools_are_a_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model=MODEL, input="x", tools=[{"type": "function"}])  # type: ignore[list-item]
    assert info.value.param == "tools[0].name"


# -- streams ------------------------------------------------------------------------------------


def _types(events: list[ResponseStreamEvent]) -> list[str]:
    return [e.type for e in events]


def test_function_call_stream_events() -> None:
    fake = FakeResponsesAPI(turns=[Reply.function_call("get_weather", {"city": "New York"})])
    with fake.client(max_retries=0) as client:
        events = list(client.responses.create(model=MODEL, input="q", tools=TOOLS, stream=True))
    assert _types(events) == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        *["response.function_call_arguments.delta"] * 7,
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    added = events[2]
    assert added.type == "response.output_item.added"
    assert added.item.type == "function_call"
    assert (added.item.status, added.item.arguments) == ("in_progress", "")
    deltas = [e for e in events if isinstance(e, ResponseFunctionCallArgumentsDeltaEvent)]
    assert "".join(d.delta for d in deltas) == '{"city":"New York"}'
    assert {(d.item_id, d.output_index) for d in deltas} == {(added.item.id, 0)}
    done = events[-3]
    assert done.type == "response.function_call_arguments.done"
    assert done.arguments == '{"city":"New York"}'
    assert done.model_extra == {"name": "get_weather"}  # in the API's spec, not yet the SDK's


def test_several_items_stream_in_order_and_the_helper_assembles_them() -> None:
    reply = Reply.of(
        Reply.reasoning(["first", "second part"], text="raw"),
        Reply.function_call("a", {"n": 1}),
        Reply.function_call("b", {"n": 2}),
        Reply.text("done now"),
    )
    fake = FakeResponsesAPI(turns=[reply], chunk_words=2)
    with fake.client(max_retries=0) as client:
        events = list(client.responses.create(model=MODEL, input="q", stream=True))
        with client.responses.stream(model=MODEL, input="q") as helper:
            streamed = list(helper)
            final = helper.get_final_response()
    assert [e.sequence_number for e in streamed] == list(range(len(events)))
    added = [e for e in events if e.type == "response.output_item.added"]
    assert [(e.output_index, e.item.type) for e in added] == [  # type: ignore[union-attr]
        (0, "reasoning"),
        (1, "function_call"),
        (2, "function_call"),
        (3, "message"),
    ]
    assert [o.type for o in final.output] == [
        "reasoning",
        "function_call",
        "function_call",
        "message",
    ]
    assert final.output_text == "done now"
    calls = [o for o in final.output if isinstance(o, ResponseFunctionToolCall)]
    assert calls[0].call_id != calls[1].call_id
    assert calls[0].id != calls[1].id
    summary = [e for e in events if e.type == "response.reasoning_summary_text.done"]
    assert [(e.summary_index, e.text) for e in summary] == [(0, "first"), (1, "second part")]  # type: ignore[union-attr]
    assert "response.reasoning_text.delta" in _types(events)


def test_encrypted_reasoning_when_included() -> None:
    fake = FakeResponsesAPI(turns=[Reply.reasoning()])
    with fake.client(max_retries=0) as client:
        response = client.responses.create(
            model=MODEL, input="q", include=["reasoning.encrypted_content"]
        )
        events = list(
            client.responses.create(
                model=MODEL, input="q", include=["reasoning.encrypted_content"], stream=True
            )
        )
    (item,) = response.output
    assert isinstance(item, ResponseReasoningItem)
    assert item.summary == []
    assert item.encrypted_content
    assert _types(events)[2:4] == ["response.output_item.added", "response.output_item.done"]


# -- faults at any point of an agent turn -------------------------------------------------------

MULTI = Reply.of(
    Reply.reasoning("think", text="raw thought"),
    Reply.function_call("get_weather", {"city": "Paris"}),
    Reply.text("It is sunny."),
)


def _background_events(client: openai.OpenAI) -> list[ResponseStreamEvent]:
    return list(client.responses.create(model=MODEL, input="q", stream=True, background=True))


def test_multi_item_stream_length() -> None:
    fake = FakeResponsesAPI(turns=[MULTI])
    with fake.client(max_retries=0) as client:
        assert len(_background_events(client)) == 31


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    cut=st.integers(min_value=0, max_value=30),
    kind=st.sampled_from(["reset", "truncate", "malformed", "gap", "stall"]),
)
def test_a_background_agent_turn_resumes_exactly_after_any_fault(cut: int, kind: str) -> None:
    fake = FakeResponsesAPI(turns=[MULTI])
    fault = {
        "reset": Fault.reset(after_events=cut),
        "truncate": Fault.truncate(after_events=cut),
        "malformed": Fault.malformed(after_events=cut),
        "gap": Fault.gap(after_events=cut) + Fault.truncate(after_events=cut),
        "stall": Fault.stall(after_events=cut, seconds=60),
    }[kind]
    fake.plan([fault])
    seen: list[ResponseStreamEvent] = []
    with fake.client(max_retries=0, timeout=5) as client:
        with contextlib.suppress(openai.APIError, json.JSONDecodeError):
            seen.extend(
                client.responses.create(model=MODEL, input="q", stream=True, background=True)
            )
        assert [e.sequence_number for e in seen] == list(range(cut))
        response_id = fake.requests[0].response_id
        assert response_id is not None
        rest = client.responses.retrieve(
            response_id, stream=True, starting_after=cut - 1 if cut else -1
        )
        seen.extend(rest)
    assert [e.sequence_number for e in seen] == list(range(31))
    assert seen[-1].type == "response.completed"
    assert fake.open_streams == 0


@pytest.mark.parametrize("cut", [5, 16, 24])  # in the reasoning, the arguments, the text
def test_error_event_and_failed_inside_an_agent_turn(cut: int) -> None:
    fake = FakeResponsesAPI(turns=[MULTI])
    fake.plan([Fault.error_event(after_events=cut), Fault.failed(after_events=cut)])
    with fake.client(max_retries=0) as client:
        errored = list(client.responses.create(model=MODEL, input="q", stream=True))
        failed = list(client.responses.create(model=MODEL, input="q", stream=True))
    assert errored[-1].type == "error"
    assert failed[-1].type == "response.failed"
    assert [e.sequence_number for e in failed] == list(range(cut + 1))
    usage = failed[-1].response.usage  # type: ignore[union-attr]
    assert usage is not None
    deltas = [e for e in failed if e.type.endswith(".delta")]
    assert usage.output_tokens == len(deltas)  # billed for what was generated


def test_plain_agent_turn_faults() -> None:
    fake = FakeResponsesAPI(turns=[MULTI])
    fake.plan([Fault.truncate(after_events=3), Fault.failed(), Fault.reset()])
    with fake.client(max_retries=0) as client:
        with pytest.raises(json.JSONDecodeError):
            client.responses.create(model=MODEL, input="q")
        failed = client.responses.create(model=MODEL, input="q")
        assert failed.status == "failed"
        with pytest.raises(openai.APIConnectionError):
            client.responses.create(model=MODEL, input="q")
        assert client.responses.create(model=MODEL, input="q").output_text == "It is sunny."


async def _acollect(
    stream: openai.AsyncStream[ResponseStreamEvent], into: list[ResponseStreamEvent]
) -> None:
    # A loop, not extend(comprehension): events seen before a fault must survive it.
    async for event in stream:
        into.append(event)  # noqa: PERF401


async def test_async_agent_turn_with_a_fault_in_the_arguments() -> None:
    fake = FakeResponsesAPI(turns=[MULTI])
    fake.plan([Fault.reset(after_events=16)])
    seen: list[ResponseStreamEvent] = []
    async with fake.async_client(max_retries=0) as client:
        stream = await client.responses.create(model=MODEL, input="q", stream=True, background=True)
        with pytest.raises(openai.APIConnectionError):
            await _acollect(stream, seen)
        assert seen[-1].type == "response.function_call_arguments.delta"
        rest = await client.responses.retrieve(
            fake.requests[0].response_id or "", stream=True, starting_after=15
        )
        await _acollect(rest, seen)
    assert [e.sequence_number for e in seen] == list(range(31))


# -- over HTTP ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def served_agent() -> Iterator[tuple[FakeResponsesAPI, str]]:
    fake = FakeResponsesAPI(
        responder=lambda body: (
            Reply.text("It is sunny in Paris.")
            if any(
                isinstance(i, dict) and i.get("type") == "function_call_output"
                for i in body["input"]
            )
            else Reply.reasoning("weather?") + Reply.function_call("get_weather", {"city": "Paris"})
        )
    )
    with fake.serve() as base_url:
        yield fake, base_url


def test_http_agent_loop_with_a_reset_in_the_arguments(
    served_agent: tuple[FakeResponsesAPI, str],
) -> None:
    fake, base_url = served_agent
    fake.plan([Fault.reset(after_events=11)])
    with openai.OpenAI(api_key="sk-fake", base_url=base_url, max_retries=0) as client:
        seen: list[ResponseStreamEvent] = []
        with pytest.raises(openai.APIConnectionError):
            seen.extend(
                client.responses.create(
                    model=MODEL,
                    input=[{"role": "user", "content": "Weather?"}],
                    tools=TOOLS,
                    stream=True,
                    background=True,
                )
            )
        assert seen[-1].type == "response.function_call_arguments.delta"
        response_id = seen[0].response.id  # type: ignore[union-attr]
        seen.extend(client.responses.retrieve(response_id, stream=True, starting_after=10))
        final = seen[-1].response  # type: ignore[union-attr]
        assert [e.sequence_number for e in seen] == list(range(len(seen)))
        assert run_agent(client, "Weather?") == "It is sunny in Paris."
    assert [o.type for o in final.output] == ["reasoning", "function_call"]
    fake.reset_plan()


async def test_http_async_agent_turn(served_agent: tuple[FakeResponsesAPI, str]) -> None:
    fake, base_url = served_agent
    fake.plan([Fault.malformed(after_events=6)])
    async with openai.AsyncOpenAI(api_key="sk-fake", base_url=base_url, max_retries=0) as client:
        stream = await client.responses.create(
            model=MODEL, input=[{"role": "user", "content": "Weather?"}], stream=True
        )
        with pytest.raises(json.JSONDecodeError):
            async for _ in stream:
                pass
        response = await client.responses.create(
            model=MODEL, input=[{"role": "user", "content": "Weather?"}]
        )
    assert response.output[-1].type == "function_call"
    fake.reset_plan()
