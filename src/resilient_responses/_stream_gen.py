"""Decorated generators: retried only before their first item, never replayed after it.

A decorated generator function is restarted after a failure only while it has yielded
nothing (a retry after an item would hand the consumer that item twice). After the first
item a fault ends it with :class:`~resilient_responses.StreamInterruptedError`; when it
passes a Responses stream on (from ``response.created``), one that ends without a terminal
event was cut, and is reported the same way (a generator that picks events out is judged
by its return). Values sent with ``send()`` / ``asend()`` and exceptions thrown with
``throw()`` / ``athrow()`` reach the decorated generator, as with ``yield from``; ``close()``
/ ``aclose()`` close it.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import AsyncGenerator, Callable, Generator
from typing import Any

from ._call import CallState
from ._classify import Failure, classify
from ._contract import TERMINAL_EVENTS, TEXT_DELTA, StreamCore
from ._engine import Engine
from ._policy import Decision
from ._stream_call import OPEN_ERRORS, TRUNCATED, StreamCall

__all__ = ["decorate_async_generator", "decorate_generator"]

KeyOf = Callable[[tuple[Any, ...], dict[str, Any]], str]


class _Watch:
    """What one run of a decorated generator yielded, and what a failure means for it.

    A generator that passes a Responses stream on (its first event is
    ``response.created``) is held to the stream contract: returning before a terminal
    event is a cut. One that picks events out (only the text deltas, say) never yields the
    terminal event, so its return is its own verdict: a success; what it yielded still
    makes the partial text of an interruption.
    """

    __slots__ = ("call", "events", "items", "terminal", "whole")

    def __init__(self, call: StreamCall) -> None:
        self.call = call
        self.items = 0
        self.events = False
        self.whole = False
        self.terminal = False

    def saw(self, item: Any) -> None:
        self.items += 1
        event_type = getattr(item, "type", None)
        seq = getattr(item, "sequence_number", None)
        if not isinstance(event_type, str) or not isinstance(seq, int):
            return
        core = self.call.core
        if not self.events:
            self.events = True
            self.whole = event_type == "response.created"
        if self.whole:
            core.accept(item)
            if event_type in TERMINAL_EVENTS:
                self.terminal = True
        else:  # picked events: numbers with gaps, text as yielded
            core.last_seq = seq
            if event_type == TEXT_DELTA:
                core.text.add(getattr(item, "delta", None))

    def failure(self, exc: BaseException | None) -> Failure:
        """The failure behind *exc* (``None``: events that stopped before a terminal one);
        raises *exc* when it is not ours (the caller's own error)."""
        if exc is None:
            return TRUNCATED
        failure = classify(exc)
        if failure is None:
            raise exc
        return failure

    def after(self, failure: Failure, exc: BaseException | None, decision: Decision) -> float:
        """The wait before running the generator again, or raises."""
        state = self.call.state
        if self.items == 0:  # nothing yielded: retried as a call would be
            if decision.retry:
                state.retry_scheduled(failure, decision)
                return decision.wait
            state.gave_up(failure, decision.reason or "not_retryable")
            assert exc is not None
            raise exc
        raise self.call.interrupted(failure, exc)

    def ended(self) -> bool:
        """The generator returned: ``True`` when that is a success (not a cut stream)."""
        return not (self.whole and not self.terminal)


def _new_watch(engine: Engine, key: str) -> _Watch:
    state = CallState(engine, key, None, via_client=False, stream=True)
    policy = engine.config.stream
    return _Watch(StreamCall(state, StreamCore(policy.recovery), policy))


def _run_once(
    gen: Generator[Any, Any, Any], watch: _Watch
) -> Generator[Any, Any, tuple[bool, Any, BaseException | None]]:
    """Drive *gen* once, forwarding what the consumer sends and throws. Returns
    ``(ended, value, error)``: it returned *value*, or failed with *error* (``None`` with
    ``ended=False``: its events stopped before a terminal one)."""
    sent: Any = None
    thrown: Exception | None = None
    while True:
        try:
            item = gen.throw(thrown) if thrown is not None else gen.send(sent)
        except StopIteration as stop:
            return watch.ended(), stop.value, None
        except OPEN_ERRORS as exc:
            return False, None, exc
        thrown = None
        watch.saw(item)
        try:
            sent = yield item
        except Exception as exc:  # noqa: BLE001 - thrown in by the consumer: forwarded, as by `yield from`
            thrown = exc


def decorate_generator(
    engine: Engine, key_of: KeyOf, fn: Callable[..., Generator[Any, Any, Any]]
) -> Callable[..., Generator[Any, Any, Any]]:
    """Retry a generator function only before its first item; after it, never replay."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
        watch = _new_watch(engine, key_of(args, kwargs))
        call, state = watch.call, watch.call.state
        wait = 0.0
        while True:
            engine.sleep(wait)
            try:
                state.begin()
            except OPEN_ERRORS as exc:
                wait = call.refused(exc)
                continue
            gen = fn(*args, **kwargs)
            try:
                ended, value, error = yield from _run_once(gen, watch)
            finally:
                gen.close()
                if not state.finished and sys.exc_info()[1] is not None:
                    state.abandon(sys.exc_info()[1])  # the consumer left, or an error
            if ended:
                state.settle(None)
                return value
            failure = watch.failure(error)
            wait = watch.after(
                failure, error, state.judge(failure, error, recoverable=not watch.items)
            )

    return wrapper


def decorate_async_generator(
    engine: Engine, key_of: KeyOf, fn: Callable[..., AsyncGenerator[Any, Any]]
) -> Callable[..., AsyncGenerator[Any, Any]]:
    """The async twin of :func:`decorate_generator`."""

    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
        watch = _new_watch(engine, key_of(args, kwargs))
        call, state = watch.call, watch.call.state
        wait = 0.0
        while True:
            await engine.asleep(wait)
            try:
                await state.abegin()
            except OPEN_ERRORS as exc:
                wait = call.refused(exc)
                continue
            gen, error, sent, thrown = fn(*args, **kwargs), None, None, None
            try:
                while True:
                    try:
                        item = await (gen.athrow(thrown) if thrown else gen.asend(sent))
                    except StopAsyncIteration:
                        break
                    except OPEN_ERRORS as exc:
                        error = exc
                        break
                    thrown = None
                    watch.saw(item)
                    try:
                        sent = yield item
                    except Exception as exc:  # noqa: BLE001 - forwarded to the generator
                        thrown = exc
            finally:
                await gen.aclose()
                if not state.finished and sys.exc_info()[1] is not None:
                    state.abandon(sys.exc_info()[1])
            if error is None and watch.ended():
                await state.asettle(None)
                return
            failure = watch.failure(error)
            decision = await state.ajudge(failure, error, recoverable=not watch.items)
            wait = watch.after(failure, error, decision)

    return wrapper
