"""Typed routing of Responses stream events to handlers, by their ``type`` string.

Dispatch reads ``event.type``, never ``isinstance``: the SDK turns an event type it does not
know into some other class that still carries the real ``type`` string, so a class-based
router would misroute it. :data:`KNOWN_EVENT_TYPES` is read from the installed SDK's
``ResponseStreamEvent`` union at import, so it follows the SDK version.
"""

from __future__ import annotations

import difflib
import inspect
import typing
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType, UnionType
from typing import Any, TypeVar

from openai.types.responses import ResponseStreamEvent

__all__ = ["KNOWN_EVENT_TYPES", "EventRouter", "RouteSummary"]

Handler = Callable[[Any], object]
H = TypeVar("H", bound=Handler)

# ``Union[A, B]`` and ``A | B`` have different origins.
_UNION_ORIGINS: tuple[object, ...] = (typing.Union, UnionType)


def _literal_strings(tp: object) -> Iterator[str]:
    """The string values of the ``type`` Literal(s) reachable from *tp*."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        yield from _literal_strings(typing.get_args(tp)[0])
    elif origin in _UNION_ORIGINS:
        for arg in typing.get_args(tp):
            yield from _literal_strings(arg)
    elif origin is typing.Literal:
        yield from (v for v in typing.get_args(tp) if isinstance(v, str))
    elif isinstance(tp, type):
        yield from _literal_strings(_type_annotation(tp))


def _type_annotation(model: type) -> object:
    model_fields = getattr(model, "model_fields", None)  # pydantic 2
    if isinstance(model_fields, Mapping) and "type" in model_fields:
        return model_fields["type"].annotation
    for klass in model.__mro__:  # pydantic 1, or anything annotated
        annotation = vars(klass).get("__annotations__", {}).get("type")
        if annotation is not None:
            return annotation
    return None


#: Every ``type`` string of the installed SDK's ``ResponseStreamEvent`` union (59 in openai 3.57).
KNOWN_EVENT_TYPES: frozenset[str] = frozenset(_literal_strings(ResponseStreamEvent))

_MISSING_TYPE = "<missing>"


@dataclass(frozen=True, slots=True)
class RouteSummary:
    """What :meth:`EventRouter.run` consumed.

    Attributes:
        counts: events seen, by ``type`` (read-only; ``"<missing>"`` for events without one).
        total: all events seen.
        unhandled: events that no handler (typed, ``on_unknown`` or ``on_any``) received.
    """

    counts: Mapping[str, int]
    total: int
    unhandled: int


def _is_async(fn: object) -> bool:
    if inspect.iscoroutinefunction(fn):
        return True
    call = getattr(fn, "__call__", None)  # noqa: B004 - an object with ``async def __call__``
    return call is not None and inspect.iscoroutinefunction(call)


def _event_type(event: object) -> str:
    kind = event.get("type") if isinstance(event, Mapping) else getattr(event, "type", None)
    return kind if isinstance(kind, str) else _MISSING_TYPE


class EventRouter:
    """Route Responses stream events to handlers registered by event type.

    Handlers take the event and may be plain or ``async`` functions. For each event the
    router calls, in registration order, the handlers of its type, then (if the type is
    not in :data:`KNOWN_EVENT_TYPES`) the ``on_unknown`` handlers, then the ``on_any``
    handlers. A handler's exception propagates at once: nothing is swallowed. The router
    does not close the stream; use it inside ``with stream:``.

    >>> router = EventRouter()
    >>> text = []
    >>> @router.on("response.output_text.delta")
    ... def collect(event):
    ...     text.append(event.delta)
    >>> from openai.types.responses import ResponseTextDeltaEvent
    >>> events = [ResponseTextDeltaEvent.construct(type="response.output_text.delta",
    ...                                            delta=d, sequence_number=i)
    ...           for i, d in enumerate(["Hel", "lo"])]
    >>> router.run(events).total, "".join(text)
    (2, 'Hello')
    """

    __slots__ = ("_any", "_handlers", "_unknown")

    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = {}
        self._unknown: list[Handler] = []
        self._any: list[Handler] = []

    def on(self, *event_types: str, strict: bool = True) -> Callable[[H], H]:
        """Decorator registering a handler for one or more event types.

        Raises:
            ValueError: when no type is given, or (with ``strict=True``) when a type is not
                one the SDK knows; the message lists the closest known names.
        """
        if not event_types:
            raise ValueError("on() needs at least one event type, e.g. on('response.completed')")
        for event_type in event_types:
            if not isinstance(event_type, str):
                raise TypeError(f"event types are strings, got {event_type!r}")
            if strict and event_type not in KNOWN_EVENT_TYPES:
                close = difflib.get_close_matches(event_type, KNOWN_EVENT_TYPES, n=3)
                hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
                raise ValueError(
                    f"unknown Responses stream event type {event_type!r}{hint} "
                    "(pass strict=False to register a type this SDK version does not know)"
                )

        def register(handler: H) -> H:
            for event_type in dict.fromkeys(event_types):
                self._handlers.setdefault(event_type, []).append(handler)
            return handler

        return register

    def on_unknown(self, handler: H) -> H:
        """Decorator registering a handler for events whose type the SDK does not know."""
        self._unknown.append(handler)
        return handler

    def on_any(self, handler: H) -> H:
        """Decorator registering a handler called for every event, after the others."""
        self._any.append(handler)
        return handler

    def handlers_for(self, event_type: str) -> tuple[Handler, ...]:
        """The handlers an event of *event_type* would be passed to, in call order."""
        chosen = list(self._handlers.get(event_type, ()))
        if event_type not in KNOWN_EVENT_TYPES:
            chosen.extend(self._unknown)
        chosen.extend(self._any)
        return tuple(chosen)

    def _all_handlers(self) -> Iterator[Handler]:
        for handlers in self._handlers.values():
            yield from handlers
        yield from self._unknown
        yield from self._any

    def run(self, stream: Iterable[Any]) -> RouteSummary:
        """Consume a sync iterable of events, calling the handlers; return a summary.

        Raises:
            TypeError: before consuming anything, when an ``async`` handler is registered
                or *stream* is an async iterable (use :meth:`arun` for both).
        """
        async_handlers = [h for h in self._all_handlers() if _is_async(h)]
        if async_handlers:
            names = ", ".join(sorted({getattr(h, "__qualname__", repr(h)) for h in async_handlers}))
            raise TypeError(
                f"EventRouter.run() cannot call async handlers ({names}); "
                "use `await router.arun(stream)` instead"
            )
        if not hasattr(stream, "__iter__") and hasattr(stream, "__aiter__"):
            raise TypeError(
                "EventRouter.run() got an async iterable; use `await router.arun(stream)`"
            )
        counts: dict[str, int] = {}
        total = unhandled = 0
        for event in stream:
            event_type = _event_type(event)
            counts[event_type] = counts.get(event_type, 0) + 1
            total += 1
            handlers = self.handlers_for(event_type)
            if not handlers:
                unhandled += 1
            for handler in handlers:
                result = handler(event)
                if inspect.isawaitable(result):
                    _discard(result)
                    raise TypeError(
                        f"handler {getattr(handler, '__qualname__', handler)!r} returned an "
                        "awaitable; EventRouter.run() cannot await it, use arun()"
                    )
        return RouteSummary(MappingProxyType(counts), total, unhandled)

    async def arun(self, stream: AsyncIterable[Any] | Iterable[Any]) -> RouteSummary:
        """Consume an async (or sync) iterable of events, awaiting async handlers."""
        counts: dict[str, int] = {}
        total = unhandled = 0

        async def dispatch(event: Any) -> None:
            nonlocal total, unhandled
            event_type = _event_type(event)
            counts[event_type] = counts.get(event_type, 0) + 1
            total += 1
            handlers = self.handlers_for(event_type)
            if not handlers:
                unhandled += 1
            for handler in handlers:
                result = handler(event)
                if inspect.isawaitable(result):
                    await result

        if isinstance(stream, AsyncIterable):
            async for event in stream:
                await dispatch(event)
        else:
            for event in stream:
                await dispatch(event)
        return RouteSummary(MappingProxyType(counts), total, unhandled)

    def __repr__(self) -> str:
        registered = sorted(self._handlers)
        return (
            f"EventRouter(types={registered!r}, unknown={len(self._unknown)}, any={len(self._any)})"
        )


def _discard(awaitable: Awaitable[object]) -> None:
    # Close a coroutine we will never await, so Python does not warn it was never awaited.
    close = getattr(awaitable, "close", None)
    if callable(close):
        close()
