"""``StreamCore.accept``'s fast path (the next text delta of a connection under way) is
the general path's result, event for event, whatever the wire sends: repeats, gaps, steps
back, missing or odd numbers, restarts and reconnections included."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

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
            st.sampled_from(["a", "b", None, 7]),
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
            fast.restart_pending = general.restart_pending = True
            seq = -1
            continue
        _, kind, numbering, delta = step
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
        event = Event(kind, number, delta, response)
        assert fast.accept(event) == general._accept(event)
        assert _state(fast) == _state(general)
