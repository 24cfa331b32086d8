"""Item 3: completed streams give their connection back to the pool. 20 sequential
streams open at most 2 TCP connections (the raw SDK opens 1), sync and async,
``create(stream=True)`` and the ``stream()`` helper."""

from __future__ import annotations

import openai

import resilient_responses as rr
from resilient_responses.testing._http import ServerHandle

from ._support import KEY, MODEL, resilience


def test_raw_sdk_reuses_one_connection(base_url: str, server: ServerHandle) -> None:
    with openai.OpenAI(base_url=base_url, api_key=KEY) as client:
        for _ in range(20):
            list(client.responses.create(model=MODEL, input="hi", stream=True))
    assert server.connections == 1


def test_twenty_resilient_streams_reuse_their_connection_sync(
    base_url: str, server: ServerHandle
) -> None:
    with rr.ResilientOpenAI(base_url=base_url, api_key=KEY, resilience=resilience()) as client:
        for _ in range(10):
            events = list(client.responses.create(model=MODEL, input="hi", stream=True))
            assert events[-1].type == "response.completed"
        for _ in range(10):
            with client.responses.stream(model=MODEL, input="hi") as stream:
                assert stream.get_final_response().status == "completed"
    assert server.connections <= 2


async def test_twenty_resilient_streams_reuse_their_connection_async(
    base_url: str, server: ServerHandle
) -> None:
    client = rr.AsyncResilientOpenAI(base_url=base_url, api_key=KEY, resilience=resilience())
    async with client:
        for _ in range(10):
            events = [
                e async for e in await client.responses.create(model=MODEL, input="hi", stream=True)
            ]
            assert events[-1].type == "response.completed"
        for _ in range(10):
            async with client.responses.stream(model=MODEL, input="hi") as stream:
                assert (await stream.get_final_response()).status == "completed"
    assert server.connections <= 2
