"""Raw responses over resilient streams: ``with_streaming_response.create(stream=True)``,
``with_raw_response.create(stream=True)`` (also from the client) and
``with_raw_response.retrieve(id, stream=True)``. ``.parse()`` is the resilient stream, the
facade shows the live HTTP response, and closing it closes the stream and its body."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx2
import openai
import pytest
from openai._legacy_response import LegacyAPIResponse
from openai._response import APIResponse

import resilient_responses as rr
from resilient_responses.testing import FakeResponsesAPI, Fault

from ._support import (
    Clock,
    check_complete,
    check_exactly_once,
    delta_text,
    drain,
    fault_free_text,
    request_kwargs,
    resilience,
)

#: How the caller asks for a raw stream, and the SDK class the facade is.
HOWS: dict[str, type[Any]] = {
    "responses.with_streaming_response": APIResponse,
    "client.with_streaming_response": APIResponse,
    "responses.with_raw_response": LegacyAPIResponse,
    "client.with_raw_response": LegacyAPIResponse,
}


def _client(
    fake: FakeResponsesAPI, seen: list[httpx2.Response] | None = None, **config: Any
) -> rr.ResilientOpenAI:
    """A drop-in client on *fake*; every HTTP response it receives is added to *seen*."""
    hooks = {"response": [seen.append]} if seen is not None else {}
    http = openai.DefaultHttpxClient(transport=fake.transport, event_hooks=hooks)
    return rr.ResilientOpenAI(
        fake.client(max_retries=0, http_client=http), resilience=resilience(Clock(), **config)
    )


@contextmanager
def _raw_stream(client: rr.ResilientOpenAI, how: str, **kwargs: Any) -> Iterator[Any]:
    """The facade for one ``create(stream=True)`` the way *how* says; closed on exit."""
    if how.endswith("with_streaming_response"):
        resource = (
            client.responses.with_streaming_response
            if how.startswith("responses")
            else client.with_streaming_response.responses
        )
        with resource.create(stream=True, **kwargs) as raw:
            yield raw
        return
    if how == "responses.with_raw_response":
        raw = client.responses.with_raw_response.create(stream=True, **kwargs)
    else:
        raw = client.with_raw_response.responses.create(stream=True, **kwargs)
    try:
        yield raw
    finally:
        raw.close()


@pytest.mark.parametrize("how", list(HOWS))
def test_raw_stream_resumes_a_background_reset_delivering_every_event_once(how: str) -> None:
    """A background stream reset mid-way is resumed: every event once, in order."""
    fake = FakeResponsesAPI()
    fake.plan([Fault.reset(after_events=7)])
    with _raw_stream(_client(fake), how, **request_kwargs(12, background=True)) as raw:
        assert isinstance(raw, HOWS[how])
        stream = raw.parse()
        assert isinstance(stream, openai.Stream)
        assert raw.parse() is stream
        events = list(stream)
    check_complete(events, fault_free_text(12))
    assert [(r.method, r.query.get("starting_after")) for r in fake.requests] == [
        ("POST", None),
        ("GET", "6"),
    ]
    assert fake.open_streams == 0


@pytest.mark.parametrize("how", list(HOWS))
def test_raw_stream_shows_the_answering_attempts_http_response(how: str) -> None:
    """After a retried 500, headers, status, request id and retries are the second
    attempt's, readable before any event."""
    fake = FakeResponsesAPI()
    fake.plan([Fault.status(500)])
    with _raw_stream(_client(fake), how, **request_kwargs(5, background=False)) as raw:
        assert raw.request_id == raw.headers["x-request-id"] == "req_2"
        assert raw.status_code == 200
        assert raw.headers["content-type"].startswith("text/event-stream")
        assert raw.retries_taken == 1
        assert isinstance(raw.http_response, httpx2.Response)
        assert raw.http_response.request.method == "POST"
        events = list(raw.parse())
    assert events[-1].type == "response.completed"
    assert len(fake.requests) == 2


def test_raw_stream_http_response_follows_a_resume() -> None:
    """The facade shows the response the stream is reading: after a resume, the GET's."""
    fake = FakeResponsesAPI()
    fake.plan([Fault.reset(after_events=3)])
    client = _client(fake)
    kwargs = request_kwargs(8, background=True)
    with client.responses.with_streaming_response.create(stream=True, **kwargs) as raw:
        stream = raw.parse()
        first = [next(stream) for _ in range(4)]
        assert raw.request_id == "req_2"
        assert raw.http_response.request.method == "GET"
        assert raw.retries_taken == 1
        events = first + list(stream)
    check_exactly_once(events)


@pytest.mark.parametrize("how", list(HOWS))
def test_closing_the_raw_stream_closes_the_stream_and_its_http_body(how: str) -> None:
    """Leaving ``with_streaming_response`` (or ``close()`` on a raw response) after one
    event closes every HTTP body the stream opened; the stream yields nothing more."""
    fake = FakeResponsesAPI()
    seen: list[httpx2.Response] = []
    client = _client(fake, seen)
    with _raw_stream(client, how, **request_kwargs(12, background=False)) as raw:
        stream = raw.parse()
        assert next(stream).type == "response.created"
        assert not raw.is_closed
    assert raw.is_closed
    assert seen
    assert all(response.is_closed for response in seen)
    assert list(stream) == []
    assert fake.open_streams == 0


@pytest.mark.parametrize("how", list(HOWS))
def test_plain_raw_stream_cut_after_output_raises_stream_interrupted(how: str) -> None:
    """A plain stream cut after output cannot be resumed: ``StreamInterruptedError`` (an
    ``openai.APIConnectionError``) from the iteration, with the text delivered."""
    fake = FakeResponsesAPI()
    fake.plan([Fault.reset(after_events=6)])
    got: list[Any] = []
    with _raw_stream(_client(fake), how, **request_kwargs(12, background=False)) as raw:
        stream = raw.parse()
        with pytest.raises(openai.APIConnectionError) as caught:
            drain(stream, got)
    assert isinstance(caught.value, rr.StreamInterruptedError)
    assert caught.value.partial_text == delta_text(got)
    assert len(fake.requests) == 1


@pytest.mark.parametrize("streaming", [False, True], ids=["with_raw", "with_streaming"])
def test_raw_retrieve_stream_resumes_from_starting_after(streaming: bool) -> None:
    """``retrieve(id, stream=True, starting_after=n)`` through a raw variant resumes a
    reset from the last event seen."""
    fake = FakeResponsesAPI()
    client = _client(fake)
    rid = client.responses.create(**request_kwargs(12, background=True)).id
    fake.plan([Fault.reset(after_events=3)])
    if streaming:
        with client.responses.with_streaming_response.retrieve(
            rid, stream=True, starting_after=2
        ) as raw:
            events = list(raw.parse())
    else:
        raw = client.responses.with_raw_response.retrieve(rid, stream=True, starting_after=2)
        events = list(raw.parse())
    seqs = [e.sequence_number for e in events]
    assert seqs == list(range(3, 3 + len(seqs)))
    assert events[-1].type == "response.completed"
    assert [r.query.get("starting_after") for r in fake.requests[1:]] == ["2", "5"]


def test_raw_stream_parse_accepts_only_the_stream_types() -> None:
    """``parse(to=openai.Stream)`` is the resilient stream; another type is refused."""
    fake = FakeResponsesAPI()
    with _raw_stream(
        _client(fake), "responses.with_raw_response", **request_kwargs(3, background=False)
    ) as raw:
        assert raw.parse(to=openai.Stream) is raw.parse()
        with pytest.raises(TypeError, match="resilient stream"):
            raw.parse(to=dict)


def test_the_callers_extra_headers_are_left_alone_and_the_marker_never_sent() -> None:
    """The raw-response marker is taken out of the request, not out of the caller's
    headers; the caller's own headers reach the server."""
    fake = FakeResponsesAPI()
    headers = {"X-Trace": "t"}
    client = _client(fake)
    with client.responses.with_streaming_response.create(
        stream=True, extra_headers=headers, **request_kwargs(3, background=False)
    ) as raw:
        list(raw.parse())
    assert headers == {"X-Trace": "t"}
    sent = fake.requests[0].headers
    assert sent["x-trace"] == "t"
    assert "x-stainless-raw-response" not in sent
