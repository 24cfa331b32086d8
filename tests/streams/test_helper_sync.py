"""``client.responses.stream(...)``: the SDK's helper over a resilient raw stream."""

from __future__ import annotations

import resilient_responses as rr
from resilient_responses.testing import FakeResponsesAPI, Fault

from ._support import MODEL, Clock, fault_free_text, request_kwargs, resilience


def _client(fake: FakeResponsesAPI, **config: object) -> rr.ResilientOpenAI:
    return rr.ResilientOpenAI(fake.client(), resilience=resilience(Clock(), **config))


def test_helper_restarts_a_reset_after_created_with_fresh_state_and_full_final_text() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.reset(after_events=1)])  # response.created only, then the cut
    client = _client(fake)
    with client.responses.stream(**request_kwargs(12, background=False)) as s:
        events = list(s)
        final = s.get_final_response()
    assert [e.type for e in events].count("response.created") == 2
    assert final.output_text == fault_free_text(12)
    assert final.id == events[-1].response.id != events[0].response.id
    assert client.resilience.stats().total.restarts == 1
    assert fake.open_streams == 0


def test_helper_get_final_response_is_complete_after_a_resumed_background_fault() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.reset(after_events=7), Fault.truncate(after_events=2)])
    client = _client(fake)
    with client.responses.stream(**request_kwargs(12, background=True)) as s:
        final = s.get_final_response()
    assert final.status == "completed"
    assert final.output_text == fault_free_text(12)
    assert [r.query.get("starting_after") for r in fake.requests[1:]] == ["6", "8"]
    assert client.resilience.stats().total.resumes == 2
    assert fake.open_streams == 0


def test_helper_text_deltas_are_delivered_once_across_a_resume() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.reset(after_events=8)])
    client = _client(fake)
    with client.responses.stream(**request_kwargs(12, background=True)) as s:
        deltas = [e.delta for e in s if e.type == "response.output_text.delta"]
        assert "".join(deltas) == s.get_final_response().output_text == fault_free_text(12)


def test_helper_until_done_consumes_the_stream_through_a_fault() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.truncate(after_events=5)])
    client = _client(fake)
    with client.responses.stream(**request_kwargs(12, background=True)) as s:
        assert s.until_done() is s
        assert s.get_final_response().output_text == fault_free_text(12)
    assert fake.open_streams == 0


def test_helper_close_mid_stream_closes_the_connection() -> None:
    fake = FakeResponsesAPI()
    client = _client(fake)
    with client.responses.stream(model=MODEL, input="hi") as s:
        next(iter(s))
        assert fake.open_streams == 1
        s.close()
        assert fake.open_streams == 0
    assert fake.open_streams == 0


def test_helper_exit_mid_stream_closes_the_connection() -> None:
    fake = FakeResponsesAPI()
    client = _client(fake)
    with client.responses.stream(model=MODEL, input="hi") as s:
        for event in s:
            if event.type == "response.output_text.delta":
                break
    assert fake.open_streams == 0


def test_helper_retries_a_503_on_open() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.status(503)])
    client = _client(fake)
    with client.responses.stream(**request_kwargs(3, background=False)) as s:
        assert s.get_final_response().output_text == fault_free_text(3)
    assert len(fake.requests) == 2
