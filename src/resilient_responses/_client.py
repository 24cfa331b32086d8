"""Drop-in clients: ``openai.OpenAI`` / ``openai.AsyncOpenAI`` subclasses routing into the engine.

The proxies hold no retry logic. They are real subclasses of the SDK's clients (so
``isinstance(client, openai.OpenAI)`` holds and type checkers see the SDK's own signatures
and return types) whose ``responses`` resource routes each request through a
:class:`~resilient_responses.Resilience`. Everything else is the SDK's, unchanged.

The overrides are defined only at run time (``if not TYPE_CHECKING``): type checkers keep
seeing the SDK's precise overloads, while the typed helpers below do the routing.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable, Generator
from typing import TYPE_CHECKING, Any, TypeVar

import openai
from openai.resources.responses import AsyncResponses, Responses
from openai.resources.responses.input_items import AsyncInputItems, InputItems
from openai.resources.responses.input_tokens import AsyncInputTokens, InputTokens

from ._call import CallState
from ._classify import answer_failure
from ._core import Resilience
from ._fallback import acall_with_fallbacks, cache_key, cached, call_with_fallbacks, store
from ._loop import run_async, run_sync
from ._raw import araw_call, astream_response, raw_call, raw_mode, stream_response, strip_raw_mode
from ._request import (
    attempt_headers,
    attempt_timeout,
    call_keys,
    install_answer_hooks,
    sending,
    sent,
    truncated_body,
)
from ._stream_helper import astream_manager, stream_manager
from ._stream_open import acreate_stream, aretrieve_stream, create_stream, retrieve_stream

__all__ = ["AsyncResilientOpenAI", "ResilientOpenAI"]

T = TypeVar("T")

#: SDK methods whose answer is a generated Response the server may declare failed.
_GENERATING = frozenset({"create", "parse", "compact"})


def _new_call(
    resilience: Resilience,
    client: openai.OpenAI | openai.AsyncOpenAI,
    method: Callable[..., Any],
    model: object,
    kwargs: dict[str, Any],
) -> CallState:
    operation = getattr(method, "__name__", None)
    key, quota = call_keys(client, model)
    state = CallState(
        resilience._engine,
        key,
        model if isinstance(model, str) else None,
        via_client=True,
        operation=operation,
        quota=quota,
    )
    if operation in _GENERATING:
        state.inspect_result = answer_failure
        state.weigh(kwargs)
    return state


def _check_resilience(resilience: object) -> Resilience | None:
    if resilience is not None and not isinstance(resilience, Resilience):
        raise TypeError(f"resilience must be a Resilience, got {type(resilience).__name__}")
    return resilience


def _attempt_timeout(client: Any, given: Any) -> Callable[[CallState], Any]:
    """Each attempt's timeout: the caller's (*given*), capped by what the deadline leaves."""
    return lambda st: attempt_timeout(client, given, read=None, left=st.time_left())


def route_sync(
    resilience: Resilience,
    client: openai.OpenAI,
    method: Callable[..., T],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    model: object = None,
) -> T:
    """Run one SDK method through *resilience*, with per-attempt headers.

    Through ``with_raw_response`` / ``with_streaming_response`` (the SDK's raw-response
    marker in the headers), each attempt covers parsing the body too (see ``_raw``).
    """
    extra = kwargs.pop("extra_headers", None)
    given = kwargs.pop("timeout", openai.NOT_GIVEN)
    state = _new_call(resilience, client, method, model, kwargs)
    if extra and raw_mode(extra) is not None:
        result: T = raw_call(
            state, client, method, args, kwargs, extra, _attempt_timeout(client, given)
        )
        return result

    def attempt(st: CallState) -> T:
        timeout = attempt_timeout(client, given, read=None, left=st.time_left())
        token = sending(st)
        try:
            return method(
                *args, extra_headers=attempt_headers(st, extra), timeout=timeout, **kwargs
            )
        except json.JSONDecodeError as exc:
            raise truncated_body(client) from exc
        finally:
            sent(token)

    return run_sync(state, attempt)


async def route_async(
    resilience: Resilience,
    client: openai.AsyncOpenAI,
    method: Callable[..., Awaitable[T]],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    model: object = None,
) -> T:
    """The async twin of :func:`route_sync`."""
    extra = kwargs.pop("extra_headers", None)
    given = kwargs.pop("timeout", openai.NOT_GIVEN)
    state = _new_call(resilience, client, method, model, kwargs)
    if extra and raw_mode(extra) is not None:
        result: T = await araw_call(
            state, client, method, args, kwargs, extra, _attempt_timeout(client, given)
        )
        return result

    async def attempt(st: CallState) -> T:
        timeout = attempt_timeout(client, given, read=None, left=st.time_left())
        token = sending(st)
        try:
            return await method(
                *args, extra_headers=attempt_headers(st, extra), timeout=timeout, **kwargs
            )
        except json.JSONDecodeError as exc:
            raise truncated_body(client) from exc
        finally:
            sent(token)

    return await run_async(state, attempt)


def _keeper(engine: Any, key: str | None) -> Callable[[Any], None] | None:
    """What a stream does with its completed response: keep it in the cache."""
    if key is None:
        return None
    return lambda response: store(engine, key, response)


def _resilience_of(client: Any) -> Resilience:
    resilience: Resilience = client._resilience
    return resilience


# -- routed methods ---------------------------------------------------------------------


def _routed(base: type, name: str, *, model: bool = False) -> Callable[..., Any]:
    """A method that runs the SDK's ``base.name`` through the client's ``Resilience``.

    *model*: the call names a model (part of the breaker key); one that generates
    (``parse``, ``compact``) goes on to ``Resilience(fallbacks=...)`` when it gives up.
    """
    sdk_method = getattr(base, name)
    generates = model and name in _GENERATING

    @functools.wraps(sdk_method)
    def routed(self: Any, *args: Any, **kwargs: Any) -> Any:
        client, method = self._client, sdk_method.__get__(self)
        resilience: Resilience = client._resilience

        def call(kw: dict[str, Any]) -> Any:
            return route_sync(
                resilience, client, method, args, kw, kw.get("model") if model else None
            )

        return call_with_fallbacks(resilience._engine, kwargs, call) if generates else call(kwargs)

    return routed


def _arouted(base: type, name: str, *, model: bool = False) -> Callable[..., Any]:
    """The async twin of :func:`_routed`."""
    sdk_method = getattr(base, name)
    generates = model and name in _GENERATING

    @functools.wraps(sdk_method)
    async def routed(self: Any, *args: Any, **kwargs: Any) -> Any:
        client, method = self._client, sdk_method.__get__(self)
        resilience: Resilience = client._resilience

        async def call(kw: dict[str, Any]) -> Any:
            model_of = kw.get("model") if model else None
            return await route_async(resilience, client, method, args, kw, model_of)

        if generates:
            return await acall_with_fallbacks(resilience._engine, kwargs, call)
        return await call(kwargs)

    return routed


# -- sync ------------------------------------------------------------------------------


class ResilientInputItems(InputItems):
    """``client.responses.input_items`` whose ``list`` (first page) is resilient."""

    if not TYPE_CHECKING:
        list = _routed(InputItems, "list")


class ResilientInputTokens(InputTokens):
    """``client.responses.input_tokens`` whose ``count`` is resilient."""

    if not TYPE_CHECKING:
        count = _routed(InputTokens, "count", model=True)


class ResilientResponses(Responses):
    """``client.responses`` with every request routed through the engine."""

    if not TYPE_CHECKING:
        parse = _routed(Responses, "parse", model=True)
        cancel = _routed(Responses, "cancel")
        delete = _routed(Responses, "delete")
        compact = _routed(Responses, "compact", model=True)

        @property
        def input_items(self) -> ResilientInputItems:
            return ResilientInputItems(self._client)

        @property
        def input_tokens(self) -> ResilientInputTokens:
            return ResilientInputTokens(self._client)

        def create(self, *args: Any, **kwargs: Any) -> Any:
            client = self._client
            resilience = _resilience_of(client)
            engine = resilience._engine
            create, retrieve = super().create, super().retrieve
            if kwargs.get("stream"):
                mode = strip_raw_mode(kwargs) if kwargs.get("extra_headers") else None
                if mode is None and engine.config.plain:
                    return create_stream(engine, client, create, retrieve, kwargs)

                def open_stream(kw: dict[str, Any]) -> Any:
                    key = cache_key(engine, client, kw) if mode is None else None
                    hit = cached(engine, client, key, stream=True, asynchronous=False)
                    if hit is not None:
                        return hit
                    return create_stream(
                        engine, client, create, retrieve, kw, on_completed=_keeper(engine, key)
                    )

                stream = call_with_fallbacks(engine, kwargs, open_stream)
                return stream if mode is None else stream_response(stream, mode, client)

            if engine.config.plain:  # no cache, no fallbacks: nothing to wrap the call in
                return route_sync(resilience, client, create, args, kwargs, kwargs.get("model"))

            def plain(kw: dict[str, Any]) -> Any:
                key = None if raw_mode(kw.get("extra_headers")) else cache_key(engine, client, kw)
                hit = cached(engine, client, key, stream=False, asynchronous=False)
                if hit is not None:
                    return hit
                result = route_sync(resilience, client, create, args, kw, kw.get("model"))
                store(engine, key, result)
                return result

            return call_with_fallbacks(engine, kwargs, plain)

        def retrieve(self, *args: Any, **kwargs: Any) -> Any:
            resilience = _resilience_of(self._client)
            if kwargs.get("stream"):
                mode = strip_raw_mode(kwargs)
                stream = retrieve_stream(
                    resilience._engine, self._client, super().retrieve, args, kwargs
                )
                return stream if mode is None else stream_response(stream, mode, self._client)
            return route_sync(resilience, self._client, super().retrieve, args, kwargs)

        def stream(self, *args: Any, **kwargs: Any) -> Any:
            return stream_manager(self, args, kwargs)


def _adopt(target: Any, client: Any, kind: type[Any], resilience: Resilience | None) -> Resilience:
    """Make *target* a copy of *client* (SDK retries off), sharing its connection pool."""
    if not isinstance(client, kind):
        hint = "AsyncResilientOpenAI" if kind is openai.OpenAI else "ResilientOpenAI"
        raise TypeError(
            f"client must be an {kind.__module__}.{kind.__qualname__}, got "
            f"{type(client).__name__}"
            + (
                f" (use {hint} for it)"
                if isinstance(client, (openai.OpenAI, openai.AsyncOpenAI))
                else ""
            )
        )
    base = client.with_options(max_retries=0)
    target.__dict__.update(base.__dict__)
    # A cached `responses` resource of the source would point at the source client.
    for name in ("responses", "_rr_responses"):
        target.__dict__.pop(name, None)
    inherited = getattr(client, "_resilience", None)
    return resilience or (inherited if isinstance(inherited, Resilience) else Resilience())


class ResilientOpenAI(openai.OpenAI):
    """Drop-in for ``openai.OpenAI``: same methods, same return types, resilient responses.

    ``ResilientOpenAI()`` builds the client from the environment like ``openai.OpenAI()``;
    ``ResilientOpenAI(existing_client)`` wraps an existing one (sharing its connection
    pool). Either way the SDK's own retries are off: the engine does the retrying, so
    attempts never multiply.

    >>> from resilient_responses.testing import FakeResponsesAPI
    >>> client = ResilientOpenAI(FakeResponsesAPI().client())
    >>> client.responses.create(model="gpt-5-mini", input="hi").status
    'completed'
    """

    _resilience: Resilience

    def __init__(
        self,
        client: openai.OpenAI | None = None,
        *,
        resilience: Resilience | None = None,
        **openai_kwargs: Any,
    ) -> None:
        resilience = _check_resilience(resilience)
        if client is not None:
            if openai_kwargs:
                raise TypeError(
                    "pass either an existing client or openai.OpenAI keyword arguments, not both"
                )
            self._resilience = _adopt(self, client, openai.OpenAI, resilience)
        else:
            openai_kwargs["max_retries"] = 0
            super().__init__(**openai_kwargs)
            self._resilience = resilience or Resilience()
        if self._resilience._engine.limiter is not None:
            install_answer_hooks(self, asynchronous=False)

    @property
    def resilience(self) -> Resilience:
        """The engine this client routes through."""
        return self._resilience

    if not TYPE_CHECKING:

        @property
        def responses(self) -> ResilientResponses:
            cached = self.__dict__.get("_rr_responses")
            if cached is None:
                cached = self.__dict__["_rr_responses"] = ResilientResponses(self)
            return cached

        def copy(self, **kwargs: Any) -> ResilientOpenAI:
            kwargs["max_retries"] = 0
            extra = dict(kwargs.pop("_extra_kwargs", None) or {})
            extra["resilience"] = self._resilience
            return super().copy(_extra_kwargs=extra, **kwargs)

        with_options = copy


# -- async -----------------------------------------------------------------------------


class _ResilientAsyncPage:
    """Awaitable (first page, resilient) and async-iterable (all items), like the SDK's."""

    __slots__ = ("_fetch",)

    def __init__(self, fetch: Callable[[], Awaitable[Any]]) -> None:
        self._fetch = fetch

    def __await__(self) -> Generator[Any, None, Any]:
        return self._fetch().__await__()

    async def __aiter__(self) -> Any:
        page = await self._fetch()
        async for item in page:
            yield item


class AsyncResilientInputItems(AsyncInputItems):
    """``client.responses.input_items`` whose ``list`` (first page) is resilient."""

    if not TYPE_CHECKING:

        def list(self, *args: Any, **kwargs: Any) -> Any:
            client = self._client
            method = super().list

            async def first_page_method(*a: Any, **kw: Any) -> Any:
                return await method(*a, **kw)

            first_page_method.__name__ = "list"
            return _ResilientAsyncPage(
                lambda: route_async(
                    _resilience_of(client), client, first_page_method, args, dict(kwargs)
                )
            )


class AsyncResilientInputTokens(AsyncInputTokens):
    """``client.responses.input_tokens`` whose ``count`` is resilient."""

    if not TYPE_CHECKING:
        count = _arouted(AsyncInputTokens, "count", model=True)


class AsyncResilientResponses(AsyncResponses):
    """Async ``client.responses`` with every request routed through the engine."""

    if not TYPE_CHECKING:
        parse = _arouted(AsyncResponses, "parse", model=True)
        cancel = _arouted(AsyncResponses, "cancel")
        delete = _arouted(AsyncResponses, "delete")
        compact = _arouted(AsyncResponses, "compact", model=True)

        @property
        def input_items(self) -> AsyncResilientInputItems:
            return AsyncResilientInputItems(self._client)

        @property
        def input_tokens(self) -> AsyncResilientInputTokens:
            return AsyncResilientInputTokens(self._client)

        async def create(self, *args: Any, **kwargs: Any) -> Any:
            client = self._client
            resilience = _resilience_of(client)
            engine = resilience._engine
            create, retrieve = super().create, super().retrieve
            if kwargs.get("stream"):
                mode = strip_raw_mode(kwargs) if kwargs.get("extra_headers") else None
                if mode is None and engine.config.plain:
                    return await acreate_stream(engine, client, create, retrieve, kwargs)

                async def open_stream(kw: dict[str, Any]) -> Any:
                    key = cache_key(engine, client, kw) if mode is None else None
                    hit = cached(engine, client, key, stream=True, asynchronous=True)
                    if hit is not None:
                        return hit
                    return await acreate_stream(
                        engine, client, create, retrieve, kw, on_completed=_keeper(engine, key)
                    )

                stream = await acall_with_fallbacks(engine, kwargs, open_stream)
                return stream if mode is None else astream_response(stream, mode, client)

            if engine.config.plain:
                return await route_async(
                    resilience, client, create, args, kwargs, kwargs.get("model")
                )

            async def plain(kw: dict[str, Any]) -> Any:
                key = None if raw_mode(kw.get("extra_headers")) else cache_key(engine, client, kw)
                hit = cached(engine, client, key, stream=False, asynchronous=True)
                if hit is not None:
                    return hit
                result = await route_async(resilience, client, create, args, kw, kw.get("model"))
                store(engine, key, result)
                return result

            return await acall_with_fallbacks(engine, kwargs, plain)

        async def retrieve(self, *args: Any, **kwargs: Any) -> Any:
            resilience = _resilience_of(self._client)
            if kwargs.get("stream"):
                mode = strip_raw_mode(kwargs)
                stream = await aretrieve_stream(
                    resilience._engine, self._client, super().retrieve, args, kwargs
                )
                return stream if mode is None else astream_response(stream, mode, self._client)
            return await route_async(resilience, self._client, super().retrieve, args, kwargs)

        def stream(self, *args: Any, **kwargs: Any) -> Any:
            return astream_manager(self, args, kwargs)


class AsyncResilientOpenAI(openai.AsyncOpenAI):
    """Drop-in for ``openai.AsyncOpenAI``; see :class:`ResilientOpenAI`."""

    _resilience: Resilience

    def __init__(
        self,
        client: openai.AsyncOpenAI | None = None,
        *,
        resilience: Resilience | None = None,
        **openai_kwargs: Any,
    ) -> None:
        resilience = _check_resilience(resilience)
        if client is not None:
            if openai_kwargs:
                raise TypeError(
                    "pass either an existing client or openai.AsyncOpenAI keyword arguments, "
                    "not both"
                )
            self._resilience = _adopt(self, client, openai.AsyncOpenAI, resilience)
        else:
            openai_kwargs["max_retries"] = 0
            super().__init__(**openai_kwargs)
            self._resilience = resilience or Resilience()
        if self._resilience._engine.limiter is not None:
            install_answer_hooks(self, asynchronous=True)

    @property
    def resilience(self) -> Resilience:
        """The engine this client routes through."""
        return self._resilience

    if not TYPE_CHECKING:

        @property
        def responses(self) -> AsyncResilientResponses:
            cached = self.__dict__.get("_rr_responses")
            if cached is None:
                cached = self.__dict__["_rr_responses"] = AsyncResilientResponses(self)
            return cached

        def copy(self, **kwargs: Any) -> AsyncResilientOpenAI:
            kwargs["max_retries"] = 0
            extra = dict(kwargs.pop("_extra_kwargs", None) or {})
            extra["resilience"] = self._resilience
            return super().copy(_extra_kwargs=extra, **kwargs)

        with_options = copy
