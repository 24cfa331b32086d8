"""The fake against the real (sync) SDK: endpoints, wire format, every fault kind."""

from __future__ import annotations

import contextlib
import json
import time

import httpx2
import openai
import pytest
from openai.types.responses import (
    ResponseCompletedEvent,
    ResponseCreatedEvent,
    ResponseErrorEvent,
    ResponseFailedEvent,
    ResponseQueuedEvent,
    ResponseTextDeltaEvent,
)
from openai.types.responses.response_stream_event import ResponseStreamEvent

from resilient_responses.testing import Chaos, FakeResponsesAPI, Fault

MODEL = "gpt-5-mini"

EXPECTED_ORDER = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.content_part.added",
    *["response.output_text.delta"] * 12,
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.completed",
]


def _typed(events: list[ResponseStreamEvent]) -> None:
    # The SDK falls back to a generic model for unknown shapes; every event must be typed.
    for event in events:
        assert type(event).__module__.startswith("openai.types.responses."), type(event)


# -- the clean API ----------------------------------------------------------------------------


def test_create_plain(client: openai.OpenAI, fake: FakeResponsesAPI) -> None:
    response = client.responses.create(model=MODEL, input="hello there")
    assert response.status == "completed"
    assert len(response.output_text.split()) == 12
    again = client.responses.create(model=MODEL, input="hello there")
    assert again.output_text == response.output_text
    assert again.id != response.id
    other = client.responses.create(model=MODEL, input="something else")
    assert other.output_text != response.output_text
    usage = response.usage
    assert usage is not None
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (2, 12, 14)
    assert usage.input_tokens_details.cached_tokens == 0
    assert usage.output_tokens_details.reasoning_tokens == 0
    assert response._request_id == "req_1"


def test_headers_and_log(client: openai.OpenAI, fake: FakeResponsesAPI) -> None:
    raw = client.responses.with_raw_response.create(model=MODEL, input="hi")
    assert raw.headers["x-request-id"] == "req_1"
    assert raw.headers["content-type"] == "application/json"
    assert "openai-processing-ms" in raw.headers
    # No quota, no x-ratelimit-* headers (a Quota adds them: tests/testing/test_kit_quota.py).
    assert not any(name.startswith("x-ratelimit-") for name in raw.headers)
    (record,) = fake.requests
    assert (record.index, record.method, record.path) == (0, "POST", "/v1/responses")
    assert record.json == {"model": MODEL, "input": "hi"}
    assert record.headers["authorization"] == "<redacted>"
    assert "sk-fake" not in json.dumps(record.headers)
    assert (record.status, record.stream, record.fault) == (200, False, None)
    assert record.response_id == raw.parse().id
    assert fake.request_count("/responses", method="POST") == 1
    assert fake.request_count("/moderations") == 0


def test_text_callable_words_and_chunks() -> None:
    fake = FakeResponsesAPI(text=lambda body: f"echo {body['input']}", chunk_words=2)
    with fake.client(max_retries=0) as client:
        assert client.responses.create(model=MODEL, input="a b c").output_text == "echo a b c"
        events = list(client.responses.create(model=MODEL, input="a b c", stream=True))
        deltas = [e.delta for e in events if isinstance(e, ResponseTextDeltaEvent)]
        assert deltas == ["echo a ", "b c"]
    long = FakeResponsesAPI(output_words=3)
    with long.client(max_retries=0) as client:
        assert len(client.responses.create(model=MODEL, input="x").output_text.split()) == 3
        response = client.responses.create(
            model=MODEL, input="x", metadata={"fake_output_words": "200"}
        )
        assert len(response.output_text.split()) == 200
        with pytest.raises(openai.BadRequestError):
            client.responses.create(model=MODEL, input="x", metadata={"fake_output_words": "-1"})


def test_stream_wire_format(client: openai.OpenAI, fake: FakeResponsesAPI) -> None:
    stream = client.responses.create(model=MODEL, input="hello", stream=True)
    assert stream.response.headers["content-type"].startswith("text/event-stream")
    events = list(stream)
    _typed(events)
    assert [e.type for e in events] == EXPECTED_ORDER
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert isinstance(events[0], ResponseCreatedEvent)
    assert events[0].response.status == "in_progress"
    completed = events[-1]
    assert isinstance(completed, ResponseCompletedEvent)
    text = "".join(e.delta for e in events if isinstance(e, ResponseTextDeltaEvent))
    assert text == completed.response.output_text
    assert text == client.responses.create(model=MODEL, input="hello").output_text
    assert completed.response.usage is not None
    assert fake.requests[0].stream is True
    assert fake.open_streams == 0


def test_stream_helper_final_response(client: openai.OpenAI) -> None:
    with client.responses.stream(model=MODEL, input="hello") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert final.output_text == "".join(deltas)
    assert final.status == "completed"


def test_background_retrieve_and_replay(client: openai.OpenAI, fake: FakeResponsesAPI) -> None:
    created = client.responses.create(model=MODEL, input="long job", background=True)
    assert created.status in ("queued", "in_progress")
    assert created.output == []
    done = client.responses.retrieve(created.id)
    assert done.status == "completed"
    assert done.output_text
    replay = list(client.responses.retrieve(created.id, stream=True, starting_after=4))
    _typed(replay)
    assert replay[0].sequence_number == 5
    assert isinstance(replay[-1], ResponseCompletedEvent)
    assert fake.requests[-1].query == {"stream": "true", "starting_after": "4"}
    full = list(client.responses.retrieve(created.id, stream=True))
    assert [e.type for e in full[:3]] == [
        "response.created",
        "response.queued",
        "response.in_progress",
    ]
    assert isinstance(full[1], ResponseQueuedEvent)
    assert full[0].response.status == "queued"  # type: ignore[union-attr]
    assert [e.sequence_number for e in full] == list(range(len(full)))
    # The helper replays everything and filters client-side.
    with client.responses.stream(response_id=created.id, starting_after=10) as stream:
        later = list(stream)
        assert stream.get_final_response().output_text == done.output_text
    assert later[0].sequence_number == 11
    assert "starting_after" not in fake.requests[-1].query


def test_background_stream_create(client: openai.OpenAI) -> None:
    events = list(client.responses.create(model=MODEL, input="x", stream=True, background=True))
    _typed(events)
    assert events[1].type == "response.queued"
    resumed = list(
        client.responses.retrieve(
            events[0].response.id,  # type: ignore[union-attr]
            stream=True,
            starting_after=events[6].sequence_number,
        )
    )
    assert [e.sequence_number for e in events[:7] + resumed] == list(range(len(events)))


def test_cancel_delete_and_errors(client: openai.OpenAI, fake: FakeResponsesAPI) -> None:
    bg = client.responses.create(model=MODEL, input="x", background=True)
    cancelled = client.responses.cancel(bg.id)
    assert cancelled.status == "cancelled"
    assert client.responses.retrieve(bg.id).status == "cancelled"
    assert fake.requests[-2].path.endswith(f"/responses/{bg.id}/cancel")
    assert fake.requests[-2].response_id == bg.id
    plain = client.responses.create(model=MODEL, input="x")
    with pytest.raises(openai.BadRequestError):
        client.responses.cancel(plain.id)
    with pytest.raises(openai.BadRequestError):
        client.responses.retrieve(plain.id, stream=True)
    client.responses.delete(plain.id)
    with pytest.raises(openai.NotFoundError) as info:
        client.responses.retrieve(plain.id)
    assert isinstance(info.value.body, dict)
    assert info.value.type == "invalid_request_error"
    with pytest.raises(openai.NotFoundError):
        client.responses.cancel("resp_missing")
    with pytest.raises(openai.BadRequestError) as missing:
        client.responses.create(input="no model")
    assert missing.value.param == "model"
    assert missing.value.code == "missing_required_parameter"


def test_other_endpoints(client: openai.OpenAI, fake: FakeResponsesAPI) -> None:
    created = client.responses.create(model=MODEL, input="count these four words")
    items = client.responses.input_items.list(created.id)
    assert len(items.data) == 1
    assert items.data[0].type == "message"
    tokens = client.responses.input_tokens.count(model=MODEL, input="one two three")
    assert tokens.input_tokens == 3
    compacted = client.responses.compact(model=MODEL, input="a b c d e")
    assert compacted.object == "response.compaction"
    assert compacted.output
    fake.flagged_words.add("forbidden")
    moderation = client.moderations.create(input=["all fine", "a Forbidden word"])
    assert [r.flagged for r in moderation.results] == [False, True]
    assert moderation.results[1].categories.violence is True


# -- faults before the response -----------------------------------------------------------


def test_status_faults(client: openai.OpenAI, fake: FakeResponsesAPI) -> None:
    fake.plan(
        [
            Fault.status(429, retry_after=7),
            Fault.status(429, code="insufficient_quota"),
            Fault.status(503, retry_after_ms=1500),
            Fault.status(400),
        ]
    )
    with pytest.raises(openai.RateLimitError) as rate:
        client.responses.create(model=MODEL, input="x")
    assert rate.value.code == "rate_limit_exceeded"
    assert rate.value.response.headers["retry-after"] == "7"
    assert rate.value.request_id == "req_1"
    with pytest.raises(openai.RateLimitError) as quota:
        client.responses.create(model=MODEL, input="x")
    assert quota.value.code == "insufficient_quota"
    assert quota.value.type == "insufficient_quota"
    with pytest.raises(openai.InternalServerError) as down:
        client.responses.create(model=MODEL, input="x", stream=True)
    assert down.value.status_code == 503
    assert down.value.response.headers["retry-after-ms"] == "1500"
    with pytest.raises(openai.BadRequestError):
        client.responses.create(model=MODEL, input="x")
    assert [r.status for r in fake.requests] == [429, 429, 503, 400]
    assert fake.requests[1].fault == Fault.status(429, code="insufficient_quota")
    assert fake.open_streams == 0


def test_sdk_retries_follow_the_plan(fake: FakeResponsesAPI) -> None:
    fake.plan([Fault.status(503, retry_after_ms=1), Fault.status(429, retry_after_ms=1)])
    with fake.client() as client:  # SDK default: 2 retries
        raw = client.responses.with_raw_response.create(model=MODEL, input="x")
    assert raw.retries_taken == 2
    assert [r.status for r in fake.requests] == [503, 429, 200]
    assert [r.headers["x-stainless-retry-count"] for r in fake.requests] == ["0", "1", "2"]


def test_plan_then_outage_and_reset(client: openai.OpenAI, fake: FakeResponsesAPI) -> None:
    fake.plan([None], then=Fault.status(503))
    client.responses.create(model=MODEL, input="x")
    for _ in range(3):
        with pytest.raises(openai.InternalServerError):
            client.responses.create(model=MODEL, input="x")
    fake.reset_plan()
    client.responses.create(model=MODEL, input="x")
    assert [r.status for r in fake.requests] == [200, 503, 503, 503, 200]
    with pytest.raises(TypeError):
        fake.plan(["nope"])  # type: ignore[list-item]


def test_faults_apply_to_any_endpoint(client: openai.OpenAI, fake: FakeResponsesAPI) -> None:
    created = client.responses.create(model=MODEL, input="x", background=True)
    fake.plan([Fault.status(500), Fault.connect_error()])
    with pytest.raises(openai.InternalServerError):
        client.responses.retrieve(created.id)
    with pytest.raises(openai.APIConnectionError):
        client.moderations.create(input="x")


def test_connect_error(client: openai.OpenAI, fake: FakeResponsesAPI) -> None:
    fake.plan([Fault.connect_error()])
    with pytest.raises(openai.APIConnectionError) as info:
        client.responses.create(model=MODEL, input="x")
    assert not isinstance(info.value, openai.APITimeoutError)
    assert fake.requests[0].status is None
    assert fake.requests[0].response_id is not None  # would have been created


def test_timeout(client: openai.OpenAI, fake: FakeResponsesAPI) -> None:
    fake.plan([Fault.timeout(seconds=60)])
    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        client.responses.create(model=MODEL, input="x", stream=True)
    assert time.monotonic() - started < 5  # virtual: no waiting
    assert fake.requests[0].status is None
    assert fake.open_streams == 0


# -- faults in the stream -------------------------------------------------------------------


def test_reset_mid_stream(client: openai.OpenAI, fake: FakeResponsesAPI) -> None:
    fake.plan([Fault.reset(after_events=5)])
    seen: list[ResponseStreamEvent] = []
    with pytest.raises(openai.APIConnectionError) as info:
        seen.extend(client.responses.create(model=MODEL, input="x", stream=True))
    assert not isinstance(info.value, openai.APITimeoutError)
    assert [e.sequence_number for e in seen] == [0, 1, 2, 3, 4]
    assert fake.open_streams == 0
    assert fake.requests[0].status == 200


def test_reset_at_zero_and_after_the_end(client: openai.OpenAI, fake: FakeResponsesAPI) -> None:
    fake.plan([Fault.reset(after_events=0), Fault.reset(after_events=999)])
    with pytest.raises(openai.APIConnectionError):
        list(client.responses.create(model=MODEL, input="x", stream=True))
    seen: list[ResponseStreamEvent] = []
    with pytest.raises(openai.APIConnectionError):
        seen.extend(client.responses.create(model=MODEL, input="x", stream=True))
    assert isinstance(seen[-1], ResponseCompletedEvent)  # reset after the terminal event


def test_truncate_ends_silently(client: openai.OpenAI, fake: FakeResponsesAPI) -> None:
    fake.plan([Fault.truncate(after_events=6)])
    events = list(client.responses.create(model=MODEL, input="x", stream=True))
    assert [e.sequence_number for e in events] == list(range(6))
    assert not any(e.type == "response.completed" for e in events)
    assert fake.open_streams == 0


def test_stall_virtual_time(client: openai.OpenAI, fake: FakeResponsesAPI) -> None:
    fake.plan([Fault.stall(after_events=3, seconds=60), Fault.stall(after_events=3, seconds=60)])
    started = time.monotonic()
    seen: list[ResponseStreamEvent] = []
    with pytest.raises(openai.APITimeoutError):
        seen.extend(
            client.with_options(timeout=5).responses.create(model=MODEL, input="x", stream=True)
        )
    assert len(seen) == 3
    # The default read timeout (600 s) outlasts the stall: the stream just goes on.
    events = list(client.responses.create(model=MODEL, input="x", stream=True))
    assert events[-1].type == "response.completed"
    assert time.monotonic() - started < 5
    assert fake.open_streams == 0


def test_stall_reads_the_timeout_when_it_happens(
    client: openai.OpenAI, fake: FakeResponsesAPI
) -> None:
    fake.plan([Fault.stall(after_events=2, seconds=30)])
    stream = client.responses.create(model=MODEL, input="x", stream=True)
    events = iter(stream)
    first = next(events)
    assert first.sequence_number == 0
    # A caller may lower the read timeout in place after the first event.
    stream.response.request.extensions["timeout"]["read"] = 1.0
    assert next(events).sequence_number == 1
    with pytest.raises(openai.APITimeoutError):
        next(events)
    assert fake.open_streams == 0


def test_stall_realtime() -> None:
    fake = FakeResponsesAPI(realtime=True)
    fake.plan([Fault.stall(after_events=2, seconds=0.2), Fault.stall(after_events=2, seconds=5)])
    with fake.client(max_retries=0) as client:
        started = time.monotonic()
        events = list(client.responses.create(model=MODEL, input="x", stream=True))
        assert events[-1].type == "response.completed"
        assert time.monotonic() - started >= 0.18
        started = time.monotonic()
        with pytest.raises(openai.APITimeoutError):
            list(
                client.with_options(timeout=0.2).responses.create(
                    model=MODEL, input="x", stream=True
                )
            )
        assert 0.15 <= time.monotonic() - started < 3


def test_several_stalls_and_latency(client: openai.OpenAI, fake: FakeResponsesAPI) -> None:
    fake.plan(
        [
            Fault.latency(0.05)
            + Fault.stall(after_events=1, seconds=2)
            + Fault.stall(after_events=4, seconds=20)
            + Fault.truncate(after_events=8)
        ]
    )
    started = time.monotonic()
    seen: list[ResponseStreamEvent] = []
    with pytest.raises(openai.APITimeoutError):
        seen.extend(
            client.with_options(timeout=10).responses.create(model=MODEL, input="x", stream=True)
        )
    assert len(seen) == 4
    assert time.monotonic() - started >= 0.04


def test_error_event(client: openai.OpenAI, fake: FakeResponsesAPI) -> None:
    fake.plan([Fault.error_event(after_events=4, code="rate_limit_exceeded", message="slow down")])
    events = list(client.responses.create(model=MODEL, input="x", stream=True))
    assert len(events) == 5
    last = events[-1]
    assert isinstance(last, ResponseErrorEvent)
    assert (last.code, last.message, last.param, last.sequence_number) == (
        "rate_limit_exceeded",
        "slow down",
        None,
        4,
    )
    assert fake.open_streams == 0


def test_failed_event(client: openai.OpenAI, fake: FakeResponsesAPI) -> None:
    fake.plan([Fault.failed(after_events=3)])
    events = list(client.responses.create(model=MODEL, input="x", stream=True))
    last = events[-1]
    assert isinstance(last, ResponseFailedEvent)
    assert last.sequence_number == 3
    assert last.response.status == "failed"
    assert last.response.error is not None
    assert last.response.error.code == "server_error"


def test_failed_background_is_stored_failed(client: openai.OpenAI, fake: FakeResponsesAPI) -> None:
    fake.plan([Fault.failed(after_events=6)])
    events = list(client.responses.create(model=MODEL, input="x", stream=True, background=True))
    response_id = events[0].response.id  # type: ignore[union-attr]
    assert client.responses.retrieve(response_id).status == "failed"
    replay = list(client.responses.retrieve(response_id, stream=True, starting_after=4))
    assert [e.type for e in replay] == ["response.output_text.delta", "response.failed"]


def test_stream_faults_on_plain_requests(client: openai.OpenAI, fake: FakeResponsesAPI) -> None:
    fake.plan(
        [
            Fault.reset(after_events=3),
            Fault.truncate(after_events=3),
            Fault.error_event(after_events=3),
            Fault.failed(after_events=3, code="server_error"),
            Fault.stall(after_events=3, seconds=60),
        ]
    )
    with pytest.raises(openai.APIConnectionError):
        client.responses.create(model=MODEL, input="x")
    # Half a JSON body that ends cleanly: the SDK's JSON parser fails (not an OpenAIError).
    with pytest.raises(json.JSONDecodeError):
        client.responses.create(model=MODEL, input="x")
    for _ in range(2):
        response = client.responses.create(model=MODEL, input="x")
        assert response.status == "failed"
        assert response.error is not None
        assert response.error.code == "server_error"
    with pytest.raises(openai.APITimeoutError):
        client.with_options(timeout=5).responses.create(model=MODEL, input="x")
    assert fake.requests[-1].status is None


# -- stream bookkeeping ----------------------------------------------------------------------


def test_open_streams_tracks_closing(client: openai.OpenAI, fake: FakeResponsesAPI) -> None:
    first = client.responses.create(model=MODEL, input="x", stream=True)
    second = client.responses.create(model=MODEL, input="x", stream=True)
    assert fake.open_streams == 2
    next(iter(first))
    first.close()
    assert fake.open_streams == 1
    with second:
        next(iter(second))
    assert fake.open_streams == 0
    with client.responses.stream(model=MODEL, input="x") as helper:
        next(iter(helper))
        assert fake.open_streams == 1
    assert fake.open_streams == 0


def test_chaos_on_the_fake_is_reproducible() -> None:
    def run(seed: int) -> list[str]:
        fake = FakeResponsesAPI()
        fake.chaos(Chaos.mix("default", seed=seed, stall_seconds=60))
        with fake.client(max_retries=0, timeout=5) as client:
            for _ in range(40):
                with contextlib.suppress(openai.APIError):
                    list(client.responses.create(model=MODEL, input="x", stream=True))
        assert fake.open_streams == 0
        return [repr(r.fault) for r in fake.requests]

    first = run(11)
    assert first == run(11)
    assert first != run(12)
    assert any(f != "None" for f in first)
    assert "None" in first


def test_paths_without_v1_prefix_and_unknown_routes(fake: FakeResponsesAPI) -> None:
    with httpx2.Client(transport=fake.transport, base_url="http://fake.openai.test") as http:
        created = http.post("/responses", json={"model": MODEL, "input": "hi"})
        assert created.status_code == 200
        assert http.get(f"/responses/{created.json()['id']}").json()["status"] == "completed"
        unknown = http.get("/v1/nothing")
        assert unknown.status_code == 404
        assert unknown.json()["error"]["type"] == "invalid_request_error"
        assert http.post("/responses", content=b"{not json").status_code == 400
    assert [r.path for r in fake.requests] == [
        "/responses",
        f"/responses/{created.json()['id']}",
        "/v1/nothing",
        "/responses",
    ]


def test_stall_before_a_status_answer(client: openai.OpenAI, fake: FakeResponsesAPI) -> None:
    fake.plan(
        [Fault.stall(seconds=30) + Fault.status(500), Fault.stall(seconds=1) + Fault.status(500)]
    )
    with pytest.raises(openai.APITimeoutError):
        client.with_options(timeout=2).responses.create(model=MODEL, input="x")
    with pytest.raises(openai.InternalServerError):
        client.with_options(timeout=2).responses.create(model=MODEL, input="x")
    assert [r.status for r in fake.requests] == [None, 500]


def test_faults_on_a_replay_keep_absolute_sequence_numbers(
    client: openai.OpenAI, fake: FakeResponsesAPI
) -> None:
    bg = client.responses.create(model=MODEL, input="x", background=True)
    fake.plan([Fault.error_event(after_events=2), None, Fault.failed(after_events=1)])
    errored = list(client.responses.retrieve(bg.id, stream=True, starting_after=5))
    assert [e.sequence_number for e in errored] == [6, 7, 8]
    assert isinstance(errored[-1], ResponseErrorEvent)
    assert client.responses.retrieve(bg.id).status == "completed"  # a transient error
    failed = list(client.responses.retrieve(bg.id, stream=True, starting_after=5))
    assert [e.sequence_number for e in failed] == [6, 7]
    assert isinstance(failed[-1], ResponseFailedEvent)
    assert client.responses.retrieve(bg.id).status == "failed"
    # Nothing left to replay: the fault has nothing to cut.
    fake.plan([Fault.error_event(after_events=0)])
    assert list(client.responses.retrieve(bg.id, stream=True, starting_after=99)) == []
