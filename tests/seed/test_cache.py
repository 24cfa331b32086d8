"""ResponseCache building blocks: the canonical key, what is cacheable, the LRU/TTL store
and its counters (the engine wiring is tested where it lives)."""

from __future__ import annotations

import doctest
import threading
from typing import Any

import openai
import pytest

import resilient_responses._cache as cache_module
from resilient_responses import PriceTable, ResponseCache
from resilient_responses._cache import NON_SHAPING, cacheable, request_key
from resilient_responses.instrumentation import Usage

from ._support import make_response, message, text_part, usage

BASE: dict[str, Any] = {"model": "gpt-5-mini", "input": "What is 2+2?"}


def key(**changes: Any) -> str:
    return request_key({**BASE, **changes})


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_doctests_of_the_module_pass() -> None:
    assert doctest.testmod(cache_module).failed == 0


# -- the key ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("stream", True),
        ("stream_options", {"include_obfuscation": False}),
        ("extra_headers", {"x-trace": "1"}),
        ("extra_query", {"debug": "1"}),
        ("timeout", 3.0),
        ("user", "user-42"),
        ("safety_identifier", "hash-42"),
        ("metadata", {"run": "7"}),
        ("service_tier", "flex"),
        ("prompt_cache_key", "tenant-1"),
        ("prompt_cache_retention", "24h"),
        ("prompt_cache_options", {"ttl": "12h"}),
    ],
)
def test_non_shaping_parameters_do_not_change_the_key(name: str, value: Any) -> None:
    assert name in NON_SHAPING
    assert key(**{name: value}) == key()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("model", "gpt-5"),
        ("input", "What is 3+3?"),
        ("instructions", "Answer in French."),
        ("tools", [{"type": "function", "name": "f", "parameters": {}, "strict": True}]),
        ("tool_choice", "required"),
        ("temperature", 0.2),
        ("top_p", 0.5),
        ("max_output_tokens", 64),
        ("reasoning", {"effort": "high"}),
        ("text", {"format": {"type": "json_object"}}),
        ("include", ["reasoning.encrypted_content"]),
        ("parallel_tool_calls", False),
        ("truncation", "auto"),
        ("top_logprobs", 2),
        ("store", False),
        ("prompt", {"id": "pmpt_1", "version": "3"}),
        ("some_future_parameter", 1),
    ],
)
def test_every_shaping_parameter_changes_the_key(name: str, value: Any) -> None:
    assert key(**{name: value}) != key()


def test_key_is_canonical() -> None:
    """Order, None/omitted values, integral floats, include order and extra_body do not
    matter; the namespace does."""
    reordered = request_key({"input": "What is 2+2?", "model": "gpt-5-mini"})
    assert reordered == key()
    assert key(temperature=None, instructions=openai.omit) == key()
    assert key(temperature=1.0) == key(temperature=1)
    assert key(include=["a", "b"]) == key(include=["b", "a"])
    assert key(extra_body={"temperature": 0.3}) == key(temperature=0.3)
    assert key(store=True) == key()
    assert request_key(BASE, namespace="https://a/v1/") != request_key(BASE, namespace="b")
    nested = [{"role": "user", "content": [{"type": "input_text", "text": "x"}]}]
    assert key(input=nested) == key(input=[dict(reversed(list(nested[0].items())))])
    assert len(key()) == 64
    int(key(), 16)


def test_cache_key_is_the_request_key_or_none() -> None:
    assert ResponseCache.key(BASE, namespace="ns") == request_key(BASE, namespace="ns")
    assert ResponseCache.key(BASE) != ResponseCache.key(BASE, namespace="ns")


def test_pydantic_values_are_keyed_by_their_json() -> None:
    from openai.types.shared import Reasoning

    assert key(reasoning=Reasoning(effort="low")) == key(reasoning={"effort": "low"})


@pytest.mark.parametrize(
    "changes",
    [
        {"background": True},
        {"previous_response_id": "resp_123"},
        {"conversation": "conv_123"},
        {"conversation": {"id": "conv_123"}},
        {"prompt": {"id": "pmpt_1"}},
        {"tools": [{"type": "web_search"}]},
        {"tools": [{"type": "file_search", "vector_store_ids": ["vs_1"]}]},
        {"tools": [{"type": "mcp", "server_label": "x"}]},
        {"tools": ({"type": "function", "name": "f"} for _ in range(1))},
        {"temperature": float("nan")},
        {"input": object()},
    ],
)
def test_uncacheable_requests(changes: dict[str, Any]) -> None:
    request = {**BASE, **changes}
    assert not cacheable(request)
    assert ResponseCache.key(request) is None
    with pytest.raises(ValueError, match="not cacheable"):
        request_key(request)


def test_cacheable_requests() -> None:
    assert cacheable(BASE)
    assert cacheable({**BASE, "background": False, "previous_response_id": None})
    assert cacheable({**BASE, "prompt": {"id": "pmpt_1", "version": "2"}})
    assert cacheable({**BASE, "tools": [{"type": "function", "name": "f"}, {"type": "custom"}]})
    assert cacheable({**BASE, "stream": True, "stream_options": {"include_obfuscation": True}})


def test_an_iterator_of_tools_is_not_consumed_by_the_check() -> None:
    tools = iter([{"type": "function", "name": "f"}])
    assert not cacheable({**BASE, "tools": tools})
    assert next(tools) == {"type": "function", "name": "f"}


# -- the store --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"max_entries": 0}, ValueError),
        ({"max_entries": -1}, ValueError),
        ({"max_entries": 1.5}, TypeError),
        ({"max_entries": True}, TypeError),
        ({"ttl": 0}, ValueError),
        ({"ttl": -1.0}, ValueError),
        ({"ttl": float("inf")}, ValueError),
        ({"ttl": "60"}, TypeError),
        ({"ttl": True}, TypeError),
        ({"timer": lambda: 0.0}, ValueError),
        ({"ttl": 5, "timer": 3}, TypeError),
    ],
)
def test_construction_is_validated(kwargs: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        ResponseCache(**kwargs)


def test_defaults() -> None:
    cache = ResponseCache()
    assert (cache.max_entries, cache.ttl) == (1000, None)
    assert repr(cache) == "ResponseCache(max_entries=1000, ttl=None)"


def test_only_completed_responses_are_stored() -> None:
    cache = ResponseCache()
    k = key()
    for status, extra in [
        ("failed", {"error": {"code": "server_error", "message": "x"}}),
        ("incomplete", {"incomplete_details": "max_output_tokens"}),
        ("in_progress", {}),
        ("cancelled", {}),
        ("queued", {}),
    ]:
        reason = extra.pop("incomplete_details", None)
        response = make_response(status=status, incomplete_reason=reason, **extra)
        assert cache.put(k, response) is False
    assert cache.get(k) is None
    assert cache.put(k, make_response(message(text_part("4")))) is True
    hit = cache.get(k)
    assert hit is not None
    assert hit.output_text == "4"
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.stores, stats.rejected, stats.entries) == (
        1,
        1,
        1,
        5,
        1,
    )
    with pytest.raises(TypeError):
        cache.put(k, {"status": "completed"})  # type: ignore[arg-type]


def test_get_returns_a_fresh_copy_each_time() -> None:
    cache = ResponseCache()
    stored = make_response(message(text_part("original")))
    cache.put(key(), stored)
    stored.output[0].content[0].text = "changed by the producer"  # type: ignore[union-attr]
    first = cache.get(key())
    assert first is not None
    assert first.output_text == "original"
    first.output[0].content[0].text = "changed by a consumer"  # type: ignore[union-attr]
    second = cache.get(key())
    assert second is not None
    assert second.output_text == "original"
    assert second is not first


def test_lru_eviction_drops_the_least_recently_used_and_counts() -> None:
    cache = ResponseCache(max_entries=2)
    a, b, c = key(input="a"), key(input="b"), key(input="c")
    for k in (a, b):
        cache.put(k, make_response(message(text_part(k[:4]))))
    assert cache.get(a) is not None  # a is now the most recently used
    cache.put(c, make_response(message(text_part("c"))))
    assert cache.get(b) is None
    assert cache.get(a) is not None
    assert cache.get(c) is not None
    stats = cache.stats()
    assert (stats.evictions, stats.entries, len(cache)) == (1, 2, 2)


def test_ttl_expires_entries_on_the_injected_timer() -> None:
    clock = Clock()
    cache = ResponseCache(max_entries=10, ttl=60, timer=clock)
    cache.put(key(), make_response(message(text_part("4"))))
    clock.now = 59.9
    assert cache.get(key()) is not None
    clock.now = 60.0
    assert cache.get(key()) is None
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.expirations, stats.evictions, stats.entries) == (
        1,
        1,
        1,
        0,
        0,
    )


def test_ttl_cache_evicts_lru_when_full_too() -> None:
    clock = Clock()
    cache = ResponseCache(max_entries=1, ttl=60, timer=clock)
    cache.put(key(input="a"), make_response(message(text_part("a"))))
    cache.put(key(input="b"), make_response(message(text_part("b"))))
    assert cache.get(key(input="a")) is None
    assert cache.stats().evictions == 1


def test_tokens_and_dollars_saved_come_from_the_stored_usage() -> None:
    cache = ResponseCache()
    cache.put(key(), make_response(message(text_part("4")), usage_value=usage(1000, 200)))
    cache.put(
        key(model="gpt-5"),
        make_response(
            message(text_part("4")), usage_value=usage(2000, 100, cached=1000), model="gpt-5"
        ),
    )
    for _ in range(3):
        cache.get(key())
    cache.get(key(model="gpt-5"))
    cache.get(key(input="never stored"))
    stats = cache.stats()
    assert (stats.hits, stats.misses) == (4, 1)
    assert stats.hit_ratio == pytest.approx(0.8)
    assert stats.saved_by_model["gpt-5-mini"] == Usage(input_tokens=3000, output_tokens=600)
    assert stats.saved_by_model["gpt-5"] == Usage(
        input_tokens=2000, cached_input_tokens=1000, output_tokens=100
    )
    assert stats.saved.input_tokens == 5000
    assert stats.saved.output_tokens == 700
    table = PriceTable()
    expected = float(
        table.cost("gpt-5-mini", Usage(input_tokens=3000, output_tokens=600))
        + table.cost("gpt-5", Usage(input_tokens=2000, cached_input_tokens=1000, output_tokens=100))
    )
    assert stats.usd_saved() == pytest.approx(expected)
    # gpt-5-mini: 3000 x 0.25/1M + 600 x 2.50/1M; gpt-5: 1000 x 1.25/1M + 1000 x 0.125/1M +
    # 100 x 10/1M.
    assert expected == pytest.approx(0.00075 + 0.0015 + 0.00125 + 0.000125 + 0.001)


def test_clear_drops_entries_and_keeps_counters() -> None:
    cache = ResponseCache()
    cache.put(key(), make_response(message(text_part("4"))))
    cache.get(key())
    cache.clear()
    assert cache.get(key()) is None
    stats = cache.stats()
    assert (stats.entries, stats.hits, stats.misses) == (0, 1, 1)


def test_counters_stay_exact_under_threads() -> None:
    """64 threads hammering a small cache: every lookup is a hit or a miss, every store
    is counted, and the LRU never holds more than max_entries."""
    cache = ResponseCache(max_entries=8)
    keys = [key(input=str(n)) for n in range(32)]
    response = make_response(message(text_part("x")))
    lookups_per_thread = 200
    barrier = threading.Barrier(64)

    def work(seed: int) -> None:
        barrier.wait()
        for n in range(lookups_per_thread):
            k = keys[(seed * 7 + n) % len(keys)]
            if cache.get(k) is None:
                cache.put(k, response)

    threads = [threading.Thread(target=work, args=(s,)) for s in range(64)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stats = cache.stats()
    assert stats.hits + stats.misses == 64 * lookups_per_thread
    assert stats.stores == stats.misses
    assert stats.entries == len(cache) <= 8
    # Two threads may miss the same key and both store it: the second replaces the first.
    assert 0 < stats.evictions <= stats.stores - stats.entries
