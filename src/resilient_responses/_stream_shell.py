"""The stream shells: ``openai.Stream`` / ``openai.AsyncStream`` subclasses that only do I/O.

A shell opens a connection through its opener, reads events, hands each to the stream
contract's core, and asks its :class:`~resilient_responses._stream_call.StreamCall` what to
do after a fault: sleep and reconnect (resume or restart), deliver and end, or raise. Both
shells have the same shape (``open``, ``_connect``, ``_events``, ``close``) and differ only
in ``await``. They are instances of the SDK's own stream types, so ``isinstance`` checks,
``with`` / ``async with``, ``close()`` / ``aclose()`` and ``.response`` all work as on the
SDK's streams.
"""

from __future__ import annotations

import sys
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Generator, Iterator
from typing import Any, TypeVar

import httpx2
import openai

from ._classify import Failure
from ._stream_call import OPEN_ERRORS, READ_ERRORS, TRUNCATED, StreamCall, stream_failure

__all__ = ["AsyncResilientStream", "ResilientStream"]

E = TypeVar("E")


class _ResponseHandle:
    """Stands in for ``stream.response``: forwards to the live HTTP response, and closing
    it closes the resilient stream (the SDK's helper keeps the first one it saw)."""

    __slots__ = ("_stream",)

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream._live_response(), name)

    def close(self) -> None:
        self._stream.close()

    async def aclose(self) -> None:
        await self._stream.close()


class _Surface:
    """What both shells show besides iteration: the live response and the response id."""

    _call: StreamCall
    _raw: Any
    _last_response: httpx2.Response | None

    @property
    def response(self) -> httpx2.Response:
        """The HTTP response being read (it changes after a resume or a restart)."""
        handle: Any = _ResponseHandle(self)
        return handle  # type: ignore[no-any-return]

    @response.setter
    def response(self, value: httpx2.Response) -> None:
        self._last_response = value

    @property
    def response_id(self) -> str | None:
        """The id of the response being streamed (``None`` before ``response.created``)."""
        return self._call.core.response_id

    def _live_response(self) -> httpx2.Response | None:
        raw = self._raw
        if raw is not None:
            self._last_response = raw.response
        return self._last_response


class ResilientStream(_Surface, openai.Stream[E]):
    """A resilient ``openai.Stream``: iterate it, use it in ``with``, ``close()`` it."""

    def __init__(self, call: StreamCall, opener: Callable[[StreamCall], Any]) -> None:
        # openai.Stream.__init__ needs a live response; ours come and go with reconnections.
        self._call = call
        self._opener = opener
        self._raw: Any = None
        self._last_response = None
        self._closed = False
        self._iterator: Generator[E, None, None] = self._events()
        # Dropped without being read or closed: still release the breaker admission and
        # end the call (a generator that never started runs no `finally`).
        weakref.finalize(self, call.state.abandon)

    @classmethod
    def open(cls, call: StreamCall, opener: Callable[[StreamCall], Any]) -> ResilientStream[E]:
        """Open the first connection (with retries) and return the stream."""
        stream: ResilientStream[E] = cls(call, opener)
        stream._connect(0.0)
        return stream

    def __next__(self) -> E:
        return self._iterator.__next__()

    def __iter__(self) -> Iterator[E]:
        # The generator itself: a `for` loop then skips the __next__ indirection.
        return self._iterator

    def close(self) -> None:
        """Close the HTTP response and stop; the consumer gets no more events."""
        if self._closed:
            return
        self._closed = True
        self._iterator.close()
        self._close_raw()
        self._call.state.abandon()

    def _close_raw(self) -> None:
        raw, self._raw = self._raw, None
        if raw is not None:
            # Kept so `stream.response` stays readable after the end, as on the SDK's.
            self._last_response = raw.response
            raw.close()

    def _connect(self, wait: float) -> None:
        """Sleep *wait*, then open a connection, until one opens or the call gives up."""
        call, engine = self._call, self._call.state.engine
        try:
            while self._raw is None:
                engine.sleep(wait)
                call.connecting()
                try:
                    call.state.begin()
                except OPEN_ERRORS as exc:
                    wait = call.refused(exc)
                    continue
                try:
                    self._raw = self._opener(call)
                except OPEN_ERRORS as exc:
                    wait = call.open_failed(exc)
        finally:
            if self._raw is None and not call.state.finished:  # left while waiting
                call.state.abandon(sys.exc_info()[1])

    def _events(self) -> Generator[E, None, None]:
        call, core = self._call, self._call.core
        try:
            while True:
                failure: Failure | None = TRUNCATED
                exc: BaseException | None = None
                wait: float | None = 0.0
                try:
                    for event in _events_of(self._raw):
                        verdict = core.accept(event)
                        if verdict == "deliver":
                            yield event
                        elif verdict == "end":
                            call.state.settle(getattr(event, "response", None))
                            yield event
                            return
                        elif verdict == "declared":
                            wait = call.declared(event)
                            if wait is None:
                                yield event
                                return
                            failure = None
                            break
                except READ_ERRORS as error:
                    failure, exc = stream_failure(error), error
                    if failure is None:
                        raise
                self._close_raw()
                self._connect(call.fault(failure, exc) if failure is not None else wait or 0.0)
        finally:
            self._close_raw()
            call.state.abandon(sys.exc_info()[1])


def _events_of(raw: Any) -> Any:
    """The SDK stream's own event generator: iterating it directly skips the generator
    layer ``Stream.__iter__`` adds around it (a cost paid per event)."""
    return getattr(raw, "_iterator", raw)


class AsyncResilientStream(_Surface, openai.AsyncStream[E]):
    """A resilient ``openai.AsyncStream``: ``async for``, ``async with``, ``aclose()``."""

    def __init__(self, call: StreamCall, opener: Callable[[StreamCall], Awaitable[Any]]) -> None:
        self._call = call
        self._opener = opener
        self._raw: Any = None
        self._last_response = None
        self._closed = False
        self._iterator: AsyncGenerator[E, None] = self._events()
        weakref.finalize(self, call.state.abandon)

    @classmethod
    async def open(
        cls, call: StreamCall, opener: Callable[[StreamCall], Awaitable[Any]]
    ) -> AsyncResilientStream[E]:
        """Open the first connection (with retries) and return the stream."""
        stream: AsyncResilientStream[E] = cls(call, opener)
        await stream._connect(0.0)
        return stream

    async def __anext__(self) -> E:
        return await self._iterator.__anext__()

    def __aiter__(self) -> AsyncIterator[E]:
        return self._iterator

    async def close(self) -> None:
        """Close the HTTP response and stop; the consumer gets no more events."""
        if self._closed:
            return
        self._closed = True
        await self._iterator.aclose()
        await self._close_raw()
        self._call.state.abandon()

    async def _close_raw(self) -> None:
        raw, self._raw = self._raw, None
        if raw is not None:
            self._last_response = raw.response
            await raw.close()

    async def _connect(self, wait: float) -> None:
        """Sleep *wait*, then open a connection, until one opens or the call gives up."""
        call, engine = self._call, self._call.state.engine
        try:
            while self._raw is None:
                await engine.asleep(wait)
                call.connecting()
                try:
                    await call.state.abegin()
                except OPEN_ERRORS as exc:
                    wait = call.refused(exc)
                    continue
                try:
                    self._raw = await self._opener(call)
                except OPEN_ERRORS as exc:
                    wait = await call.aopen_failed(exc)
        finally:
            if self._raw is None and not call.state.finished:  # left while waiting
                call.state.abandon(sys.exc_info()[1])

    async def _events(self) -> AsyncGenerator[E, None]:
        call, core = self._call, self._call.core
        try:
            while True:
                failure: Failure | None = TRUNCATED
                exc: BaseException | None = None
                wait: float | None = 0.0
                try:
                    async for event in _events_of(self._raw):
                        verdict = core.accept(event)
                        if verdict == "deliver":
                            yield event
                        elif verdict == "end":
                            await call.state.asettle(getattr(event, "response", None))
                            yield event
                            return
                        elif verdict == "declared":
                            wait = await call.adeclared(event)
                            if wait is None:
                                yield event
                                return
                            failure = None
                            break
                except READ_ERRORS as error:
                    failure, exc = stream_failure(error), error
                    if failure is None:
                        raise
                await self._close_raw()
                await self._connect(
                    await call.afault(failure, exc) if failure is not None else wait or 0.0
                )
        finally:
            await self._close_raw()
            call.state.abandon(sys.exc_info()[1])
