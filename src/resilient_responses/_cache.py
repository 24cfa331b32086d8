"""An exact-match cache of completed responses, and the events that replay one.

Building blocks for ``Resilience(cache=ResponseCache(...))``: the engine asks
:meth:`ResponseCache.key` for a request's key (``None``: never cached), serves
:meth:`ResponseCache.get` hits without a request (a stream replays
:func:`replay_events`), and offers what a miss produced to :meth:`ResponseCache.put`,
which keeps only ``completed`` responses.

The key rules (documented in ``docs/seed.md``):

- Keyed: every parameter of ``responses.create`` except the ones listed in
  :data:`NON_SHAPING` (they do not change what the model writes), with ``extra_body``
  merged in (it is sent as part of the body), ``None`` / omitted values dropped (the API
  reads them as "default"), ``include`` sorted, integral floats written as ints, and the
  caller's *namespace* (the engine passes the base URL, so two servers never share
  answers). Parameters this module does not know are keyed too: a new parameter can
  only cost a miss, never serve a wrong answer.
- ``store`` is keyed (absent means ``True``): a response created with ``store=False``
  cannot be retrieved or continued on the server, so it is never served to a caller who
  asked for a stored one.
- Not cacheable (:func:`cacheable`): ``background=True`` (its result is fetched later by
  id), ``previous_response_id`` and ``conversation`` (they continue state on the server,
  so the same request means something else next time), a reusable ``prompt`` without a
  pinned ``version`` (the template can change), hosted tools other than ``function`` and
  ``custom`` (web search, file search, MCP, code interpreter... answer from state outside
  the request), and anything that is not plain JSON (a generator would be consumed).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import threading
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import openai
from cachetools import Cache, LRUCache, TTLCache
from openai.types.responses import Response, ResponseStreamEvent

from ._cost import PriceTable, Usage, usage_from

__all__ = [
    "NON_SHAPING",
    "CacheStats",
    "ResponseCache",
    "cacheable",
    "replay_events",
    "request_key",
]

JSON = dict[str, Any]

#: ``responses.create`` parameters left out of the key: transport (``stream``,
#: ``stream_options``, ``extra_headers``, ``extra_query``, ``timeout``), accounting and
#: abuse tracking (``user``, ``safety_identifier``, ``metadata``), routing and pricing
#: (``service_tier``, ``prompt_cache_key``, ``prompt_cache_retention``,
#: ``prompt_cache_options``). A hit returns the stored response unchanged, so its
#: ``metadata``, ``service_tier`` and ``id`` are those of the call that filled the cache.
NON_SHAPING = frozenset(
    {
        "stream",
        "stream_options",
        "extra_headers",
        "extra_query",
        "timeout",
        "user",
        "safety_identifier",
        "metadata",
        "service_tier",
        "prompt_cache_key",
        "prompt_cache_retention",
        "prompt_cache_options",
    }
)

#: Tools whose answer depends only on the request (the caller runs them).
_CLIENT_TOOLS = frozenset({"function", "custom"})
_KEY_VERSION = "resilient_responses.cache.v1"


def _given(value: object) -> bool:
    return value is not None and not isinstance(value, (openai.Omit, openai.NotGiven))


def cacheable(kwargs: Mapping[str, Any]) -> bool:
    """Whether a ``responses.create`` request may be answered from the cache.

    >>> cacheable({"model": "gpt-5-mini", "input": "hi", "stream": True})
    True
    >>> cacheable({"model": "gpt-5-mini", "input": "hi", "previous_response_id": "resp_1"})
    False
    >>> cacheable({"model": "gpt-5-mini", "input": "hi", "tools": [{"type": "web_search"}]})
    False
    """
    return _cacheable_canonical(kwargs) is not None


def _cacheable_canonical(kwargs: Mapping[str, Any]) -> str | None:
    """The canonical JSON of a cacheable request, else ``None``."""
    params = _merged(kwargs)
    if params.get("background") is True:
        return None
    if _given(params.get("previous_response_id")) or _given(params.get("conversation")):
        return None
    prompt = params.get("prompt")
    if _given(prompt) and not (isinstance(prompt, Mapping) and _given(prompt.get("version"))):
        return None
    tools = params.get("tools")
    if _given(tools):
        if not isinstance(tools, (list, tuple)):
            return None  # an iterator would be consumed by looking at it
        for tool in tools:
            kind = tool.get("type") if isinstance(tool, Mapping) else getattr(tool, "type", None)
            if kind not in _CLIENT_TOOLS:
                return None
    return _canonical(params)


def request_key(kwargs: Mapping[str, Any], *, namespace: str = "") -> str:
    """The cache key of a request: sha256 over its canonical JSON (see the module doc).

    Raises ``ValueError`` for a request that is not :func:`cacheable`.

    >>> a = request_key({"model": "m", "input": "hi", "temperature": 1.0, "stream": True})
    >>> b = request_key({"input": "hi", "model": "m", "temperature": 1, "user": "u-42"})
    >>> a == b, len(a)
    (True, 64)
    >>> a == request_key({"model": "m", "input": "hi", "temperature": 0.5})
    False
    """
    canonical = _cacheable_canonical(kwargs)
    if canonical is None:
        raise ValueError("this request is not cacheable (see resilient_responses._cache)")
    return _digest(canonical, namespace)


def _digest(canonical: str, namespace: str) -> str:
    digest = hashlib.sha256()
    for part in (_KEY_VERSION, namespace, canonical):
        digest.update(part.encode())
        digest.update(b"\x00")
    return digest.hexdigest()


def _merged(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The body the SDK sends: keyword arguments with ``extra_body`` merged over them."""
    params = dict(kwargs)
    extra = params.pop("extra_body", None)
    if isinstance(extra, Mapping):
        params.update(extra)
    return params


class _NotJSON(Exception):
    """A value with no canonical JSON form."""


def _plain(value: object) -> object:
    """*value* as plain JSON data, normalised; raises :class:`_NotJSON`."""
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _NotJSON
        return int(value) if value.is_integer() else value
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise _NotJSON
            if _given(v):
                out[k] = _plain(v)
        return out
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, openai.BaseModel):
        return _plain(value.model_dump(mode="json", by_alias=True, exclude_unset=True))
    raise _NotJSON


def _canonical(params: Mapping[str, Any]) -> str | None:
    body: dict[str, object] = {}
    try:
        for name, value in params.items():
            if name in NON_SHAPING or not _given(value):
                continue
            body[name] = _plain(value)
    except _NotJSON:
        return None
    body.setdefault("store", True)
    include = body.get("include")
    if isinstance(include, list) and all(isinstance(i, str) for i in include):
        body["include"] = sorted(set(include))
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# -- the cache -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CacheStats:
    """A snapshot of a :class:`ResponseCache`'s counters.

    Attributes:
        hits: lookups answered from the cache.
        misses: lookups that found nothing (or only an expired entry).
        evictions: entries dropped to make room (least recently used first).
        expirations: entries dropped because their ``ttl`` ran out.
        stores: responses stored (``put`` of a ``completed`` response).
        rejected: responses offered to ``put`` and refused (not ``completed``).
        entries: entries held now.
        saved: tokens the hits did not spend (the stored responses' usage).
        saved_by_model: the same, per model, for pricing.
    """

    hits: int
    misses: int
    evictions: int
    expirations: int
    stores: int
    rejected: int
    entries: int
    saved: Usage
    saved_by_model: Mapping[str, Usage] = field(default_factory=dict)

    @property
    def hit_ratio(self) -> float:
        """Hits over lookups (0.0 before the first lookup)."""
        lookups = self.hits + self.misses
        return self.hits / lookups if lookups else 0.0

    def usd_saved(self, prices: PriceTable | None = None) -> float:
        """Dollars the hits saved, from *prices* (default: :class:`PriceTable` defaults).

        Models the table does not know count as free.
        """
        table = prices if prices is not None else PriceTable()
        return float(sum(table.cost(model, usage) for model, usage in self.saved_by_model.items()))


@dataclass(frozen=True, slots=True)
class _Entry:
    response: Response
    model: str
    usage: Usage


class _Counters:
    __slots__ = ("evictions", "expirations")

    def __init__(self) -> None:
        self.evictions = 0
        self.expirations = 0


class _LRU(LRUCache[str, _Entry]):
    """cachetools' LRU cache, counting evictions (its documented extension point)."""

    def __init__(self, maxsize: int, counters: _Counters) -> None:
        super().__init__(maxsize)
        self._counters = counters

    def popitem(self) -> tuple[str, _Entry]:
        item = super().popitem()
        self._counters.evictions += 1
        return item


class _TTL(TTLCache[str, _Entry]):
    """cachetools' TTL cache (LRU within the ttl), counting evictions and expirations."""

    def __init__(
        self, maxsize: int, ttl: float, timer: Callable[[], float], counters: _Counters
    ) -> None:
        super().__init__(maxsize, ttl, timer)
        self._counters = counters

    def popitem(self) -> tuple[str, _Entry]:
        item = super().popitem()
        self._counters.evictions += 1
        return item

    def expire(self, time: float | None = None) -> list[tuple[str, _Entry]]:
        expired = super().expire(time)
        self._counters.expirations += len(expired)
        return expired


class ResponseCache:
    """An in-memory, thread-safe, exact-match cache of completed responses.

    At most *max_entries* responses, the least recently used evicted first; with *ttl*
    (seconds), an entry also expires that long after it was stored. Backed by
    ``cachetools`` (``LRUCache`` / ``TTLCache``) behind one lock. *timer* (for *ttl*,
    default ``time.monotonic``) is injectable for tests.

    Only ``completed`` responses are stored; :meth:`get` returns a fresh copy each time,
    so a caller that changes its response never changes the cache.

    >>> from openai.types.responses import Response
    >>> cache = ResponseCache(max_entries=100)
    >>> key = cache.key({"model": "gpt-5-mini", "input": "hi"})
    >>> cache.get(key) is None
    True
    >>> cache.key({"model": "gpt-5-mini", "input": "hi", "background": True}) is None
    True
    """

    __slots__ = (
        "_counters",
        "_entries",
        "_hits",
        "_lock",
        "_misses",
        "_rejected",
        "_saved",
        "_stores",
        "max_entries",
        "ttl",
    )

    def __init__(
        self,
        max_entries: int = 1000,
        ttl: float | None = None,
        *,
        timer: Callable[[], float] | None = None,
    ) -> None:
        if isinstance(max_entries, bool) or not isinstance(max_entries, int):
            raise TypeError(f"max_entries must be an int, got {type(max_entries).__name__}")
        if max_entries < 1:
            raise ValueError(f"max_entries must be >= 1, got {max_entries}")
        if ttl is not None:
            if isinstance(ttl, bool) or not isinstance(ttl, (int, float)):
                raise TypeError(f"ttl must be seconds (a number) or None, got {ttl!r}")
            if not (math.isfinite(ttl) and ttl > 0):
                raise ValueError(f"ttl must be a finite number of seconds > 0, got {ttl!r}")
        if timer is not None and not callable(timer):
            raise TypeError("timer must be a callable returning seconds, or None")
        if timer is not None and ttl is None:
            raise ValueError("timer is only used with a ttl")
        self.max_entries = max_entries
        self.ttl = None if ttl is None else float(ttl)
        self._lock = threading.Lock()
        self._counters = _Counters()
        self._entries: Cache[str, _Entry]
        if self.ttl is None:
            self._entries = _LRU(max_entries, self._counters)
        else:
            import time

            self._entries = _TTL(max_entries, self.ttl, timer or time.monotonic, self._counters)
        self._hits = 0
        self._misses = 0
        self._stores = 0
        self._rejected = 0
        self._saved: dict[str, Usage] = {}

    def __repr__(self) -> str:
        return f"ResponseCache(max_entries={self.max_entries}, ttl={self.ttl})"

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    @staticmethod
    def key(kwargs: Mapping[str, Any], *, namespace: str = "") -> str | None:
        """The key of a ``responses.create`` request, or ``None`` if it is not cacheable.

        *namespace* separates servers (the engine passes the client's base URL).
        """
        canonical = _cacheable_canonical(kwargs)
        return None if canonical is None else _digest(canonical, namespace)

    def get(self, key: str) -> Response | None:
        """The stored response for *key* (a fresh copy), counting a hit; else ``None``,
        counting a miss."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                self._misses += 1
                return None
            self._hits += 1
            saved = self._saved.get(entry.model)
            self._saved[entry.model] = entry.usage if saved is None else saved + entry.usage
        return entry.response.model_copy(deep=True)

    def put(self, key: str, response: Response) -> bool:
        """Store *response* under *key* if it is ``completed``; returns whether it was."""
        if not isinstance(response, Response):
            raise TypeError(f"response must be an openai Response, got {type(response).__name__}")
        if response.status != "completed" or response.error is not None:
            with self._lock:
                self._rejected += 1
            return False
        entry = _Entry(
            response=response.model_copy(deep=True),
            model=response.model,
            usage=usage_from(response) or Usage(),
        )
        with self._lock:
            self._entries[key] = entry
            self._stores += 1
        return True

    def clear(self) -> None:
        """Drop every entry (the counters stay)."""
        with self._lock:
            self._entries.clear()

    def stats(self) -> CacheStats:
        """A snapshot of the counters."""
        with self._lock:
            entries = len(self._entries)  # expires what is due, so count it first
            saved = Usage()
            for usage in self._saved.values():
                saved = saved + usage
            return CacheStats(
                hits=self._hits,
                misses=self._misses,
                evictions=self._counters.evictions,
                expirations=self._counters.expirations,
                stores=self._stores,
                rejected=self._rejected,
                entries=entries,
                saved=saved,
                saved_by_model=MappingProxyType(dict(self._saved)),
            )


# -- replay ----------------------------------------------------------------------------

_WORDS_PER_DELTA = 4
_EVENT_CLASSES: dict[str, type[openai.BaseModel]] = {}


def _event_class(kind: str) -> type[openai.BaseModel]:
    if not _EVENT_CLASSES:
        (union,) = typing.get_args(ResponseStreamEvent)[:1]
        for cls in typing.get_args(union):
            (literal,) = typing.get_args(cls.model_fields["type"].annotation)
            _EVENT_CLASSES[literal] = cls
    return _EVENT_CLASSES[kind]


def _deltas(text: str) -> list[str]:
    """*text* in deltas of a few words that concatenate back exactly."""
    pieces = re.findall(r"\S+\s*|\s+", text)
    return [
        "".join(pieces[i : i + _WORDS_PER_DELTA]) for i in range(0, len(pieces), _WORDS_PER_DELTA)
    ]


class _Events:
    """Collects event dicts with consecutive sequence numbers."""

    def __init__(self) -> None:
        self.items: list[JSON] = []

    def add(self, kind: str, **fields: Any) -> None:
        self.items.append({"type": kind, **fields, "sequence_number": len(self.items)})


def _item_id(item: JSON, output_index: int) -> str:
    for key in ("id", "call_id"):
        value = item.get(key)
        if isinstance(value, str) and value:
            return value
    return f"item_{output_index}"


def _message(events: _Events, item: JSON, at: JSON) -> None:
    events.add(
        "response.output_item.added",
        output_index=at["output_index"],
        item={**item, "status": "in_progress", "content": []},
    )
    for content_index, part in enumerate(item.get("content") or []):
        where = {**at, "content_index": content_index}
        kind = part.get("type")
        if kind == "output_text":
            text = part.get("text", "")
            empty = {**part, "text": "", "annotations": []}
            events.add("response.content_part.added", **where, part=empty)
            for delta in _deltas(text):
                events.add("response.output_text.delta", **where, delta=delta, logprobs=[])
            for n, annotation in enumerate(part.get("annotations") or []):
                events.add(
                    "response.output_text.annotation.added",
                    **where,
                    annotation_index=n,
                    annotation=annotation,
                )
            events.add(
                "response.output_text.done",
                **where,
                text=text,
                logprobs=part.get("logprobs") or [],
            )
        elif kind == "refusal":
            refusal = part.get("refusal", "")
            events.add("response.content_part.added", **where, part={**part, "refusal": ""})
            for delta in _deltas(refusal):
                events.add("response.refusal.delta", **where, delta=delta)
            events.add("response.refusal.done", **where, refusal=refusal)
        else:
            events.add("response.content_part.added", **where, part=part)
        events.add("response.content_part.done", **where, part=part)


def _function_call(events: _Events, item: JSON, at: JSON) -> None:
    arguments = item.get("arguments", "")
    events.add(
        "response.output_item.added",
        output_index=at["output_index"],
        item={**item, "status": "in_progress", "arguments": ""},
    )
    for delta in _deltas(arguments):
        events.add("response.function_call_arguments.delta", **at, delta=delta)
    events.add("response.function_call_arguments.done", **at, arguments=arguments)


def _custom_call(events: _Events, item: JSON, at: JSON) -> None:
    text = item.get("input", "")
    events.add(
        "response.output_item.added",
        output_index=at["output_index"],
        item={**item, "input": ""},
    )
    for delta in _deltas(text):
        events.add("response.custom_tool_call_input.delta", **at, delta=delta)
    events.add("response.custom_tool_call_input.done", **at, input=text)


def _reasoning(events: _Events, item: JSON, at: JSON) -> None:
    added = {**item, "summary": []}
    if "content" in added and added["content"] is not None:
        added["content"] = []
    if "status" in added and added["status"] is not None:
        added["status"] = "in_progress"
    events.add("response.output_item.added", output_index=at["output_index"], item=added)
    for summary_index, part in enumerate(item.get("summary") or []):
        where = {**at, "summary_index": summary_index}
        text = part.get("text", "")
        events.add("response.reasoning_summary_part.added", **where, part={**part, "text": ""})
        for delta in _deltas(text):
            events.add("response.reasoning_summary_text.delta", **where, delta=delta)
        events.add("response.reasoning_summary_text.done", **where, text=text)
        events.add("response.reasoning_summary_part.done", **where, part=part)
    for content_index, part in enumerate(item.get("content") or []):
        where = {**at, "content_index": content_index}
        text = part.get("text", "")
        events.add("response.content_part.added", **where, part={**part, "text": ""})
        for delta in _deltas(text):
            events.add("response.reasoning_text.delta", **where, delta=delta)
        events.add("response.reasoning_text.done", **where, text=text)
        events.add("response.content_part.done", **where, part=part)


def replay_events(response: Response) -> list[ResponseStreamEvent]:
    """The stream of a completed *response*, as the SDK's event models, built fresh.

    ``response.created``, ``response.in_progress``, then per output item
    ``response.output_item.added``, its parts and deltas (text, refusal, function-call
    arguments, custom-tool input, reasoning summaries and text; a few words per delta),
    ``response.output_item.done``, and last ``response.completed`` carrying *response*.
    Sequence numbers run from 0 without gaps. Every event is validated by its SDK model,
    and every call builds new objects, so consumers never share state.

    >>> from openai.types.responses import Response
    >>> response = Response.model_validate({
    ...     "id": "resp_1", "object": "response", "created_at": 1, "model": "gpt-5-mini",
    ...     "status": "completed", "parallel_tool_calls": True, "tool_choice": "auto",
    ...     "tools": [], "output": [{"id": "msg_1", "type": "message", "role": "assistant",
    ...     "status": "completed", "content": [{"type": "output_text", "text": "Hi there",
    ...     "annotations": []}]}]})
    >>> events = replay_events(response)
    >>> [e.type for e in events][:3], events[-1].response == response
    (['response.created', 'response.in_progress', 'response.output_item.added'], True)
    >>> "".join(e.delta for e in events if e.type == "response.output_text.delta")
    'Hi there'
    """
    if not isinstance(response, Response):
        raise TypeError(f"response must be an openai Response, got {type(response).__name__}")
    if response.status != "completed":
        raise ValueError(f"only completed responses replay, not {response.status!r}")
    final = response.model_dump(mode="json", by_alias=True)
    snapshot = {
        **final,
        "status": "in_progress",
        "output": [],
        "usage": None,
        "error": None,
        "incomplete_details": None,
    }
    if "completed_at" in snapshot:
        snapshot["completed_at"] = None
    events = _Events()
    events.add("response.created", response=snapshot)
    events.add("response.in_progress", response=snapshot)
    for output_index, item in enumerate(final.get("output") or []):
        at = {"output_index": output_index, "item_id": _item_id(item, output_index)}
        kind = item.get("type")
        if kind == "message":
            _message(events, item, at)
        elif kind == "function_call":
            _function_call(events, item, at)
        elif kind == "custom_tool_call":
            _custom_call(events, item, at)
        elif kind == "reasoning":
            _reasoning(events, item, at)
        else:
            events.add("response.output_item.added", output_index=output_index, item=item)
        events.add("response.output_item.done", output_index=output_index, item=item)
    events.add("response.completed", response=final)
    return [
        typing.cast(ResponseStreamEvent, _event_class(e["type"]).model_validate(e))
        for e in events.items
    ]
