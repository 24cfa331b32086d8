"""Opening resilient streams: the opener (create, restart, resume) and the entry points the
drop-in clients call for ``responses.create(stream=True)`` and
``responses.retrieve(id, stream=True)``, sync and async."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any

import httpx2
import openai
from openai._streaming import SSEDecoder

from ._call import CallState
from ._contract import StreamCore
from ._request import attempt_headers, attempt_timeout, call_keys
from ._stream_call import StallWatch, StreamCall
from ._stream_policy import StreamPolicy
from ._stream_shell import AsyncResilientStream, ResilientStream

if TYPE_CHECKING:
    from ._engine import Engine

__all__ = [
    "Opener",
    "acreate_stream",
    "aretrieve_stream",
    "create_stream",
    "retrieve_stream",
    "stream_call",
]

#: The request options a resume keeps (the rest describe a new response).
_RESUME_OPTIONS = ("include", "include_obfuscation", "extra_query", "extra_body")


class _WatchedDecoder:
    """The SDK's SSE decoder, reading through a :class:`StallWatch`."""

    __slots__ = ("_inner", "_limit", "_watch")

    def __init__(self, inner: Any, watch: StallWatch, limit: float) -> None:
        self._inner = inner
        self._watch = watch
        self._limit = limit

    def iter_bytes(self, iterator: Iterator[bytes]) -> Iterator[Any]:
        return self._inner.iter_bytes(self._watch.chunks(iterator, self._limit))  # type: ignore[no-any-return]

    def aiter_bytes(self, iterator: AsyncIterator[bytes]) -> AsyncIterator[Any]:
        return self._inner.aiter_bytes(self._watch.achunks(iterator, self._limit))  # type: ignore[no-any-return]


def _watched_decoder_class() -> type[Any] | None:
    """The SDK's SSE decoder reading through a :class:`StallWatch` at no extra cost per
    chunk: its per-chunk line decoding (``_decode_lines``) watches the clock, where
    :class:`_WatchedDecoder` adds a generator layer in front of it. ``None`` when the
    installed SDK's decoder does not work that way (then :class:`_WatchedDecoder` is used):
    the subclass leans on a private step of the SDK, so it is tried once, here, on a
    keepalive that must be called a stall, before any stream relies on it."""
    if not callable(getattr(SSEDecoder, "_decode_lines", None)):
        return None  # pragma: no cover - the installed SDK has it

    class WatchedSSEDecoder(SSEDecoder):
        def __init__(self, watch: StallWatch, limit: float) -> None:
            super().__init__()
            self._rr_watch = watch
            self._rr_limit = limit

        def _decode_lines(self, lines: Iterator[bytes]) -> Iterator[Any]:
            event = False
            # The SDK's own loop, plus the clock (self.decode each time: a bound method
            # kept in a local is slower to call).
            for raw_line in lines:
                sse = self.decode(raw_line.decode("utf-8"))
                if sse:
                    event = True
                    yield sse
            # Read once the consumer asks for more: the time it spends on an event is its
            # own, not the server's silence.
            watch = self._rr_watch
            if event:
                watch.last = watch.clock()
            else:
                watch.check(watch.clock(), self._rr_limit)

    return WatchedSSEDecoder if _stalls_on_a_keepalive(WatchedSSEDecoder) else None


def _stalls_on_a_keepalive(decoder_class: type[Any]) -> bool:
    """An event, then a keepalive 10 s later with a 1 s limit: the decoder must decode the
    event and raise ``httpx2.ReadTimeout`` at the keepalive."""
    times = iter([0.0, 0.0, 10.0])
    watch = StallWatch(StreamPolicy(), None, lambda: next(times, 10.0))
    chunks = [b'event: e\ndata: {"type": "e"}\n\n', b": keepalive\n\n"]
    events = 0
    try:
        for _ in decoder_class(watch, 1.0).iter_bytes(iter(chunks)):
            events += 1
    except httpx2.ReadTimeout:
        return events == 1
    except Exception:  # noqa: BLE001 - an SDK this subclass does not fit: use the wrapper
        return False
    return False  # the watch never ran: the SDK no longer decodes through that step


_WatchedSSEDecoder = _watched_decoder_class()


class Opener:
    """Opens the SDK stream for the first attempt, a restart, or a resume.

    *create* is ``None`` for ``retrieve(id, stream=True)``: every connection resumes.
    """

    __slots__ = ("_client", "_create", "_kwargs", "_retrieve", "_timeout")

    def __init__(
        self,
        client: Any,
        create: Callable[..., Any] | None,
        kwargs: dict[str, Any],
        retrieve: Callable[..., Any],
    ) -> None:
        self._client = client
        self._create = create
        self._kwargs = kwargs
        self._retrieve = retrieve
        self._timeout = kwargs.pop("timeout", openai.NOT_GIVEN)

    def __call__(self, call: StreamCall) -> Any:
        """Send the request of the next connection; returns the SDK's stream (or its
        awaitable), read through a :class:`StallWatch` when a limit applies."""
        core, state, watch = call.core, call.state, call.watch
        limit = watch.limit(core.first_event_seen)
        left = state.time_left()
        read = watch.allowance(core.first_event_seen)  # else the caller's read timeout
        timeout = attempt_timeout(self._client, self._timeout, read=read, left=left)
        extra: dict[str, Any] = {"timeout": timeout}
        kwargs = self._kwargs
        headers = attempt_headers(state, kwargs.get("extra_headers"))
        if core.resuming or self._create is None:
            assert core.response_id is not None
            params = {k: kwargs[k] for k in _RESUME_OPTIONS if k in kwargs}
            if core.last_seq is not None:
                params["starting_after"] = core.last_seq
            opened = self._retrieve(
                core.response_id, stream=True, extra_headers=headers, **params, **extra
            )
        else:
            opened = self._create(**{**kwargs, "extra_headers": headers, **extra})
        if limit is None:
            return opened
        if inspect.isawaitable(opened):
            return _awatched(opened, watch, limit)
        return _watched(opened, watch, limit)


def _watched(raw: Any, watch: StallWatch, limit: float) -> Any:
    # Swapped before the first read: the SDK stream builds its event iterator lazily.
    decoder = getattr(raw, "_decoder", None)
    if type(decoder) is SSEDecoder and _WatchedSSEDecoder is not None:
        watch.last = watch.clock()
        raw._decoder = _WatchedSSEDecoder(watch, limit)
    elif decoder is not None:
        raw._decoder = _WatchedDecoder(decoder, watch, limit)
    return raw


async def _awatched(opened: Awaitable[Any], watch: StallWatch, limit: float) -> Any:
    return _watched(await opened, watch, limit)


def stream_call(
    engine: Engine,
    client: Any,
    kwargs: dict[str, Any],
    *,
    operation: str = "create",
    response_id: str | None = None,
    starting_after: int | None = None,
) -> StreamCall:
    """The call behind a new resilient stream (``make_resumable`` applied to *kwargs*)."""
    policy = engine.config.stream
    # A request that must not be stored (store=False, as the chat adapter sends) cannot be
    # a background response: it stays a plain stream.
    if policy.make_resumable and operation == "create" and kwargs.get("store") is not False:
        # The SDK's stream() helper passes `omit` for arguments the caller left out.
        for name in ("background", "store"):
            if isinstance(kwargs.get(name, openai.omit), (openai.Omit, openai.NotGiven)):
                kwargs[name] = True
    model = kwargs.get("model")
    key, quota = call_keys(client, model)
    state = CallState(
        engine,
        key,
        model if isinstance(model, str) else None,
        via_client=True,
        stream=True,
        operation=operation,
        quota=quota,
    )
    if operation == "create":
        state.weigh(kwargs)
    core = StreamCore(
        policy.recovery,
        resumable=response_id is not None or bool(kwargs.get("background")),
        response_id=response_id,
        starting_after=starting_after,
    )
    return StreamCall(state, core, policy)


def create_stream(
    engine: Engine,
    client: Any,
    create: Callable[..., Any],
    retrieve: Callable[..., Any],
    kwargs: dict[str, Any],
    *,
    on_completed: Callable[[Any], None] | None = None,
) -> ResilientStream[Any]:
    """``responses.create(stream=True)``, resilient; *on_completed* receives the completed
    response once the consumer took the terminal event."""
    call = stream_call(engine, client, kwargs)
    call.on_completed = on_completed
    return ResilientStream.open(call, Opener(client, create, kwargs, retrieve))


async def acreate_stream(
    engine: Engine,
    client: Any,
    create: Callable[..., Awaitable[Any]],
    retrieve: Callable[..., Awaitable[Any]],
    kwargs: dict[str, Any],
    *,
    on_completed: Callable[[Any], None] | None = None,
) -> AsyncResilientStream[Any]:
    """``await responses.create(stream=True)``, resilient."""
    call = stream_call(engine, client, kwargs)
    call.on_completed = on_completed
    return await AsyncResilientStream.open(call, Opener(client, create, kwargs, retrieve))


def _retrieve_call(
    engine: Engine,
    client: Any,
    retrieve: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> tuple[StreamCall, Opener]:
    response_id = args[0] if args else kwargs.get("response_id")
    if not isinstance(response_id, str) or not response_id:
        raise ValueError(f"response_id must be a non-empty str, got {response_id!r}")
    starting_after = kwargs.get("starting_after")
    call = stream_call(
        engine,
        client,
        {},
        operation="retrieve",
        response_id=response_id,
        starting_after=starting_after if isinstance(starting_after, int) else None,
    )
    rest = {k: v for k, v in kwargs.items() if k not in ("response_id", "stream", "starting_after")}
    return call, Opener(client, None, rest, retrieve)


def retrieve_stream(
    engine: Engine,
    client: Any,
    retrieve: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> ResilientStream[Any]:
    """``responses.retrieve(id, stream=True, starting_after=n)``, resilient (always resumes)."""
    return ResilientStream.open(*_retrieve_call(engine, client, retrieve, args, kwargs))


async def aretrieve_stream(
    engine: Engine,
    client: Any,
    retrieve: Callable[..., Awaitable[Any]],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> AsyncResilientStream[Any]:
    """The async twin of :func:`retrieve_stream`."""
    return await AsyncResilientStream.open(*_retrieve_call(engine, client, retrieve, args, kwargs))
