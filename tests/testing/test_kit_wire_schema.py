"""Every event type and body the fake can emit, parsed with the SDK's own models, strictly.

``pydantic.TypeAdapter(ResponseStreamEvent).validate_python`` on the raw JSON (not the SDK's
lenient ``construct``) fails on a missing required field or a wrong type, so an event the
fake shapes differently from the API fails here, not in a user's test."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx2
import pydantic
import pytest
from openai.types.responses import Response
from openai.types.responses.response_stream_event import ResponseStreamEvent

from resilient_responses.testing import FakeResponsesAPI, Fault, Reply

MODEL = "gpt-5-mini"
EVENTS: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(ResponseStreamEvent)

#: Every event type the fake emits, and so every one this file must see.
ALL_EVENT_TYPES = {
    "response.created",
    "response.queued",
    "response.in_progress",
    "response.output_item.added",
    "response.content_part.added",
    "response.output_text.delta",
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.function_call_arguments.delta",
    "response.function_call_arguments.done",
    "response.reasoning_summary_part.added",
    "response.reasoning_summary_text.delta",
    "response.reasoning_summary_text.done",
    "response.reasoning_summary_part.done",
    "response.reasoning_text.delta",
    "response.reasoning_text.done",
    "response.completed",
    "response.failed",
    "error",
}

REPLIES = {
    "default": None,
    "text": Reply.text("Hello there, general."),
    "function_call": Reply.function_call("get_weather", {"city": "Paris"}),
    "reasoning": Reply.reasoning(["one", "two parts"], text="raw reasoning"),
    "bare_reasoning": Reply.reasoning(),
    "multi": Reply.of(
        Reply.reasoning("think"),
        Reply.function_call("a", {"x": [1, 2]}),
        Reply.function_call("b", "{}", call_id="call_b"),
        Reply.text("first"),
        Reply.text("second"),
    ),
}
TOOLS = [
    {"type": "function", "name": "get_weather", "parameters": {"type": "object"}},
    {"type": "web_search"},
]


def _fake(reply: Reply | None) -> FakeResponsesAPI:
    return FakeResponsesAPI() if reply is None else FakeResponsesAPI(responder=lambda _: reply)


def _sse(body: bytes) -> list[dict[str, Any]]:
    events = []
    for block in body.decode().split("\n\n"):
        if not block or block.startswith(":"):
            continue
        name, data = block.split("\n", 1)
        assert name.startswith("event: ")
        assert data.startswith("data: ")
        event = json.loads(data[len("data: ") :])
        assert name == f"event: {event['type']}"
        events.append(event)
    return events


def _bodies(reply: Reply | None) -> Iterator[tuple[str, bytes]]:
    """Raw bodies of every endpoint returning a response or events, faulted or not."""
    fake = _fake(reply)
    request: dict[str, Any] = {
        "model": MODEL,
        "input": [{"role": "user", "content": "q"}],
        "tools": TOOLS,
        "include": ["reasoning.encrypted_content"],
    }
    with httpx2.Client(transport=fake.transport, base_url="http://fake.openai.test/v1") as http:
        yield "plain", http.post("/responses", json=request).content
        yield "stream", http.post("/responses", json={**request, "stream": True}).content
        bg = {**request, "stream": True, "background": True}
        streamed = http.post("/responses", json=bg).content
        yield "background stream", streamed
        response_id = _sse(streamed)[0]["response"]["id"]
        yield "retrieve", http.get(f"/responses/{response_id}").content
        yield "replay", http.get(f"/responses/{response_id}?stream=true&starting_after=2").content
        yield "cancel", http.post(f"/responses/{response_id}/cancel").content
        for n in (0, 3, 6):
            fake.plan([Fault.failed(after_events=n, code="server_error")])
            yield f"failed@{n}", http.post("/responses", json={**request, "stream": True}).content
            fake.plan([Fault.error_event(after_events=n, code="rate_limit_exceeded")])
            yield f"error@{n}", http.post("/responses", json={**request, "stream": True}).content
        fake.plan([Fault.failed()])
        yield "plain failed", http.post("/responses", json=request).content
        fake.plan([Fault.failed(after_events=4)])
        failed_bg = http.post("/responses", json={**request, "background": True}).json()
        yield "background failed", http.get(f"/responses/{failed_bg['id']}").content
        yield (
            "background failed replay",
            http.get(f"/responses/{failed_bg['id']}?stream=true").content,
        )


def _validate(label: str, body: bytes) -> set[str]:
    """Validate one body strictly; the event types it holds."""
    try:
        if body.startswith(b"event: "):
            events = _sse(body)
            for event in events:
                EVENTS.validate_python(event)  # strict: raises on a missing or mistyped field
            return {e["type"] for e in events}
        Response.model_validate(json.loads(body))
    except pydantic.ValidationError as exc:
        raise AssertionError(f"{label}: {exc}") from exc
    return set()


@pytest.mark.parametrize("name", list(REPLIES))
def test_every_event_and_body_parses_with_the_sdk_models(name: str) -> None:
    seen: set[str] = set()
    for label, body in _bodies(REPLIES[name]):
        seen |= _validate(f"{name} / {label}", body)
    assert {"response.created", "response.completed", "response.failed", "error"} <= seen


def test_the_fake_emits_every_event_type_listed() -> None:
    seen: set[str] = set()
    for reply in REPLIES.values():
        for label, body in _bodies(reply):
            seen |= _validate(label, body)
    assert seen == ALL_EVENT_TYPES


def test_the_validation_really_fails_on_a_missing_required_field() -> None:
    """The check above would be worthless if the models accepted anything: remove each
    required field of each event type once, and the SDK's model must reject it."""
    samples: dict[str, dict[str, Any]] = {}
    for reply in REPLIES.values():
        for _, body in _bodies(reply):
            if body.startswith(b"event: "):
                for event in _sse(body):
                    samples.setdefault(event["type"], event)
    assert set(samples) == ALL_EVENT_TYPES
    checked = 0
    for event in samples.values():
        model = type(EVENTS.validate_python(event))
        required = [
            field.alias or name
            for name, field in model.model_fields.items()
            if field.is_required() and name != "type"
        ]
        assert required, model
        for name in required:
            broken = {k: v for k, v in event.items() if k != name}
            with pytest.raises(pydantic.ValidationError):
                EVENTS.validate_python(broken)
            checked += 1
    assert checked >= 60


def test_default_answer_is_unchanged_by_scripted_turns() -> None:
    """``responder=`` returning the default text gives the same bytes as no responder."""
    plain = FakeResponsesAPI()
    text = plain.client().responses.create(model=MODEL, input="hi").output_text
    scripted = FakeResponsesAPI(responder=lambda _: Reply.text(text))
    scripted.client().responses.create(model=MODEL, input="hi")  # same index, same ids
    request = {"model": MODEL, "input": "hi", "stream": True}
    with (
        httpx2.Client(transport=plain.transport) as a,
        httpx2.Client(transport=scripted.transport) as b,
    ):
        assert (
            a.post("http://x/v1/responses", json=request).content
            == b.post("http://x/v1/responses", json=request).content
        )


def test_in_process_and_http_send_the_same_bytes() -> None:
    """One decision layer, two players: the SSE bytes over a socket equal the in-process
    ones, for a multi-item reply disturbed by several faults at once."""
    plan = [
        Fault.duplicate(after_events=7)
        + Fault.keepalive(after_events=3, seconds=0.05, every=0.01)
        + Fault.truncate(after_events=20),
        Fault.renumber(after_events=9) + Fault.malformed(after_events=15),
    ]
    request = {"model": MODEL, "input": "q", "stream": True}
    local = _fake(REPLIES["multi"])
    local.plan(plan)
    with httpx2.Client(transport=local.transport) as http:
        expected = [http.post("http://x/v1/responses", json=request).content for _ in plan]
    remote = _fake(REPLIES["multi"])
    remote.plan(plan)
    with remote.serve() as base_url, httpx2.Client() as http:
        got = [http.post(f"{base_url}/responses", json=request).content for _ in plan]
    assert got == expected
    assert expected[0].count(b": keepalive\n\n") == 5
