"""Model fallbacks and the response cache around one drop-in client request.

``with_fallbacks`` runs a request on its model, and when the call gives up for a reason
another model can change (see :func:`~resilient_responses._policy.choose_fallback`), runs
it again on the next model of ``Resilience(fallbacks=...)``, each on its own breaker key.
The cache helpers answer a repeated request from ``Resilience(cache=...)`` before any of
that. Streams fall back only while they are being opened: once an event was delivered a
new model would start another response under the consumer's eyes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import openai

from ._cache import replay_events
from ._classify import classify
from ._engine import Engine
from ._policy import choose_fallback
from ._request import credentials_tag, redact_url
from ._stream_replay import replayed
from .events import CallReport, FellBack, observe_calls
from .exceptions import CircuitOpenError

__all__ = ["acall_with_fallbacks", "cache_key", "cached", "call_with_fallbacks", "store"]

T = TypeVar("T")


def _next_model(
    engine: Engine,
    primary: object,
    model: object,
    error: Exception,
    reports: list[CallReport],
    tried: list[str],
) -> str | None:
    """The fallback for a request on *model* (first sent to *primary*) that failed with
    *error*, or ``None`` (re-raise). The primary's chain is followed in order."""
    config = engine.config
    if not isinstance(primary, str) or not isinstance(model, str):
        return None
    failure = classify(error)
    if isinstance(error, CircuitOpenError):
        reason = "circuit_open"
    else:
        last = reports[-1] if reports else None
        reason = last.reason if last is not None and last.reason is not None else ""
    retryable = failure is not None and config.table.lookup(failure).retry
    fallback = choose_fallback(
        failure,
        reason,
        retryable=retryable,
        model=primary,
        fallbacks=config.fallbacks,
        context_fallbacks=config.context_fallbacks,
        tried=(*tried, model),
    )
    if fallback is not None:
        key = reports[-1].key if reports else model
        engine.stats.fell_back(key)
        engine.emit(
            FellBack(key=key, model=model, fallback=fallback, failure=failure, reason=reason)
        )
    return fallback


def call_with_fallbacks(
    engine: Engine, kwargs: dict[str, Any], call: Callable[[dict[str, Any]], T]
) -> T:
    """``call(kwargs)``, then ``call`` with each fallback model while one applies."""
    config = engine.config
    if not config.fallbacks and not config.context_fallbacks:
        return call(kwargs)
    primary, tried = kwargs.get("model"), list[str]()
    while True:
        reports: list[CallReport] = []
        try:
            with observe_calls(reports.append):
                return call(dict(kwargs))
        except openai.APIError as error:
            model = kwargs.get("model")
            fallback = _next_model(engine, primary, model, error, reports, tried)
            if fallback is None:
                raise
            tried.append(str(model))
            kwargs = {**kwargs, "model": fallback}


async def acall_with_fallbacks(
    engine: Engine, kwargs: dict[str, Any], call: Callable[[dict[str, Any]], Awaitable[T]]
) -> T:
    """The async twin of :func:`call_with_fallbacks`."""
    config = engine.config
    if not config.fallbacks and not config.context_fallbacks:
        return await call(kwargs)
    primary, tried = kwargs.get("model"), list[str]()
    while True:
        reports: list[CallReport] = []
        try:
            with observe_calls(reports.append):
                return await call(dict(kwargs))
        except openai.APIError as error:
            model = kwargs.get("model")
            fallback = _next_model(engine, primary, model, error, reports, tried)
            if fallback is None:
                raise
            tried.append(str(model))
            kwargs = {**kwargs, "model": fallback}


# -- the response cache -----------------------------------------------------------------------


def cache_key(engine: Engine, client: Any, kwargs: dict[str, Any]) -> str | None:
    """The cache key of a ``responses.create`` request, ``None`` when it is not cached
    (no cache, or a request the rule excludes: background, a conversation on the server)."""
    cache = engine.config.cache
    if cache is None:
        return None
    # One account's answers are never another's: the credentials' digest is in the key.
    return cache.key(kwargs, namespace=f"{redact_url(client.base_url)} #{credentials_tag(client)}")


def cached(
    engine: Engine, client: Any, key: str | None, *, stream: bool, asynchronous: bool
) -> Any:
    """The cached answer for *key* (a ``Response``, or a stream replaying its events), or
    ``None``. A hit sends nothing: no breaker, no rate limit, no attempt."""
    cache = engine.config.cache
    if cache is None or key is None:
        return None
    response = cache.get(key)
    if response is None:
        return None
    if not stream:
        return response
    return replayed(replay_events(response), redact_url(client.base_url), asynchronous=asynchronous)


def store(engine: Engine, key: str | None, response: object) -> None:
    """Keep a completed response for *key* (the cache refuses anything else)."""
    cache = engine.config.cache
    if (
        cache is not None
        and key is not None
        and isinstance(response, openai.types.responses.Response)
    ):
        cache.put(key, response)
