"""EventRouter: dispatch by ``type`` over every SDK event type, sync and async."""

from __future__ import annotations

import typing
from collections.abc import AsyncIterator, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from openai._models import construct_type
from openai.types.responses import (
    ResponseCompletedEvent,
    ResponseStreamEvent,
    ResponseTextDeltaEvent,
)
from pydantic import TypeAdapter

from resilient_responses.instrumentation import KNOWN_EVENT_TYPES, EventRouter


def sdk_event_types_from_json_schema() -> set[str]:
    """The union's ``type`` values, read independently of the router (via pydantic's schema)."""
    schema = TypeAdapter(ResponseStreamEvent).json_schema()
    found: set[str] = set()
    for ref in schema["anyOf"]:
        prop = schema["$defs"][ref["$ref"].rsplit("/", 1)[1]]["properties"]["type"]
        found.update([prop["const"]] if "const" in prop else prop["enum"])
    return found


def union_members() -> list[type[Any]]:
    return list(typing.get_args(typing.get_args(ResponseStreamEvent)[0]))


def delta(text: str, seq: int = 0) -> ResponseTextDeltaEvent:
    return ResponseTextDeltaEvent.construct(
        type="response.output_text.delta", delta=text, sequence_number=seq
    )


def completed(seq: int = 99) -> ResponseCompletedEvent:
    return ResponseCompletedEvent.construct(type="response.completed", sequence_number=seq)


def test_known_event_types_contain_every_type_of_the_sdk_union() -> None:
    sdk_types = sdk_event_types_from_json_schema()
    missing = sdk_types - KNOWN_EVENT_TYPES
    assert not missing, f"the SDK has event types the router does not know: {sorted(missing)}"
    assert sdk_types == KNOWN_EVENT_TYPES
    assert len(KNOWN_EVENT_TYPES) == len(union_members()) == 59


def test_every_sdk_event_type_can_be_registered_and_is_dispatched() -> None:
    router = EventRouter()
    seen: list[str] = []
    router.on(*sorted(KNOWN_EVENT_TYPES))(lambda event: seen.append(event.type))
    events = []
    for seq, cls in enumerate(union_members()):
        (event_type,) = typing.get_args(cls.model_fields["type"].annotation)
        events.append(cls.construct(type=event_type, sequence_number=seq))
    summary = router.run(events)
    assert sorted(seen) == sorted(KNOWN_EVENT_TYPES)
    assert summary.total == 59
    assert summary.unhandled == 0
    assert set(summary.counts) == KNOWN_EVENT_TYPES


def test_one_registration_may_cover_several_types() -> None:
    router = EventRouter()
    seen: list[str] = []

    @router.on("response.output_text.delta", "response.completed")
    def handler(event: Any) -> None:
        seen.append(event.type)

    router.run([delta("a"), completed()])
    assert seen == ["response.output_text.delta", "response.completed"]


def test_a_misspelt_type_is_rejected_listing_close_matches() -> None:
    router = EventRouter()
    with pytest.raises(ValueError, match=r"response\.output_text\.delta") as info:
        router.on("response.output_text.delt")
    assert "did you mean" in str(info.value)
    assert "strict=False" in str(info.value)


def test_strict_false_registers_types_the_sdk_does_not_know() -> None:
    router = EventRouter()
    seen: list[Any] = []
    router.on("response.brand_new", strict=False)(seen.append)
    event = SimpleNamespace(type="response.brand_new", sequence_number=1)
    router.run([event])
    assert seen == [event]


def test_registration_needs_at_least_one_string_type() -> None:
    router = EventRouter()
    with pytest.raises(ValueError, match="at least one"):
        router.on()
    with pytest.raises(TypeError, match="strings"):
        router.on(42)  # type: ignore[arg-type]


def test_unknown_types_go_to_on_unknown_even_when_the_sdk_builds_another_class() -> None:
    # The SDK turns an unknown type into some known class that keeps the real type string.
    unknown = construct_type(
        type_=ResponseStreamEvent, value={"type": "response.brand_new", "sequence_number": 3}
    )
    assert type(unknown).__name__ != "ResponseBrandNewEvent"
    router = EventRouter()
    audio: list[Any] = []
    strange: list[Any] = []
    router.on("response.audio.delta")(audio.append)
    router.on_unknown(strange.append)
    summary = router.run([unknown, delta("x")])
    assert audio == []
    assert strange == [unknown]
    assert dict(summary.counts) == {"response.brand_new": 1, "response.output_text.delta": 1}
    assert summary.unhandled == 1


def test_handlers_run_typed_then_unknown_then_any_in_registration_order() -> None:
    router = EventRouter()
    calls: list[str] = []
    router.on_any(lambda e: calls.append(f"any:{e.type}"))
    router.on("response.output_text.delta")(lambda e: calls.append("typed1"))
    router.on("response.output_text.delta")(lambda e: calls.append("typed2"))
    router.on_unknown(lambda e: calls.append("unknown"))
    router.run([delta("x"), SimpleNamespace(type="x.y")])
    assert calls == ["typed1", "typed2", "any:response.output_text.delta", "unknown", "any:x.y"]


def test_events_without_a_type_are_unknown_and_counted_as_missing() -> None:
    router = EventRouter()
    strange: list[Any] = []
    router.on_unknown(strange.append)
    summary = router.run([object(), {"no": "type"}])
    assert len(strange) == 2
    assert dict(summary.counts) == {"<missing>": 2}


def test_dict_events_are_routed_by_their_type_key() -> None:
    router = EventRouter()
    seen: list[Any] = []
    router.on("response.completed")(seen.append)
    router.run([{"type": "response.completed", "sequence_number": 1}])
    assert seen == [{"type": "response.completed", "sequence_number": 1}]


def test_handler_exceptions_propagate_and_stop_the_run() -> None:
    router = EventRouter()
    consumed: list[int] = []

    def events() -> Iterator[Any]:
        for i in range(5):
            consumed.append(i)
            yield delta("x", i)

    @router.on("response.output_text.delta")
    def boom(event: Any) -> None:
        if event.sequence_number == 1:
            raise RuntimeError("handler failed")

    with pytest.raises(RuntimeError, match="handler failed"):
        router.run(events())
    assert consumed == [0, 1]


def test_run_with_an_async_handler_raises_type_error_before_consuming() -> None:
    router = EventRouter()
    consumed: list[int] = []

    def events() -> Iterator[Any]:
        consumed.append(0)
        yield delta("x")

    @router.on("response.completed")
    async def on_completed(event: Any) -> None:
        pass

    with pytest.raises(TypeError, match=r"async handlers \(.*on_completed\).*arun"):
        router.run(events())
    assert consumed == []


def test_run_rejects_a_sync_handler_that_returns_an_awaitable() -> None:
    router = EventRouter()

    async def later(event: Any) -> None:
        pass

    router.on("response.completed")(lambda e: later(e))
    with pytest.raises(TypeError, match="returned an awaitable"):
        router.run([completed()])


def test_run_rejects_an_async_iterable() -> None:
    async def events() -> AsyncIterator[Any]:
        yield delta("x")

    stream = events()
    with pytest.raises(TypeError, match="arun"):
        EventRouter().run(stream)  # type: ignore[arg-type]


async def test_arun_awaits_async_handlers_and_calls_sync_ones() -> None:
    router = EventRouter()
    text: list[str] = []
    done: list[int] = []

    @router.on("response.output_text.delta")
    async def on_delta(event: Any) -> None:
        text.append(event.delta)

    @router.on("response.completed")
    def on_completed(event: Any) -> None:
        done.append(event.sequence_number)

    async def events() -> AsyncIterator[Any]:
        yield delta("Hel", 0)
        yield delta("lo", 1)
        yield completed(2)

    summary = await router.arun(events())
    assert "".join(text) == "Hello"
    assert done == [2]
    assert summary.total == 3
    assert dict(summary.counts) == {"response.output_text.delta": 2, "response.completed": 1}


async def test_arun_accepts_a_sync_iterable() -> None:
    router = EventRouter()
    seen: list[Any] = []
    router.on("response.completed")(seen.append)
    await router.arun([completed()])
    assert len(seen) == 1


async def test_arun_propagates_async_handler_exceptions() -> None:
    router = EventRouter()

    @router.on_any
    async def boom(event: Any) -> None:
        raise KeyError("nope")

    with pytest.raises(KeyError, match="nope"):
        await router.arun([completed()])


async def test_async_callable_objects_are_detected_as_async() -> None:
    class Handler:
        def __init__(self) -> None:
            self.seen = 0

        async def __call__(self, event: Any) -> None:
            self.seen += 1

    handler = Handler()
    router = EventRouter()
    router.on("response.completed")(handler)
    with pytest.raises(TypeError, match="async handlers"):
        router.run([completed()])
    await router.arun([completed()])
    assert handler.seen == 1


def test_handlers_for_lists_what_an_event_type_would_reach() -> None:
    router = EventRouter()

    def typed(e: Any) -> None: ...
    def unknown(e: Any) -> None: ...
    def anything(e: Any) -> None: ...

    router.on("response.completed")(typed)
    router.on_unknown(unknown)
    router.on_any(anything)
    assert router.handlers_for("response.completed") == (typed, anything)
    assert router.handlers_for("response.brand_new") == (unknown, anything)
