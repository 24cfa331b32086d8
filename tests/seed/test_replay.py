"""replay_events: a completed response as the SDK's stream events, for cached streams."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from hypothesis import given
from hypothesis import strategies as st
from openai.lib.streaming.responses import ResponseStreamState
from openai.types.responses import ResponseStreamEvent

from resilient_responses._cache import replay_events
from resilient_responses.testing import FakeResponsesAPI

from ._support import function_call, make_response, message, reasoning, text_part

TEXT = "The answer is four, as two plus two makes four."


def types(events: list[Any]) -> list[str]:
    return [e.type for e in events]


def test_text_response_replays_the_real_event_order() -> None:
    response = make_response(message(text_part(TEXT)))
    events = replay_events(response)
    assert types(events)[:5] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
    ]
    assert types(events)[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert 1 < len(deltas) < len(TEXT.split())  # a few words per delta
    assert "".join(deltas) == TEXT == response.output_text
    assert [e.sequence_number for e in events] == list(range(len(events)))
    created = events[0]
    assert created.response.status == "in_progress"  # type: ignore[union-attr]
    assert created.response.output == []  # type: ignore[union-attr]
    assert created.response.usage is None  # type: ignore[union-attr]
    assert events[-1].response == response  # type: ignore[union-attr]
    assert events[2].item.status == "in_progress"  # type: ignore[union-attr]


def test_every_event_is_the_sdk_model_of_its_type() -> None:
    """Validated as the SDK's own classes (what a stream of the SDK yields)."""
    from pydantic import TypeAdapter

    adapter: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)
    response = make_response(
        reasoning("Two plus two.", "It is four."),
        message(text_part(TEXT), {"type": "refusal", "refusal": "I won't say five."}),
        function_call("add", '{"a": 2, "b": 2}'),
    )
    for event in replay_events(response):
        again = adapter.validate_python(event.model_dump(mode="json", by_alias=True))
        assert type(again) is type(event)
        assert again == event


def test_function_call_reasoning_refusal_and_other_items() -> None:
    arguments = '{"city": "Paris", "unit": "celsius", "days": 3, "hourly": false}'
    web_search = {
        "id": "ws_1",
        "type": "web_search_call",
        "status": "completed",
        "action": {"type": "search", "query": "weather paris"},
    }
    response = make_response(
        reasoning("First think.", "Then call.", item_id="rs_9"),
        web_search,
        function_call("get_weather", arguments, call_id="call_7", item_id="fc_7"),
        message({"type": "refusal", "refusal": "Not that one."}, item_id="msg_9"),
    )
    events = replay_events(response)
    by_type: dict[str, list[Any]] = {}
    for event in events:
        by_type.setdefault(event.type, []).append(event)
    summaries = "".join(e.delta for e in by_type["response.reasoning_summary_text.delta"])
    assert summaries == "First think.Then call."
    assert [e.text for e in by_type["response.reasoning_summary_text.done"]] == [
        "First think.",
        "Then call.",
    ]
    args = "".join(e.delta for e in by_type["response.function_call_arguments.delta"])
    assert args == arguments
    (done,) = by_type["response.function_call_arguments.done"]
    assert (done.arguments, done.item_id, done.output_index) == (arguments, "fc_7", 2)
    assert "".join(e.delta for e in by_type["response.refusal.delta"]) == "Not that one."
    assert [e.item.type for e in by_type["response.output_item.done"]] == [
        "reasoning",
        "web_search_call",
        "function_call",
        "message",
    ]
    assert [e.output_index for e in by_type["response.output_item.added"]] == [0, 1, 2, 3]
    assert events[-1].response == response  # type: ignore[union-attr]


def test_the_sdk_stream_helper_state_accepts_the_replay() -> None:
    """`responses.stream()`'s own accumulator rebuilds the same response from it."""
    response = make_response(
        reasoning("Think."),
        message(text_part(TEXT)),
        function_call("add", '{"a": 2}'),
    )
    state: ResponseStreamState[object] = ResponseStreamState(
        input_tools=openai.omit, text_format=openai.omit
    )
    seen = [e for event in replay_events(response) for e in state.handle_event(event)]
    final = seen[-1]
    assert final.type == "response.completed"
    assert final.response.output_text == response.output_text  # type: ignore[union-attr]
    snapshot_deltas = [e for e in seen if e.type == "response.output_text.delta"]
    assert snapshot_deltas[-1].snapshot == TEXT  # type: ignore[union-attr]


def test_replay_of_a_fake_response_matches_the_fakes_own_stream_text() -> None:
    fake = FakeResponsesAPI(output_words=40)
    with fake.client(max_retries=0) as client:
        streamed = list(client.responses.create(model="gpt-5-mini", input="hi", stream=True))
        response = client.responses.create(model="gpt-5-mini", input="hi")
    replayed = replay_events(response)
    text = "".join(getattr(e, "delta", "") for e in replayed if e.type.endswith("text.delta"))
    assert text == "".join(
        getattr(e, "delta", "") for e in streamed if e.type.endswith("text.delta")
    )
    # Same event vocabulary as the fake's real stream (the fake mirrors the API's order).
    assert [t for t in types(replayed) if "delta" not in t] == [
        t for t in types(streamed) if "delta" not in t
    ]


def test_every_call_builds_fresh_events() -> None:
    response = make_response(message(text_part(TEXT)))
    first, second = replay_events(response), replay_events(response)
    assert first == second
    assert all(a is not b for a, b in zip(first, second, strict=True))
    first[-1].response.output[0].content[0].text = "tampered"  # type: ignore[union-attr]
    assert second[-1].response.output_text == TEXT  # type: ignore[union-attr]
    assert response.output_text == TEXT


def test_only_completed_responses_replay() -> None:
    with pytest.raises(ValueError, match="incomplete"):
        replay_events(make_response(status="incomplete", incomplete_reason="max_output_tokens"))
    with pytest.raises(TypeError):
        replay_events({"status": "completed"})  # type: ignore[arg-type]


def test_empty_text_replays_without_deltas() -> None:
    events = replay_events(make_response(message(text_part(""))))
    assert "response.output_text.delta" not in types(events)
    assert events[-1].response.output_text == ""  # type: ignore[union-attr]


# -- property -------------------------------------------------------------------------

texts = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=60)


@st.composite
def outputs(draw: st.DrawFn) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for n in range(draw(st.integers(0, 5))):
        kind = draw(st.sampled_from(["message", "function_call", "reasoning"]))
        if kind == "message":
            parts = draw(
                st.lists(
                    texts.map(text_part) | texts.map(lambda r: {"type": "refusal", "refusal": r}),
                    min_size=1,
                    max_size=3,
                )
            )
            items.append(message(*parts, item_id=f"msg_{n}"))
        elif kind == "function_call":
            items.append(function_call("f", draw(texts), call_id=f"call_{n}", item_id=f"fc_{n}"))
        else:
            items.append(reasoning(*draw(st.lists(texts, max_size=2)), item_id=f"rs_{n}"))
    return items


@given(outputs())
def test_replayed_deltas_concatenate_and_the_last_event_is_the_stored_response(
    output: list[dict[str, Any]],
) -> None:
    response = make_response(*output)
    events = replay_events(response)
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert events[0].type == "response.created"
    assert events[-1].type == "response.completed"
    assert events[-1].response == response  # type: ignore[union-attr]
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")  # type: ignore[union-attr]
    assert text == response.output_text
    arguments: dict[int, str] = {}
    for event in events:
        if event.type == "response.function_call_arguments.delta":
            arguments[event.output_index] = arguments.get(event.output_index, "") + event.delta
    for index, item in enumerate(response.output):
        if item.type == "function_call":
            assert arguments.get(index, "") == item.arguments
    added = [e.output_index for e in events if e.type == "response.output_item.added"]  # type: ignore[union-attr]
    done = [e.output_index for e in events if e.type == "response.output_item.done"]  # type: ignore[union-attr]
    assert added == done == list(range(len(response.output)))
