"""The async resilient stream keeps the SDK stream's surface; ``make_resumable`` edits the body."""

from __future__ import annotations

import resilient_responses as rr
from resilient_responses.testing import FakeResponsesAPI, Fault

from ._support import MODEL, Clock, aresilience, check_complete, fault_free_text, request_kwargs


def _client(fake: FakeResponsesAPI, **config: object) -> rr.AsyncResilientOpenAI:
    return rr.AsyncResilientOpenAI(fake.async_client(), resilience=aresilience(Clock(), **config))


async def test_async_make_resumable_adds_background_and_store_and_resumes_a_cut() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.reset(after_events=7)])
    client = _client(fake, stream=rr.StreamPolicy(make_resumable=True))
    async with await client.responses.create(
        **request_kwargs(12, background=False), stream=True
    ) as s:
        check_complete([e async for e in s], fault_free_text(12))
    assert fake.requests[0].json["background"] is True
    assert fake.requests[0].json["store"] is True
    assert fake.requests[1].query["starting_after"] == "6"


async def test_async_make_resumable_applies_to_the_stream_helper_too() -> None:
    fake = FakeResponsesAPI()
    client = _client(fake, stream=rr.StreamPolicy(make_resumable=True))
    async with client.responses.stream(model=MODEL, input="hi") as s:
        await s.until_done()
    assert fake.requests[0].json["background"] is True
    assert fake.requests[0].json["store"] is True


async def test_async_response_id_follows_the_stream() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.reset(after_events=1)])
    s = await _client(fake).responses.create(model=MODEL, input="hi", stream=True)
    assert s.response_id is None
    first = await s.__anext__()
    assert s.response_id == first.response.id
    events = [first, *[e async for e in s]]
    assert s.response_id == events[-1].response.id != first.response.id


async def test_async_response_headers_are_the_live_http_response_headers() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.reset(after_events=6)])
    s = await _client(fake).responses.create(**request_kwargs(12, background=True), stream=True)
    assert s.response.headers["x-request-id"] == "req_1"
    for _ in range(7):
        await s.__anext__()
    assert s.response.headers["x-request-id"] == "req_2"
    await s.close()


async def test_async_response_headers_stay_readable_after_the_stream_completed() -> None:
    fake = FakeResponsesAPI()
    s = await _client(fake).responses.create(model=MODEL, input="hi", stream=True)
    _ = [e async for e in s]
    assert s.response.headers["x-request-id"] == "req_1"
