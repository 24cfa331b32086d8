"""Closing a resilient stream (``close()``, ``with`` exit, break) closes the HTTP response."""

from __future__ import annotations

import contextlib

import resilient_responses as rr
from resilient_responses.testing import FakeResponsesAPI, Fault

from ._support import MODEL, Clock, request_kwargs, resilience


def _client(fake: FakeResponsesAPI) -> rr.ResilientOpenAI:
    return rr.ResilientOpenAI(fake.client(), resilience=resilience(Clock()))


def test_close_mid_stream_closes_the_http_response_and_stops_iteration() -> None:
    fake = FakeResponsesAPI()
    s = _client(fake).responses.create(model=MODEL, input="hi", stream=True)
    next(s)
    assert fake.open_streams == 1
    s.close()
    assert fake.open_streams == 0
    assert list(s) == []
    s.close()  # idempotent


def test_with_exit_mid_stream_closes_the_http_response() -> None:
    fake = FakeResponsesAPI()
    with _client(fake).responses.create(model=MODEL, input="hi", stream=True) as s:
        next(s)
        next(s)
    assert fake.open_streams == 0


def test_break_out_of_a_for_loop_then_close() -> None:
    fake = FakeResponsesAPI()
    s = _client(fake).responses.create(model=MODEL, input="hi", stream=True)
    for event in s:
        if event.type == "response.output_text.delta":
            break
    s.close()
    assert fake.open_streams == 0


def test_close_after_a_resume_closes_the_resumed_connection() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.reset(after_events=6)])
    s = _client(fake).responses.create(**request_kwargs(12, background=True), stream=True)
    seqs = [next(s).sequence_number for _ in range(8)]
    assert seqs == list(range(8))
    assert fake.requests[-1].method == "GET"
    assert fake.open_streams == 1
    s.close()
    assert fake.open_streams == 0


def test_close_of_an_abandoned_stream_does_not_count_as_a_failure() -> None:
    fake = FakeResponsesAPI()
    client = _client(fake)
    s = client.responses.create(model=MODEL, input="hi", stream=True)
    next(s)
    s.close()
    total = client.resilience.stats().total
    assert (total.failures, total.interruptions) == (0, 0)
    assert client.resilience.breaker_state(f"http://fake.openai.test/v1/ {MODEL}") == "closed"


def test_an_interrupted_stream_leaves_no_connection_open() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.reset(after_events=6)])
    s = _client(fake).responses.create(model=MODEL, input="hi", stream=True)
    with contextlib.suppress(rr.StreamInterruptedError):
        list(s)
    assert fake.open_streams == 0
