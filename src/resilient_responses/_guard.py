"""StreamGuard: check streamed text as it arrives, and stop the stream when a check flags it.

``_Watch`` is the sans-I/O part shared by the sync and async shells: it accumulates the
``response.output_text.delta`` text, remembers the response id and whether the response
runs in the background, and says *before* each event is delivered whether the text must be
checked first. The shells (:meth:`StreamGuard.iter`, :meth:`StreamGuard.aiter`) only run
the check, close the stream, cancel the background response and raise.

Where the check runs is what makes the guarantee exact: the delta that brings the unchecked
text to ``every_chars`` characters is held back until the accumulated text, that delta
included, has passed the check. So after every delivery fewer than ``every_chars``
characters were delivered past the last clean check, and since a clean check did not
contain the complete flagged word, the consumer receives fewer than ``every_chars``
characters past the end of a flagged word.
"""

from __future__ import annotations

import inspect
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    Awaitable,
    Callable,
    Generator,
    Iterable,
)
from typing import TYPE_CHECKING, Any, TypeVar

import openai

from ._contract import TERMINAL_EVENTS, TEXT_DELTA, TextAccumulator
from .exceptions import GuardTripped, add_note

if TYPE_CHECKING:
    from openai.types import ModerationCreateResponse

__all__ = ["CheckResult", "StreamGuard", "amoderation_check", "moderation_check"]

E = TypeVar("E")

#: What a check returns: a reason (a non-empty str) or ``True`` when the text is flagged;
#: ``None``, ``False`` or ``""`` when it is fine.
CheckResult = str | bool | None

_GENERIC_REASON = "flagged by the stream guard's check"


def _get(obj: object, name: str) -> Any:
    # SDK events are pydantic objects; decorated generators may yield plain dicts.
    if isinstance(obj, dict):
        return obj.get(name)
    return getattr(obj, name, None)


def _reason(result: object) -> str | None:
    """The reason a check result flags the text, or ``None`` when it does not."""
    if result is None or result is False:
        return None
    if result is True:
        return _GENERIC_REASON
    if isinstance(result, str):
        return result or None
    raise TypeError(
        f"a StreamGuard check must return str | bool | None, got {type(result).__name__}"
    )


class _Watch:
    """What one guarded stream has shown so far; decides when to check. No I/O."""

    __slots__ = (
        "accumulated",
        "background",
        "checked",
        "ended",
        "every_chars",
        "response_id",
        "size",
    )

    def __init__(self, every_chars: int, stream: object) -> None:
        self.every_chars = every_chars
        self.accumulated = TextAccumulator()
        self.size = 0  # characters accumulated
        self.checked = 0  # characters covered by the last clean check
        self.ended = False  # a terminal event arrived: the response is over server-side
        self.background = False
        response_id = getattr(stream, "response_id", None)  # resilient streams know it
        self.response_id: str | None = response_id if isinstance(response_id, str) else None

    @property
    def text(self) -> str:
        return self.accumulated.text

    @property
    def unchecked(self) -> bool:
        return self.size > self.checked

    def observe(self, event: object) -> bool:
        """Account *event*, not yet delivered; ``True``: check the text before delivering it."""
        event_type = _get(event, "type")
        if event_type == "response.created":
            # A restarted resilient stream begins a new response with its own id.
            response = _get(event, "response")
            response_id = _get(response, "id")
            if isinstance(response_id, str):
                self.response_id = response_id
            self.background = bool(_get(response, "background"))
            return False
        if event_type == TEXT_DELTA:
            self.size += self.accumulated.add(_get(event, "delta"))
            return self.size - self.checked >= self.every_chars
        if event_type in TERMINAL_EVENTS:
            self.ended = True
            return self.unchecked
        # ``*.done`` events (output_text.done, content_part.done, output_item.done) repeat
        # the whole text: delivering one unchecked would leak everything past the last check.
        return self.unchecked and isinstance(event_type, str) and event_type.endswith(".done")

    def judge(self, result: object) -> GuardTripped | None:
        """Record a check's *result* on the current text; the error to raise if it flags."""
        reason = _reason(result)
        if reason is None:
            self.checked = self.size
            return None
        return GuardTripped(reason, response_id=self.response_id, text=self.text)

    def should_cancel(self, guard: StreamGuard, client: object) -> str | None:
        """The id of the background response to cancel after a trip, if any."""
        if not guard.cancel_background or client is None or self.ended or not self.background:
            return None
        return self.response_id


def _cancel_failed(error: GuardTripped, response_id: str, exc: openai.OpenAIError) -> None:
    # The verdict must reach the caller even when the best-effort cancel fails; the note
    # says the response may still be running (and billing).
    add_note(
        error,
        f"resilient_responses: cancelling background response {response_id} failed "
        f"({type(exc).__name__}); it may still be running",
    )


class StreamGuard:
    """Checks a Responses stream's text as it arrives and stops the stream when flagged.

    *check* receives the accumulated output text (every ``response.output_text.delta``
    so far) and returns a reason (a non-empty ``str``) or ``True`` when the text must not
    be shown, ``None`` / ``False`` / ``""`` when it is fine. It may be a plain function
    (for :meth:`iter` and :meth:`aiter`) or a coroutine function (:meth:`aiter` only).
    :func:`moderation_check` and :func:`amoderation_check` build one from OpenAI's
    moderations endpoint.

    The check runs when ``every_chars`` new characters have accumulated since the last
    check, before the delta that completes them is delivered, and once more before the
    first event that repeats the whole text (``response.output_text.done`` and the other
    ``*.done`` events) or ends the stream, if new text arrived since. So the consumer never
    receives ``every_chars`` characters or more past the end of flagged text, and never a
    final event whose text was not checked.

    When the check flags the text, the guard closes the stream (its HTTP response), cancels
    the response with ``client.responses.cancel(id)`` when *client* is given, the response
    runs in the background (``background=True``) and *cancel_background* is true, and
    raises :class:`~resilient_responses.GuardTripped` with the reason, the response id and
    the accumulated text (the withheld delta included). The guard owns the stream: when the
    guarded iterator ends, fails, or is closed (``close()`` / ``aclose()``, or dropped after
    a ``break``), the stream is closed too.

    Works over resilient streams (``ResilientOpenAI``) and the SDK's own streams alike. A
    guard keeps no per-stream state, so one guard can watch many streams at once.

    Args:
        check: ``text -> str | bool | None``, sync or async.
        every_chars: new characters between two checks (an int >= 1).
        cancel_background: cancel a flagged background response (needs *client*).

    Example::

        guard = StreamGuard(moderation_check(client), every_chars=100)
        stream = client.responses.create(model="gpt-5-mini", input=prompt, stream=True)
        try:
            for event in guard.iter(stream, client):
                if event.type == "response.output_text.delta":
                    show(event.delta)
        except GuardTripped as exc:
            retract(exc.text, exc.reason)

    A local check needs no network::

        guard = StreamGuard(lambda text: "secret leaked" if "sk-" in text else None)
    """

    __slots__ = ("_async_check", "cancel_background", "check", "every_chars")

    def __init__(
        self,
        check: Callable[[str], CheckResult | Awaitable[CheckResult]],
        *,
        every_chars: int = 100,
        cancel_background: bool = True,
    ) -> None:
        if not callable(check):
            raise TypeError(f"check must be a callable text -> str | bool | None, got {check!r}")
        if isinstance(every_chars, bool) or not isinstance(every_chars, int):
            raise TypeError(f"every_chars must be an int >= 1, got {every_chars!r}")
        if every_chars < 1:
            raise ValueError(f"every_chars must be an int >= 1, got {every_chars!r}")
        if not isinstance(cancel_background, bool):
            raise TypeError(f"cancel_background must be a bool, got {cancel_background!r}")
        self.check = check
        self.every_chars = every_chars
        self.cancel_background = cancel_background
        # Known up front for coroutine functions; other callables returning awaitables are
        # caught when the first check runs.
        self._async_check = inspect.iscoroutinefunction(check)

    def __repr__(self) -> str:
        return (
            f"StreamGuard({self.check!r}, every_chars={self.every_chars}, "
            f"cancel_background={self.cancel_background})"
        )

    # -- sync ---------------------------------------------------------------------------

    def iter(
        self, stream: Iterable[E], client: openai.OpenAI | None = None
    ) -> Generator[E, None, None]:
        """Iterate *stream*'s events, checked; raises ``GuardTripped`` when flagged.

        *client* (an ``openai.OpenAI`` or ``ResilientOpenAI``) is used only to cancel a
        flagged background response. The check must be synchronous here.

        Example::

            for event in guard.iter(client.responses.create(..., stream=True), client):
                ...
        """
        if self._async_check:
            raise TypeError("this StreamGuard's check is async: use guard.aiter(stream)")
        if not isinstance(stream, Iterable):
            raise TypeError(f"stream must be an iterable of events, got {type(stream).__name__}")
        return self._iterate(stream, client)

    def _iterate(
        self, stream: Iterable[E], client: openai.OpenAI | None
    ) -> Generator[E, None, None]:
        watch = _Watch(self.every_chars, stream)
        try:
            for event in stream:
                if watch.observe(event):
                    self._verify(watch, stream, client)
                yield event
            if watch.unchecked:  # cut before a terminal event (a raw SDK stream)
                self._verify(watch, stream, client)
        finally:
            _close(stream)

    def _verify(self, watch: _Watch, stream: object, client: openai.OpenAI | None) -> None:
        result = self.check(watch.text)
        if inspect.isawaitable(result):
            if inspect.iscoroutine(result):
                result.close()  # never awaited: close it so Python does not warn
            raise TypeError("this StreamGuard's check returned an awaitable: use guard.aiter()")
        error = watch.judge(result)
        if error is None:
            return
        _close(stream)  # stop reading before anything else
        response_id = watch.should_cancel(self, client)
        if response_id is not None and client is not None:
            try:
                client.responses.cancel(response_id)
            except openai.OpenAIError as exc:
                _cancel_failed(error, response_id, exc)
        raise error

    # -- async --------------------------------------------------------------------------

    def aiter(
        self, stream: AsyncIterable[E], client: openai.AsyncOpenAI | None = None
    ) -> AsyncGenerator[E, None]:
        """The async twin of :meth:`iter`; the check may be sync or async.

        Example::

            stream = await client.responses.create(..., stream=True)
            async for event in guard.aiter(stream, client):
                ...
        """
        if not isinstance(stream, AsyncIterable):
            raise TypeError(
                f"stream must be an async iterable of events, got {type(stream).__name__}"
            )
        return self._aiterate(stream, client)

    async def _aiterate(
        self, stream: AsyncIterable[E], client: openai.AsyncOpenAI | None
    ) -> AsyncGenerator[E, None]:
        watch = _Watch(self.every_chars, stream)
        try:
            async for event in stream:
                if watch.observe(event):
                    await self._averify(watch, stream, client)
                yield event
            if watch.unchecked:
                await self._averify(watch, stream, client)
        finally:
            await _aclose(stream)

    async def _averify(
        self, watch: _Watch, stream: object, client: openai.AsyncOpenAI | None
    ) -> None:
        result = self.check(watch.text)
        if inspect.isawaitable(result):
            result = await result
        error = watch.judge(result)
        if error is None:
            return
        await _aclose(stream)
        response_id = watch.should_cancel(self, client)
        if response_id is not None and client is not None:
            try:
                cancelled = client.responses.cancel(response_id)
                if inspect.isawaitable(cancelled):
                    await cancelled
            except openai.OpenAIError as exc:
                _cancel_failed(error, response_id, exc)
        raise error


def _close(stream: object) -> None:
    close = getattr(stream, "close", None)
    if callable(close):
        close()


async def _aclose(stream: object) -> None:
    # openai.AsyncStream and AsyncResilientStream have ``close()``; async generators ``aclose()``.
    close = getattr(stream, "close", None) or getattr(stream, "aclose", None)
    if callable(close):
        result = close()
        if inspect.isawaitable(result):
            await result


# -- moderation checks -------------------------------------------------------------------


def _flagged_categories(response: ModerationCreateResponse) -> str | None:
    """The flagged categories of a moderation answer as a reason, ``None`` when clean."""
    names: set[str] = set()
    flagged = False
    for result in response.results:
        if not result.flagged:
            continue
        flagged = True
        # by_alias gives the API's names ("harassment/threatening"), not the SDK's fields.
        categories = result.categories.model_dump(by_alias=True)
        names.update(name for name, hit in categories.items() if hit is True)
    if not flagged:
        return None
    return ", ".join(sorted(names)) or "flagged by moderation"


def moderation_check(
    client: openai.OpenAI, *, model: str = "omni-moderation-latest"
) -> Callable[[str], str | None]:
    """A :class:`StreamGuard` check that asks OpenAI's moderations endpoint.

    The reason is the flagged categories, comma-separated (``"harassment, violence"``).
    Each check sends the whole accumulated text; errors of the endpoint propagate (the
    guarded iteration stops and closes the stream: a guard that cannot check must not
    let text through).

    Example::

        guard = StreamGuard(moderation_check(client), every_chars=200)
    """
    if not isinstance(client, openai.OpenAI):
        raise TypeError(f"client must be an openai.OpenAI, got {type(client).__name__}")

    def check(text: str) -> str | None:
        return _flagged_categories(client.moderations.create(input=text, model=model))

    return check


def amoderation_check(
    client: openai.AsyncOpenAI, *, model: str = "omni-moderation-latest"
) -> Callable[[str], Awaitable[str | None]]:
    """The async twin of :func:`moderation_check`, for :meth:`StreamGuard.aiter`.

    Example::

        guard = StreamGuard(amoderation_check(async_client))
        async for event in guard.aiter(stream, async_client):
            ...
    """
    if not isinstance(client, openai.AsyncOpenAI):
        raise TypeError(f"client must be an openai.AsyncOpenAI, got {type(client).__name__}")

    async def check(text: str) -> str | None:
        return _flagged_categories(await client.moderations.create(input=text, model=model))

    return check
