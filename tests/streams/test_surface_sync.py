"""The resilient stream keeps the SDK stream's surface; ``make_resumable`` edits the body."""

from __future__ import annotations

import resilient_responses as rr
from resilient_responses.testing import FakeResponsesAPI, Fault

from ._support import MODEL, Clock, check_complete, fault_free_text, request_kwargs, resilience


def _client(fake: FakeResponsesAPI, **config: object) -> rr.ResilientOpenAI:
    return rr.ResilientOpenAI(fake.client(), resilience=resilience(Clock(), **config))


def test_make_resumable_adds_background_and_store_and_makes_a_cut_resumable() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.reset(after_events=7)])
    client = _client(fake, stream=rr.StreamPolicy(make_resumable=True))
    with client.responses.create(**request_kwargs(12, background=False), stream=True) as s:
        check_complete(list(s), fault_free_text(12))
    body = fake.requests[0].json
    assert body["background"] is True
    assert body["store"] is True
    assert body["stream"] is True
    assert fake.requests[1].method == "GET"
    assert fake.requests[1].query["starting_after"] == "6"


def test_make_resumable_applies_to_the_stream_helper_too() -> None:
    fake = FakeResponsesAPI()
    client = _client(fake, stream=rr.StreamPolicy(make_resumable=True))
    with client.responses.stream(model=MODEL, input="hi") as s:
        s.until_done()
    assert fake.requests[0].json["background"] is True
    assert fake.requests[0].json["store"] is True


def test_make_resumable_leaves_a_request_with_store_false_a_plain_stream() -> None:
    """The API refuses a background response that may not be stored (400 "Background
    responses require store=true"): such a request is sent as given, and still streams.
    The chat adapter sends ``store=False`` unless told otherwise, so its streams too."""
    fake = FakeResponsesAPI()
    client = _client(fake, stream=rr.StreamPolicy(make_resumable=True))
    with client.responses.create(
        **request_kwargs(5, background=False), stream=True, store=False
    ) as s:
        check_complete(list(s), fault_free_text(5))
    assert "background" not in fake.requests[0].json
    assert fake.requests[0].json["store"] is False
    chunks = rr.ChatCompletionsAdapter(client).create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "background" not in fake.requests[1].json
    assert fake.requests[1].json["store"] is False


def test_without_make_resumable_the_body_is_untouched() -> None:
    fake = FakeResponsesAPI()
    with _client(fake).responses.create(model=MODEL, input="hi", stream=True) as s:
        list(s)
    assert "background" not in fake.requests[0].json
    assert "store" not in fake.requests[0].json


def test_response_id_follows_the_stream() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.reset(after_events=1)])
    s = _client(fake).responses.create(model=MODEL, input="hi", stream=True)
    assert s.response_id is None
    first = next(s)
    assert s.response_id == first.response.id
    events = [first, *s]
    # Restarted: the id is the new response's.
    assert s.response_id == events[-1].response.id != first.response.id


def test_response_headers_are_the_live_http_response_headers() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.reset(after_events=6)])
    s = _client(fake).responses.create(**request_kwargs(12, background=True), stream=True)
    assert s.response.headers["x-request-id"] == "req_1"
    assert s.response.status_code == 200
    for _ in range(7):
        next(s)
    assert s.response.headers["x-request-id"] == "req_2"  # the resume's response
    s.close()


def test_response_headers_stay_readable_after_the_stream_completed() -> None:
    fake = FakeResponsesAPI()
    s = _client(fake).responses.create(model=MODEL, input="hi", stream=True)
    list(s)
    assert s.response.headers["x-request-id"] == "req_1"
