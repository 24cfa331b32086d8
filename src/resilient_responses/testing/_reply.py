"""Scripted model output: :class:`Reply`, what the fake answers one create request with.

A reply is a sequence of output items (assistant messages, function calls, reasoning), and
:func:`render` turns it into exactly what the API sends for it: the final output items, the
SSE events between ``response.in_progress`` and ``response.completed``, and the token counts.
Pure and deterministic: the same reply and response index give the same bytes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from resilient_responses.testing import _wire

__all__ = [
    "FunctionCallItem",
    "ReasoningItem",
    "Rendered",
    "Reply",
    "ReplyItem",
    "TextItem",
    "render",
]

JSON = dict[str, Any]

# Event types that carry generated output (the fake bills them as one output token each
# when a response fails part-way, like the API bills what it generated before a failure).
DELTA_TYPES = frozenset(
    {
        "response.output_text.delta",
        "response.function_call_arguments.delta",
        "response.reasoning_summary_text.delta",
        "response.reasoning_text.delta",
    }
)


@dataclass(frozen=True, slots=True)
class TextItem:
    """An assistant message with one ``output_text`` part."""

    text: str


@dataclass(frozen=True, slots=True)
class FunctionCallItem:
    """A ``function_call`` output item: the model asks the caller to run *name*.

    *arguments* is the JSON string the model generated (sent verbatim, so it may be invalid
    JSON on purpose); *call_id* ``None`` gets a deterministic id.
    """

    name: str
    arguments: str
    call_id: str | None = None


@dataclass(frozen=True, slots=True)
class ReasoningItem:
    """A ``reasoning`` output item: summary parts and, optionally, raw reasoning text."""

    summary: tuple[str, ...] = ()
    text: str | None = None


#: One output item of a :class:`Reply`.
ReplyItem = TextItem | FunctionCallItem | ReasoningItem


def _check_str(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__}")
    return value


@dataclass(frozen=True, slots=True, repr=False)
class Reply:
    """What the fake's model answers one create request with: one or more output items.

    Build replies with the class methods and combine them with ``+`` (or :meth:`of`); give
    them to ``FakeResponsesAPI(turns=[...])`` or return them from
    ``FakeResponsesAPI(responder=...)``. Streams, plain answers, background replays and
    ``retrieve`` all serve the same reply, with the events the API sends for each item.

    Example::

        fake = FakeResponsesAPI(turns=[
            Reply.reasoning("The user wants the weather.")
            + Reply.function_call("get_weather", {"city": "Paris"}),
            Reply.text("It is sunny in Paris."),
        ])

    Attributes:
        items: the output items, in output order.
    """

    items: tuple[ReplyItem, ...]

    def __post_init__(self) -> None:
        if not self.items:
            raise ValueError("a Reply needs at least one output item")
        for item in self.items:
            if not isinstance(item, (TextItem, FunctionCallItem, ReasoningItem)):
                raise TypeError(
                    f"Reply items must be TextItem, FunctionCallItem or ReasoningItem, got {item!r}"
                )

    @classmethod
    def text(cls, text: str) -> Reply:
        """An assistant message (``output_text``), streamed in word deltas.

        Example::

            Reply.text("It is sunny in Paris.")
        """
        return cls((TextItem(_check_str("text", text)),))

    @classmethod
    def function_call(
        cls,
        name: str,
        arguments: Mapping[str, Any] | str | None = None,
        *,
        call_id: str | None = None,
    ) -> Reply:
        """A function call: ``output_item.added`` with a ``function_call`` item,
        ``function_call_arguments.delta`` x n, ``.done``, ``output_item.done``.

        *arguments* is a mapping (sent as compact JSON) or a str sent verbatim (to test
        invalid arguments); ``None`` is ``{}``. *call_id* defaults to a deterministic
        ``call_...`` id. The caller answers with a ``function_call_output`` item carrying
        the same ``call_id`` in the next request's ``input``.

        Example::

            Reply.function_call("get_weather", {"city": "Paris"})
            Reply.function_call("lookup", '{"broken": ', call_id="call_1")
        """
        if not isinstance(name, str) or not name:
            raise ValueError(f"name must be a non-empty str, got {name!r}")
        if arguments is None:
            encoded = "{}"
        elif isinstance(arguments, str):
            encoded = arguments
        elif isinstance(arguments, Mapping):
            try:
                encoded = json.dumps(dict(arguments), separators=(",", ":"))
            except TypeError as exc:
                raise TypeError(f"arguments must be JSON-serialisable: {exc}") from None
        else:
            raise TypeError(
                f"arguments must be a mapping, a JSON str or None, got {type(arguments).__name__}"
            )
        if call_id is not None and (not isinstance(call_id, str) or not call_id):
            raise ValueError(f"call_id must be a non-empty str or None, got {call_id!r}")
        return cls((FunctionCallItem(name, encoded, call_id),))

    @classmethod
    def reasoning(cls, summary: str | Sequence[str] = (), *, text: str | None = None) -> Reply:
        """A reasoning item. Each *summary* part streams as
        ``reasoning_summary_part.added``, ``reasoning_summary_text.delta`` x n,
        ``reasoning_summary_text.done``, ``reasoning_summary_part.done``; *text* (raw
        reasoning, as open-weight models send it) as ``content_part.added``,
        ``reasoning_text.delta`` x n, ``reasoning_text.done``, ``content_part.done``.
        With neither, only ``output_item.added`` / ``.done`` (what the API sends when no
        summary was requested). Reasoning words count as ``reasoning_tokens``.

        Example::

            Reply.reasoning("Checking the forecast.") + Reply.text("Sunny.")
        """
        parts = (summary,) if isinstance(summary, str) else tuple(summary)
        for part in parts:
            _check_str("summary parts", part)
        if text is not None:
            _check_str("text", text)
        return cls((ReasoningItem(parts, text),))

    @classmethod
    def of(cls, *parts: Reply) -> Reply:
        """Several output items in one response, in order (same as ``a + b + ...``).

        Example::

            Reply.of(Reply.function_call("a", {}), Reply.function_call("b", {}))
        """
        items: list[ReplyItem] = []
        for part in parts:
            if not isinstance(part, Reply):
                raise TypeError(f"Reply.of takes Reply values, got {type(part).__name__}")
            items.extend(part.items)
        return cls(tuple(items))

    def __add__(self, other: object) -> Reply:
        if not isinstance(other, Reply):
            return NotImplemented
        return Reply(self.items + other.items)

    @property
    def output_text(self) -> str:
        """The text of every message item, concatenated (what ``response.output_text`` is)."""
        return "".join(item.text for item in self.items if isinstance(item, TextItem))

    def __repr__(self) -> str:
        return " + ".join(_item_repr(item) for item in self.items)


def _item_repr(item: ReplyItem) -> str:
    if isinstance(item, TextItem):
        return f"Reply.text({item.text!r})"
    if isinstance(item, FunctionCallItem):
        extra = "" if item.call_id is None else f", call_id={item.call_id!r}"
        return f"Reply.function_call({item.name!r}, {item.arguments!r}{extra})"
    args = [repr(item.summary)] if item.summary else []
    if item.text is not None:
        args.append(f"text={item.text!r}")
    return f"Reply.reasoning({', '.join(args)})"


# -- rendering ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rendered:
    """A reply as the API sends it for one response.

    Attributes:
        output: the final (completed) output items.
        events: the item events, without ``sequence_number`` (the caller numbers them).
        output_tokens: every generated token, reasoning included.
        reasoning_tokens: the reasoning share of *output_tokens*.
    """

    output: list[JSON]
    events: list[JSON]
    output_tokens: int
    reasoning_tokens: int


_ARG_TOKENS = re.compile(r"\w+|\W+")


def _argument_chunks(arguments: str, chunk: int) -> list[str]:
    tokens = _ARG_TOKENS.findall(arguments)
    return ["".join(tokens[i : i + chunk]) for i in range(0, len(tokens), chunk)]


def _encrypted(item_id: str) -> str:
    # Opaque like the API's (base64 of ciphertext), deterministic per item.
    digest = hashlib.sha256(f"reasoning:{item_id}".encode()).digest() * 3
    return "gAAAAA" + base64.urlsafe_b64encode(digest).decode()


class _Ids:
    """Deterministic ids per response: the first item of a kind keeps the plain id."""

    def __init__(self, index: int) -> None:
        self._index = index
        self._seen: dict[str, int] = {}

    def __call__(self, prefix: str) -> str:
        n = self._seen.get(prefix, 0)
        self._seen[prefix] = n + 1
        return _wire.make_id(prefix, self._index if n == 0 else f"{self._index}.{n}")


def render(
    reply: Reply, *, index: int, chunk_words: int, encrypted_reasoning: bool = False
) -> Rendered:
    """The output items, item events and token counts of *reply* for response *index*."""
    ids = _Ids(index)
    output: list[JSON] = []
    events: list[JSON] = []
    tokens = reasoning = 0
    for position, item in enumerate(reply.items):
        if isinstance(item, TextItem):
            final, item_events, used = _text(item, ids("msg"), position, chunk_words)
        elif isinstance(item, FunctionCallItem):
            call_id = item.call_id or ids("call")[:29]
            final, item_events, used = _function_call(
                item, ids("fc"), call_id, position, chunk_words
            )
        else:
            final, item_events, used = _reasoning(
                item, ids("rs"), position, chunk_words, encrypted_reasoning
            )
            reasoning += used
        output.append(final)
        events.extend(item_events)
        tokens += used
    return Rendered(output, events, tokens, reasoning)


def _text(item: TextItem, item_id: str, position: int, chunk: int) -> tuple[JSON, list[JSON], int]:
    text = item.text
    where = {"item_id": item_id, "output_index": position, "content_index": 0}
    final = _wire.message_item(item_id, text, status="completed")
    events: list[JSON] = [
        {
            "type": "response.output_item.added",
            "output_index": position,
            "item": _wire.message_item(item_id, None, status="in_progress"),
        },
        {"type": "response.content_part.added", **where, "part": _wire.output_text_part("")},
    ]
    events.extend(
        {"type": "response.output_text.delta", **where, "delta": delta, "logprobs": []}
        for delta in _wire.split_chunks(text, chunk)
    )
    events.extend(
        [
            {"type": "response.output_text.done", **where, "text": text, "logprobs": []},
            {"type": "response.content_part.done", **where, "part": _wire.output_text_part(text)},
            {"type": "response.output_item.done", "output_index": position, "item": final},
        ]
    )
    return final, events, len(text.split())


def _function_call(
    item: FunctionCallItem, item_id: str, call_id: str, position: int, chunk: int
) -> tuple[JSON, list[JSON], int]:
    def call(status: str, arguments: str) -> JSON:
        return {
            "id": item_id,
            "type": "function_call",
            "status": status,
            "arguments": arguments,
            "call_id": call_id,
            "name": item.name,
        }

    where = {"item_id": item_id, "output_index": position}
    chunks = _argument_chunks(item.arguments, chunk)
    final = call("completed", item.arguments)
    events: list[JSON] = [
        {
            "type": "response.output_item.added",
            "output_index": position,
            "item": call("in_progress", ""),
        }
    ]
    events.extend(
        {"type": "response.function_call_arguments.delta", **where, "delta": delta}
        for delta in chunks
    )
    events.extend(
        [
            {
                "type": "response.function_call_arguments.done",
                **where,
                "name": item.name,
                "arguments": item.arguments,
            },
            {"type": "response.output_item.done", "output_index": position, "item": final},
        ]
    )
    return final, events, len(_ARG_TOKENS.findall(item.arguments))


def _reasoning(
    item: ReasoningItem, item_id: str, position: int, chunk: int, encrypted: bool
) -> tuple[JSON, list[JSON], int]:
    def reasoning_item(done: bool) -> JSON:
        value: JSON = {
            "id": item_id,
            "type": "reasoning",
            "summary": [{"type": "summary_text", "text": s} for s in item.summary] if done else [],
        }
        if done and item.text is not None:
            value["content"] = [{"type": "reasoning_text", "text": item.text}]
        if encrypted:
            value["encrypted_content"] = _encrypted(item_id)
        return value

    where = {"item_id": item_id, "output_index": position}
    events: list[JSON] = [
        {
            "type": "response.output_item.added",
            "output_index": position,
            "item": reasoning_item(False),
        }
    ]
    words = 0
    for n, summary in enumerate(item.summary):
        at = {**where, "summary_index": n}
        words += len(summary.split())
        events.append(
            {
                "type": "response.reasoning_summary_part.added",
                **at,
                "part": {"type": "summary_text", "text": ""},
            }
        )
        events.extend(
            {"type": "response.reasoning_summary_text.delta", **at, "delta": delta}
            for delta in _wire.split_chunks(summary, chunk)
        )
        events.append({"type": "response.reasoning_summary_text.done", **at, "text": summary})
        events.append(
            {
                "type": "response.reasoning_summary_part.done",
                **at,
                "part": {"type": "summary_text", "text": summary},
            }
        )
    if item.text is not None:
        text = item.text
        words += len(text.split())
        at = {**where, "content_index": 0}
        events.append(
            {
                "type": "response.content_part.added",
                **at,
                "part": {"type": "reasoning_text", "text": ""},
            }
        )
        events.extend(
            {"type": "response.reasoning_text.delta", **at, "delta": delta}
            for delta in _wire.split_chunks(text, chunk)
        )
        events.append({"type": "response.reasoning_text.done", **at, "text": text})
        events.append(
            {
                "type": "response.content_part.done",
                **at,
                "part": {"type": "reasoning_text", "text": text},
            }
        )
    final = reasoning_item(True)
    events.append({"type": "response.output_item.done", "output_index": position, "item": final})
    return final, events, words
