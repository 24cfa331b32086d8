"""Chat Completions arguments -> a Responses API request, pure (no I/O), shared by the
sync and async adapters of :mod:`resilient_responses._chat`: :func:`chat_request`. The
answers go back through :mod:`resilient_responses._chat_result`.

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
    Iterable,
    Mapping,
)
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypedDict

import httpx2
import openai
from openai.types.chat import (
    ChatCompletionToolChoiceOptionParam,
    ChatCompletionToolUnionParam,
)
from openai.types.chat.chat_completion_stream_options_param import (
    ChatCompletionStreamOptionsParam,
)
from openai.types.chat.completion_create_params import ResponseFormat
from openai.types.shared_params.metadata import Metadata

if TYPE_CHECKING:
    pass

__all__ = [
    "ChatCreateParams",
    "ChatRequest",
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
