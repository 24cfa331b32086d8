"""Resilient streams: exactly-once events, lossless resume, truncation and stall detection.

``StreamCore`` is the sans-I/O heart, shared by the sync and async shells: it watches each
event (deduplicating by ``sequence_number``, tracking the response id, the delivered text
and whether the consumer has seen output yet), and turns each fault into an action:
resume (``retrieve(id, stream=True, starting_after=n)``), restart (re-issue the request,
only while the consumer has seen nothing but lifecycle events), deliver a
server-declared failure as the SDK would, or raise :class:`StreamInterruptedError`. Every
open goes through the call's :class:`CallState`, so resumes and restarts obey the same
policies, attempt limits, deadline, retry budget and circuit breaker as calls.

The shells (:class:`ResilientStream`, :class:`AsyncResilientStream`) only do I/O: open,
read, close. They keep the SDK stream's surface (iteration, ``with``, ``close()``,
``.response``), so consumer code runs unchanged.
"""

from __future__ import annotations

import functools
import sys
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Generator, Iterator
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar, cast

import httpx2
import openai
from openai import NOT_GIVEN

from ._classify import TERMINAL_EVENTS, Failure, classify
from ._request import attempt_headers, breaker_key
from ._retry import CallState
from .events import GaveUp, StreamInterrupted, StreamRecovered
from .exceptions import CircuitOpenError, DeadlineExceededError, StreamInterruptedError

if TYPE_CHECKING:
    from ._core import Resilience
    from ._stream_policy import StreamPolicy

__all__ = [
    "AsyncResilientStream",
    "ResilientStream",
    "StreamCore",
    "acreate_stream",
    "aretrieve_stream",
    "astream_manager",
    "create_stream",
    "decorate_async_generator",
    "decorate_generator",
    "retrieve_stream",
    "stream_manager",
]

E = TypeVar("E")

#: Events that carry no output: a restart is allowed while the consumer saw only these.
LIFECYCLE_EVENTS = frozenset({"response.created", "response.queued", "response.in_progress"})
_DECLARED = frozenset({"error", "response.failed"})
_TRANSPORT_ERRORS = (openai.APIConnectionError, httpx2.TransportError)
_OPEN_ERRORS = (openai.APIError, httpx2.HTTPError)

Verdict = Literal["deliver", "skip", "end", "declared"]
Mode = Literal["resume", "restart"]


class StreamCore:
    """What one resilient stream knows and decides; no I/O.

    ``deliver_count`` counts events handed to the consumer; ``output_seen`` turns true at
    the first event that is not a lifecycle event, after which a restart would replay
    output and is no longer allowed.
    """

    __slots__ = (
        "connection_progress",
        "deliver_count",
        "first_event_seen",
        "last_seq",
        "on_new_response",
        "output_seen",
        "policy",
        "response_id",
        "restart_pending",
        "resumable",
        "resuming",
        "state",
        "text",
    )

    def __init__(
        self,
        state: CallState,
        policy: StreamPolicy,
        *,
        resumable: bool = False,
        response_id: str | None = None,
        starting_after: int | None = None,
    ) -> None:
        self.state = state
        self.policy = policy
        self.resumable = resumable
        self.response_id = response_id
        self.last_seq = starting_after
        self.output_seen = False
        self.first_event_seen = False
        # Set by a restart until the new response's first event: until then the consumer
        # still holds the old response's id and sequence number (an interruption reports
        # them), but neither may be used to deduplicate or to resume.
        self.restart_pending = False
        self.deliver_count = 0
        # The current connection delivered something new: output, or any event of a
        # resume. Lifecycle events of a fresh response are not progress: a server that
        # cuts every stream after `response.created` must still exhaust the attempts.
        self.connection_progress = False
        self.resuming = False
        self.text: list[str] = []
        self.on_new_response: Callable[[], None] | None = None

    # -- bookkeeping -----------------------------------------------------------------

    @property
    def partial_text(self) -> str:
        return "".join(self.text)

    def begin_open(self) -> float | None:
        """Admit one open through the breaker: ``None`` when admitted, or the seconds to
        wait before asking again (the ``"circuit_open"`` policy waits for the breaker).

        Before anything was delivered an open breaker raises as for calls
        (:class:`CircuitOpenError`, or the last SDK error when it opened while we
        waited); mid-stream the consumer gets a :class:`StreamInterruptedError` instead.
        """
        state = self.state
        self.connection_progress = False
        self.resuming = self.can_resume()
        try:
            state.begin(log_give_up=not self.deliver_count)
        except (CircuitOpenError, DeadlineExceededError, openai.APIError) as exc:
            if isinstance(exc, CircuitOpenError) and state.tenacity_retry(None):
                return state.tenacity_wait(None)
            if not self.deliver_count:
                raise
            last = state.history[-1][0] if state.history else Failure(kind="connection")
            raise self._interrupted(last, exc) from exc
        return None

    def can_resume(self) -> bool:
        return self.response_id is not None and self.resumable and not self.restart_pending

    def open_mode(self) -> Literal["create", "resume"]:
        return "resume" if self.can_resume() else "create"

    def accept(self, event: Any) -> Verdict:
        """Classify one event read from the wire."""
        if self.restart_pending:
            self.restart_pending = False
            self.response_id = None
            self.last_seq = None
        seq = getattr(event, "sequence_number", None)
        last = self.last_seq
        if isinstance(seq, int) and last is not None and seq <= last:
            return "skip"  # replayed by a resume: the consumer already has it
        event_type = getattr(event, "type", None)
        if not self.first_event_seen:
            self.first_event_seen = True
            state = self.state
            state.engine.stats.first_event(state.key, state.engine.clock() - state.began)
        if event_type == "response.created":
            response = getattr(event, "response", None)
            self.response_id = getattr(response, "id", None) or self.response_id
            if getattr(response, "background", None):
                self.resumable = True
        if event_type in _DECLARED:
            return "declared"
        if not self.connection_progress and (self.resuming or event_type not in LIFECYCLE_EVENTS):
            self.connection_progress = True
            if self.state.attempt > 1:
                # Progress after failures: the attempt limit and deadline start over,
                # so a long stream cut several times is resumed every time it moves on.
                self.state.progress()
        if isinstance(seq, int):
            self.last_seq = seq
        if event_type not in LIFECYCLE_EVENTS:
            self.output_seen = True
            if event_type == "response.output_text.delta":
                delta = getattr(event, "delta", None)
                if isinstance(delta, str):
                    self.text.append(delta)
        self.deliver_count += 1
        return "end" if event_type in TERMINAL_EVENTS else "deliver"

    def finish_ok(self, event: Any) -> None:
        """The stream ended with ``response.completed`` / ``response.incomplete``."""
        self.state.succeeded(getattr(event, "response", None))

    # -- decisions ---------------------------------------------------------------------

    def _mode(self, declared: bool) -> Mode | None:
        recovery = self.policy.recovery
        if recovery == "raise":
            return None
        can_resume = not declared and self.can_resume()
        can_restart = not self.output_seen
        if recovery == "resume":
            return "resume" if can_resume else None
        if recovery == "restart":
            return "restart" if can_restart else None
        if can_resume:
            return "resume"
        return "restart" if can_restart else None

    def on_declared(self, event: Any) -> float | None:
        """A server-declared failure (``error`` / ``response.failed``).

        Returns the wait before a restart, or ``None``: deliver the event and end.
        """
        failure = classify(event) or Failure(kind="stream_error")
        mode = self._mode(declared=True)
        decision = self._decide(failure, None, recoverable=mode is not None)
        seq = getattr(event, "sequence_number", None)
        state = self.state
        restarting = decision is not None and mode is not None
        # A failed response may still report usage: it was paid, and wasted if restarted.
        response = getattr(event, "response", None)
        if response is not None and getattr(response, "usage", None) is not None:
            state.engine.account_usage(state.key, state.model, response, wasted=restarting)
        if decision is not None and mode is not None:
            self._recovered(mode, failure, decision)
            return decision
        if isinstance(seq, int):
            self.last_seq = seq
        self.deliver_count += 1
        state.emit(
            GaveUp(
                key=state.key,
                model=state.model,
                attempt=state.attempt,
                failure=failure,
                reason="server_declared",
                elapsed_s=state.elapsed(),
                breaker_state=state.breaker_state(),
            )
        )
        state.finish_deferred()
        return None

    def on_fault(self, failure: Failure, exc: BaseException | None) -> float:
        """A transport fault mid-stream: the wait before recovering, or raises the
        interruption."""
        mode = self._mode(declared=False)
        decision = self._decide(
            failure, exc, recoverable=mode is not None, progressed=self.connection_progress
        )
        if decision is not None and mode is not None:
            self._recovered(mode, failure, decision)
            return decision
        raise self._interrupted(failure, exc)

    def on_open_error(self, exc: BaseException) -> float:
        """Opening (or re-opening) failed before any event of that attempt arrived."""
        failure = classify(exc)
        if failure is None:
            self.state.failed(exc)
            raise exc
        # Mid-stream, giving up is an interruption (logged as such, with the response id
        # and sequence number), not a failed call.
        decision = self.state.failure(failure, exc, log_give_up=not self.deliver_count)
        if decision.retry:
            return decision.wait
        if self.deliver_count:
            raise self._interrupted(failure, exc)
        raise exc

    def _decide(
        self,
        failure: Failure,
        exc: BaseException | None,
        *,
        recoverable: bool,
        progressed: bool = False,
    ) -> float | None:
        decision = self.state.failure(
            failure, exc, log=False, recoverable=recoverable, progressed=progressed
        )
        return decision.wait if decision.retry else None

    def _recovered(self, mode: Mode, failure: Failure, wait: float) -> None:
        state = self.state
        stats = state.engine.stats
        (stats.stream_resumed if mode == "resume" else stats.stream_restarted)(state.key)
        state.emit(
            StreamRecovered(
                key=state.key,
                model=state.model,
                how=mode,
                attempt=state.attempt,
                failure=failure,
                response_id=self.response_id,
                sequence_number=self.last_seq,
                wait_s=wait,
                elapsed_s=state.elapsed(),
            )
        )
        if mode == "restart":
            self.restart_pending = True
            self.resumable = False
            if self.on_new_response is not None:
                self.on_new_response()

    def _interrupted(self, failure: Failure, exc: BaseException | None) -> StreamInterruptedError:
        """Log the interruption, end the call (its give-up was deferred), build the error."""
        state = self.state
        state.engine.stats.stream_interrupted(state.key)
        reason = failure.kind if failure.kind != "status" else failure.describe()
        state.emit(
            StreamInterrupted(
                key=state.key,
                model=state.model,
                attempt=state.attempt,
                failure=failure,
                reason=reason,
                response_id=self.response_id,
                sequence_number=self.last_seq,
                elapsed_s=state.elapsed(),
            )
        )
        state.finish_deferred()
        error = StreamInterruptedError(
            f"stream of response {self.response_id or '(not created)'} interrupted after "
            f"sequence number {self.last_seq} ({failure.describe()}); "
            f"{len(self.partial_text)} characters of text were delivered",
            response_id=self.response_id,
            last_sequence_number=self.last_seq,
            partial_text=self.partial_text,
            reason=failure.kind,
        )
        error.__cause__ = exc
        return error


def _stream_failure(exc: BaseException) -> Failure | None:
    """Mid-stream, a read timeout is a stall and a dropped connection a cut."""
    failure = classify(exc)
    if failure is None:
        return None
    if failure.kind == "timeout":
        return Failure(kind="stream_stalled", exception=exc)
    return failure


# -- openers ---------------------------------------------------------------------------


def _read_timeout(client: Any, given: Any, read: float | None) -> Any:
    """A per-request timeout with the read timeout replaced (stall detection)."""
    if read is None:
        return given
    base = given if given is not None and given is not NOT_GIVEN else client.timeout
    if isinstance(base, httpx2.Timeout):
        return httpx2.Timeout(connect=base.connect, read=read, write=base.write, pool=base.pool)
    if isinstance(base, (int, float)):
        return httpx2.Timeout(float(base), read=read)
    return httpx2.Timeout(None, read=read)


class _Opener:
    """Opens the SDK stream for the first attempt, a restart, or a resume."""

    __slots__ = ("_client", "_create", "_create_args", "_kwargs", "_retrieve", "_timeout")

    def __init__(
        self,
        client: Any,
        create: Callable[..., Any] | None,
        create_args: tuple[Any, ...],
        kwargs: dict[str, Any],
        retrieve: Callable[..., Any],
    ) -> None:
        self._client = client
        self._create = create
        self._create_args = create_args
        self._kwargs = kwargs
        self._retrieve = retrieve
        self._timeout = kwargs.pop("timeout", None)

    def __call__(self, core: StreamCore) -> Any:
        policy = core.policy
        read = (
            policy.first_event_timeout or policy.idle_timeout
            if not core.first_event_seen
            else policy.idle_timeout
        )
        timeout = _read_timeout(self._client, self._timeout, read)
        extra: dict[str, Any] = {}
        if timeout is not None:
            extra["timeout"] = timeout
        kwargs = self._kwargs
        headers = attempt_headers(core.state, kwargs.get("extra_headers"))
        if core.open_mode() == "resume" or self._create is None:
            assert core.response_id is not None
            params: dict[str, Any] = {
                k: kwargs[k]
                for k in ("include", "include_obfuscation", "extra_query", "extra_body")
                if k in kwargs
            }
            if core.last_seq is not None:
                params["starting_after"] = core.last_seq
            return self._retrieve(
                core.response_id, stream=True, extra_headers=headers, **params, **extra
            )
        call_kwargs = {**kwargs, "extra_headers": headers, **extra}
        return self._create(*self._create_args, **call_kwargs)


# -- the sync shell -------------------------------------------------------------------


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


class ResilientStream(Generic[E]):
    """A resilient ``openai.Stream``: iterate it, use it in ``with``, ``close()`` it."""

    def __init__(self, core: StreamCore, opener: Callable[[StreamCore], Any]) -> None:
        self._core = core
        self._opener = opener
        self._raw: Any = None
        self._last_response: httpx2.Response = cast(httpx2.Response, None)
        self._closed = False
        self._open_with_retries()
        self._iterator: Generator[E, None, None] = self._events()
        # Dropped without being read or closed: still release the breaker admission and
        # end the call (a generator that never started runs no `finally`).
        weakref.finalize(self, core.state.abandon)

    # The SDK stream's surface ------------------------------------------------------------

    @property
    def response(self) -> httpx2.Response:
        """The HTTP response being read (it changes after a resume or a restart)."""
        handle: Any = _ResponseHandle(self)
        return handle  # type: ignore[no-any-return]

    @property
    def response_id(self) -> str | None:
        """The id of the response being streamed (``None`` before ``response.created``)."""
        return self._core.response_id

    def _live_response(self) -> httpx2.Response:
        raw = self._raw
        if raw is not None:
            self._last_response = raw.response
        return self._last_response

    def __next__(self) -> E:
        return self._iterator.__next__()

    def __iter__(self) -> Iterator[E]:
        # The generator itself: a `for` loop then skips the __next__ indirection.
        return self._iterator

    def __enter__(self) -> ResilientStream[E]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP response and stop; the consumer gets no more events."""
        if self._closed:
            return
        self._closed = True
        self._iterator.close()
        self._close_raw()
        self._core.state.abandon()

    # I/O ------------------------------------------------------------------------------

    def _close_raw(self) -> None:
        raw, self._raw = self._raw, None
        if raw is not None:
            # Kept so `stream.response` stays readable after the end, as on the SDK's.
            self._last_response = raw.response
            raw.close()

    def _open_with_retries(self) -> None:
        core = self._core
        try:
            self._open_loop(core)
        finally:
            if self._raw is None:  # interrupted while waiting to retry the open
                core.state.abandon(sys.exc_info()[1])

    def _open_loop(self, core: StreamCore) -> None:
        while True:
            wait = core.begin_open()
            if wait is None:
                accounted = False
                try:
                    self._raw = self._opener(core)
                    return
                except _OPEN_ERRORS as exc:
                    accounted = True
                    wait = core.on_open_error(exc)
                finally:
                    if self._raw is None and not accounted:
                        # Not ours (cancellation, a bad argument): release the attempt.
                        core.state.failed(sys.exc_info()[1])
            core.state.engine.do_sleep(wait)

    def _recover(self, failure: Failure, exc: BaseException | None) -> None:
        self._close_raw()
        wait = self._core.on_fault(failure, exc)
        self._core.state.engine.do_sleep(wait)
        self._open_with_retries()

    def _events(self) -> Generator[E, None, None]:
        core = self._core
        try:
            while True:
                raw_iter = iter(self._raw)
                while True:
                    try:
                        event = next(raw_iter)
                    except StopIteration:
                        self._recover(Failure(kind="stream_truncated"), None)
                        break
                    except _TRANSPORT_ERRORS as exc:
                        failure = _stream_failure(exc)
                        if failure is None:
                            raise
                        self._recover(failure, exc)
                        break
                    verdict = core.accept(event)
                    if verdict == "skip":
                        continue
                    if verdict == "declared":
                        wait = core.on_declared(event)
                        if wait is None:
                            yield event
                            return
                        self._close_raw()
                        core.state.engine.do_sleep(wait)
                        self._open_with_retries()
                        break
                    if verdict == "end":
                        core.finish_ok(event)
                        yield event
                        return
                    yield event
        finally:
            self._close_raw()
            # Left by the consumer (a `break`, garbage collection) or by an error that is
            # not ours: release the breaker admission and end the call; a no-op when the
            # stream already ended or failed.
            self._core.state.abandon(sys.exc_info()[1])


# -- the async shell ------------------------------------------------------------------


class AsyncResilientStream(Generic[E]):
    """A resilient ``openai.AsyncStream``: ``async for``, ``async with``, ``await close()``."""

    def __init__(self, core: StreamCore, opener: Callable[[StreamCore], Awaitable[Any]]) -> None:
        self._core = core
        self._opener = opener
        self._raw: Any = None
        self._last_response: httpx2.Response = cast(httpx2.Response, None)
        self._closed = False
        self._iterator: AsyncGenerator[E, None] = self._events()
        weakref.finalize(self, core.state.abandon)

    @property
    def response(self) -> httpx2.Response:
        """The HTTP response being read (it changes after a resume or a restart)."""
        handle: Any = _ResponseHandle(self)
        return handle  # type: ignore[no-any-return]

    @property
    def response_id(self) -> str | None:
        """The id of the response being streamed (``None`` before ``response.created``)."""
        return self._core.response_id

    def _live_response(self) -> httpx2.Response:
        raw = self._raw
        if raw is not None:
            self._last_response = raw.response
        return self._last_response

    async def __anext__(self) -> E:
        return await self._iterator.__anext__()

    def __aiter__(self) -> AsyncIterator[E]:
        return self._iterator

    async def __aenter__(self) -> AsyncResilientStream[E]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP response and stop; the consumer gets no more events."""
        if self._closed:
            return
        self._closed = True
        await self._iterator.aclose()
        await self._close_raw()
        self._core.state.abandon()

    async def _close_raw(self) -> None:
        raw, self._raw = self._raw, None
        if raw is not None:
            self._last_response = raw.response
            await raw.close()

    async def open_with_retries(self) -> None:
        core = self._core
        try:
            while True:
                wait = core.begin_open()
                if wait is None:
                    accounted = False
                    try:
                        self._raw = await self._opener(core)
                        return
                    except _OPEN_ERRORS as exc:
                        accounted = True
                        wait = core.on_open_error(exc)
                    finally:
                        if self._raw is None and not accounted:
                            core.state.failed(sys.exc_info()[1])
                await core.state.engine.do_asleep(wait)
        finally:
            if self._raw is None:  # cancelled while waiting to retry the open
                core.state.abandon(sys.exc_info()[1])

    async def _recover(self, failure: Failure, exc: BaseException | None) -> None:
        await self._close_raw()
        wait = self._core.on_fault(failure, exc)
        await self._core.state.engine.do_asleep(wait)
        await self.open_with_retries()

    async def _events(self) -> AsyncGenerator[E, None]:
        core = self._core
        try:
            while True:
                raw_iter = self._raw.__aiter__()
                while True:
                    try:
                        event = await raw_iter.__anext__()
                    except StopAsyncIteration:
                        await self._recover(Failure(kind="stream_truncated"), None)
                        break
                    except _TRANSPORT_ERRORS as exc:
                        failure = _stream_failure(exc)
                        if failure is None:
                            raise
                        await self._recover(failure, exc)
                        break
                    verdict = core.accept(event)
                    if verdict == "skip":
                        continue
                    if verdict == "declared":
                        wait = core.on_declared(event)
                        if wait is None:
                            yield event
                            return
                        await self._close_raw()
                        await core.state.engine.do_asleep(wait)
                        await self.open_with_retries()
                        break
                    if verdict == "end":
                        core.finish_ok(event)
                        yield event
                        return
                    yield event
        finally:
            await self._close_raw()
            self._core.state.abandon(sys.exc_info()[1])


# -- entry points used by the drop-in clients -----------------------------------------


def _prepare(
    resilience: Resilience, client: Any, kwargs: dict[str, Any], operation: str = "create"
) -> tuple[CallState, StreamPolicy]:
    policy = resilience.stream_policy
    if policy.make_resumable:
        # The SDK's stream() helper passes `omit` for arguments the caller left out.
        for name in ("background", "store"):
            if isinstance(kwargs.get(name, openai.omit), (openai.Omit, openai.NotGiven)):
                kwargs[name] = True
    model = kwargs.get("model")
    state = resilience.new_call(
        breaker_key(client, model),
        model if isinstance(model, str) else None,
        via_client=True,
        stream=True,
        operation=operation,
    )
    return state, policy


def create_stream(
    resilience: Resilience,
    client: Any,
    create: Callable[..., Any],
    retrieve: Callable[..., Any],
    kwargs: dict[str, Any],
) -> ResilientStream[Any]:
    """``responses.create(stream=True)``, resilient."""
    state, policy = _prepare(resilience, client, kwargs)
    core = StreamCore(state, policy, resumable=bool(kwargs.get("background")))
    return ResilientStream(core, _Opener(client, create, (), kwargs, retrieve))


async def acreate_stream(
    resilience: Resilience,
    client: Any,
    create: Callable[..., Awaitable[Any]],
    retrieve: Callable[..., Awaitable[Any]],
    kwargs: dict[str, Any],
) -> AsyncResilientStream[Any]:
    """``await responses.create(stream=True)``, resilient."""
    state, policy = _prepare(resilience, client, kwargs)
    core = StreamCore(state, policy, resumable=bool(kwargs.get("background")))
    stream: AsyncResilientStream[Any] = AsyncResilientStream(
        core, _Opener(client, create, (), kwargs, retrieve)
    )
    await stream.open_with_retries()
    return stream


def _retrieve_core(
    resilience: Resilience, client: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> StreamCore:
    kwargs = dict(kwargs)
    response_id = args[0] if args else kwargs.get("response_id")
    if not isinstance(response_id, str) or not response_id:
        raise ValueError(f"response_id must be a non-empty str, got {response_id!r}")
    starting_after = kwargs.get("starting_after")
    state, policy = _prepare(resilience, client, {}, "retrieve")
    return StreamCore(
        state,
        policy,
        resumable=True,
        response_id=response_id,
        starting_after=starting_after if isinstance(starting_after, int) else None,
    )


def _retrieve_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in kwargs.items() if k not in ("response_id", "stream", "starting_after")}


def retrieve_stream(
    resilience: Resilience,
    client: Any,
    retrieve: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> ResilientStream[Any]:
    """``responses.retrieve(id, stream=True, starting_after=n)``, resilient (always resumes)."""
    core = _retrieve_core(resilience, client, args, kwargs)
    return ResilientStream(core, _Opener(client, None, (), _retrieve_kwargs(kwargs), retrieve))


async def aretrieve_stream(
    resilience: Resilience,
    client: Any,
    retrieve: Callable[..., Awaitable[Any]],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> AsyncResilientStream[Any]:
    """The async twin of :func:`retrieve_stream`."""
    core = _retrieve_core(resilience, client, args, kwargs)
    stream: AsyncResilientStream[Any] = AsyncResilientStream(
        core, _Opener(client, None, (), _retrieve_kwargs(kwargs), retrieve)
    )
    await stream.open_with_retries()
    return stream


# -- the SDK's responses.stream(...) helper -------------------------------------------


def _fresh_state(response_stream: Any) -> Callable[[], None]:
    """A restart begins a new response: the helper's state machine must start over."""
    from openai.lib.streaming.responses._responses import ResponseStreamState

    def reset() -> None:
        old = response_stream._state
        response_stream._state = ResponseStreamState(
            input_tools=old._input_tools, text_format=old._text_format
        )

    return reset


class _StreamManager:
    """Wraps the SDK's ``ResponseStreamManager`` so restarts reset the helper's state."""

    __slots__ = ("_inner", "_stream")

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._stream: Any = None

    def __enter__(self) -> Any:
        response_stream = self._inner.__enter__()
        raw = response_stream._raw_stream
        if isinstance(raw, ResilientStream):
            raw._core.on_new_response = _fresh_state(response_stream)
        self._stream = response_stream
        return response_stream

    def __exit__(self, *exc_info: Any) -> None:
        try:
            self._inner.__exit__(*exc_info)
        finally:
            raw = getattr(self._stream, "_raw_stream", None)
            if isinstance(raw, ResilientStream):
                raw.close()


class _AsyncStreamManager:
    """The async twin of :class:`_StreamManager`."""

    __slots__ = ("_inner", "_stream")

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._stream: Any = None

    async def __aenter__(self) -> Any:
        response_stream = await self._inner.__aenter__()
        raw = response_stream._raw_stream
        if isinstance(raw, AsyncResilientStream):
            raw._core.on_new_response = _fresh_state(response_stream)
        self._stream = response_stream
        return response_stream

    async def __aexit__(self, *exc_info: Any) -> None:
        try:
            await self._inner.__aexit__(*exc_info)
        finally:
            raw = getattr(self._stream, "_raw_stream", None)
            if isinstance(raw, AsyncResilientStream):
                await raw.close()


def stream_manager(
    resilience: Resilience, resource: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """``responses.stream(...)``: the SDK's own helper over a resilient raw stream.

    The helper calls ``resource.create(stream=True)`` (or ``retrieve``), which on a
    resilient resource is already resilient; the wrapper only resets the helper's state
    when a restart begins a new response, and closes the live connection on exit.
    """
    from openai.resources.responses import Responses

    return _StreamManager(Responses.stream(resource, *args, **kwargs))


def astream_manager(
    resilience: Resilience, resource: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """The async twin of :func:`stream_manager`."""
    from openai.resources.responses import AsyncResponses

    return _AsyncStreamManager(AsyncResponses.stream(resource, *args, **kwargs))


# -- decorated generators --------------------------------------------------------------


def _generator_key(resilience: Resilience, fn: Callable[..., Any], args: Any, kwargs: Any) -> str:
    return resilience._key_for(fn, args, kwargs)


class _GeneratorWatch:
    """Tracks what a decorated generator yielded: any item, and Responses events."""

    __slots__ = ("core", "events", "items", "terminal")

    def __init__(self, core: StreamCore) -> None:
        self.core = core
        self.items = 0
        self.events = False
        self.terminal = False

    def saw(self, item: Any) -> None:
        self.items += 1
        event_type = getattr(item, "type", None)
        if isinstance(event_type, str) and isinstance(getattr(item, "sequence_number", None), int):
            self.events = True
            self.core.accept(item)
            if event_type in TERMINAL_EVENTS:
                self.terminal = True

    def fault(self, exc: BaseException | None) -> float:
        """A failure before or after the first item: the wait before a retry, or raise."""
        core = self.core
        if exc is None:  # events without a terminal one (only after the first item)
            failure = Failure(kind="stream_truncated")
        else:
            classified = classify(exc)
            if classified is None:
                raise exc
            failure = classified
        if exc is not None and self.items == 0:
            # Nothing was yielded: retried as a call would be, the SDK error re-raised
            # when it is not.
            decision = core.state.failure(failure, exc)
            if decision.retry:
                return decision.wait
            raise exc
        # After the first item a retry would replay it: never.
        core._decide(failure, exc, recoverable=False)
        raise core._interrupted(failure, exc)

    def done(self) -> None:
        self.core.state.succeeded(None)


def decorate_generator(
    resilience: Resilience, fn: Callable[..., Generator[Any, Any, Any]]
) -> Callable[..., Iterator[Any]]:
    """Retry a generator function only before its first item; after it, never replay."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Iterator[Any]:
        state = resilience.new_call(_generator_key(resilience, fn, args, kwargs), None, stream=True)
        watch = _GeneratorWatch(StreamCore(state, resilience.stream_policy))
        while True:
            refused = watch.core.begin_open()
            if refused is not None:
                resilience.engine.do_sleep(refused)
                continue
            gen = fn(*args, **kwargs)
            wait: float | None = None
            ended = False
            try:
                while True:
                    try:
                        item = next(gen)
                    except StopIteration:
                        break
                    except _OPEN_ERRORS as exc:
                        wait = watch.fault(exc)
                        break
                    watch.saw(item)
                    yield item
                ended = True
            finally:
                gen.close()
                if not ended:
                    # The consumer left, or an error is on its way out.
                    watch.core.state.abandon(sys.exc_info()[1])
            if wait is None:
                if watch.events and not watch.terminal:
                    wait = watch.fault(None)
                else:
                    watch.done()
                    return
            resilience.engine.do_sleep(wait)

    return wrapper


def decorate_async_generator(
    resilience: Resilience, fn: Callable[..., AsyncGenerator[Any, Any]]
) -> Callable[..., AsyncIterator[Any]]:
    """The async twin of :func:`decorate_generator`."""

    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        state = resilience.new_call(_generator_key(resilience, fn, args, kwargs), None, stream=True)
        watch = _GeneratorWatch(StreamCore(state, resilience.stream_policy))
        while True:
            refused = watch.core.begin_open()
            if refused is not None:
                await resilience.engine.do_asleep(refused)
                continue
            gen = fn(*args, **kwargs)
            wait: float | None = None
            ended = False
            try:
                while True:
                    try:
                        item = await gen.__anext__()
                    except StopAsyncIteration:
                        break
                    except _OPEN_ERRORS as exc:
                        wait = watch.fault(exc)
                        break
                    watch.saw(item)
                    yield item
                ended = True
            finally:
                await gen.aclose()
                if not ended:
                    watch.core.state.abandon(sys.exc_info()[1])
            if wait is None:
                if watch.events and not watch.terminal:
                    wait = watch.fault(None)
                else:
                    watch.done()
                    return
            await resilience.engine.do_asleep(wait)

    return wrapper
