"""``responses.retrieve(id, stream=True[, starting_after=n])`` resumes from the last seq seen."""

from __future__ import annotations

import httpx2
import openai

import resilient_responses as rr
from resilient_responses.testing import FakeResponsesAPI, Fault

from ._support import (
    Clock,
    check_exactly_once,
    delta_text,
    fault_free_text,
    request_kwargs,
    resilience,
)


def _setup(plan: list[Fault | None]) -> tuple[FakeResponsesAPI, rr.ResilientOpenAI, str]:
    fake = FakeResponsesAPI()
    client = rr.ResilientOpenAI(fake.client(), resilience=resilience(Clock()))
    response_id = client.responses.create(**request_kwargs(12, background=True)).id
    fake.plan(plan)
    return fake, client, response_id


def test_retrieve_stream_resumes_a_reset_from_the_last_sequence_number_seen() -> None:
    fake, client, response_id = _setup([Fault.reset(after_events=6)])
    with client.responses.retrieve(response_id, stream=True) as s:
        events = list(s)
        assert s.response_id == response_id
    check_exactly_once(events)
    assert events[-1].type == "response.completed"
    assert delta_text(events) == fault_free_text(12)
    resume = fake.requests[-1]
    assert resume.method == "GET"
    assert resume.query["starting_after"] == "5"
    assert resume.query["stream"] == "true"
    assert client.resilience.stats().total.resumes == 1
    assert fake.open_streams == 0


def test_retrieve_stream_starting_after_n_resumes_from_n_plus_events_seen() -> None:
    fake, client, response_id = _setup(
        [Fault.truncate(after_events=3), Fault.reset(after_events=2)]
    )
    with client.responses.retrieve(response_id, stream=True, starting_after=4) as s:
        events = list(s)
    seqs = [e.sequence_number for e in events]
    assert seqs == list(range(5, 5 + len(seqs)))
    assert events[-1].type == "response.completed"
    queries = [r.query.get("starting_after") for r in fake.requests[1:]]
    assert queries == ["4", "7", "9"]
    assert fake.open_streams == 0


def test_retrieve_stream_reset_before_any_event_replays_from_the_start_once() -> None:
    fake, client, response_id = _setup([Fault.reset(after_events=0), Fault.status(503)])
    with client.responses.retrieve(response_id, stream=True) as s:
        events = list(s)
    check_exactly_once(events)
    assert delta_text(events) == fault_free_text(12)
    assert [r.method for r in fake.requests[1:]] == ["GET", "GET", "GET"]


class _IgnoresStartingAfter(httpx2.BaseTransport):
    """A server that replays a background stream from the start on every resume."""

    def __init__(self, inner: httpx2.BaseTransport) -> None:
        self._inner = inner

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        params = request.url.params.remove("starting_after")
        request.url = request.url.copy_with(params=params)
        return self._inner.handle_request(request)


def test_a_resume_that_replays_from_the_start_is_deduplicated_by_sequence_number() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.reset(after_events=7), Fault.truncate(after_events=9)])
    http = openai.DefaultHttpxClient(transport=_IgnoresStartingAfter(fake.transport))
    client = rr.ResilientOpenAI(
        fake.client(http_client=http), resilience=resilience(Clock(), breaker=None)
    )
    with client.responses.create(**request_kwargs(12, background=True), stream=True) as s:
        events = list(s)
    check_exactly_once(events)
    assert delta_text(events) == fault_free_text(12)
    assert [r.query.get("starting_after") for r in fake.requests] == [None, None, None]
