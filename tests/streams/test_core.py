"""``StreamCore.accept``'s fast path (the next text delta of a connection under way) is
the general path's result, event for event, whatever the wire sends: repeats, gaps, steps
back, missing or odd numbers, restarts and reconnections included. And what a resumed
connection sends before its first new event is skipped only when it is what the consumer
already has."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from openai.types.responses import ResponseTextDeltaEvent

from resilient_responses._contract import StreamCore

TYPES = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.output_text.delta",
    "response.output_text.delta",
    "response.output_text.delta",
    "response.output_text.done",
    "response.completed",
    "error",
]


@dataclass
class Event:
    type: str
    sequence_number: Any
    delta: Any = None
    response: Any = None


@dataclass
class Response:
    id: str
    background: bool


class Text(str):
    """A delta that is a str, not exactly one (events a caller built)."""


def _sdk_event(kind: str, number: Any, delta: Any) -> ResponseTextDeltaEvent:
    """The SDK's text-delta model, unvalidated as the SDK builds it (any type, number and
    delta: a mismatched ``type`` must not pass for a text delta)."""
    return ResponseTextDeltaEvent.model_construct(
        type=kind,
        sequence_number=number,
        delta=delta,
        item_id="msg_1",
        output_index=0,
        content_index=0,
        logprobs=[],
    )


# One step: an event (type, how its number relates to the last, delta), a reconnection,
# or a restart (the core forgets the response).
steps = st.lists(
    st.one_of(
        st.tuples(
            st.just("event"),
            st.sampled_from(TYPES),
            st.sampled_from(
                ["next", "next", "next", "next", "same", "back", "gap", "none", "bool"]
            ),
            st.sampled_from(["a", "b", Text("c"), None, 7]),
            st.booleans(),  # built as the SDK's text-delta model
        ),
        st.tuples(st.just("connect")),
        st.tuples(st.just("restart")),
    ),
    max_size=60,
)


def _state(core: StreamCore) -> tuple[Any, ...]:
    return (
        core.deliver_count,
        core.last_seq,
        core.last_type,
        core.output_seen,
        core.progressed,
        core.replaying,
        core.replay_next,
        core.replay_part,
        core.first_seq,
        core.first_type,
        core.resuming,
        core.response_id,
        core.resumable,
        core.first_event_seen,
        core.restart_pending,
        tuple(core.text.parts),
    )


@given(steps, st.booleans(), st.sampled_from([None, 3]))
def test_the_fast_path_gives_the_general_paths_result(
    plan: list[tuple[Any, ...]], background: bool, starting_after: int | None
) -> None:
    fast = StreamCore(resumable=background, starting_after=starting_after)
    general = StreamCore(resumable=background, starting_after=starting_after)
    seq = -1 if starting_after is None else starting_after
    for step in plan:
        if step[0] == "connect":
            assert fast.connecting() == general.connecting()
            continue
        if step[0] == "restart":
            fast.restarting()
            general.restarting()
            seq = -1
            continue
        _, kind, numbering, delta, sdk = step
        number: Any = {
            "next": seq + 1,
            "same": seq,
            "back": seq - 2,
            "gap": seq + 3,
            "none": None,
            "bool": True,
        }[numbering]
        if isinstance(number, int) and not isinstance(number, bool):
            seq = max(seq, number)
        response = Response("resp_1", background) if kind == "response.created" else None
        event: Any = (
            _sdk_event(kind, number, delta)
            if sdk and kind != "response.created"
            else Event(kind, number, delta, response)
        )
        assert fast.accept(event) == general._accept(event)
        assert _state(fast) == _state(general)


def test_the_fast_path_takes_only_real_text_deltas() -> None:
    """Under way, the SDK's text-delta model whose ``type`` says otherwise is not a delta,
    and a delta that is a str subclass is text all the same: both as the general path."""
    for odd in (
        _sdk_event("response.output_text.done", 3, "Z"),
        _sdk_event("response.output_text.delta", 3, Text("c")),
    ):
        fast, general = StreamCore(), StreamCore()
        events = [
            Event("response.created", 0, None, Response("resp_1", False)),
            _sdk_event("response.output_text.delta", 1, "a"),
            _sdk_event("response.output_text.delta", 2, "b"),
            odd,
        ]
        for event in events:
            assert fast.accept(event) == general._accept(event)
            assert _state(fast) == _state(general)


# -- replays on a resumed connection ------------------------------------------------------


def _response_events(deltas: list[str]) -> list[Event]:
    kinds = ["response.created", "response.in_progress", "response.output_item.added"]
    events = [Event(kind, n, None, Response("resp_1", True)) for n, kind in enumerate(kinds)]
    events += [
        Event("response.output_text.delta", len(events) + i, d) for i, d in enumerate(deltas)
    ]
    events.append(Event("response.output_text.done", len(events)))
    events.append(Event("response.completed", len(events), None, Response("resp_1", True)))
    return events


def _renumbered(events: list[Event], start: int) -> list[Event]:
    return [Event(e.type, start + i, e.delta, e.response) for i, e in enumerate(events)]


def _read(core: StreamCore, wire: list[Event], delivered: list[Event]) -> bool:
    """One connection: the events delivered go to *delivered*; False at a fault."""
    core.connecting()
    for event in wire:
        verdict = core.accept(event)
        if verdict == "fault":
            return False
        if verdict in ("deliver", "end"):
            delivered.append(event)
    return True


@given(
    deltas=st.lists(st.sampled_from(["a", "b", "ab", ""]), min_size=1, max_size=12),
    cut=st.integers(1, 40),
    resumed=st.sampled_from(
        ["honours", "replays", "repeats_last", "renumbered", "renumbered_later"]
    ),
    later=st.integers(0, 5),
)
def test_a_resumed_connection_skips_only_what_the_consumer_has(
    deltas: list[str], cut: int, resumed: str, later: int
) -> None:
    """A connection cut after *cut* events is resumed by a server that honours
    ``starting_after``, ignores it (sends everything again), repeats the last event, or
    numbers the rest from 0 again (at once or *later* events in). Whatever it does, the
    consumer ends up with every event exactly once, in order, and the whole text: a
    renumbered connection is a fault (then resumed again), never a replay to skip."""
    events = _response_events(deltas)
    cut = min(cut, len(events) - 1)
    core = StreamCore(resumable=True)
    delivered: list[Event] = []
    assert _read(core, events[:cut], delivered)
    rest = events[cut:]
    wire = {
        "honours": rest,
        "replays": events,
        "repeats_last": events[cut - 1 :],
        "renumbered": _renumbered(rest, 0),
        "renumbered_later": rest[:later] + _renumbered(rest[later:], 0),
    }[resumed]
    if not _read(core, wire, delivered):
        assert resumed.startswith("renumbered")
        last = core.last_seq
        assert last is not None
        assert _read(core, events[last + 1 :], delivered)  # resumed again, properly
    assert [e.sequence_number for e in delivered] == list(range(len(events)))
    assert core.partial_text == "".join(deltas)


def test_a_replay_that_differs_from_what_was_delivered_is_a_fault() -> None:
    """Numbered like a replay from the start, but carrying other text: not skipped."""
    events = _response_events(["one ", "two ", "three"])
    core = StreamCore(resumable=True)
    delivered: list[Event] = []
    assert _read(core, events[:5], delivered)  # up to the second delta
    changed = [*events[:3], Event("response.output_text.delta", 3, "ONE ")]
    assert not _read(core, changed, delivered)
    assert core.partial_text == "one two "


def test_after_a_callers_own_starting_after_a_replay_is_skipped_unchecked() -> None:
    """``retrieve(id, stream=True, starting_after=n)``: events up to *n* were never
    delivered here, so a server that sends them anyway has them skipped."""
    events = _response_events(["x", "y"])
    core = StreamCore(resumable=True, response_id="resp_1", starting_after=3)
    delivered: list[Event] = []
    assert _read(core, events, delivered)
    assert [e.sequence_number for e in delivered] == list(range(4, len(events)))
