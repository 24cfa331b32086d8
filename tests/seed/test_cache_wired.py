"""Resilience(cache=...) on the drop-in client: a repeated request sends one HTTP request;
a repeated stream replays identical events as the SDK's types; failed, incomplete,
interrupted or guarded responses are never served; hits and tokens saved are in stats()."""

from __future__ import annotations

import contextlib

import openai
import pytest

import resilient_responses as rr
from resilient_responses.testing import FakeResponsesAPI, Fault, set_testing

MODEL = "gpt-5-mini"


def _client(fake: FakeResponsesAPI, **config: object) -> rr.ResilientOpenAI:
    policy = rr.Resilience(cache=rr.ResponseCache(), breaker=None, **config)  # type: ignore[arg-type]
    return rr.ResilientOpenAI(fake.client(), resilience=policy)


def _aclient(fake: FakeResponsesAPI) -> rr.AsyncResilientOpenAI:
    policy = rr.Resilience(cache=rr.ResponseCache(), breaker=None)
    return rr.AsyncResilientOpenAI(fake.async_client(), resilience=policy)


def test_a_repeated_request_sends_one_http_request() -> None:
    fake = FakeResponsesAPI()
    client = _client(fake)
    first = client.responses.create(model=MODEL, input="What is 2+2?")
    second = client.responses.create(model=MODEL, input="What is 2+2?")
    assert len(fake.requests) == 1
    assert isinstance(second, openai.types.responses.Response)
    assert second.output_text == first.output_text
    assert second is not first  # a fresh copy per caller
    stats = client.resilience.stats()
    assert stats.cache is not None
    assert (stats.cache.hits, stats.cache.misses) == (1, 1)
    assert stats.cache.saved.total_tokens > 0
    assert stats.cache_usd_saved > 0


@pytest.mark.parametrize(
    ("other", "shared"),
    [
        ({"api_key": "sk-tenant-b"}, False),
        ({"organization": "org-b"}, False),
        ({"project": "proj-b"}, False),
        ({}, True),
    ],
)
def test_clients_of_another_account_never_share_cached_answers(
    other: dict[str, str], shared: bool
) -> None:
    """One Resilience shared by clients of several accounts (a multi-tenant service):
    an answer cached for one account is never served to another."""
    fake = FakeResponsesAPI()
    policy = rr.Resilience(cache=rr.ResponseCache(), breaker=None)
    tenant_a = rr.ResilientOpenAI(fake.client(api_key="sk-tenant-a"), resilience=policy)
    tenant_b = rr.ResilientOpenAI(
        fake.client(**{"api_key": "sk-tenant-a", **other}), resilience=policy
    )
    first = tenant_a.responses.create(model=MODEL, input="my data", metadata={"t": "a"})
    second = tenant_b.responses.create(model=MODEL, input="my data", metadata={"t": "a"})
    assert len(fake.requests) == (1 if shared else 2)
    assert (second.id == first.id) is shared
    assert tenant_a.responses.create(model=MODEL, input="my data", metadata={"t": "a"}).id == (
        first.id
    )


def test_a_different_request_misses() -> None:
    fake = FakeResponsesAPI()
    client = _client(fake)
    client.responses.create(model=MODEL, input="a")
    client.responses.create(model=MODEL, input="a", temperature=0.2)
    client.responses.create(model="gpt-5", input="a")
    assert len(fake.requests) == 3


def test_a_repeated_stream_replays_identical_events_fresh_for_each_consumer() -> None:
    fake = FakeResponsesAPI()
    client = _client(fake)
    live = list(client.responses.create(model=MODEL, input="a poem", stream=True))
    replay_one = client.responses.create(model=MODEL, input="a poem", stream=True)
    replay_two = client.responses.create(model=MODEL, input="a poem", stream=True)
    assert isinstance(replay_one, openai.Stream)
    one, two = list(replay_one), list(replay_two)
    assert len(fake.requests) == 1
    text = lambda events: "".join(  # noqa: E731
        e.delta for e in events if e.type == "response.output_text.delta"
    )
    assert text(one) == text(two) == text(live)
    assert [e.sequence_number for e in one] == list(range(len(one)))
    assert one[-1].response.id == live[-1].response.id
    assert one[0] is not two[0]


def test_a_plain_answer_is_served_to_a_stream_and_back() -> None:
    fake = FakeResponsesAPI()
    client = _client(fake)
    response = client.responses.create(model=MODEL, input="x")
    events = list(client.responses.create(model=MODEL, input="x", stream=True))
    assert events[-1].type == "response.completed"
    assert events[-1].response.output_text == response.output_text
    with client.responses.stream(model=MODEL, input="x") as stream:
        assert stream.get_final_response().output_text == response.output_text
    assert len(fake.requests) == 1


@pytest.mark.parametrize(
    "fault",
    [
        Fault.failed(after_events=3, code="invalid_prompt"),
        Fault.reset(after_events=5),
    ],
    ids=["failed", "interrupted"],
)
def test_failed_or_interrupted_streams_are_never_cached(fault: Fault) -> None:
    fake = FakeResponsesAPI()
    fake.plan([fault])
    client = _client(fake, stream=rr.StreamPolicy(recovery="raise"))
    with contextlib.suppress(rr.StreamInterruptedError):
        list(client.responses.create(model=MODEL, input="y", stream=True))
    list(client.responses.create(model=MODEL, input="y", stream=True))
    assert len(fake.requests) == 2


def test_a_failed_plain_response_is_never_cached() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.failed(after_events=2, code="invalid_prompt")])
    client = _client(fake)
    assert client.responses.create(model=MODEL, input="z").status == "failed"
    assert client.responses.create(model=MODEL, input="z").status == "completed"
    assert client.responses.create(model=MODEL, input="z").status == "completed"
    assert len(fake.requests) == 2


def test_a_stream_stopped_by_a_guard_is_never_cached() -> None:
    fake = FakeResponsesAPI()
    client = _client(fake)
    guard = rr.StreamGuard(lambda text: "flagged", every_chars=1)
    with pytest.raises(rr.GuardTripped):
        list(guard.iter(client.responses.create(model=MODEL, input="g", stream=True)))
    list(client.responses.create(model=MODEL, input="g", stream=True))
    assert len(fake.requests) == 2


def test_background_and_conversation_requests_are_not_cached() -> None:
    fake = FakeResponsesAPI()
    client = _client(fake)
    for _ in range(2):
        client.responses.create(model=MODEL, input="b", background=True)
        client.responses.create(model=MODEL, input="c", previous_response_id="resp_1")
    assert len(fake.requests) == 4


async def test_async_repeated_request_and_stream_hit_the_cache() -> None:
    fake = FakeResponsesAPI()
    client = _aclient(fake)
    first = await client.responses.create(model=MODEL, input="q")
    again = await client.responses.create(model=MODEL, input="q")
    stream = await client.responses.create(model=MODEL, input="q", stream=True)
    assert isinstance(stream, openai.AsyncStream)
    events = [e async for e in stream]
    assert again.output_text == first.output_text == events[-1].response.output_text
    assert len(fake.requests) == 1


def test_raw_responses_bypass_the_cache() -> None:
    fake = FakeResponsesAPI()
    client = _client(fake)
    with set_testing(True):
        client.responses.create(model=MODEL, input="r")
        raw = client.responses.with_raw_response.create(model=MODEL, input="r")
    assert raw.parse().status == "completed"
    assert len(fake.requests) == 2


def test_cache_stats_are_json_serialisable() -> None:
    import json

    fake = FakeResponsesAPI()
    client = _client(fake)
    for _ in range(3):
        client.responses.create(model=MODEL, input="j")
    data = json.loads(json.dumps(client.resilience.stats().as_dict()))
    assert data["cache"]["hits"] == 2
    assert data["cache"]["saved"]["output_tokens"] > 0
    assert data["cache_usd_saved"] > 0
