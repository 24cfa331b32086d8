"""``with_raw_response`` and ``with_streaming_response`` through the engine.

The SDK's wrappers (``client.responses.with_raw_response.create(...)``,
``client.with_raw_response.responses.create(...)``, ``with_streaming_response``) call the
resource's own method, which on a drop-in client is the routed one, with the header
``X-Stainless-Raw-Response``: ``"true"`` asks for a ``LegacyAPIResponse``, ``"stream"`` for
an ``APIResponse`` / ``AsyncAPIResponse`` whose body is not read yet. Both answer before
the body is parsed, so an engine that only guarded the SDK call would never see a body cut
short or a ``Response`` the server declared failed. Here:

- **calls**: one attempt is the raw call *and* parsing its body. A body cut short
  (``json.JSONDecodeError``) or reset mid-way (an ``httpx2`` error) is a transport fault,
  retried like any other; the parsed ``Response`` is judged like a plain ``create``'s. The
  caller gets the SDK's own raw object of the attempt that answered, its ``.parse()``
  cache holding the parsed result.
- **streams**: the resilient stream is opened as for ``create(stream=True)`` (the marker
  is stripped from every attempt, so the SDK hands back a stream) and wrapped in a facade,
  a subclass of the SDK's raw response class: ``.parse()`` returns the resilient stream;
  ``.headers``, ``.http_response``, ``.status_code``, ``.request_id`` are those of the HTTP
  response the stream is reading (the attempt that answered); ``close()`` and the context
  manager of ``with_streaming_response`` close the stream.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar, overload

import httpx2
import openai
from openai._constants import OVERRIDE_CAST_TO_HEADER, RAW_RESPONSE_HEADER
from openai._legacy_response import LegacyAPIResponse
from openai._models import FinalRequestOptions
from openai._response import APIResponse, AsyncAPIResponse

from ._call import CallState
from ._loop import run_async, run_sync
from ._request import attempt_headers, sending, sent, truncated_body
from ._stream_shell import AsyncResilientStream, ResilientStream

__all__ = [
    "AsyncResilientLegacyStreamResponse",
    "AsyncResilientStreamResponse",
    "ResilientLegacyStreamResponse",
    "ResilientStreamResponse",
    "araw_call",
    "astream_response",
    "raw_call",
    "raw_mode",
    "stream_response",
    "strip_raw_mode",
]

_T = TypeVar("_T")
_MARKERS = frozenset({RAW_RESPONSE_HEADER.lower(), OVERRIDE_CAST_TO_HEADER.lower()})


def raw_mode(extra_headers: Mapping[str, Any] | None) -> str | None:
    """The SDK's raw-response marker in *extra_headers*: ``"true"`` (legacy raw),
    ``"stream"`` (streaming response), ``"raw"``, or ``None`` for a plain call."""
    if not extra_headers:
        return None
    for name, value in extra_headers.items():
        if name.lower() == RAW_RESPONSE_HEADER.lower() and isinstance(value, str) and value:
            return value
    return None


def strip_raw_mode(kwargs: dict[str, Any]) -> str | None:
    """Take the raw-response marker out of ``kwargs["extra_headers"]`` (a copy: the
    caller's mapping is left alone) and return it; every attempt then gets a plain stream."""
    extra = kwargs.get("extra_headers")
    mode = raw_mode(extra)
    if mode is not None and extra is not None:
        kwargs["extra_headers"] = {k: v for k, v in extra.items() if k.lower() not in _MARKERS}
    return mode


# -- calls -----------------------------------------------------------------------------


def _body_fault(exc: Exception, raw: Any, client: Any) -> openai.APIConnectionError | None:
    """The SDK error for a fault met while reading a raw response's body (the SDK raises
    these itself when the fault comes before it returns); ``None``: not a transport fault."""
    if isinstance(exc, json.JSONDecodeError):
        return truncated_body(client)
    request = raw.http_response.request
    if isinstance(exc, httpx2.TimeoutException):
        return openai.APITimeoutError(request=request)
    if isinstance(exc, httpx2.TransportError):
        return openai.APIConnectionError(request=request)
    return None


def _retries(state: CallState) -> int:
    return max(state.attempts_sent - 1, 0)


def raw_call(
    state: CallState,
    client: Any,
    method: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    extra: Mapping[str, str] | None,
    timeout_of: Callable[[CallState], Any],
) -> Any:
    """A raw-response call (marker in *extra*) through the engine: each attempt calls
    *method* (with the timeout ``timeout_of(state)`` gives it) and parses the body; returns
    the raw response of the attempt that answered."""
    answered: list[Any] = []

    def attempt(st: CallState) -> Any:
        headers = attempt_headers(st, extra)
        token = sending(st)
        try:
            raw = method(*args, extra_headers=headers, timeout=timeout_of(st), **kwargs)
        finally:
            sent(token)
        done = False
        try:
            parsed = raw.parse()  # cached by the SDK: the caller's .parse() returns it
            done = True
        except (json.JSONDecodeError, httpx2.HTTPError) as exc:
            fault = _body_fault(exc, raw, client)
            if fault is None:
                raise
            raise fault from exc
        finally:
            if not done:
                raw.http_response.close()
        answered[:] = [raw]
        return parsed

    run_sync(state, attempt)
    raw = answered[0]
    raw.retries_taken = _retries(state)
    return raw


async def araw_call(
    state: CallState,
    client: Any,
    method: Callable[..., Awaitable[Any]],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    extra: Mapping[str, str] | None,
    timeout_of: Callable[[CallState], Any],
) -> Any:
    """The async twin of :func:`raw_call` (the async client's legacy raw response parses
    synchronously, its streaming response asynchronously)."""
    answered: list[Any] = []

    async def attempt(st: CallState) -> Any:
        headers = attempt_headers(st, extra)
        token = sending(st)
        try:
            raw = await method(*args, extra_headers=headers, timeout=timeout_of(st), **kwargs)
        finally:
            sent(token)
        done = False
        try:
            parsed = raw.parse()
            if inspect.isawaitable(parsed):
                parsed = await parsed
            done = True
        except (json.JSONDecodeError, httpx2.HTTPError) as exc:
            fault = _body_fault(exc, raw, client)
            if fault is None:
                raise
            raise fault from exc
        finally:
            if not done:
                await raw.http_response.aclose()
        answered[:] = [raw]
        return parsed

    await run_async(state, attempt)
    raw = answered[0]
    raw.retries_taken = _retries(state)
    return raw


# -- streams ---------------------------------------------------------------------------


def _options(opened: httpx2.Response) -> FinalRequestOptions:
    """Request options describing the request that opened the stream (informational: the
    facade never parses with them)."""
    request = opened.request
    return FinalRequestOptions.construct(method=request.method.lower(), url=str(request.url))


class _StreamFacade:
    """What every stream facade shows: the resilient stream's live HTTP response.

    ``http_response`` (and so ``headers``, ``status_code``, ``request_id``, ``is_closed``)
    is the response the stream is reading: the attempt that answered, and after a resume
    or a restart the connection that replaced it. ``retries_taken`` counts the requests
    the call sent beyond the first (retries, resumes, restarts).
    """

    _resilient: ResilientStream[Any] | AsyncResilientStream[Any]
    _opened: httpx2.Response

    @property
    def http_response(self) -> httpx2.Response:
        live = self._resilient._live_response()
        return live if live is not None else self._opened

    @http_response.setter
    def http_response(self, value: httpx2.Response) -> None:
        # The SDK's constructor sets it; what is shown is the stream's live response.
        self._opened = value

    @property
    def retries_taken(self) -> int:
        """Requests the call sent beyond the first (retries, resumes, restarts)."""
        return _retries(self._resilient._call.state)

    @retries_taken.setter
    def retries_taken(self, value: int) -> None:
        # Set by the SDK's constructor; derived from the call instead.
        pass

    def _check_target(self, to: type[Any] | None) -> None:
        if to is None:
            return
        origin = getattr(to, "__origin__", to)
        if not (isinstance(origin, type) and isinstance(self._resilient, origin)):
            raise TypeError(
                f"a resilient stream parses to {type(self._resilient).__name__}, not {to!r}"
            )


def _init(
    facade: Any,
    base: type[Any],
    stream: ResilientStream[Any] | AsyncResilientStream[Any],
    client: Any,
) -> None:
    facade._resilient = stream
    opened = stream._live_response()
    assert opened is not None  # the stream is open before it is wrapped
    base.__init__(
        facade,
        raw=opened,
        cast_to=type(stream),
        client=client,
        stream=True,
        stream_cls=type(stream),
        options=_options(opened),
    )


class _SyncStreamFacade(_StreamFacade):
    """``parse()`` and ``close()`` of both raw responses over a sync resilient stream."""

    _resilient: ResilientStream[Any]

    @overload
    def parse(self, *, to: type[_T]) -> _T: ...
    @overload
    def parse(self) -> ResilientStream[Any]: ...
    def parse(self, *, to: type[_T] | None = None) -> ResilientStream[Any] | _T:
        """The resilient stream (the same object every time)."""
        self._check_target(to)
        return self._resilient

    def close(self) -> None:
        """Close the stream and its HTTP response."""
        self._resilient.close()


class ResilientLegacyStreamResponse(_SyncStreamFacade, LegacyAPIResponse[ResilientStream[Any]]):
    """``with_raw_response.create(stream=True)`` on ``ResilientOpenAI``: ``.parse()`` is
    the resilient stream; read its events there, not from the HTTP body."""

    def __init__(self, stream: ResilientStream[Any], client: Any) -> None:
        _init(self, LegacyAPIResponse, stream, client)


class AsyncResilientLegacyStreamResponse(
    _StreamFacade, LegacyAPIResponse[AsyncResilientStream[Any]]
):
    """``with_raw_response.create(stream=True)`` on ``AsyncResilientOpenAI``: ``.parse()``
    (synchronous, as on the SDK's) is the resilient async stream."""

    _resilient: AsyncResilientStream[Any]

    def __init__(self, stream: AsyncResilientStream[Any], client: Any) -> None:
        _init(self, LegacyAPIResponse, stream, client)

    @overload
    def parse(self, *, to: type[_T]) -> _T: ...
    @overload
    def parse(self) -> AsyncResilientStream[Any]: ...
    def parse(self, *, to: type[_T] | None = None) -> AsyncResilientStream[Any] | _T:
        """The resilient stream (the same object every time)."""
        self._check_target(to)
        return self._resilient

    async def close(self) -> None:
        """Close the stream and its HTTP response."""
        await self._resilient.close()


class ResilientStreamResponse(_SyncStreamFacade, APIResponse[ResilientStream[Any]]):
    """``with_streaming_response.create(stream=True)`` on ``ResilientOpenAI``: ``.parse()``
    is the resilient stream; leaving the context manager (or ``close()``) closes it."""

    def __init__(self, stream: ResilientStream[Any], client: Any) -> None:
        _init(self, APIResponse, stream, client)


class AsyncResilientStreamResponse(_StreamFacade, AsyncAPIResponse[AsyncResilientStream[Any]]):
    """``with_streaming_response.create(stream=True)`` on ``AsyncResilientOpenAI``:
    ``await .parse()`` is the resilient stream; leaving the context manager (or
    ``await close()``) closes it."""

    _resilient: AsyncResilientStream[Any]

    def __init__(self, stream: AsyncResilientStream[Any], client: Any) -> None:
        _init(self, AsyncAPIResponse, stream, client)

    @overload
    async def parse(self, *, to: type[_T]) -> _T: ...
    @overload
    async def parse(self) -> AsyncResilientStream[Any]: ...
    async def parse(self, *, to: type[_T] | None = None) -> AsyncResilientStream[Any] | _T:
        """The resilient stream (the same object every time)."""
        self._check_target(to)
        return self._resilient

    async def close(self) -> None:
        """Close the stream and its HTTP response."""
        await self._resilient.close()


def stream_response(stream: ResilientStream[Any], mode: str, client: Any) -> Any:
    """The raw response the SDK would return for *mode*, over a resilient stream."""
    if mode == "true":
        return ResilientLegacyStreamResponse(stream, client)
    return ResilientStreamResponse(stream, client)


def astream_response(stream: AsyncResilientStream[Any], mode: str, client: Any) -> Any:
    """The async twin of :func:`stream_response`."""
    if mode == "true":
        return AsyncResilientLegacyStreamResponse(stream, client)
    return AsyncResilientStreamResponse(stream, client)
