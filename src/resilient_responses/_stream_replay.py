"""Streams answered from the response cache: the SDK's stream types over replayed events.

A cached stream is an ``openai.Stream`` / ``openai.AsyncStream`` like every resilient
stream, so consumer code (and the SDK's ``responses.stream()`` helper) cannot tell it from
a live one. Its events come from
:func:`~resilient_responses._cache.replay_events`, built fresh for every consumer; its
``response`` is a synthetic ``200 text/event-stream`` answer with no network behind it.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator
from typing import Any, TypeVar

import httpx2
import openai

__all__ = ["AsyncReplayStream", "ReplayStream"]

E = TypeVar("E")

_CACHE_HEADERS = {"content-type": "text/event-stream", "x-resilient-responses-cache": "hit"}


def _answer(url: str) -> httpx2.Response:
    """The HTTP answer a cached stream shows as ``.response``: nothing was sent."""
    return httpx2.Response(
        200, headers=_CACHE_HEADERS, request=httpx2.Request("POST", f"{url.rstrip('/')}/responses")
    )


class ReplayStream(openai.Stream[E]):
    """A cached response's events as an ``openai.Stream``."""

    def __init__(self, events: list[E], base_url: str) -> None:
        # openai.Stream.__init__ needs a live client and response; there are none here.
        self.response = _answer(base_url)
        self._iterator: Generator[E, None, None] = self._events(events)

    @staticmethod
    def _events(events: list[E]) -> Generator[E, None, None]:
        yield from events

    def __next__(self) -> E:
        return self._iterator.__next__()

    def __iter__(self) -> Iterator[E]:
        return self._iterator

    def close(self) -> None:
        self._iterator.close()


class AsyncReplayStream(openai.AsyncStream[E]):
    """A cached response's events as an ``openai.AsyncStream``."""

    def __init__(self, events: list[E], base_url: str) -> None:
        self.response = _answer(base_url)
        self._iterator: AsyncGenerator[E, None] = self._events(events)

    @staticmethod
    async def _events(events: list[E]) -> AsyncGenerator[E, None]:
        for event in events:
            yield event

    async def __anext__(self) -> E:
        return await self._iterator.__anext__()

    def __aiter__(self) -> AsyncIterator[E]:
        return self._iterator

    async def close(self) -> None:
        await self._iterator.aclose()


def replayed(events: list[Any], base_url: str, *, asynchronous: bool) -> Any:
    """A replay stream of the right kind."""
    return (AsyncReplayStream if asynchronous else ReplayStream)(events, base_url)
