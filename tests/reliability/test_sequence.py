"""Item 4: within one response, a gap, a step back or numbering that starts over is a
transport fault, resumed from the last contiguous number where resumable, else
``StreamInterruptedError``; a repeated number with the same payload is dropped. Never a
silent skip: the consumer's sequence numbers are always 0, 1, 2, ... with no hole."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import resilient_responses as rr
from resilient_responses.testing import FakeResponsesAPI, Fault, set_testing

from ._support import KEY, MODEL, aread_into, read_into, resilience

BROKEN = {
    "reorder": Fault.reorder(after_events=4),
    "renumber": Fault.renumber(after_events=4),
    "gap": Fault.gap(after_events=4),
}


def _text(events: list[object]) -> str:
    return "".join(
        e.delta
        for e in events
        if getattr(e, "type", "") == "response.output_text.delta"  # type: ignore[attr-defined]
    )


def _contiguous(events: list[object]) -> bool:
    """0, 1, 2, ... within each response (a restart begins a new one at
    ``response.created``, numbered from 0 again)."""
    expected = 0
    for event in events:
        number = event.sequence_number  # type: ignore[attr-defined]
        if event.type == "response.created":  # type: ignore[attr-defined]
            expected = number
        if number != expected:
            return False
        expected += 1
    return True


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_a_broken_sequence_on_a_plain_stream_is_an_interruption_not_a_lost_delta(
    kind: str, fake: FakeResponsesAPI, base_url: str
) -> None:
    full = _text(list(fake.client().responses.create(model=MODEL, input="hi", stream=True)))
    fake.plan([BROKEN[kind]])
    client = rr.ResilientOpenAI(base_url=base_url, api_key=KEY, resilience=resilience())
    seen: list[object] = []
    stream = client.responses.create(model=MODEL, input="hi", stream=True)
    with pytest.raises(rr.StreamInterruptedError) as raised:
        read_into(stream, seen)
    assert raised.value.reason == "stream_sequence"
    assert _contiguous(seen)
    assert full.startswith(_text(seen))
    assert raised.value.partial_text == _text(seen)
    assert client.resilience.stats().total.failures_by_status.get("stream_sequence") == 1


@pytest.mark.parametrize("kind", sorted(BROKEN))
async def test_a_broken_sequence_on_a_background_stream_is_resumed_exactly(
    kind: str, fake: FakeResponsesAPI, base_url: str
) -> None:
    full = _text(list(fake.client().responses.create(model=MODEL, input="hi", stream=True)))
    fake.plan([BROKEN[kind]])
    client = rr.AsyncResilientOpenAI(base_url=base_url, api_key=KEY, resilience=resilience())
    events: list[object] = []
    stream = await client.responses.create(model=MODEL, input="hi", stream=True, background=True)
    await aread_into(stream, events)
    assert _contiguous(events)
    assert _text(events) == full
    assert events[-1].type == "response.completed"  # type: ignore[attr-defined]
    assert fake.requests[-1].method == "GET"


def test_a_repeated_event_with_the_same_payload_is_dropped(
    fake: FakeResponsesAPI, base_url: str
) -> None:
    full = _text(list(fake.client().responses.create(model=MODEL, input="hi", stream=True)))
    sent = len(fake.requests)
    fake.plan([Fault.duplicate(after_events=5)])
    client = rr.ResilientOpenAI(base_url=base_url, api_key=KEY, resilience=resilience())
    events = list(client.responses.create(model=MODEL, input="hi", stream=True))
    assert _contiguous(events)
    assert _text(events) == full
    assert len(fake.requests) - sent == 1


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    kind=st.sampled_from(["reorder", "renumber", "gap", "duplicate"]),
    at=st.integers(1, 14),
    background=st.booleans(),
)
def test_no_protocol_fault_ever_loses_or_repeats_a_delta_silently(
    fake: FakeResponsesAPI, kind: str, at: int, background: bool
) -> None:
    """In-process, any protocol fault anywhere: either the whole text with contiguous
    numbers, or an interruption whose partial text is exactly what was delivered."""
    client = rr.ResilientOpenAI(fake.client(max_retries=0), resilience=resilience(breaker=None))
    full = _text(list(fake.client().responses.create(model=MODEL, input="hi", stream=True)))
    fault = getattr(Fault, kind)(after_events=at)
    fake.plan([fault])
    seen: list[object] = []
    interrupted: rr.StreamInterruptedError | None = None
    with set_testing(True):
        try:
            read_into(
                client.responses.create(
                    model=MODEL, input="hi", stream=True, background=background
                ),
                seen,
            )
        except rr.StreamInterruptedError as exc:
            interrupted = exc
    if interrupted is None:
        assert _text(seen) == full
    else:
        assert interrupted.partial_text == _text(seen)
        assert not background
    assert _contiguous(seen)
    assert full.startswith(_text(seen))


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    cut=st.integers(1, 14),
    kind=st.sampled_from(["reorder", "renumber", "gap", "duplicate"]),
    at=st.integers(0, 14),
)
def test_a_protocol_fault_on_the_resumed_connection_never_loses_a_delta(
    fake: FakeResponsesAPI, cut: int, kind: str, at: int
) -> None:
    """A background stream cut after *cut* events, then a protocol fault on the resumed
    connection. Found by an unscripted run: a resumed connection numbering from 0 again
    was taken for a replay of what the consumer had, its new deltas were skipped, and the
    stream still ended with ``response.completed``."""
    client = rr.ResilientOpenAI(fake.client(max_retries=0), resilience=resilience(breaker=None))
    full = _text(list(fake.client().responses.create(model=MODEL, input="hi", stream=True)))
    fault = getattr(Fault, kind)(after_events=max(at, 1) if kind == "duplicate" else at)
    fake.plan([Fault.truncate(after_events=cut), fault])
    seen: list[object] = []
    with set_testing(True):
        read_into(
            client.responses.create(model=MODEL, input="hi", stream=True, background=True), seen
        )
    assert _contiguous(seen)
    assert _text(seen) == full
    assert seen[-1].type == "response.completed"  # type: ignore[attr-defined]


async def test_a_resumed_connection_numbering_from_zero_again_is_resumed_once_more(
    fake: FakeResponsesAPI, base_url: str
) -> None:
    """The case the property above found, over HTTP: the renumbered connection is a
    ``stream_sequence`` fault, resumed from the last event delivered."""
    full = _text(list(fake.client().responses.create(model=MODEL, input="hi", stream=True)))
    fake.plan([Fault.truncate(after_events=9), Fault.renumber(after_events=0)])
    client = rr.AsyncResilientOpenAI(base_url=base_url, api_key=KEY, resilience=resilience())
    events: list[object] = []
    with set_testing(True):
        stream = await client.responses.create(
            model=MODEL, input="hi", stream=True, background=True
        )
        await aread_into(stream, events)
    assert _contiguous(events)
    assert _text(events) == full
    resumes = [r for r in fake.requests if r.method == "GET"]
    assert [r.query.get("starting_after") for r in resumes] == ["8", "8"]
    assert client.resilience.stats().total.failures_by_status.get("stream_sequence") == 1
