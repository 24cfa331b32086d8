"""Stalls: ``idle_timeout`` / ``first_event_timeout`` are the read timeout; a stall is a fault."""

from __future__ import annotations

import time

import openai
import pytest

import resilient_responses as rr
from resilient_responses.testing import FakeResponsesAPI, Fault

from ._support import Clock, check_complete, drain, fault_free_text, request_kwargs, resilience


def _client(fake: FakeResponsesAPI, policy: rr.StreamPolicy) -> rr.ResilientOpenAI:
    return rr.ResilientOpenAI(fake.client(), resilience=resilience(Clock(), stream=policy))


def test_real_five_second_stall_is_resumed_within_two_seconds_with_idle_timeout() -> None:
    fake = FakeResponsesAPI(realtime=True)
    fake.plan([Fault.stall(after_events=6, seconds=5)])
    client = _client(fake, rr.StreamPolicy(idle_timeout=0.5))
    start = time.monotonic()
    with client.responses.create(**request_kwargs(12, background=True), stream=True) as s:
        events = list(s)
    elapsed = time.monotonic() - start
    assert elapsed < 2.0
    check_complete(events, fault_free_text(12))
    assert fake.requests[1].query["starting_after"] == "5"


def test_virtual_stall_longer_than_idle_timeout_resumes_from_the_last_event() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.stall(after_events=6, seconds=5)])
    client = _client(fake, rr.StreamPolicy(idle_timeout=0.5))
    with client.responses.create(**request_kwargs(12, background=True), stream=True) as s:
        events = list(s)
    check_complete(events, fault_free_text(12))
    assert fake.requests[0].fault == Fault.stall(after_events=6, seconds=5)
    assert fake.requests[1].method == "GET"
    assert fake.requests[1].query["starting_after"] == "5"
    stats = client.resilience.stats().total
    assert stats.resumes == 1
    assert stats.failures_by_status.get("stream_stalled") == 1


def test_stall_shorter_than_idle_timeout_is_not_a_fault() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.stall(after_events=6, seconds=5)])
    client = _client(fake, rr.StreamPolicy(idle_timeout=10))
    with client.responses.create(**request_kwargs(12, background=True), stream=True) as s:
        check_complete(list(s), fault_free_text(12))
    assert len(fake.requests) == 1


def test_without_idle_timeout_the_sdk_read_timeout_applies() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.stall(after_events=6, seconds=5)])
    client = rr.ResilientOpenAI(
        fake.client(timeout=openai.Timeout(60, read=2)), resilience=resilience(Clock())
    )
    with client.responses.create(**request_kwargs(12, background=True), stream=True) as s:
        check_complete(list(s), fault_free_text(12))
    assert len(fake.requests) == 2


def test_first_event_timeout_governs_the_first_connection_before_any_event() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.stall(after_events=0, seconds=5)])
    policy = rr.StreamPolicy(idle_timeout=0.5, first_event_timeout=10)
    client = _client(fake, policy)
    with client.responses.create(**request_kwargs(12, background=True), stream=True) as s:
        check_complete(list(s), fault_free_text(12))
    assert len(fake.requests) == 1  # 5 s of silence is fine before the first event


def test_first_event_timeout_shorter_than_a_stall_before_any_event_restarts() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.stall(after_events=0, seconds=5)])
    client = _client(fake, rr.StreamPolicy(idle_timeout=30, first_event_timeout=2))
    with client.responses.create(**request_kwargs(12, background=True), stream=True) as s:
        check_complete(list(s), fault_free_text(12))
    assert [r.method for r in fake.requests] == ["POST", "POST"]  # nothing seen: a restart
    assert client.resilience.stats().total.restarts == 1


def test_idle_timeout_governs_resume_connections_after_the_first_event() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.reset(after_events=6), Fault.stall(after_events=0, seconds=1)])
    client = _client(fake, rr.StreamPolicy(idle_timeout=0.5, first_event_timeout=10))
    with client.responses.create(**request_kwargs(12, background=True), stream=True) as s:
        check_complete(list(s), fault_free_text(12))
    assert [r.query.get("starting_after") for r in fake.requests] == [None, "5", "5"]


def test_stall_after_output_on_a_plain_stream_interrupts_with_stalled_reason() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.stall(after_events=6, seconds=5)])
    client = _client(fake, rr.StreamPolicy(idle_timeout=0.5))
    got: list[object] = []
    s = client.responses.create(**request_kwargs(12, background=False), stream=True)
    with pytest.raises(rr.StreamInterruptedError) as info:
        drain(s, got)
    assert len(got) == 6
    assert info.value.reason == "stream_stalled"
    assert isinstance(info.value.__cause__, openai.APITimeoutError)
    assert info.value.last_sequence_number == 5
    assert fake.open_streams == 0
