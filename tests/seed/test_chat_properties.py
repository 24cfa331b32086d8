"""Properties of the Chat Completions adapter (Hypothesis): the message mapping keeps every
text and role in order, and a stream's chunks concatenate to the non-stream answer."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

import resilient_responses as rr
from resilient_responses._cache import replay_events
from resilient_responses._chat_request import messages_to_input
from resilient_responses._chat_result import ChunkTranslator, chat_completion
from resilient_responses.testing import FakeResponsesAPI

from ._support import function_call, make_response, message, text_part

texts = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40)
names = st.from_regex(r"[a-z_]{1,12}", fullmatch=True)


@st.composite
def contents(draw: st.DrawFn) -> str | list[dict[str, str]]:
    if draw(st.booleans()):
        return draw(texts)
    return [{"type": "text", "text": t} for t in draw(st.lists(texts, min_size=1, max_size=3))]


def joined(content: str | list[dict[str, str]]) -> str:
    return content if isinstance(content, str) else "".join(p["text"] for p in content)


@st.composite
def conversations(draw: st.DrawFn) -> list[dict[str, Any]]:
    """System/developer/user turns, assistant turns with and without tool calls, and a
    tool message for every tool call (after the call)."""
    messages: list[dict[str, Any]] = []
    for n in range(draw(st.integers(1, 8))):
        role = draw(st.sampled_from(["system", "developer", "user", "assistant"]))
        if role != "assistant":
            messages.append({"role": role, "content": draw(contents())})
            continue
        calls = [
            {
                "id": f"call_{n}_{k}",
                "type": "function",
                "function": {"name": draw(names), "arguments": draw(texts)},
            }
            for k in range(draw(st.integers(0, 2)))
        ]
        assistant: dict[str, Any] = {"role": "assistant"}
        assistant["content"] = draw(st.none() | contents()) if calls else draw(contents())
        if calls:
            assistant["tool_calls"] = calls
        messages.append(assistant)
        messages.extend(
            {"role": "tool", "tool_call_id": call["id"], "content": draw(contents())}
            for call in calls
        )
    return messages


def expected_turns(messages: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    """What must survive the mapping: each text with its role, each call, each result."""
    turns: list[tuple[str, ...]] = []
    for m in messages:
        if m["role"] == "tool":
            turns.append(("tool", m["tool_call_id"], joined(m["content"])))
        elif m["role"] == "assistant":
            calls = m.get("tool_calls", [])
            text = None if m["content"] is None else joined(m["content"])
            if text is not None and not (text == "" and calls):
                turns.append(("assistant", text))
            turns.extend(
                ("call", c["id"], c["function"]["name"], c["function"]["arguments"]) for c in calls
            )
        else:
            turns.append((m["role"], joined(m["content"])))
    return turns


def turns_of(items: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    """Read the Responses input back as (role, text) / call / result turns."""
    turns: list[tuple[str, ...]] = []
    for item in items:
        if item.get("type") == "function_call":
            turns.append(("call", item["call_id"], item["name"], item["arguments"]))
        elif item.get("type") == "function_call_output":
            turns.append(("tool", item["call_id"], item["output"]))
        else:
            content = item["content"]
            if not isinstance(content, str):
                assert {p["type"] for p in content} <= {"input_text"}
                content = "".join(p["text"] for p in content)
            turns.append((item["role"], content))
    return turns


@given(conversations())
def test_message_mapping_round_trips_every_text_and_role_in_order(
    messages: list[dict[str, Any]],
) -> None:
    assert turns_of(messages_to_input(messages)) == expected_turns(messages)


@given(text=texts, words=st.integers(1, 4))
def test_streamed_chunks_concatenate_to_the_non_stream_content(text: str, words: int) -> None:
    """Through the fake (its deltas cut the text in words) and the whole adapter."""
    fake = FakeResponsesAPI(text=lambda body: text, chunk_words=words)
    completions = rr.ChatCompletionsAdapter(fake.client())
    messages = [{"role": "user", "content": "hi"}]
    completion = completions.create(model="gpt-5-mini", messages=messages)
    chunks = list(completions.create(model="gpt-5-mini", messages=messages, stream=True))
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert streamed == completion.choices[0].message.content == text
    assert [c.choices[0].finish_reason for c in chunks][-1] == "stop"


@st.composite
def outputs(draw: st.DrawFn) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for n in range(draw(st.integers(0, 4))):
        if draw(st.booleans()):
            parts = [text_part(t) for t in draw(st.lists(texts, min_size=1, max_size=3))]
            items.append(message(*parts, item_id=f"msg_{n}"))
        else:
            items.append(
                function_call(draw(names), draw(texts), call_id=f"call_{n}", item_id=f"fc_{n}")
            )
    return items


@given(outputs(), st.booleans())
def test_stream_translation_agrees_with_the_non_stream_translation(
    output: list[dict[str, Any]], include_usage: bool
) -> None:
    """For any completed response: the chunks' text, tool calls and finish reason are the
    ChatCompletion's."""
    response = make_response(*output)
    completion = chat_completion(response)
    translator = ChunkTranslator(include_usage=include_usage)
    chunks = [c for event in replay_events(response) for c in translator.feed(event)]
    choices = [c.choices[0] for c in chunks if c.choices]
    text = "".join(c.delta.content or "" for c in choices)
    calls: dict[int, list[str]] = {}
    for choice in choices:
        for delta in choice.delta.tool_calls or []:
            entry = calls.setdefault(delta.index, ["", "", ""])
            entry[0] = delta.id or entry[0]
            if delta.function is not None:
                entry[1] = delta.function.name or entry[1]
                entry[2] += delta.function.arguments or ""
    message_ = completion.choices[0].message
    assert text == (message_.content or "")
    assert [tuple(calls[i]) for i in sorted(calls)] == [
        (c.id, c.function.name, c.function.arguments)  # type: ignore[union-attr]
        for c in message_.tool_calls or []
    ]
    assert choices[-1].finish_reason == completion.choices[0].finish_reason
    assert (chunks[-1].usage == completion.usage) if include_usage else chunks[-1].usage is None
