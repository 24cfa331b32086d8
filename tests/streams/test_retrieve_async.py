"""``await responses.retrieve(id, stream=True[, starting_after=n])`` resumes (async)."""

from __future__ import annotations

import resilient_responses as rr
from resilient_responses.testing import FakeResponsesAPI, Fault

from ._support import (
    Clock,
    aresilience,
    check_exactly_once,
    delta_text,
    fault_free_text,
    request_kwargs,
)


async def _setup(plan: list[Fault | None]) -> tuple[FakeResponsesAPI, rr.AsyncResilientOpenAI, str]:
    fake = FakeResponsesAPI()
    client = rr.AsyncResilientOpenAI(fake.async_client(), resilience=aresilience(Clock()))
    response_id = (await client.responses.create(**request_kwargs(12, background=True))).id
    fake.plan(plan)
    return fake, client, response_id


async def test_async_retrieve_stream_resumes_a_reset_from_the_last_sequence_number_seen() -> None:
    fake, client, response_id = await _setup([Fault.reset(after_events=6)])
    async with await client.responses.retrieve(response_id, stream=True) as s:
        events = [e async for e in s]
        assert s.response_id == response_id
    check_exactly_once(events)
    assert events[-1].type == "response.completed"
    assert delta_text(events) == fault_free_text(12)
    assert fake.requests[-1].query["starting_after"] == "5"
    assert client.resilience.stats().total.resumes == 1
    assert fake.open_streams == 0


async def test_async_retrieve_stream_starting_after_n_resumes_from_n_plus_events_seen() -> None:
    fake, client, response_id = await _setup(
        [Fault.truncate(after_events=3), Fault.reset(after_events=2)]
    )
    async with await client.responses.retrieve(response_id, stream=True, starting_after=4) as s:
        events = [e async for e in s]
    seqs = [e.sequence_number for e in events]
    assert seqs == list(range(5, 5 + len(seqs)))
    assert events[-1].type == "response.completed"
    assert [r.query.get("starting_after") for r in fake.requests[1:]] == ["4", "7", "9"]
    assert fake.open_streams == 0


async def test_async_retrieve_stream_reset_before_any_event_replays_from_the_start_once() -> None:
    fake, client, response_id = await _setup([Fault.reset(after_events=0), Fault.status(503)])
    async with await client.responses.retrieve(response_id, stream=True) as s:
        events = [e async for e in s]
    check_exactly_once(events)
    assert delta_text(events) == fault_free_text(12)
    assert [r.method for r in fake.requests[1:]] == ["GET", "GET", "GET"]
