"""The Chat Completions adapter's pure translation: arguments -> Responses request,
Response -> ChatCompletion, stream events -> chunks (no I/O)."""

from __future__ import annotations

import doctest
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

import resilient_responses._chat as chat_module
from resilient_responses._cache import replay_events
from resilient_responses._chat_request import chat_request
from resilient_responses._chat_result import ChunkTranslator, chat_completion
from resilient_responses.exceptions import StreamInterruptedError

from ._support import function_call, make_response, message, reasoning, text_part, usage

MODEL = "gpt-5-mini"
USER = {"role": "user", "content": "hi"}

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def body(**params: Any) -> dict[str, Any]:
    params.setdefault("model", MODEL)
    params.setdefault("messages", [USER])
    return chat_request(params).body


def test_doctests_of_the_module_pass() -> None:
    assert doctest.testmod(chat_module).failed == 0


# -- messages -------------------------------------------------------------------------


def test_system_and_developer_stay_input_messages_in_place() -> None:
    """Decision: no folding into `instructions`; order and roles survive as sent."""
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Q1"},
        {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
        {"role": "user", "content": "Q2"},
    ]
    sent = body(messages=messages)
    assert "instructions" not in sent
    assert sent["input"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Q1"},
        {"role": "developer", "content": [{"type": "input_text", "text": "Answer in French."}]},
        {"role": "user", "content": "Q2"},
    ]


def test_user_content_parts_map_to_input_parts() -> None:
    content = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA", "detail": "low"}},
        {"type": "file", "file": {"file_id": "file_1"}},
    ]
    assert body(messages=[{"role": "user", "content": content}])["input"] == [
        {
            "role": "user",
            "content": [
                {"type": "input_text", "text": "What is this?"},
                {"type": "input_image", "image_url": "https://example.com/a.png", "detail": "auto"},
                {"type": "input_image", "image_url": "data:image/png;base64,AA", "detail": "low"},
                {"type": "input_file", "file_id": "file_1"},
            ],
        }
    ]


def test_assistant_tool_calls_and_tool_results_become_function_items() -> None:
    messages = [
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {
            "role": "assistant",
            "content": "Let me check.",
            "tool_calls": [
                {
                    "id": "call_a",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                },
                {
                    "id": "call_b",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_a", "content": "sunny"},
        {"role": "tool", "tool_call_id": "call_b", "content": [{"type": "text", "text": "rain"}]},
    ]
    assert body(messages=messages)["input"][1:] == [
        {"role": "assistant", "content": "Let me check."},
        {
            "type": "function_call",
            "call_id": "call_a",
            "name": "get_weather",
            "arguments": '{"city":"Paris"}',
        },
        {
            "type": "function_call",
            "call_id": "call_b",
            "name": "get_weather",
            "arguments": '{"city":"Rome"}',
        },
        {"type": "function_call_output", "call_id": "call_a", "output": "sunny"},
        {"type": "function_call_output", "call_id": "call_b", "output": "rain"},
    ]


def test_assistant_text_parts_are_joined_and_refusal_is_its_text() -> None:
    messages = [
        USER,
        {
            "role": "assistant",
            "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
        },
        USER,
        {"role": "assistant", "content": None, "refusal": "I can't help with that."},
        USER,
    ]
    sent = body(messages=messages)["input"]
    assert sent[1] == {"role": "assistant", "content": "ab"}
    assert sent[3] == {"role": "assistant", "content": "I can't help with that."}


@pytest.mark.parametrize(
    ("messages", "fragment"),
    [
        ([], "at least one message"),
        ("hello", "messages must be a list"),
        ([{"role": "robot", "content": "x"}], "messages[0].role"),
        ([{"role": "function", "name": "f", "content": "x"}], "legacy 'function'"),
        ([{"role": "user", "content": "x", "name": "ann"}], "messages[0].name"),
        ([{"role": "user", "content": "x", "colour": "red"}], "unknown fields: ['colour']"),
        ([{"role": "user"}], "messages[0].content is required"),
        (
            [{"role": "user", "content": [{"type": "input_audio"}]}],
            "'input_audio' is not supported",
        ),
        ([{"role": "system", "content": [{"type": "image_url"}]}], "not supported in a system"),
        ([{"role": "assistant", "content": None}], "needs content, refusal or tool_calls"),
        ([USER, {"role": "tool", "tool_call_id": "nope", "content": "x"}], "answers no earlier"),
        ([{"role": "tool", "content": "x"}], "tool_call_id must be a non-empty string"),
        (
            [
                {
                    "role": "assistant",
                    "tool_calls": [{"id": "c", "type": "custom", "custom": {}}],
                }
            ],
            "messages[0].tool_calls[0].type 'custom'",
        ),
        ([{"role": "assistant", "content": "x", "audio": {"id": "a"}}], "messages[0].audio"),
        ([{"role": "user", "content": [{"type": "text"}]}], "content[0].text must be"),
        ([{"role": "user", "content": [{"type": "file", "file": {}}]}], "file_id or file_data"),
    ],
)
def test_malformed_messages_raise_value_error_naming_the_message(
    messages: Any, fragment: str
) -> None:
    with pytest.raises(ValueError) as info:
        chat_request({"model": MODEL, "messages": messages})
    assert fragment in str(info.value)


# -- parameters -----------------------------------------------------------------------


def test_common_parameters_are_translated() -> None:
    sent = body(
        max_tokens=100,
        temperature=0.2,
        top_p=0.9,
        tools=[WEATHER_TOOL],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        parallel_tool_calls=False,
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "answer", "schema": {"type": "object"}, "strict": True},
        },
        verbosity="low",
        reasoning_effort="minimal",
        user="user-1",
        metadata={"team": "a"},
        store=True,
        service_tier="flex",
        extra_headers={"x-test": "1"},
        timeout=5.0,
    )
    assert sent == {
        "model": MODEL,
        "input": [USER],
        "max_output_tokens": 100,
        "temperature": 0.2,
        "top_p": 0.9,
        "tools": [
            {
                "type": "function",
                "name": "get_weather",
                "description": "Weather for a city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                "strict": False,
            }
        ],
        "tool_choice": {"type": "function", "name": "get_weather"},
        "parallel_tool_calls": False,
        "text": {
            "format": {
                "type": "json_schema",
                "name": "answer",
                "schema": {"type": "object"},
                "strict": True,
            },
            "verbosity": "low",
        },
        "reasoning": {"effort": "minimal"},
        "user": "user-1",
        "metadata": {"team": "a"},
        "store": True,
        "service_tier": "flex",
        "extra_headers": {"x-test": "1"},
        "timeout": 5.0,
    }


def test_store_defaults_to_false_like_chat_completions() -> None:
    """Chat Completions retains nothing unless asked; the Responses API would by default."""
    assert body()["store"] is False
    assert body(store=None)["store"] is False
    assert body(store=True)["store"] is True


def test_tool_without_parameters_and_strict_gets_explicit_chat_semantics() -> None:
    tool = {"type": "function", "function": {"name": "now"}}
    assert body(tools=[tool])["tools"] == [
        {
            "type": "function",
            "name": "now",
            "parameters": {"type": "object", "properties": {}},
            "strict": False,
        }
    ]
    strict = {"type": "function", "function": {"name": "now", "strict": True, "parameters": {}}}
    assert body(tools=[strict])["tools"][0]["strict"] is True


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", "auto"),
        ("none", "none"),
        ("required", "required"),
        (
            {
                "type": "allowed_tools",
                "allowed_tools": {
                    "mode": "required",
                    "tools": [{"type": "function", "function": {"name": "get_weather"}}],
                },
            },
            {
                "type": "allowed_tools",
                "mode": "required",
                "tools": [{"type": "function", "name": "get_weather"}],
            },
        ),
    ],
)
def test_tool_choice_forms(choice: Any, expected: Any) -> None:
    assert body(tools=[WEATHER_TOOL], tool_choice=choice)["tool_choice"] == expected


def test_json_object_and_text_formats() -> None:
    assert body(response_format={"type": "json_object"})["text"] == {
        "format": {"type": "json_object"}
    }
    assert body(response_format={"type": "text"})["text"] == {"format": {"type": "text"}}


def test_max_completion_tokens_wins_over_nothing_and_must_agree_with_max_tokens() -> None:
    assert body(max_completion_tokens=64)["max_output_tokens"] == 64
    assert body(max_completion_tokens=64, max_tokens=64)["max_output_tokens"] == 64
    with pytest.raises(ValueError, match="disagree"):
        body(max_completion_tokens=64, max_tokens=32)
    with pytest.raises(ValueError, match="max_tokens must be an int >= 1"):
        body(max_tokens=0)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("n", 2),
        ("logit_bias", {"50256": -100}),
        ("logprobs", True),
        ("top_logprobs", 3),
        ("presence_penalty", 0.5),
        ("frequency_penalty", -0.5),
        ("stop", ["\n"]),
        ("stop", "END"),
        ("seed", 7),
        ("functions", [{"name": "f"}]),
        ("function_call", "auto"),
        ("audio", {"voice": "alloy", "format": "mp3"}),
        ("modalities", ["text", "audio"]),
        ("prediction", {"type": "content", "content": "x"}),
        ("web_search_options", {}),
    ],
)
def test_parameters_without_a_responses_equivalent_raise_naming_them(name: str, value: Any) -> None:
    with pytest.raises(ValueError) as info:
        body(**{name: value})
    assert str(info.value).startswith(f"{name}")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("n", 1),
        ("n", None),
        ("logit_bias", None),
        ("logit_bias", {}),
        ("logprobs", False),
        ("presence_penalty", 0),
        ("frequency_penalty", 0.0),
        ("stop", None),
        ("stop", []),
        ("seed", None),
        ("modalities", ["text"]),
        ("seed", openai.omit),
    ],
)
def test_neutral_values_of_unsupported_parameters_are_accepted(name: str, value: Any) -> None:
    """Frameworks often send defaults explicitly; those change nothing and are dropped."""
    sent = body(**{name: value})
    assert name not in sent


def test_logprobs_true_is_not_mistaken_for_one() -> None:
    with pytest.raises(ValueError, match="logprobs"):
        body(logprobs=True)
    with pytest.raises(ValueError, match="n=True"):
        body(n=True)


def test_unknown_keyword_is_a_type_error_like_the_sdk() -> None:
    with pytest.raises(TypeError, match="'instructions'"):
        body(instructions="Be brief.")


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"stream_options": {"include_usage": True}}, "only allowed with stream=True"),
        ({"stream": True, "stream_options": {"bogus": 1}}, "unknown keys"),
        ({"tools": [{"type": "custom", "custom": {"name": "x"}}]}, "tools[0].type 'custom'"),
        ({"tools": {"type": "function"}}, "tools must be a list"),
        ({"tool_choice": {"type": "custom", "custom": {"name": "x"}}}, "tool_choice"),
        ({"response_format": {"type": "json_schema", "json_schema": {"name": "a"}}}, "schema"),
        ({"response_format": dict}, "responses.parse"),
        ({"model": ""}, "model must be a non-empty string"),
        ({"stream": "yes"}, "stream must be a bool"),
    ],
)
def test_malformed_parameters_raise_value_error(params: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValueError) as info:
        body(**params)
    assert fragment in str(info.value)


def test_stream_options_map_to_usage_chunk_and_obfuscation() -> None:
    request = chat_request(
        {
            "model": MODEL,
            "messages": [USER],
            "stream": True,
            "stream_options": {"include_usage": True, "include_obfuscation": False},
        }
    )
    assert request.stream
    assert request.include_usage
    assert request.body["stream_options"] == {"include_obfuscation": False}


# -- Response -> ChatCompletion -------------------------------------------------------


def test_completed_text_response_maps_to_chat_completion() -> None:
    response = make_response(
        message(text_part("Hello "), text_part("world")),
        usage_value=usage(40, 10, cached=32, reasoning=4),
    )
    completion = chat_completion(response)
    assert isinstance(completion, ChatCompletion)
    assert completion.id == response.id
    assert completion.object == "chat.completion"
    assert completion.created == 1_750_000_000
    choice = completion.choices[0]
    assert (choice.index, choice.finish_reason) == (0, "stop")
    assert choice.message.role == "assistant"
    assert choice.message.content == response.output_text == "Hello world"
    assert choice.message.tool_calls is None
    assert completion.usage is not None
    assert (
        completion.usage.prompt_tokens,
        completion.usage.completion_tokens,
        completion.usage.total_tokens,
    ) == (40, 10, 50)
    assert completion.usage.prompt_tokens_details is not None
    assert completion.usage.prompt_tokens_details.cached_tokens == 32
    assert completion.usage.completion_tokens_details is not None
    assert completion.usage.completion_tokens_details.reasoning_tokens == 4


def test_function_calls_map_to_tool_calls_with_finish_reason_tool_calls() -> None:
    response = make_response(
        reasoning("thinking about weather"),
        function_call("get_weather", '{"city":"Paris"}', call_id="call_a", item_id="fc_a"),
        function_call("get_weather", '{"city":"Rome"}', call_id="call_b", item_id="fc_b"),
    )
    completion = chat_completion(response)
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    calls = choice.message.tool_calls
    assert calls is not None
    assert [(c.id, c.type, c.function.name, c.function.arguments) for c in calls] == [  # type: ignore[union-attr]
        ("call_a", "function", "get_weather", '{"city":"Paris"}'),
        ("call_b", "function", "get_weather", '{"city":"Rome"}'),
    ]


@pytest.mark.parametrize(
    ("reason", "finish"),
    [("max_output_tokens", "length"), ("content_filter", "content_filter")],
)
def test_incomplete_response_maps_to_length_or_content_filter(reason: str, finish: str) -> None:
    response = make_response(
        message(text_part("partial"), status="incomplete"),
        status="incomplete",
        incomplete_reason=reason,
    )
    completion = chat_completion(response)
    assert completion.choices[0].finish_reason == finish
    assert completion.choices[0].message.content == "partial"


def test_refusal_and_url_citations_are_kept() -> None:
    citation = {
        "type": "url_citation",
        "url": "https://example.com",
        "title": "Example",
        "start_index": 0,
        "end_index": 4,
    }
    response = make_response(
        message(text_part("Intro. "), text_part("Cite", [citation])),
        message({"type": "refusal", "refusal": "No."}, item_id="msg_2"),
    )
    message_ = chat_completion(response).choices[0].message
    assert message_.refusal == "No."
    assert message_.annotations is not None
    (annotation,) = message_.annotations
    # Offsets are shifted into the joined content, so they still point at "Cite".
    start, end = annotation.url_citation.start_index, annotation.url_citation.end_index
    assert message_.content is not None
    assert message_.content[start:end] == "Cite"


def test_failed_response_raises_api_error_with_its_code() -> None:
    response = make_response(
        status="failed", error={"code": "server_error", "message": "The model crashed."}
    )
    with pytest.raises(openai.APIError) as info:
        chat_completion(response)
    assert info.value.code == "server_error"
    assert "crashed" in info.value.message


# -- stream events -> chunks ----------------------------------------------------------


def translate(response: Any, *, include_usage: bool = False) -> list[ChatCompletionChunk]:
    translator = ChunkTranslator(include_usage=include_usage)
    chunks: list[ChatCompletionChunk] = []
    for event in replay_events(response):
        chunks.extend(translator.feed(event))
    assert translator.done
    translator.end()
    return chunks


def test_text_stream_chunks_role_first_content_then_finish() -> None:
    response = make_response(message(text_part("one two three four five six")))
    chunks = translate(response)
    assert all(isinstance(c, ChatCompletionChunk) for c in chunks)
    assert {c.id for c in chunks} == {response.id}
    first, *middle, last = chunks
    assert first.choices[0].delta.role == "assistant"
    assert first.choices[0].delta.content == ""
    assert "".join(c.choices[0].delta.content or "" for c in middle) == response.output_text
    assert all(c.choices[0].finish_reason is None for c in [first, *middle])
    assert last.choices[0].finish_reason == "stop"
    assert all(c.usage is None for c in chunks)


def test_usage_chunk_closes_the_stream_with_include_usage() -> None:
    response = make_response(message(text_part("hi")), usage_value=usage(7, 3))
    chunks = translate(response, include_usage=True)
    *rest, usage_chunk = chunks
    assert usage_chunk.choices == []
    assert usage_chunk.usage is not None
    assert (usage_chunk.usage.prompt_tokens, usage_chunk.usage.completion_tokens) == (7, 3)
    assert all(c.usage is None for c in rest)
    assert rest[-1].choices[0].finish_reason == "stop"


def test_function_call_stream_gives_indexed_tool_call_deltas() -> None:
    arguments = '{"city": "Paris", "unit": "celsius", "days": 3}'
    response = make_response(
        message(text_part("Checking.")),
        function_call("get_weather", arguments, call_id="call_a", item_id="fc_a"),
        function_call("get_time", '{"tz": "CET"}', call_id="call_b", item_id="fc_b"),
    )
    chunks = translate(response)
    calls: dict[int, dict[str, str]] = {}
    for chunk in chunks:
        for delta in chunk.choices[0].delta.tool_calls or []:
            entry = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
            if delta.id:
                entry["id"] = delta.id
            if delta.function and delta.function.name:
                entry["name"] = delta.function.name
            if delta.function and delta.function.arguments:
                entry["arguments"] += delta.function.arguments
    assert calls == {
        0: {"id": "call_a", "name": "get_weather", "arguments": arguments},
        1: {"id": "call_b", "name": "get_time", "arguments": '{"tz": "CET"}'},
    }
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    # The streamed form agrees with the non-stream form of the same response.
    completion = chat_completion(response)
    assert [c.function.arguments for c in completion.choices[0].message.tool_calls or []] == [  # type: ignore[union-attr]
        arguments,
        '{"tz": "CET"}',
    ]


def test_failed_event_and_error_event_raise_api_error() -> None:
    from openai.types.responses import ResponseErrorEvent, ResponseFailedEvent

    translator = ChunkTranslator(include_usage=False)
    ok = make_response(message(text_part("x")))
    created = replay_events(ok)[0]
    assert translator.feed(created)
    failed = ResponseFailedEvent.model_validate(
        {
            "type": "response.failed",
            "sequence_number": 5,
            "response": make_response(
                status="failed", error={"code": "server_error", "message": "boom"}
            ).model_dump(mode="json"),
        }
    )
    with pytest.raises(openai.APIError, match="boom"):
        translator.feed(failed)

    translator = ChunkTranslator(include_usage=False)
    translator.feed(created)
    error = ResponseErrorEvent.model_validate(
        {
            "type": "error",
            "code": "rate_limit_exceeded",
            "message": "slow down",
            "param": None,
            "sequence_number": 3,
        }
    )
    with pytest.raises(openai.APIError) as info:
        translator.feed(error)
    assert info.value.code == "rate_limit_exceeded"


def test_stream_that_ends_without_terminal_event_raises() -> None:
    translator = ChunkTranslator(include_usage=False)
    for event in replay_events(make_response(message(text_part("x"))))[:-1]:
        translator.feed(event)
    with pytest.raises(StreamInterruptedError):
        translator.end()


def test_a_restarted_stream_keeps_one_role_chunk_and_the_first_id() -> None:
    """A restart (allowed only before output) sends a second response.created."""
    translator = ChunkTranslator(include_usage=False)
    first = replay_events(make_response(message(text_part("a")), response_id="resp_first"))
    second = replay_events(make_response(message(text_part("b c")), response_id="resp_second"))
    chunks = [c for e in [*first[:2], *second] for c in translator.feed(e)]
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.role) == 1
    assert {c.id for c in chunks} == {"resp_first"}
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "b c"
