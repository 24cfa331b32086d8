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

import asyncio
import contextlib
import inspect
import itertools
import sys
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Generator, Iterator
from typing import Any, TypeVar

import httpx2
import openai

from ._classify import Failure
from ._request import sending, sent
from ._stream_call import (
    OPEN_ERRORS,
    OUT_OF_SEQUENCE,
    READ_ERRORS,
    TRUNCATED,
    StreamCall,
    stream_failure,
)

__all__ = ["AsyncResilientStream", "ResilientStream"]

E = TypeVar("E")


#: After the terminal event the rest of the body is read, so the connection goes back to
#: the pool: at most this many stray events, and (async) this many seconds.
_DRAIN_EVENTS = 16
_DRAIN_SECONDS = 0.1
#: Close tasks of async streams dropped unread, kept alive until they finish.
_CLOSING: set[asyncio.Task[None]] = set()


class _Connection:
    """The live SDK stream of a resilient stream (one per connection), kept apart from
    the shell so the shell's finalizer can close it."""

    __slots__ = ("last_response", "raw")

    def __init__(self) -> None:
        self.raw: Any = None
        self.last_response: httpx2.Response | None = None

    def take(self) -> Any:
        raw, self.raw = self.raw, None
        if raw is not None:
            # Kept so `stream.response` stays readable after the end, as on the SDK's.
            self.last_response = raw.response
        return raw


def _dropped(
    state: Any, conn: _Connection, home: weakref.ReferenceType[asyncio.AbstractEventLoop] | None
) -> None:
    """A stream garbage-collected before it was read to the end or closed: close its HTTP
    response (its pooled connection would leak otherwise) and end its call.

    An async stream's response is closed on *home*, the loop the stream was opened on:
    the collector runs wherever memory happens to be allocated, which may be another
    thread with a loop of its own (an in-process server, a worker), and that loop must
    never touch this one's sockets.
    """
    raw = conn.take()
    if raw is not None:
        closed = raw.close()
        if inspect.iscoroutine(closed):
            _close_on(home() if home is not None else None, closed)
    state.abandon()


def _close_on(loop: asyncio.AbstractEventLoop | None, closing: Any) -> None:
    """Run the coroutine *closing* on *loop* from any thread; drop it unrun if the loop is
    gone (its sockets went with it)."""
    if loop is None or loop.is_closed():
        closing.close()
        return
    try:
        running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        _keep(loop.create_task(closing))
        return
    try:
        loop.call_soon_threadsafe(lambda: _keep(loop.create_task(closing)))
    except RuntimeError:  # closed meanwhile
        closing.close()


def _keep(task: asyncio.Task[None]) -> None:
    _CLOSING.add(task)
    task.add_done_callback(_CLOSING.discard)


def _home_loop() -> weakref.ReferenceType[asyncio.AbstractEventLoop] | None:
    try:
        return weakref.ref(asyncio.get_running_loop())
    except RuntimeError:  # built outside a loop: it is opened (and so lives) in one later
        return None


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
    _conn: _Connection

    @property
    def response(self) -> httpx2.Response:
        """The HTTP response being read (it changes after a resume or a restart)."""
        handle: Any = _ResponseHandle(self)
        return handle  # type: ignore[no-any-return]

    @response.setter
    def response(self, value: httpx2.Response) -> None:
        self._conn.last_response = value

    @property
    def response_id(self) -> str | None:
        """The id of the response being streamed (``None`` before ``response.created``)."""
        return self._call.core.response_id

    def _live_response(self) -> httpx2.Response | None:
        conn = self._conn
        return conn.raw.response if conn.raw is not None else conn.last_response


class ResilientStream(_Surface, openai.Stream[E]):
    """A resilient ``openai.Stream``: iterate it, use it in ``with``, ``close()`` it."""

    def __init__(self, call: StreamCall, opener: Callable[[StreamCall], Any]) -> None:
        # openai.Stream.__init__ needs a live response; ours come and go with reconnections.
        self._call = call
        self._opener = opener
        self._conn = _Connection()
        self._closed = False
        self._iterator: Generator[E, None, None] = self._events()
        # Dropped without being read or closed: close the HTTP response, release the
        # breaker admission, end the call (a generator never started runs no `finally`).
        weakref.finalize(self, _dropped, call.state, self._conn, None)

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
        raw = self._conn.take()
        if raw is not None:
            raw.close()

    def _connect(self, wait: float) -> None:
        """Sleep *wait*, then open a connection, until one opens or the call gives up."""
        call, conn, engine = self._call, self._conn, self._call.state.engine
        try:
            while conn.raw is None:
                if wait > 0:
                    engine.sleep(wait)
                call.connecting()
                try:
                    call.state.begin()
                except OPEN_ERRORS as exc:
                    wait = call.refused(exc)
                    continue
                token = sending(call.state)
                try:
                    conn.raw = self._opener(call)
                except OPEN_ERRORS as exc:
                    wait = call.open_failed(exc)
                finally:
                    sent(token)
        finally:
            if conn.raw is None and not call.state.finished:  # left while waiting
                call.state.abandon(sys.exc_info()[1])

    def _events(self) -> Generator[E, None, None]:
        call, core, state = self._call, self._call.core, self._call.state
        try:
            while True:
                failure: Failure | None = TRUNCATED
                exc: BaseException | None = None
                wait: float | None = 0.0
                probe = state.holds_probe()
                events = _events_of(self._conn.raw)
                try:
                    for event in events:
                        verdict = core.accept(event)
                        if probe:  # the server answered: the breaker's verdict, now
                            probe = state.answered(verdict)
                        if verdict == "deliver":
                            # Yielded without keeping a reference while suspended: a
                            # stream waiting for its consumer must not hold the last
                            # event (response.created carries a whole Response).
                            yield (event, event := None)[0]
                        elif verdict == "end":
                            state.settle(getattr(event, "response", None))
                            yield event
                            _drain(events)
                            call.completed(event)
                            return
                        elif verdict == "declared":
                            wait = call.declared(event)
                            if wait is None:
                                yield event
                                return
                            failure = None
                            break
                        elif verdict == "fault":
                            failure = OUT_OF_SEQUENCE
                            break
                except READ_ERRORS as error:
                    failure, exc = stream_failure(error), error
                    if failure is None:
                        raise
                self._close_raw()
                self._connect(call.fault(failure, exc) if failure is not None else wait or 0.0)
        finally:
            self._close_raw()
            state.abandon(sys.exc_info()[1])


def _drain(events: Iterator[Any]) -> None:
    """Read what follows the terminal event (nothing, normally) so the body ends and the
    connection returns to the pool; a fault now changes nothing (the response is whole)."""
    with contextlib.suppress(*READ_ERRORS):
        for _ in itertools.islice(events, _DRAIN_EVENTS):
            pass


async def _adrain(events: AsyncIterator[Any]) -> None:
    """The async twin of :func:`_drain`, bounded in time too."""

    async def read() -> None:
        count = 0
        async for _ in events:
            count += 1
            if count >= _DRAIN_EVENTS:
                return

    with contextlib.suppress(asyncio.TimeoutError, *READ_ERRORS):
        await asyncio.wait_for(read(), _DRAIN_SECONDS)


def _events_of(raw: Any) -> Any:
    """The SDK stream's own event generator: iterating it directly skips the generator
    layer ``Stream.__iter__`` adds around it (a cost paid per event)."""
    return getattr(raw, "_iterator", raw)


class AsyncResilientStream(_Surface, openai.AsyncStream[E]):
    """A resilient ``openai.AsyncStream``: ``async for``, ``async with``, ``aclose()``."""

    def __init__(self, call: StreamCall, opener: Callable[[StreamCall], Awaitable[Any]]) -> None:
        self._call = call
        self._opener = opener
        self._conn = _Connection()
        self._closed = False
        self._iterator: AsyncGenerator[E, None] = self._events()
        weakref.finalize(self, _dropped, call.state, self._conn, _home_loop())

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
        raw = self._conn.take()
        if raw is not None:
            await raw.close()

    async def _connect(self, wait: float) -> None:
        """Sleep *wait*, then open a connection, until one opens or the call gives up."""
        call, conn, engine = self._call, self._conn, self._call.state.engine
        try:
            while conn.raw is None:
                if wait > 0:
                    await engine.asleep(wait)
                call.connecting()
                try:
                    await call.state.abegin()
                except OPEN_ERRORS as exc:
                    wait = call.refused(exc)
                    continue
                token = sending(call.state)
                try:
                    conn.raw = await self._opener(call)
                except OPEN_ERRORS as exc:
                    wait = await call.aopen_failed(exc)
                finally:
                    sent(token)
        finally:
            if conn.raw is None and not call.state.finished:  # left while waiting
                call.state.abandon(sys.exc_info()[1])

    async def _events(self) -> AsyncGenerator[E, None]:
        call, core, state = self._call, self._call.core, self._call.state
        try:
            while True:
                failure: Failure | None = TRUNCATED
                exc: BaseException | None = None
                wait: float | None = 0.0
                probe = state.holds_probe()
                events = _events_of(self._conn.raw)
                try:
                    async for event in events:
                        verdict = core.accept(event)
                        if probe:  # the server answered: the breaker's verdict, now
                            probe = await state.aanswered(verdict)
                        if verdict == "deliver":
                            # Yielded without keeping a reference while suspended: a
                            # stream waiting for its consumer must not hold the last
                            # event (response.created carries a whole Response).
                            yield (event, event := None)[0]
                        elif verdict == "end":
                            await state.asettle(getattr(event, "response", None))
                            yield event
                            await _adrain(events)
                            call.completed(event)
                            return
                        elif verdict == "declared":
                            wait = await call.adeclared(event)
                            if wait is None:
                                yield event
                                return
                            failure = None
                            break
                        elif verdict == "fault":
                            failure = OUT_OF_SEQUENCE
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
            state.abandon(sys.exc_info()[1])
