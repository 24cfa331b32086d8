"""Chat Completions on top of the Responses API, through the resilient client.

:class:`ChatCompletionsAdapter` takes ``chat.completions.create`` arguments, sends one
``responses.create`` request through a :class:`~resilient_responses.ResilientOpenAI` (so
retries, the breaker and stream recovery all apply) and answers with the SDK's own
``ChatCompletion`` or ``ChatCompletionChunk`` models. Code written against
``client.chat.completions`` moves to the Responses API by replacing that one attribute.

The translation is pure and shared by the sync and async adapters: :func:`chat_request`
(arguments -> request), :func:`chat_completion` (Response -> ChatCompletion) and
:class:`ChunkTranslator` (stream events -> chunks). Only the loops that do I/O differ.

Mapping decisions (see ``docs/seed.md``):

- ``system`` and ``developer`` messages stay input messages with their own role, in place,
  rather than being folded into ``instructions``: the order and role of every message
  survive, several system messages are allowed, and ``instructions`` stays free.
- Chat Completions does not store completions unless ``store=True``; the Responses API
  stores by default. The adapter sends ``store=False`` unless the caller passes ``store``,
  so moving to it does not start retaining data.
- Function tools are non-strict in Chat Completions and strict by default in the Responses
  API; the adapter sends ``strict=False`` unless the tool says otherwise.
- Parameters with no Responses equivalent raise ``ValueError`` naming the parameter
  before anything is sent, unless they carry their neutral value (``n=1``, ``stop=None``,
  ``presence_penalty=0``...).
"""

from __future__ import annotations

from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Generator,
    Iterable,
    Iterator,
    Mapping,
)
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypedDict, overload

import httpx2
import openai
from openai.types.chat import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionMessageParam,
    ChatCompletionToolChoiceOptionParam,
    ChatCompletionToolUnionParam,
)
from openai.types.chat.chat_completion_stream_options_param import (
    ChatCompletionStreamOptionsParam,
)
from openai.types.chat.completion_create_params import ResponseFormat
from openai.types.responses import Response, ResponseStreamEvent
from openai.types.shared_params.metadata import Metadata

from ._client import AsyncResilientOpenAI, ResilientOpenAI
from .exceptions import StreamInterruptedError

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "AsyncChatCompletionStream",
    "AsyncChatCompletionsAdapter",
    "ChatCompletionStream",
    "ChatCompletionsAdapter",
    "ChatCreateParams",
    "ChatRequest",
    "ChunkTranslator",
    "chat_completion",
    "chat_request",
    "messages_to_input",
]

JSON = dict[str, Any]


class ChatCreateParams(TypedDict, total=False):
    """The ``chat.completions.create`` parameters the adapter translates.

    ``max_tokens`` / ``max_completion_tokens`` become ``max_output_tokens``;
    ``response_format`` and ``verbosity`` become ``text``; ``reasoning_effort`` becomes
    ``reasoning.effort``; function ``tools`` and ``tool_choice`` are flattened to the
    Responses shape; ``stream_options.include_usage`` adds a final usage chunk. The rest
    pass through under the same name. ``extra_headers``, ``extra_query``, ``extra_body``
    and ``timeout`` go to the SDK as they would for ``chat.completions.create``.
    """

    max_tokens: int | None
    max_completion_tokens: int | None
    temperature: float | None
    top_p: float | None
    tools: Iterable[ChatCompletionToolUnionParam]
    tool_choice: ChatCompletionToolChoiceOptionParam
    parallel_tool_calls: bool
    response_format: ResponseFormat
    verbosity: Literal["low", "medium", "high"] | None
    reasoning_effort: str | None
    stream_options: ChatCompletionStreamOptionsParam | None
    user: str
    safety_identifier: str
    metadata: Metadata | None
    store: bool | None
    service_tier: str | None
    prompt_cache_key: str
    prompt_cache_retention: Literal["in_memory", "24h"] | None
    prompt_cache_options: Mapping[str, object]
    moderation: Mapping[str, object] | None
    # No Responses equivalent: accepted only with their neutral value (see _UNSUPPORTED).
    n: Literal[1] | None
    stop: None
    seed: None
    logit_bias: None
    logprobs: Literal[False] | None
    presence_penalty: float | None
    frequency_penalty: float | None
    extra_headers: Mapping[str, str] | None
    extra_query: Mapping[str, object] | None
    extra_body: object | None
    timeout: float | httpx2.Timeout | None


# -- parameters -----------------------------------------------------------------------

#: Chat parameters sent under the same name.
_SAME_NAME = (
    "temperature",
    "top_p",
    "parallel_tool_calls",
    "user",
    "safety_identifier",
    "metadata",
    "service_tier",
    "prompt_cache_key",
    "prompt_cache_retention",
    "prompt_cache_options",
    "moderation",
)
#: Handed to the SDK method itself, not part of the request body.
_TRANSPORT = ("extra_headers", "extra_query", "extra_body", "timeout")
#: Translated by :func:`chat_request`.
_TRANSLATED = (
    "messages",
    "model",
    "stream",
    "stream_options",
    "max_tokens",
    "max_completion_tokens",
    "tools",
    "tool_choice",
    "response_format",
    "verbosity",
    "reasoning_effort",
    "store",
    "n",
)
_KNOWN = frozenset((*_SAME_NAME, *_TRANSPORT, *_TRANSLATED))

#: Chat parameters with no Responses equivalent: the values that mean "not used" (which
#: are accepted and dropped), and why anything else is refused.
_UNSUPPORTED: dict[str, tuple[tuple[object, ...], str]] = {
    "logit_bias": (({},), "the Responses API has no token biasing"),
    "logprobs": ((False,), "token log probabilities are not mapped to chat logprobs"),
    "top_logprobs": ((0,), "token log probabilities are not mapped to chat logprobs"),
    "presence_penalty": ((0,), "the Responses API has no presence penalty"),
    "frequency_penalty": ((0,), "the Responses API has no frequency penalty"),
    "stop": (((), []), "the Responses API has no stop sequences"),
    "seed": ((), "the Responses API has no seed"),
    "functions": (((), []), "legacy functions: pass tools=[{'type': 'function', ...}]"),
    "function_call": ((), "legacy function_call: pass tool_choice"),
    "audio": ((), "audio output is not supported by the Responses API"),
    "modalities": ((["text"], ("text",)), "only text output is supported"),
    "prediction": ((), "predicted outputs are not supported by the Responses API"),
    "web_search_options": ((), "use the Responses web_search tool directly"),
}


def _given(value: object) -> bool:
    return value is not None and not isinstance(value, (openai.Omit, openai.NotGiven))


def _neutral(value: object, neutral: tuple[object, ...]) -> bool:
    if not _given(value):
        return True
    for candidate in neutral:
        if type(value) is bool or type(candidate) is bool:
            if value is candidate:
                return True
        elif value == candidate:
            return True
    return False


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """A translated chat call: the ``responses.create`` keyword arguments (without
    ``stream``), whether it streams, and whether the stream ends with a usage chunk."""

    body: dict[str, Any]
    stream: bool
    include_usage: bool


def chat_request(params: Mapping[str, Any]) -> ChatRequest:
    """Translate ``chat.completions.create`` keyword arguments into a Responses request.

    Raises ``ValueError`` naming the parameter (or the message) for anything with no
    Responses equivalent or that is malformed, and ``TypeError`` for a keyword that is
    not a Chat Completions parameter. Nothing is sent.

    >>> r = chat_request({"model": "gpt-5-mini", "max_tokens": 50,
    ...                   "messages": [{"role": "system", "content": "Be brief."},
    ...                                {"role": "user", "content": "Hi"}]})
    >>> r.body["input"], r.body["max_output_tokens"], r.body["store"]
    ([{'role': 'system', 'content': 'Be brief.'}, {'role': 'user', 'content': 'Hi'}], 50, False)
    >>> chat_request({"model": "m", "messages": [{"role": "user", "content": "x"}], "seed": 1})
    Traceback (most recent call last):
    ...
    ValueError: seed is not supported by the Chat Completions adapter: the Responses API has no seed
    """
    for name, value in params.items():
        if name in _UNSUPPORTED:
            neutral, why = _UNSUPPORTED[name]
            if not _neutral(value, neutral):
                raise ValueError(f"{name} is not supported by the Chat Completions adapter: {why}")
        elif name not in _KNOWN:
            raise TypeError(
                f"create() got an unexpected keyword argument {name!r} (not a Chat "
                "Completions parameter; pass Responses-only parameters in extra_body)"
            )
    n = params.get("n")
    if _given(n) and (type(n) is not int or n != 1):
        raise ValueError(f"n={n!r} is not supported: the Responses API returns one choice")

    model = params.get("model")
    if not isinstance(model, str) or not model:
        raise ValueError(f"model must be a non-empty string, got {model!r}")
    stream = params.get("stream", False)
    if not _given(stream):
        stream = False
    if not isinstance(stream, bool):
        raise ValueError(f"stream must be a bool, got {stream!r}")  # noqa: TRY004 (see _list)

    body: dict[str, Any] = {"model": model, "input": messages_to_input(params.get("messages"))}
    for name in _SAME_NAME:
        value = params.get(name)
        if _given(value):
            body[name] = value
    # Chat Completions stores nothing unless asked to; the Responses API stores by default.
    store = params.get("store")
    body["store"] = store if _given(store) else False

    max_output = _max_output_tokens(params)
    if max_output is not None:
        body["max_output_tokens"] = max_output

    include_usage = False
    stream_options = params.get("stream_options")
    if _given(stream_options):
        if not stream:
            raise ValueError("stream_options is only allowed with stream=True")
        if not isinstance(stream_options, Mapping):
            raise ValueError(f"stream_options must be a mapping, got {stream_options!r}")
        unknown = set(stream_options) - {"include_usage", "include_obfuscation"}
        if unknown:
            raise ValueError(f"stream_options has unknown keys: {sorted(unknown)}")
        include_usage = bool(stream_options.get("include_usage", False))
        if "include_obfuscation" in stream_options:
            body["stream_options"] = {
                "include_obfuscation": bool(stream_options["include_obfuscation"])
            }

    tools = params.get("tools")
    if _given(tools):
        body["tools"] = [_tool(n, tool) for n, tool in enumerate(_list("tools", tools))]
    tool_choice = params.get("tool_choice")
    if _given(tool_choice):
        body["tool_choice"] = _tool_choice(tool_choice)

    text: JSON = {}
    response_format = params.get("response_format")
    if _given(response_format):
        text["format"] = _text_format(response_format)
    verbosity = params.get("verbosity")
    if _given(verbosity):
        text["verbosity"] = verbosity
    if text:
        body["text"] = text
    effort = params.get("reasoning_effort")
    if _given(effort):
        body["reasoning"] = {"effort": effort}

    for name in _TRANSPORT:
        value = params.get(name)
        if _given(value):
            body[name] = value
    return ChatRequest(body=body, stream=stream, include_usage=include_usage)


def _max_output_tokens(params: Mapping[str, Any]) -> int | None:
    values = {
        name: params[name]
        for name in ("max_completion_tokens", "max_tokens")
        if _given(params.get(name))
    }
    for name, value in values.items():
        if type(value) is not int or value < 1:
            raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    if len(set(values.values())) > 1:
        raise ValueError(
            "max_tokens and max_completion_tokens disagree; pass max_completion_tokens only"
        )
    return next(iter(values.values()), None)


# A malformed request is a ValueError whatever is wrong with it (the brief of the adapter:
# one exception type for "this request cannot be sent"), hence the TRY004 exemptions.
def _list(name: str, value: object) -> list[Any]:
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        raise ValueError(f"{name} must be a list, got {type(value).__name__}")  # noqa: TRY004
    return list(value)


def _mapping(where: str, value: object) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{where} must be an object, got {type(value).__name__}")  # noqa: TRY004
    return value


def _string(where: str, value: object, *, empty: bool = True) -> str:
    if not isinstance(value, str) or (not empty and not value):
        raise ValueError(f"{where} must be a {'' if empty else 'non-empty '}string, got {value!r}")
    return value


# -- messages -------------------------------------------------------------------------

_MESSAGE_FIELDS: dict[str, frozenset[str]] = {
    "system": frozenset({"role", "content", "name"}),
    "developer": frozenset({"role", "content", "name"}),
    "user": frozenset({"role", "content", "name"}),
    "assistant": frozenset(
        {"role", "content", "name", "tool_calls", "refusal", "audio", "function_call"}
    ),
    "tool": frozenset({"role", "content", "tool_call_id"}),
}


def messages_to_input(messages: object) -> list[JSON]:
    """Chat messages as Responses input items, in order.

    ``system`` / ``developer`` / ``user`` messages keep their role (content parts:
    ``text`` -> ``input_text``, ``image_url`` -> ``input_image``, ``file`` ->
    ``input_file``); an ``assistant`` message becomes a message with its text (if it has
    any, or no tool calls) followed by one ``function_call`` item per tool call; a
    ``tool`` message becomes a ``function_call_output`` item.

    >>> messages_to_input([
    ...     {"role": "user", "content": "Weather in Paris?"},
    ...     {"role": "assistant", "content": None, "tool_calls": [{"id": "call_1",
    ...      "type": "function", "function": {"name": "weather", "arguments": "{}"}}]},
    ...     {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ... ])  # doctest: +NORMALIZE_WHITESPACE
    [{'role': 'user', 'content': 'Weather in Paris?'},
     {'type': 'function_call', 'call_id': 'call_1', 'name': 'weather', 'arguments': '{}'},
     {'type': 'function_call_output', 'call_id': 'call_1', 'output': 'sunny'}]
    """
    items = _list("messages", messages)
    if not items:
        raise ValueError("messages must contain at least one message")
    out: list[JSON] = []
    call_ids: set[str] = set()
    for n, message in enumerate(items):
        where = f"messages[{n}]"
        message = _mapping(where, message)
        role = message.get("role")
        if role == "function":
            raise ValueError(f"{where}: legacy 'function' messages are not supported; use 'tool'")
        allowed = _MESSAGE_FIELDS.get(role) if isinstance(role, str) else None
        if allowed is None:
            raise ValueError(
                f"{where}.role must be one of {', '.join(_MESSAGE_FIELDS)}, got {role!r}"
            )
        unknown = sorted(set(message) - allowed)
        if unknown:
            raise ValueError(f"{where} ({role}) has unknown fields: {unknown}")
        if _given(message.get("name")):
            raise ValueError(f"{where}.name is not supported: Responses messages carry no name")
        if role == "tool":
            call_id = _string(f"{where}.tool_call_id", message.get("tool_call_id"), empty=False)
            if call_id not in call_ids:
                raise ValueError(
                    f"{where}: tool_call_id {call_id!r} answers no earlier assistant tool call"
                )
            output = _joined_text(where, message.get("content"), kinds=("text",))
            out.append({"type": "function_call_output", "call_id": call_id, "output": output})
        elif role == "assistant":
            out.extend(_assistant(where, message, call_ids))
        else:
            content = _input_content(where, str(role), message.get("content"))
            out.append({"role": role, "content": content})
    return out


def _assistant(where: str, message: Mapping[str, Any], call_ids: set[str]) -> list[JSON]:
    for legacy in ("audio", "function_call"):
        if _given(message.get(legacy)):
            raise ValueError(f"{where}.{legacy} is not supported by the Responses API")
    content = message.get("content")
    refusal = message.get("refusal")
    text: str | None = None
    if _given(content):
        text = _joined_text(where, content, kinds=("text", "refusal"))
    elif _given(refusal):
        text = _string(f"{where}.refusal", refusal)
    calls: list[JSON] = []
    raw_calls = message.get("tool_calls")
    if _given(raw_calls):
        for k, raw in enumerate(_list(f"{where}.tool_calls", raw_calls)):
            at = f"{where}.tool_calls[{k}]"
            call = _mapping(at, raw)
            if call.get("type", "function") != "function":
                raise ValueError(f"{at}.type {call.get('type')!r} is not supported (function only)")
            function = _mapping(f"{at}.function", call.get("function"))
            call_id = _string(f"{at}.id", call.get("id"), empty=False)
            call_ids.add(call_id)
            calls.append(
                {
                    "type": "function_call",
                    "call_id": call_id,
                    "name": _string(f"{at}.function.name", function.get("name"), empty=False),
                    "arguments": _string(f"{at}.function.arguments", function.get("arguments")),
                }
            )
    if text is None and not calls:
        raise ValueError(f"{where}: an assistant message needs content, refusal or tool_calls")
    head = (
        [] if text is None or (text == "" and calls) else [{"role": "assistant", "content": text}]
    )
    return head + calls


def _parts(where: str, content: object) -> list[Mapping[str, Any]]:
    return [
        _mapping(f"{where}.content[{k}]", part)
        for k, part in enumerate(_list(f"{where}.content", content))
    ]


def _joined_text(where: str, content: object, *, kinds: tuple[str, ...]) -> str:
    """A message's text: a string, or its text (and refusal) parts joined."""
    if isinstance(content, str):
        return content
    if not _given(content):
        raise ValueError(f"{where}.content is required")
    texts = []
    for k, part in enumerate(_parts(where, content)):
        kind = part.get("type")
        if kind not in kinds:
            raise ValueError(f"{where}.content[{k}].type {kind!r} is not allowed here ({kinds})")
        key = "text" if kind == "text" else "refusal"
        texts.append(_string(f"{where}.content[{k}].{key}", part.get(key)))
    return "".join(texts)


def _input_content(where: str, role: str, content: object) -> str | list[JSON]:
    if isinstance(content, str):
        return content
    if not _given(content):
        raise ValueError(f"{where}.content is required")
    parts: list[JSON] = []
    for k, part in enumerate(_parts(where, content)):
        at = f"{where}.content[{k}]"
        kind = part.get("type")
        if kind == "text":
            parts.append({"type": "input_text", "text": _string(f"{at}.text", part.get("text"))})
        elif kind == "image_url" and role == "user":
            image = _mapping(f"{at}.image_url", part.get("image_url"))
            url = _string(f"{at}.image_url.url", image.get("url"), empty=False)
            detail = image.get("detail")
            parts.append(
                {
                    "type": "input_image",
                    "image_url": url,
                    "detail": detail if _given(detail) else "auto",
                }
            )
        elif kind == "file" and role == "user":
            file = _mapping(f"{at}.file", part.get("file"))
            fields = {
                key: file[key]
                for key in ("file_id", "file_data", "filename")
                if _given(file.get(key))
            }
            if "file_id" not in fields and "file_data" not in fields:
                raise ValueError(f"{at}.file needs file_id or file_data")
            parts.append({"type": "input_file", **fields})
        else:
            raise ValueError(f"{at}.type {kind!r} is not supported in a {role} message")
    return parts


# -- tools and formats ----------------------------------------------------------------


def _tool(n: int, raw: object) -> JSON:
    where = f"tools[{n}]"
    tool = _mapping(where, raw)
    if tool.get("type") != "function":
        raise ValueError(
            f"{where}.type {tool.get('type')!r} is not supported (function tools only)"
        )
    function = _mapping(f"{where}.function", tool.get("function"))
    unknown = sorted(set(function) - {"name", "description", "parameters", "strict"})
    if unknown:
        raise ValueError(f"{where}.function has unknown fields: {unknown}")
    parameters = function.get("parameters")
    strict = function.get("strict")
    flat: JSON = {
        "type": "function",
        "name": _string(f"{where}.function.name", function.get("name"), empty=False),
        # Chat: no parameters means no arguments. Responses: say so explicitly.
        "parameters": (
            dict(_mapping(f"{where}.function.parameters", parameters))
            if _given(parameters)
            else {"type": "object", "properties": {}}
        ),
        # Chat tools are non-strict unless asked; Responses tools are strict by default.
        "strict": bool(strict) if _given(strict) else False,
    }
    description = function.get("description")
    if _given(description):
        flat["description"] = _string(f"{where}.function.description", description)
    return flat


def _tool_choice(raw: object) -> str | JSON:
    if raw in ("none", "auto", "required"):
        return str(raw)
    choice = _mapping("tool_choice", raw)
    kind = choice.get("type")
    if kind == "function":
        function = _mapping("tool_choice.function", choice.get("function"))
        return {
            "type": "function",
            "name": _string("tool_choice.function.name", function.get("name"), empty=False),
        }
    if kind == "allowed_tools":
        allowed = _mapping("tool_choice.allowed_tools", choice.get("allowed_tools"))
        tools = []
        for k, raw_tool in enumerate(
            _list("tool_choice.allowed_tools.tools", allowed.get("tools"))
        ):
            at = f"tool_choice.allowed_tools.tools[{k}]"
            tool = _mapping(at, raw_tool)
            if tool.get("type") != "function":
                raise ValueError(f"{at}.type {tool.get('type')!r} is not supported")
            function = _mapping(f"{at}.function", tool.get("function"))
            tools.append(
                {"type": "function", "name": _string(f"{at}.function.name", function.get("name"))}
            )
        mode = allowed.get("mode")
        if mode not in ("auto", "required"):
            raise ValueError(
                f"tool_choice.allowed_tools.mode must be auto or required, got {mode!r}"
            )
        return {"type": "allowed_tools", "mode": mode, "tools": tools}
    raise ValueError(f"tool_choice {raw!r} is not supported (none, auto, required, function)")


def _text_format(raw: object) -> JSON:
    if isinstance(raw, type):
        raise ValueError(  # noqa: TRY004 (see _list)
            "response_format must be a dict; for a pydantic model use client.responses.parse"
        )
    fmt = _mapping("response_format", raw)
    kind = fmt.get("type")
    if kind in ("text", "json_object"):
        return {"type": kind}
    if kind == "json_schema":
        spec = _mapping("response_format.json_schema", fmt.get("json_schema"))
        schema = spec.get("schema")
        if not _given(schema):
            raise ValueError("response_format.json_schema.schema is required by the Responses API")
        out: JSON = {
            "type": "json_schema",
            "name": _string("response_format.json_schema.name", spec.get("name"), empty=False),
            "schema": dict(_mapping("response_format.json_schema.schema", schema)),
        }
        for key in ("strict", "description"):
            if _given(spec.get(key)):
                out[key] = spec[key]
        return out
    raise ValueError(f"response_format.type {kind!r} is not supported")


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
    return httpx2.Request("POST", f"{client.base_url}responses")


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
