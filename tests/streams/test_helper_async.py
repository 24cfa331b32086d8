"""``await client.responses.stream(...)`` helper (async): resilient with fresh state."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

import resilient_responses as rr
from resilient_responses.testing import FakeResponsesAPI, Fault

from ._support import MODEL, Clock, aresilience, fault_free_text, request_kwargs


@pytest.fixture
def fake() -> FakeResponsesAPI:
    return FakeResponsesAPI()


@pytest.fixture
async def client(fake: FakeResponsesAPI) -> AsyncIterator[rr.AsyncResilientOpenAI]:
    c = rr.AsyncResilientOpenAI(fake.async_client(), resilience=aresilience(Clock()))
    yield c
    await c.close()


async def test_async_helper_restarts_a_reset_after_created_with_fresh_state(
    fake: FakeResponsesAPI, client: rr.AsyncResilientOpenAI
) -> None:
    fake.plan([Fault.reset(after_events=2)])  # created + in_progress, then the cut
    async with client.responses.stream(**request_kwargs(12, background=False)) as s:
        events = [e async for e in s]
        final = await s.get_final_response()
    assert [e.type for e in events].count("response.created") == 2
    assert final.output_text == fault_free_text(12)
    assert final.id == events[-1].response.id != events[0].response.id
    assert client.resilience.stats().total.restarts == 1
    assert fake.open_streams == 0


async def test_async_helper_get_final_response_is_complete_after_a_resumed_fault(
    fake: FakeResponsesAPI, client: rr.AsyncResilientOpenAI
) -> None:
    fake.plan([Fault.reset(after_events=7), Fault.truncate(after_events=2)])
    async with client.responses.stream(**request_kwargs(12, background=True)) as s:
        final = await s.get_final_response()
    assert final.status == "completed"
    assert final.output_text == fault_free_text(12)
    assert [r.query.get("starting_after") for r in fake.requests[1:]] == ["6", "8"]
    assert client.resilience.stats().total.resumes == 2
    assert fake.open_streams == 0


async def test_async_helper_until_done_consumes_the_stream_through_a_fault(
    fake: FakeResponsesAPI, client: rr.AsyncResilientOpenAI
) -> None:
    fake.plan([Fault.truncate(after_events=5)])
    async with client.responses.stream(**request_kwargs(12, background=True)) as s:
        assert await s.until_done() is s
        assert (await s.get_final_response()).output_text == fault_free_text(12)
    assert fake.open_streams == 0


async def test_async_helper_close_mid_stream_closes_the_connection(
    fake: FakeResponsesAPI, client: rr.AsyncResilientOpenAI
) -> None:
    async with client.responses.stream(model=MODEL, input="hi") as s:
        await s.__anext__()
        assert fake.open_streams == 1
        await s.close()
        assert fake.open_streams == 0
    assert fake.open_streams == 0


async def test_async_helper_exit_mid_stream_closes_the_connection(
    fake: FakeResponsesAPI, client: rr.AsyncResilientOpenAI
) -> None:
    async with client.responses.stream(model=MODEL, input="hi") as s:
        async for event in s:
            if event.type == "response.output_text.delta":
                break
    assert fake.open_streams == 0


async def test_async_helper_retries_a_503_on_open(
    fake: FakeResponsesAPI, client: rr.AsyncResilientOpenAI
) -> None:
    fake.plan([Fault.status(503)])
    async with client.responses.stream(**request_kwargs(3, background=False)) as s:
        assert (await s.get_final_response()).output_text == fault_free_text(3)
    assert len(fake.requests) == 2
