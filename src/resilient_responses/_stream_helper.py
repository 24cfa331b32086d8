"""``responses.stream(...)``: the SDK's own helper, over a resilient raw stream.

The helper (``ResponseStreamManager``) calls ``resource.create(stream=True)`` (or
``retrieve``), which on a resilient resource is already resilient. Its state machine
(``ResponseStreamState``) rejects a second ``response.created`` with another id, so when a
restart begins a new response the manager here gives it a fresh state; on exit it closes
the live connection.
"""

from __future__ import annotations

from typing import Any

from openai.lib.streaming.responses._responses import ResponseStreamState
from openai.resources.responses import AsyncResponses, Responses

from ._stream_shell import AsyncResilientStream, ResilientStream

__all__ = ["astream_manager", "stream_manager"]


def _adopt(response_stream: Any) -> Any:
    """Give the helper a fresh state whenever its resilient raw stream restarts."""
    raw = response_stream._raw_stream
    if isinstance(raw, (ResilientStream, AsyncResilientStream)):

        def reset() -> None:
            old = response_stream._state
            response_stream._state = ResponseStreamState(
                input_tools=old._input_tools, text_format=old._text_format
            )

        raw._call.on_new_response = reset
    return raw


class _StreamManager:
    """Wraps the SDK's ``ResponseStreamManager``."""

    __slots__ = ("_inner", "_raw")

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._raw: Any = None

    def __enter__(self) -> Any:
        response_stream = self._inner.__enter__()
        self._raw = _adopt(response_stream)
        return response_stream

    def __exit__(self, *exc_info: Any) -> None:
        try:
            self._inner.__exit__(*exc_info)
        finally:
            if isinstance(self._raw, ResilientStream):
                self._raw.close()


class _AsyncStreamManager:
    """The async twin of :class:`_StreamManager`."""

    __slots__ = ("_inner", "_raw")

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._raw: Any = None

    async def __aenter__(self) -> Any:
        response_stream = await self._inner.__aenter__()
        self._raw = _adopt(response_stream)
        return response_stream

    async def __aexit__(self, *exc_info: Any) -> None:
        try:
            await self._inner.__aexit__(*exc_info)
        finally:
            if isinstance(self._raw, AsyncResilientStream):
                await self._raw.close()


def stream_manager(resource: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``responses.stream(...)`` on a resilient resource."""
    return _StreamManager(Responses.stream(resource, *args, **kwargs))


def astream_manager(resource: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """The async twin of :func:`stream_manager`."""
    return _AsyncStreamManager(AsyncResponses.stream(resource, *args, **kwargs))
