"""A Responses API answer -> Chat Completions, pure (no I/O), shared by the sync and async
adapters of :mod:`resilient_responses._chat`: :func:`chat_completion` (a Response -> a
``ChatCompletion``) and :class:`ChunkTranslator` (stream events -> ``ChatCompletionChunk``s).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx2
import openai
from openai.types.chat import (
    ChatCompletion,
    ChatCompletionChunk,
)
from openai.types.responses import Response, ResponseStreamEvent

from .exceptions import StreamInterruptedError

if TYPE_CHECKING:
    pass

__all__ = ["ChunkTranslator", "chat_completion"]

JSON = dict[str, Any]


# -- results --------------------------------------------------------------------------

_SERVICE_TIERS = frozenset({"auto", "default", "flex", "scale", "priority", "fast"})


def _finish_reason(response: Response, has_tool_calls: bool) -> str:
    if response.status == "completed":
        return "tool_calls" if has_tool_calls else "stop"
    if response.status == "incomplete":
        details = response.incomplete_details
        if details is not None and details.reason == "content_filter":
            return "content_filter"
        # max_output_tokens, and any other cut short (max_messages...): the answer is long.
        return "length"
    raise _declared_failure(response)


def _declared_failure(response: Response, request: httpx2.Request | None = None) -> openai.APIError:
    error = response.error
    code = error.code if error is not None else None
    message = (
        error.message
        if error is not None
        else f"the response ended with status {response.status!r}, not completed or incomplete"
    )
    body = {"code": code, "message": message, "type": "server_error", "param": None}
    return openai.APIError(message, request or _placeholder_request(), body=body)


def _placeholder_request() -> httpx2.Request:
    """The request an error names when the stream gave none (the SDK requires one)."""
    return httpx2.Request("POST", "https://api.openai.com/v1/responses")


def _usage(response: Response) -> JSON | None:
    usage = response.usage
    if usage is None:
        return None
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": {
            "cached_tokens": usage.input_tokens_details.cached_tokens,
            "cache_write_tokens": usage.input_tokens_details.cache_write_tokens,
        },
        "completion_tokens_details": {
            "reasoning_tokens": usage.output_tokens_details.reasoning_tokens
        },
    }


def _common(response: Response) -> JSON:
    tier = response.service_tier
    return {
        "id": response.id,
        "created": int(response.created_at),
        "model": response.model,
        "service_tier": tier if tier in _SERVICE_TIERS else None,
        "system_fingerprint": None,
    }


def chat_completion(response: Response) -> ChatCompletion:
    """A completed or incomplete ``Response`` as the SDK's ``ChatCompletion`` (validated).

    The completion's ``id`` is the response's (``resp_...``), so it can be looked up.
    Text is the concatenated ``output_text`` of the message items, ``refusal`` their
    refusals, ``tool_calls`` the ``function_call`` items; reasoning items have no Chat
    Completions counterpart and are left out. A ``failed`` (or any other) status raises
    ``openai.APIError`` with the response's error code.
    """
    texts: list[str] = []
    refusals: list[str] = []
    annotations: list[JSON] = []
    tool_calls: list[JSON] = []
    has_text = False
    for item in response.output:
        if item.type == "message":
            for part in item.content:
                if part.type == "output_text":
                    has_text = True
                    offset = sum(len(t) for t in texts)
                    texts.append(part.text)
                    annotations.extend(
                        {
                            "type": "url_citation",
                            "url_citation": {
                                "url": a.url,
                                "title": a.title,
                                "start_index": a.start_index + offset,
                                "end_index": a.end_index + offset,
                            },
                        }
                        for a in part.annotations
                        if a.type == "url_citation"
                    )
                elif part.type == "refusal":
                    refusals.append(part.refusal)
        elif item.type == "function_call":
            tool_calls.append(
                {
                    "id": item.call_id,
                    "type": "function",
                    "function": {"name": item.name, "arguments": item.arguments},
                }
            )
    finish = _finish_reason(response, bool(tool_calls))
    message: JSON = {
        "role": "assistant",
        "content": "".join(texts) if has_text else None,
        "refusal": "".join(refusals) if refusals else None,
        "tool_calls": tool_calls or None,
        "annotations": annotations or None,
    }
    data = {
        **_common(response),
        "object": "chat.completion",
        "choices": [{"index": 0, "finish_reason": finish, "message": message, "logprobs": None}],
        "usage": _usage(response),
        "metadata": dict(response.metadata) if response.metadata else None,
    }
    return ChatCompletion.model_validate(data)


class ChunkTranslator:
    """Responses stream events in, ``ChatCompletionChunk``s out (sans I/O).

    The first lifecycle event gives a chunk with ``role="assistant"``; text, refusal and
    function-call argument deltas give delta chunks; ``response.completed`` /
    ``response.incomplete`` give the chunk with ``finish_reason`` and, with
    *include_usage*, a last chunk with ``usage`` and no choices. ``response.failed`` and
    ``error`` events raise ``openai.APIError``, as the SDK's chat stream does for an error
    payload. Every chunk carries the first response's id, ``created`` and ``model``.
    """

    __slots__ = ("_base", "_done", "_include_usage", "_request", "_tool_index")

    def __init__(self, *, include_usage: bool, request: httpx2.Request | None = None) -> None:
        self._include_usage = include_usage
        self._request = request
        self._base: JSON | None = None
        self._tool_index: dict[int, int] = {}
        self._done = False

    @property
    def done(self) -> bool:
        """A terminal event was translated."""
        return self._done

    def _chunk(
        self, delta: JSON | None, *, finish: str | None = None, usage: JSON | None = None
    ) -> ChatCompletionChunk:
        choices = (
            []
            if delta is None
            else [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]
        )
        data = {**(self._base or {}), "object": "chat.completion.chunk", "choices": choices}
        if self._include_usage:
            data["usage"] = usage
        return ChatCompletionChunk.model_validate(data)

    def feed(self, event: ResponseStreamEvent) -> list[ChatCompletionChunk]:
        """The chunks *event* stands for (often none)."""
        if (
            event.type == "response.created"
            or event.type == "response.queued"
            or event.type == "response.in_progress"
        ):
            if self._base is not None:
                return []
            self._base = _common(event.response)
            return [self._chunk({"role": "assistant", "content": "", "refusal": None})]
        if self._base is None:
            # A resumed stream never starts here; a stream without lifecycle events would.
            raise StreamInterruptedError(
                f"stream began with {event.type!r} instead of response.created",
                reason="stream_error",
            )
        if event.type == "response.output_text.delta":
            return [self._chunk({"content": event.delta})]
        if event.type == "response.refusal.delta":
            return [self._chunk({"refusal": event.delta})]
        if event.type == "response.output_item.added":
            item = event.item
            if item.type != "function_call":
                return []
            index = self._tool_index.setdefault(event.output_index, len(self._tool_index))
            call: JSON = {
                "index": index,
                "id": item.call_id,
                "type": "function",
                "function": {"name": item.name, "arguments": ""},
            }
            return [self._chunk({"tool_calls": [call]})]
        if event.type == "response.function_call_arguments.delta":
            known = self._tool_index.get(event.output_index)
            if known is None:
                return []
            call = {"index": known, "function": {"arguments": event.delta}}
            return [self._chunk({"tool_calls": [call]})]
        if event.type == "response.completed" or event.type == "response.incomplete":
            self._done = True
            finish = _finish_reason(event.response, bool(self._tool_index))
            chunks = [self._chunk({}, finish=finish)]
            if self._include_usage:
                chunks.append(self._chunk(None, usage=_usage(event.response)))
            return chunks
        if event.type == "response.failed":
            self._done = True
            raise _declared_failure(event.response, self._request)
        if event.type == "error":
            self._done = True
            message = event.message or "the stream reported an error"
            body = {"code": event.code, "message": message, "type": "server_error", "param": None}
            raise openai.APIError(message, self._request or _placeholder_request(), body=body)
        return []

    def end(self) -> None:
        """The events ran out: raise if no terminal event came."""
        if not self._done:
            raise StreamInterruptedError(
                "the Responses stream ended before its terminal event", reason="stream_truncated"
            )
