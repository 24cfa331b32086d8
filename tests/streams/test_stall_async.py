"""Stalls (async): the idle timeout is the read timeout; a stall is resumed or restarted."""

from __future__ import annotations

import openai
import pytest

import resilient_responses as rr
from resilient_responses.testing import FakeResponsesAPI, Fault

from ._support import Clock, aresilience, check_complete, fault_free_text, request_kwargs


def _client(fake: FakeResponsesAPI, policy: rr.StreamPolicy) -> rr.AsyncResilientOpenAI:
    return rr.AsyncResilientOpenAI(
        fake.async_client(), resilience=aresilience(Clock(), stream=policy)
    )


async def _consume(client: rr.AsyncResilientOpenAI, *, background: bool) -> list[object]:
    events: list[object] = []
    async with await client.responses.create(
        **request_kwargs(12, background=background), stream=True
    ) as s:
        async for event in s:
            events.append(event)  # noqa: PERF401
    return events


async def test_async_virtual_stall_longer_than_idle_timeout_resumes_from_the_last_event() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.stall(after_events=6, seconds=5)])
    client = _client(fake, rr.StreamPolicy(idle_timeout=0.5))
    check_complete(await _consume(client, background=True), fault_free_text(12))
    assert fake.requests[0].fault == Fault.stall(after_events=6, seconds=5)
    assert fake.requests[1].query["starting_after"] == "5"
    assert client.resilience.stats().total.failures_by_status.get("stream_stalled") == 1


async def test_async_stall_shorter_than_idle_timeout_is_not_a_fault() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.stall(after_events=6, seconds=5)])
    client = _client(fake, rr.StreamPolicy(idle_timeout=10))
    check_complete(await _consume(client, background=True), fault_free_text(12))
    assert len(fake.requests) == 1


async def test_async_first_event_timeout_governs_the_first_connection_before_any_event() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.stall(after_events=0, seconds=5)])
    client = _client(fake, rr.StreamPolicy(idle_timeout=0.5, first_event_timeout=10))
    check_complete(await _consume(client, background=True), fault_free_text(12))
    assert len(fake.requests) == 1


async def test_async_first_event_timeout_shorter_than_a_stall_restarts() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.stall(after_events=0, seconds=5)])
    client = _client(fake, rr.StreamPolicy(idle_timeout=30, first_event_timeout=2))
    check_complete(await _consume(client, background=True), fault_free_text(12))
    assert [r.method for r in fake.requests] == ["POST", "POST"]


async def test_async_idle_timeout_governs_resume_connections_after_the_first_event() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.reset(after_events=6), Fault.stall(after_events=0, seconds=1)])
    client = _client(fake, rr.StreamPolicy(idle_timeout=0.5, first_event_timeout=10))
    check_complete(await _consume(client, background=True), fault_free_text(12))
    assert [r.query.get("starting_after") for r in fake.requests] == [None, "5", "5"]


async def test_async_stall_after_output_on_a_plain_stream_interrupts_with_stalled_reason() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.stall(after_events=6, seconds=5)])
    client = _client(fake, rr.StreamPolicy(idle_timeout=0.5))
    with pytest.raises(rr.StreamInterruptedError) as info:
        await _consume(client, background=False)
    assert info.value.reason == "stream_stalled"
    assert isinstance(info.value.__cause__, openai.APITimeoutError)
    assert info.value.last_sequence_number == 5
    assert fake.open_streams == 0
