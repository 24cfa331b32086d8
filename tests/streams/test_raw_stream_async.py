"""The async twins of ``test_raw_stream_sync``: raw responses over resilient async streams,
``isinstance(stream, openai.AsyncStream)``, and ``aclose()`` closing the HTTP body."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
import openai
import pytest
from openai._legacy_response import LegacyAPIResponse
from openai._response import AsyncAPIResponse

import resilient_responses as rr
from resilient_responses.testing import FakeResponsesAPI, Fault

from ._support import (
    Clock,
    aresilience,
    check_complete,
    check_exactly_once,
    delta_text,
    fault_free_text,
    request_kwargs,
)

HOWS: dict[str, type[Any]] = {
    "responses.with_streaming_response": AsyncAPIResponse,
    "client.with_streaming_response": AsyncAPIResponse,
    "responses.with_raw_response": LegacyAPIResponse,
    "client.with_raw_response": LegacyAPIResponse,
}


def _client(
    fake: FakeResponsesAPI, seen: list[httpx2.Response] | None = None, **config: Any
) -> rr.AsyncResilientOpenAI:
    """A drop-in async client on *fake*; every HTTP response it receives goes to *seen*."""

    async def record(response: httpx2.Response) -> None:
        if seen is not None:
            seen.append(response)

    http = openai.DefaultAsyncHttpxClient(
        transport=fake.async_transport, event_hooks={"response": [record]}
    )
    return rr.AsyncResilientOpenAI(
        fake.async_client(max_retries=0, http_client=http),
        resilience=aresilience(Clock(), **config),
    )


@asynccontextmanager
async def _raw_stream(
    client: rr.AsyncResilientOpenAI, how: str, **kwargs: Any
) -> AsyncIterator[Any]:
    """The facade for one ``create(stream=True)`` the way *how* says; closed on exit."""
    if how.endswith("with_streaming_response"):
        resource = (
            client.responses.with_streaming_response
            if how.startswith("responses")
            else client.with_streaming_response.responses
        )
        async with resource.create(stream=True, **kwargs) as raw:
            yield raw
        return
    if how == "responses.with_raw_response":
        raw = await client.responses.with_raw_response.create(stream=True, **kwargs)
    else:
        raw = await client.with_raw_response.responses.create(stream=True, **kwargs)
    try:
        yield raw
    finally:
        await raw.close()


async def _drain(events: Any, into: list[Any]) -> None:
    """Collect events one by one, so those seen before an exception survive it."""
    async for event in events:
        into.append(event)  # noqa: PERF401


async def _parse(raw: Any) -> Any:
    """``.parse()``: a coroutine on ``AsyncAPIResponse``, synchronous on the legacy one."""
    return await raw.parse() if isinstance(raw, AsyncAPIResponse) else raw.parse()


@pytest.mark.parametrize("how", list(HOWS))
async def test_async_raw_stream_resumes_a_background_reset_delivering_every_event_once(
    how: str,
) -> None:
    """A background stream reset mid-way is resumed: every event once, in order."""
    fake = FakeResponsesAPI()
    fake.plan([Fault.reset(after_events=7)])
    async with _raw_stream(_client(fake), how, **request_kwargs(12, background=True)) as raw:
        assert isinstance(raw, HOWS[how])
        stream = await _parse(raw)
        assert isinstance(stream, openai.AsyncStream)
        assert await _parse(raw) is stream
        events = [e async for e in stream]
    check_complete(events, fault_free_text(12))
    assert [(r.method, r.query.get("starting_after")) for r in fake.requests] == [
        ("POST", None),
        ("GET", "6"),
    ]
    assert fake.open_streams == 0


@pytest.mark.parametrize("how", list(HOWS))
async def test_async_raw_stream_shows_the_answering_attempts_http_response(how: str) -> None:
    """After a retried 500, headers, status, request id and retries are the second
    attempt's, readable before any event."""
    fake = FakeResponsesAPI()
    fake.plan([Fault.status(500)])
    async with _raw_stream(_client(fake), how, **request_kwargs(5, background=False)) as raw:
        assert raw.request_id == raw.headers["x-request-id"] == "req_2"
        assert raw.status_code == 200
        assert raw.headers["content-type"].startswith("text/event-stream")
        assert raw.retries_taken == 1
        assert isinstance(raw.http_response, httpx2.Response)
        events = [e async for e in await _parse(raw)]
    assert events[-1].type == "response.completed"
    assert len(fake.requests) == 2


async def test_async_raw_stream_http_response_follows_a_resume() -> None:
    """The facade shows the response the stream is reading: after a resume, the GET's."""
    fake = FakeResponsesAPI()
    fake.plan([Fault.reset(after_events=3)])
    client = _client(fake)
    kwargs = request_kwargs(8, background=True)
    async with client.responses.with_streaming_response.create(stream=True, **kwargs) as raw:
        stream = await raw.parse()
        first = [await stream.__anext__() for _ in range(4)]
        assert raw.request_id == "req_2"
        assert raw.http_response.request.method == "GET"
        events = first + [e async for e in stream]
    check_exactly_once(events)


@pytest.mark.parametrize("how", list(HOWS))
async def test_async_closing_the_raw_stream_closes_the_stream_and_its_http_body(
    how: str,
) -> None:
    """Leaving ``with_streaming_response`` (or ``await close()``) after one event closes
    every HTTP body the stream opened; the stream yields nothing more."""
    fake = FakeResponsesAPI()
    seen: list[httpx2.Response] = []
    client = _client(fake, seen)
    async with _raw_stream(client, how, **request_kwargs(12, background=False)) as raw:
        stream = await _parse(raw)
        assert (await stream.__anext__()).type == "response.created"
        assert not raw.is_closed
    assert raw.is_closed
    assert seen
    assert all(response.is_closed for response in seen)
    assert [e async for e in stream] == []
    assert fake.open_streams == 0


@pytest.mark.parametrize("raw_variant", [False, True], ids=["create", "with_streaming_response"])
async def test_async_stream_is_an_async_stream_and_aclose_closes_the_http_body(
    raw_variant: bool,
) -> None:
    """``isinstance(stream, openai.AsyncStream)``; ``await stream.aclose()`` after one
    event closes the httpx2 response it was reading."""
    fake = FakeResponsesAPI()
    seen: list[httpx2.Response] = []
    client = _client(fake, seen)
    kwargs = request_kwargs(12, background=False)
    if raw_variant:
        manager = client.responses.with_streaming_response.create(stream=True, **kwargs)
        stream = await (await manager.__aenter__()).parse()
    else:
        stream = await client.responses.create(stream=True, **kwargs)
    assert isinstance(stream, openai.AsyncStream)
    await stream.__anext__()
    assert [response.is_closed for response in seen] == [False]
    await stream.aclose()
    assert [response.is_closed for response in seen] == [True]
    assert fake.open_streams == 0
    if raw_variant:
        await manager.__aexit__(None, None, None)  # closing twice is harmless


@pytest.mark.parametrize("how", list(HOWS))
async def test_async_plain_raw_stream_cut_after_output_raises_stream_interrupted(
    how: str,
) -> None:
    """A plain stream cut after output: ``StreamInterruptedError`` (an
    ``openai.APIConnectionError``) from the iteration, with the text delivered."""
    fake = FakeResponsesAPI()
    fake.plan([Fault.reset(after_events=6)])
    got: list[Any] = []
    async with _raw_stream(_client(fake), how, **request_kwargs(12, background=False)) as raw:
        stream = await _parse(raw)
        with pytest.raises(openai.APIConnectionError) as caught:
            await _drain(stream, got)
    assert isinstance(caught.value, rr.StreamInterruptedError)
    assert caught.value.partial_text == delta_text(got)
    assert len(fake.requests) == 1


@pytest.mark.parametrize("streaming", [False, True], ids=["with_raw", "with_streaming"])
async def test_async_raw_retrieve_stream_resumes_from_starting_after(streaming: bool) -> None:
    """``retrieve(id, stream=True, starting_after=n)`` through a raw variant resumes a
    reset from the last event seen."""
    fake = FakeResponsesAPI()
    client = _client(fake)
    rid = (await client.responses.create(**request_kwargs(12, background=True))).id
    fake.plan([Fault.reset(after_events=3)])
    if streaming:
        async with client.responses.with_streaming_response.retrieve(
            rid, stream=True, starting_after=2
        ) as raw:
            events = [e async for e in await raw.parse()]
    else:
        raw = await client.responses.with_raw_response.retrieve(rid, stream=True, starting_after=2)
        events = [e async for e in raw.parse()]
    seqs = [e.sequence_number for e in events]
    assert seqs == list(range(3, 3 + len(seqs)))
    assert events[-1].type == "response.completed"
    assert [r.query.get("starting_after") for r in fake.requests[1:]] == ["2", "5"]


async def test_async_raw_stream_parse_accepts_only_the_stream_types() -> None:
    """``parse(to=openai.AsyncStream)`` is the resilient stream; another type is refused."""
    fake = FakeResponsesAPI()
    async with _raw_stream(
        _client(fake), "responses.with_streaming_response", **request_kwargs(3, background=False)
    ) as raw:
        assert await raw.parse(to=openai.AsyncStream) is await raw.parse()
        with pytest.raises(TypeError, match="resilient stream"):
            await raw.parse(to=dict)


async def test_async_the_callers_extra_headers_are_left_alone_and_the_marker_never_sent() -> None:
    """The raw-response marker is taken out of the request, not out of the caller's
    headers; the caller's own headers reach the server."""
    fake = FakeResponsesAPI()
    headers = {"X-Trace": "t"}
    client = _client(fake)
    async with client.responses.with_streaming_response.create(
        stream=True, extra_headers=headers, **request_kwargs(3, background=False)
    ) as raw:
        [e async for e in await raw.parse()]
    assert headers == {"X-Trace": "t"}
    sent = fake.requests[0].headers
    assert sent["x-trace"] == "t"
    assert "x-stainless-raw-response" not in sent
