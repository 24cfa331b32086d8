"""Chat Completions on top of the Responses API, through the resilient client.

:class:`ChatCompletionsAdapter` takes ``chat.completions.create`` arguments, sends one
``responses.create`` request through a :class:`~resilient_responses.ResilientOpenAI` (so
retries, the breaker and stream recovery all apply) and answers with the SDK's own
``ChatCompletion`` or ``ChatCompletionChunk`` models. Code written against
``client.chat.completions`` moves to the Responses API by replacing that one attribute.

The translation is pure: :mod:`resilient_responses._chat_request` (arguments -> request, with
the mapping decisions) and :mod:`resilient_responses._chat_result` (answers -> Chat
Completions); only the loops that do I/O are here.
"""

from __future__ import annotations

from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Generator,
    Iterable,
    Iterator,
)
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, overload

import httpx2
import openai
from openai.types.chat import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionMessageParam,
)

from ._chat_request import _TRANSPORT, ChatCreateParams, ChatRequest, chat_request
from ._chat_result import ChunkTranslator, chat_completion
from ._client import AsyncResilientOpenAI, ResilientOpenAI
from ._request import redact_url

if TYPE_CHECKING:
    from typing_extensions import Unpack


__all__ = [
    "AsyncChatCompletionStream",
    "AsyncChatCompletionsAdapter",
    "ChatCompletionStream",
    "ChatCompletionsAdapter",
]

# -- the adapters (I/O) ---------------------------------------------------------------


def resilient_client(client: object, *, who: str) -> ResilientOpenAI:
    """*client* as a :class:`ResilientOpenAI` (a plain ``openai.OpenAI`` is wrapped)."""
    if isinstance(client, ResilientOpenAI):
        return client
    if isinstance(client, openai.OpenAI):
        return ResilientOpenAI(client)
    hint = " (it is async: use the async variant)" if isinstance(client, openai.AsyncOpenAI) else ""
    raise TypeError(
        f"{who} needs a ResilientOpenAI or openai.OpenAI client, got {type(client).__name__}{hint}"
    )


def async_resilient_client(client: object, *, who: str) -> AsyncResilientOpenAI:
    """*client* as an :class:`AsyncResilientOpenAI` (a plain ``openai.AsyncOpenAI`` is
    wrapped)."""
    if isinstance(client, AsyncResilientOpenAI):
        return client
    if isinstance(client, openai.AsyncOpenAI):
        return AsyncResilientOpenAI(client)
    hint = " (it is sync: use the sync variant)" if isinstance(client, openai.OpenAI) else ""
    raise TypeError(
        f"{who} needs an AsyncResilientOpenAI or openai.AsyncOpenAI client, got "
        f"{type(client).__name__}{hint}"
    )


def _request_of(client: openai.OpenAI | openai.AsyncOpenAI) -> httpx2.Request:
    # What an error raised from the stream names as its request (the SDK requires one).
    return httpx2.Request("POST", f"{redact_url(client.base_url)}responses")


def _split(request: ChatRequest) -> tuple[dict[str, Any], dict[str, Any]]:
    body = dict(request.body)
    transport = {name: body.pop(name) for name in _TRANSPORT if name in body}
    return body, transport


class ChatCompletionStream:
    """``ChatCompletionChunk``s of one resilient Responses stream.

    Iterate it; use it in ``with`` or call :meth:`close` to stop early (the HTTP stream is
    closed). Breaks the stream cannot recover surface as the resilient client raises them
    (``StreamInterruptedError``); a failure the server declares raises ``openai.APIError``.
    """

    __slots__ = ("_chunks", "_events")

    def __init__(self, events: Any, translator: ChunkTranslator) -> None:
        self._events = events
        self._chunks = self._run(events, translator)

    @staticmethod
    def _run(
        events: Any, translator: ChunkTranslator
    ) -> Generator[ChatCompletionChunk, None, None]:
        with events:
            for event in events:
                yield from translator.feed(event)
                if translator.done:
                    break
            translator.end()

    def __iter__(self) -> Iterator[ChatCompletionChunk]:
        return self

    def __next__(self) -> ChatCompletionChunk:
        return next(self._chunks)

    def __enter__(self) -> ChatCompletionStream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop: close the underlying Responses stream."""
        self._chunks.close()
        self._events.close()


class AsyncChatCompletionStream:
    """The async twin of :class:`ChatCompletionStream` (``async for``, ``async with``)."""

    __slots__ = ("_chunks", "_events")

    def __init__(self, events: Any, translator: ChunkTranslator) -> None:
        self._events = events
        self._chunks = self._run(events, translator)

    @staticmethod
    async def _run(
        events: Any, translator: ChunkTranslator
    ) -> AsyncGenerator[ChatCompletionChunk, None]:
        async with events:
            async for event in events:
                for chunk in translator.feed(event):
                    yield chunk
                if translator.done:
                    break
            translator.end()

    def __aiter__(self) -> AsyncIterator[ChatCompletionChunk]:
        return self

    async def __anext__(self) -> ChatCompletionChunk:
        return await self._chunks.__anext__()

    async def __aenter__(self) -> AsyncChatCompletionStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Stop: close the underlying Responses stream."""
        await self._chunks.aclose()
        await self._events.close()


class ChatCompletionsAdapter:
    """``chat.completions.create`` on the Responses API, through a resilient client.

    *client* is a :class:`~resilient_responses.ResilientOpenAI`; a plain ``openai.OpenAI``
    is wrapped in one (its SDK retries off, the engine's on). Anything else is a
    ``TypeError``.

    >>> from resilient_responses.testing import FakeResponsesAPI
    >>> completions = ChatCompletionsAdapter(FakeResponsesAPI().client())
    >>> completion = completions.create(
    ...     model="gpt-5-mini",
    ...     messages=[{"role": "system", "content": "Be brief."},
    ...               {"role": "user", "content": "Hello"}])
    >>> completion.object, completion.choices[0].finish_reason
    ('chat.completion', 'stop')
    >>> chunks = list(completions.create(model="gpt-5-mini", stream=True,
    ...                                  messages=[{"role": "user", "content": "Hello"}]))
    >>> chunks[0].choices[0].delta.role, chunks[-1].choices[0].finish_reason
    ('assistant', 'stop')
    """

    __slots__ = ("_client",)

    def __init__(self, client: openai.OpenAI) -> None:
        self._client = resilient_client(client, who="ChatCompletionsAdapter")

    @property
    def client(self) -> ResilientOpenAI:
        """The resilient client the adapter sends through."""
        return self._client

    @overload
    def create(
        self,
        *,
        messages: Iterable[ChatCompletionMessageParam],
        model: str,
        stream: Literal[False] = False,
        **params: Unpack[ChatCreateParams],
    ) -> ChatCompletion: ...

    @overload
    def create(
        self,
        *,
        messages: Iterable[ChatCompletionMessageParam],
        model: str,
        stream: Literal[True],
        **params: Unpack[ChatCreateParams],
    ) -> ChatCompletionStream: ...

    @overload
    def create(
        self,
        *,
        messages: Iterable[ChatCompletionMessageParam],
        model: str,
        stream: bool,
        **params: Unpack[ChatCreateParams],
    ) -> ChatCompletion | ChatCompletionStream: ...

    def create(
        self,
        *,
        messages: Iterable[ChatCompletionMessageParam],
        model: str,
        stream: bool = False,
        **params: Any,
    ) -> ChatCompletion | ChatCompletionStream:
        """Send one chat call as ``responses.create``; see :class:`ChatCreateParams`.

        Returns the SDK's ``ChatCompletion``, or with ``stream=True`` a
        :class:`ChatCompletionStream` of ``ChatCompletionChunk``s. Unsupported parameters
        and malformed messages raise ``ValueError`` before anything is sent.
        """
        request = chat_request({**params, "messages": messages, "model": model, "stream": stream})
        body, transport = _split(request)
        responses = self._client.responses
        if request.stream:
            events = responses.create(**body, **transport, stream=True)
            translator = ChunkTranslator(
                include_usage=request.include_usage, request=_request_of(self._client)
            )
            return ChatCompletionStream(events, translator)
        response = responses.create(**body, **transport)
        return chat_completion(response)


class AsyncChatCompletionsAdapter:
    """The async twin of :class:`ChatCompletionsAdapter`, over an
    :class:`~resilient_responses.AsyncResilientOpenAI` (a plain ``openai.AsyncOpenAI`` is
    wrapped).

    Example::

        completions = AsyncChatCompletionsAdapter(openai.AsyncOpenAI())
        completion = await completions.create(model="gpt-5-mini", messages=messages)
        async for chunk in await completions.create(model="gpt-5-mini", messages=messages,
                                                    stream=True):
            ...
    """

    __slots__ = ("_client",)

    def __init__(self, client: openai.AsyncOpenAI) -> None:
        self._client = async_resilient_client(client, who="AsyncChatCompletionsAdapter")

    @property
    def client(self) -> AsyncResilientOpenAI:
        """The resilient client the adapter sends through."""
        return self._client

    @overload
    async def create(
        self,
        *,
        messages: Iterable[ChatCompletionMessageParam],
        model: str,
        stream: Literal[False] = False,
        **params: Unpack[ChatCreateParams],
    ) -> ChatCompletion: ...

    @overload
    async def create(
        self,
        *,
        messages: Iterable[ChatCompletionMessageParam],
        model: str,
        stream: Literal[True],
        **params: Unpack[ChatCreateParams],
    ) -> AsyncChatCompletionStream: ...

    @overload
    async def create(
        self,
        *,
        messages: Iterable[ChatCompletionMessageParam],
        model: str,
        stream: bool,
        **params: Unpack[ChatCreateParams],
    ) -> ChatCompletion | AsyncChatCompletionStream: ...

    async def create(
        self,
        *,
        messages: Iterable[ChatCompletionMessageParam],
        model: str,
        stream: bool = False,
        **params: Any,
    ) -> ChatCompletion | AsyncChatCompletionStream:
        """The async twin of :meth:`ChatCompletionsAdapter.create`."""
        request = chat_request({**params, "messages": messages, "model": model, "stream": stream})
        body, transport = _split(request)
        responses = self._client.responses
        if request.stream:
            events = await responses.create(**body, **transport, stream=True)
            translator = ChunkTranslator(
                include_usage=request.include_usage, request=_request_of(self._client)
            )
            return AsyncChatCompletionStream(events, translator)
        response = await responses.create(**body, **transport)
        return chat_completion(response)
