"""Items 6, 7 and 12: faults of our own side. A local pool timeout is its own failure kind
and never trips the breaker; malformed JSON mid-stream is a transport fault (resumed where
resumable, else ``StreamInterruptedError`` with the text received); a stream dropped
unread closes its HTTP response, so the pool does not run dry."""

from __future__ import annotations

import asyncio
import gc
import threading

import httpx2
import openai
import pytest

import resilient_responses as rr
from resilient_responses.testing import FakeResponsesAPI, Fault, set_testing

from ._support import KEY, MODEL, aread_into, read_into, resilience


def _one_connection(base_url: str, *, pool: float = 0.2) -> openai.OpenAI:
    http = openai.DefaultHttpxClient(
        limits=httpx2.Limits(max_connections=1), timeout=httpx2.Timeout(5.0, pool=pool)
    )
    return openai.OpenAI(base_url=base_url, api_key=KEY, http_client=http)


def _aone_connection(base_url: str, *, pool: float = 0.2) -> openai.AsyncOpenAI:
    http = openai.DefaultAsyncHttpxClient(
        limits=httpx2.Limits(max_connections=1), timeout=httpx2.Timeout(5.0, pool=pool)
    )
    return openai.AsyncOpenAI(base_url=base_url, api_key=KEY, http_client=http)


def test_pool_timeouts_are_their_own_kind_and_never_open_the_breaker(base_url: str) -> None:
    policy = resilience(attempts=2, breaker=rr.BreakerConfig(fail_max=2))
    client = rr.ResilientOpenAI(_one_connection(base_url), resilience=policy)
    holder = client.responses.create(model=MODEL, input="hold", stream=True)  # holds it
    with set_testing(True):
        for _ in range(4):
            with pytest.raises(openai.APITimeoutError):
                client.responses.create(model=MODEL, input="hi")
    stats = policy.stats()
    assert stats.total.failures_by_status.get("pool_timeout") == 8
    key = next(iter(stats.by_key))
    assert policy.breaker_state(key) == "closed"
    holder.close()
    assert client.responses.create(model=MODEL, input="hi").status == "completed"


def test_malformed_json_mid_stream_is_resumed_on_a_background_stream(
    fake: FakeResponsesAPI, base_url: str
) -> None:
    fake.plan([Fault.malformed(after_events=5)])
    client = rr.ResilientOpenAI(base_url=base_url, api_key=KEY, resilience=resilience())
    events = list(client.responses.create(model=MODEL, input="hi", stream=True, background=True))
    assert events[-1].type == "response.completed"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert fake.requests[-1].query["starting_after"] == "4"


def test_malformed_json_mid_stream_on_a_plain_stream_is_an_interruption(
    fake: FakeResponsesAPI, base_url: str
) -> None:
    fake.plan([Fault.malformed(after_events=5)])
    client = rr.ResilientOpenAI(base_url=base_url, api_key=KEY, resilience=resilience())
    seen: list[object] = []
    stream = client.responses.create(model=MODEL, input="hi", stream=True)
    with pytest.raises(rr.StreamInterruptedError) as raised:
        read_into(stream, seen)
    assert isinstance(raised.value, openai.APIConnectionError)
    assert raised.value.last_sequence_number == 4
    text = "".join(getattr(e, "delta", "") for e in seen if e.type.endswith("text.delta"))  # type: ignore[attr-defined]
    assert raised.value.partial_text == text
    assert client.resilience.stats().total.failures_by_status.get("connection") == 1


async def test_malformed_json_mid_stream_async(fake: FakeResponsesAPI, base_url: str) -> None:
    fake.plan([Fault.malformed(after_events=5)])
    client = rr.AsyncResilientOpenAI(base_url=base_url, api_key=KEY, resilience=resilience())
    events: list[object] = []
    await aread_into(
        await client.responses.create(model=MODEL, input="hi", stream=True, background=True),
        events,
    )
    assert events[-1].type == "response.completed"  # type: ignore[attr-defined]


def test_a_stream_dropped_unread_gives_its_connection_back(base_url: str) -> None:
    client = rr.ResilientOpenAI(_one_connection(base_url), resilience=resilience())
    stream = client.responses.create(model=MODEL, input="dropped", stream=True)
    del stream
    gc.collect()
    assert client.responses.create(model=MODEL, input="next").status == "completed"


async def test_an_async_stream_dropped_unread_gives_its_connection_back(base_url: str) -> None:
    client = rr.AsyncResilientOpenAI(_aone_connection(base_url), resilience=resilience())
    stream = await client.responses.create(model=MODEL, input="dropped", stream=True)
    del stream
    gc.collect()
    response = await client.responses.create(model=MODEL, input="next")
    assert response.status == "completed"


async def test_an_async_stream_collected_on_another_thread_is_closed_on_its_own_loop(
    base_url: str,
) -> None:
    # The collector runs wherever memory is allocated: here a thread whose own loop runs
    # the collection and is closed right after, so anything scheduled on it never runs.
    # The stream's response must be closed on the loop it was opened on.
    client = rr.AsyncResilientOpenAI(_aone_connection(base_url), resilience=resilience())
    stream = await client.responses.create(model=MODEL, input="dropped", stream=True)
    home = asyncio.get_running_loop()
    ran_on: list[asyncio.AbstractEventLoop] = []
    raw = stream._conn.raw
    real_close = raw.close

    async def close() -> None:
        ran_on.append(asyncio.get_running_loop())
        await real_close()

    raw.close = close

    def collect_elsewhere() -> None:
        elsewhere = asyncio.new_event_loop()

        async def collect() -> None:
            gc.collect()

        elsewhere.run_until_complete(collect())
        elsewhere.close()

    del stream
    thread = threading.Thread(target=collect_elsewhere)
    thread.start()
    thread.join()
    response = await client.responses.create(model=MODEL, input="next")
    assert response.status == "completed"
    assert ran_on == [home]
