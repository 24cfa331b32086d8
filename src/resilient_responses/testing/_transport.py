"""In-process httpx2 transports that play :class:`~._exchange.Exchange` values.

They never touch the network. Time is virtual unless the fake is ``realtime``: a silence
is decided against the request's read timeout at the moment it happens (see
:func:`~._exchange.stall_plan`); latencies are always real.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any, Literal

import httpx2

from resilient_responses.testing._exchange import Exchange, Silence, Source, stall_plan
from resilient_responses.testing._faults import Fault

__all__ = ["AsyncTransport", "SyncTransport"]


def _read_timeout(request: httpx2.Request) -> float | None:
    # Read at the moment it matters: callers may lower it in place after the first event.
    timeouts = request.extensions.get("timeout")
    if isinstance(timeouts, dict):
        value = timeouts.get("read")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None


def _request_parts(request: httpx2.Request) -> tuple[str, str, dict[str, str], dict[str, str]]:
    query = dict(request.url.params.multi_items())
    headers = {k.lower(): v for k, v in request.headers.items()}
    return request.method, request.url.path, query, headers


def _response(exchange: Exchange, request: httpx2.Request, stream: Any) -> httpx2.Response:
    return httpx2.Response(
        exchange.status, headers=exchange.headers, stream=stream, request=request
    )


def _silence(source: Source, request: httpx2.Request, seconds: float) -> tuple[float, bool]:
    return stall_plan(_read_timeout(request), seconds, realtime=source.realtime)


def _stall_timeout(request: httpx2.Request) -> httpx2.ReadTimeout:
    return httpx2.ReadTimeout("fake stall outlasted the read timeout", request=request)


def _reset(request: httpx2.Request) -> httpx2.ReadError:
    return httpx2.ReadError("fake connection reset mid-stream", request=request)


class _SyncSSEBody(httpx2.SyncByteStream):
    """An SSE body that plays its steps, and reports its closure to the fake."""

    def __init__(self, source: Source, exchange: Exchange, request: httpx2.Request) -> None:
        self._source = source
        self._exchange = exchange
        self._request = request
        self._closed = False
        source._stream_opened()

    def __iter__(self) -> Iterator[bytes]:
        for step in self._exchange.steps or ():
            if isinstance(step, Silence):
                wait, fires = _silence(self._source, self._request, step.seconds)
                if wait > 0:
                    time.sleep(wait)
                if fires:
                    raise _stall_timeout(self._request)
            else:
                yield step
        if self._exchange.end == "reset":
            raise _reset(self._request)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._source._stream_closed()


class _AsyncSSEBody(httpx2.AsyncByteStream):
    """The async twin of :class:`_SyncSSEBody`."""

    def __init__(self, source: Source, exchange: Exchange, request: httpx2.Request) -> None:
        self._source = source
        self._exchange = exchange
        self._request = request
        self._closed = False
        source._stream_opened()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for step in self._exchange.steps or ():
            if isinstance(step, Silence):
                wait, fires = _silence(self._source, self._request, step.seconds)
                if wait > 0:
                    await asyncio.sleep(wait)
                if fires:
                    raise _stall_timeout(self._request)
            else:
                yield step
        if self._exchange.end == "reset":
            raise _reset(self._request)

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            self._source._stream_closed()


class _CutBody(httpx2.SyncByteStream, httpx2.AsyncByteStream):
    """A plain JSON body cut in half: reset raises, truncate ends cleanly."""

    def __init__(self, data: bytes, mode: Literal["reset", "truncate"], request: httpx2.Request):
        self._data = data[: len(data) // 2]
        self._mode = mode
        self._request = request

    def __iter__(self) -> Iterator[bytes]:
        yield self._data
        if self._mode == "reset":
            raise httpx2.ReadError("fake connection reset mid-body", request=self._request)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self._data
        if self._mode == "reset":
            raise httpx2.ReadError("fake connection reset mid-body", request=self._request)


def _pre_response_error(fault: Fault, request: httpx2.Request) -> httpx2.TransportError:
    if fault.kind == "connect_error":
        return httpx2.ConnectError("fake connect error", request=request)
    return httpx2.ReadTimeout("fake timeout: no response in time", request=request)


def _timeout_wait(fault: Fault, request: httpx2.Request) -> float:
    seconds = fault.seconds or 0.0
    read = _read_timeout(request)
    return seconds if read is None else min(seconds, read)


def _answer(
    source: Source, ex: Exchange, request: httpx2.Request, *, sync: bool
) -> httpx2.Response:
    """The response once every wait before the headers is over."""
    if ex.steps is not None:
        body = _SyncSSEBody(source, ex, request) if sync else _AsyncSSEBody(source, ex, request)
        return _response(ex, request, body)
    if ex.body_cut is not None:
        return _response(ex, request, _CutBody(ex.body, ex.body_cut, request))
    return httpx2.Response(ex.status, headers=ex.headers, content=ex.body, request=request)


class SyncTransport(httpx2.BaseTransport):
    """Plays exchanges for sync httpx2 clients."""

    def __init__(self, source: Source) -> None:
        self._source = source

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        source = self._source
        raw = request.read()
        ex = source._begin(*_request_parts(request), raw)
        if ex.latency > 0:
            time.sleep(ex.latency)
        if ex.pre is not None:
            if ex.pre.kind == "timeout" and source.realtime:
                time.sleep(_timeout_wait(ex.pre, request))
            raise _pre_response_error(ex.pre, request)
        for seconds in ex.head_stalls:
            wait, fires = _silence(source, request, seconds)
            if wait > 0:
                time.sleep(wait)
            if fires:
                source._mark_no_response(ex.index)
                raise _stall_timeout(request)
        return _answer(source, ex, request, sync=True)


class AsyncTransport(httpx2.AsyncBaseTransport):
    """Plays exchanges for async httpx2 clients (sleeps never block the loop)."""

    def __init__(self, source: Source) -> None:
        self._source = source

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        source = self._source
        raw = await request.aread()
        ex = source._begin(*_request_parts(request), raw)
        if ex.latency > 0:
            await asyncio.sleep(ex.latency)
        if ex.pre is not None:
            if ex.pre.kind == "timeout" and source.realtime:
                await asyncio.sleep(_timeout_wait(ex.pre, request))
            raise _pre_response_error(ex.pre, request)
        for seconds in ex.head_stalls:
            wait, fires = _silence(source, request, seconds)
            if wait > 0:
                await asyncio.sleep(wait)
            if fires:
                source._mark_no_response(ex.index)
                raise _stall_timeout(request)
        return _answer(source, ex, request, sync=False)
