"""StatsCollector: exact counters under concurrency, totals over keys, tokens and cost."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
import threading
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from resilient_responses._classify import Failure
from resilient_responses.instrumentation import KeyStats, Stats, Usage
from resilient_responses.instrumentation._stats import StatsCollector

GPT5 = Usage(input_tokens=1_000, cached_input_tokens=200, output_tokens=100, reasoning_tokens=40)


def one_call(stats: StatsCollector, key: str, *, retries: int, ok: bool, elapsed: float) -> None:
    stats.call_started(key)
    stats.attempt(key, retry=False)
    for _ in range(retries):
        stats.failure(key, Failure(kind="status", status=503, code="server_error"))
        stats.attempt(key, retry=True)
    stats.call_finished(key, ok=ok, elapsed_s=elapsed)


def test_a_call_with_retries_counts_calls_attempts_retries_and_failures() -> None:
    stats = StatsCollector()
    one_call(stats, "k", retries=2, ok=True, elapsed=1.5)
    one_call(stats, "k", retries=0, ok=False, elapsed=0.5)
    k = stats.snapshot().by_key["k"]
    assert (k.calls, k.attempts, k.retries, k.successes, k.failures) == (2, 4, 2, 1, 1)
    assert dict(k.failures_by_status) == {"503": 2}
    assert dict(k.failures_by_code) == {"server_error": 2}


def test_failures_without_status_count_by_kind_and_without_code_not_by_code() -> None:
    stats = StatsCollector()
    stats.failure("k", Failure(kind="connection"))
    stats.failure("k", Failure(kind="stream_truncated"))
    stats.failure("k", Failure(kind="status", status=429, code="rate_limit_exceeded"))
    stats.failure("k", Failure(kind="stream_error", code="server_error"))
    k = stats.snapshot().by_key["k"]
    assert dict(k.failures_by_status) == {
        "connection": 1,
        "stream_truncated": 1,
        "429": 1,
        "stream_error": 1,
    }
    assert dict(k.failures_by_code) == {"rate_limit_exceeded": 1, "server_error": 1}


def test_distinct_failure_codes_are_bounded_with_the_rest_under_other() -> None:
    stats = StatsCollector()
    for i in range(100):
        stats.failure("k", Failure(kind="stream_error", code=f"code_{i}"))
    codes = stats.snapshot().by_key["k"].failures_by_code
    assert len(codes) == 65
    assert codes["other"] == 36
    assert sum(codes.values()) == 100


def test_stream_and_breaker_events_are_counted_per_key() -> None:
    stats = StatsCollector()
    stats.stream_resumed("a")
    stats.stream_resumed("a")
    stats.stream_restarted("a")
    stats.stream_interrupted("b")
    stats.breaker_opened("b")
    snap = stats.snapshot()
    a, b = snap.by_key["a"], snap.by_key["b"]
    assert (a.resumes, a.restarts, a.interruptions, a.breaker_opens) == (2, 1, 0, 0)
    assert (b.resumes, b.restarts, b.interruptions, b.breaker_opens) == (0, 0, 1, 1)
    assert (snap.total.resumes, snap.total.interruptions, snap.total.breaker_opens) == (2, 1, 1)


def test_latency_and_time_to_first_event_quantiles_are_within_one_percent() -> None:
    stats = StatsCollector()
    for ms in range(1, 1001):
        stats.call_finished("k", ok=True, elapsed_s=ms / 1000)
        stats.first_event("k", ms / 10_000)
    k = stats.snapshot().by_key["k"]
    for got, want in [
        (k.latency_p50, 0.500),
        (k.latency_p95, 0.950),
        (k.latency_p99, 0.990),
        (k.ttfe_p50, 0.0500),
        (k.ttfe_p95, 0.0950),
    ]:
        assert got is not None
        assert abs(got - want) <= 0.01 * want + 1e-12


def test_quantiles_are_none_without_data() -> None:
    stats = StatsCollector()
    stats.call_started("k")
    k = stats.snapshot().by_key["k"]
    assert (k.latency_p50, k.latency_p95, k.latency_p99, k.ttfe_p50, k.ttfe_p95) == (None,) * 5


def test_bad_clock_readings_never_fail_the_call_being_measured() -> None:
    stats = StatsCollector()
    stats.call_finished("k", ok=True, elapsed_s=-0.5)
    stats.call_finished("k", ok=True, elapsed_s=math.nan)
    stats.first_event("k", math.inf)
    k = stats.snapshot().by_key["k"]
    assert k.successes == 2
    assert k.latency_p50 == 0.0
    assert k.ttfe_p50 is None


def test_usage_adds_tokens_and_returns_the_cost_added() -> None:
    stats = StatsCollector()
    cost = stats.usage("k", "gpt-5", GPT5)
    assert cost == (800 * 1.25 + 200 * 0.125 + 100 * 10.0) / 1e6
    k = stats.snapshot().by_key["k"]
    assert (k.input_tokens, k.cached_input_tokens, k.output_tokens, k.reasoning_tokens) == (
        1_000,
        200,
        100,
        40,
    )
    assert k.cost_usd == cost
    assert (k.wasted_output_tokens, k.wasted_cost_usd) == (0, 0.0)


def test_wasted_usage_counts_separately_and_also_in_cost_paid() -> None:
    stats = StatsCollector()
    kept = stats.usage("k", "gpt-5", GPT5)
    lost = stats.usage("k", "gpt-5", Usage(input_tokens=1_000, output_tokens=50), wasted=True)
    k = stats.snapshot().by_key["k"]
    assert k.wasted_output_tokens == 50
    assert k.wasted_cost_usd == lost
    assert k.output_tokens == 150
    assert k.cost_usd == pytest.approx(kept + lost, rel=1e-15)


def test_unpriced_models_cost_zero_are_listed_and_claimed_once() -> None:
    stats = StatsCollector()
    assert stats.usage("k", "o3-pro", GPT5) == 0.0
    assert stats.snapshot().unpriced_models == ("o3-pro",)
    assert stats.claim_unpriced("o3-pro") is True
    assert stats.claim_unpriced("o3-pro") is False
    assert stats.claim_unpriced("gpt-5-mini-2025-08-07") is False
    assert stats.claim_unpriced(None) is False


def test_snapshot_is_immutable() -> None:
    stats = StatsCollector()
    stats.failure("k", Failure(kind="status", status=500))
    snap = stats.snapshot()
    with pytest.raises(dataclasses.FrozenInstanceError):
        snap.total = KeyStats()  # type: ignore[misc]
    with pytest.raises(TypeError):
        snap.by_key["other"] = KeyStats()  # type: ignore[index]
    with pytest.raises(TypeError):
        snap.by_key["k"].failures_by_status["500"] = 0  # type: ignore[index]
    stats.failure("k", Failure(kind="status", status=500))
    assert snap.by_key["k"].failures_by_status["500"] == 1  # a snapshot, not a view


def test_breaker_states_and_retry_budget_level_come_from_the_engine() -> None:
    stats = StatsCollector()
    stats.call_started("a")
    snap = stats.snapshot(breaker_states={"a": "open", "idle": "closed"}, budget_level=0.25)
    assert snap.by_key["a"].breaker_state == "open"
    assert snap.by_key["idle"] == KeyStats(breaker_state="closed")
    assert snap.total.breaker_state is None
    assert snap.retry_budget_level == 0.25


def test_as_dict_is_json_serialisable_and_complete() -> None:
    stats = StatsCollector()
    one_call(stats, "gpt-5 @ api", retries=1, ok=True, elapsed=0.2)
    stats.usage("gpt-5 @ api", "gpt-5", GPT5)
    data = json.loads(json.dumps(stats.snapshot(budget_level=0.5).as_dict()))
    assert set(data) == {f.name for f in dataclasses.fields(Stats)}
    assert set(data["total"]) == {f.name for f in dataclasses.fields(KeyStats)}
    assert data["by_key"]["gpt-5 @ api"]["failures_by_status"] == {"503": 1}
    assert data["total"]["retries"] == 1


def test_records_are_frozen_slotted_dataclasses() -> None:
    for cls in (Stats, KeyStats):
        assert dataclasses.is_dataclass(cls)
        assert "__slots__" in vars(cls)


SUMMED = [
    f.name
    for f in dataclasses.fields(KeyStats)
    if f.type in ("int", "float") and f.name not in {"cost_usd", "wasted_cost_usd"}
]

operations = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c"]),
        st.sampled_from(["start", "retry", "fail", "ok", "ko", "ttfe", "usage", "waste", "open"]),
        st.floats(0.0, 100.0, allow_nan=False),
    ),
    max_size=80,
)


def apply(stats: StatsCollector, key: str, op: str, x: float) -> None:
    if op == "start":
        stats.call_started(key)
        stats.attempt(key, retry=False)
    elif op == "retry":
        stats.attempt(key, retry=True)
    elif op == "fail":
        stats.failure(key, Failure(kind="status", status=int(x) % 3 + 500, code="server_error"))
    elif op in ("ok", "ko"):
        stats.call_finished(key, ok=op == "ok", elapsed_s=x)
    elif op == "ttfe":
        stats.first_event(key, x)
    elif op in ("usage", "waste"):
        n = int(x * 1000)
        stats.usage(key, "gpt-5-mini", Usage(n, n // 3, n // 2, n // 7), wasted=op == "waste")
    else:
        stats.breaker_opened(key)


@given(operations)
def test_totals_are_exact_sums_over_keys(ops: list[tuple[str, str, float]]) -> None:
    stats = StatsCollector()
    for key, op, x in ops:
        apply(stats, key, op, x)
    snap = stats.snapshot()
    for name in SUMMED:
        assert getattr(snap.total, name) == sum(getattr(k, name) for k in snap.by_key.values())
    statuses: dict[str, int] = {}
    for k in snap.by_key.values():
        for label, n in k.failures_by_status.items():
            statuses[label] = statuses.get(label, 0) + n
    assert dict(snap.total.failures_by_status) == statuses
    keys = list(snap.by_key.values())
    assert snap.total.cost_usd >= max((k.cost_usd for k in keys), default=0.0)
    assert snap.total.wasted_cost_usd <= snap.total.cost_usd
    assert snap.total.wasted_output_tokens <= snap.total.output_tokens
    finished = [x for _, op, x in ops if op in ("ok", "ko")]
    if finished:
        assert snap.total.latency_p99 is not None
        assert min(finished) <= snap.total.latency_p99 <= max(finished)
    else:
        assert snap.total.latency_p50 is None


def expected_after(n_calls: int, key_count: int) -> dict[str, Any]:
    return {
        "calls": n_calls,
        "attempts": 3 * n_calls,
        "retries": 2 * n_calls,
        "successes": n_calls,
        "failures": 0,
        "output_tokens": 100 * n_calls,
        "keys": key_count,
    }


def check_exact(stats: StatsCollector, n_calls: int, key_count: int) -> None:
    snap = stats.snapshot()
    total = snap.total
    want = expected_after(n_calls, key_count)
    assert len(snap.by_key) == want["keys"]
    for name in ("calls", "attempts", "retries", "successes", "failures", "output_tokens"):
        assert getattr(total, name) == want[name], name
    assert dict(total.failures_by_status) == {"503": 2 * n_calls}
    single = stats.prices.cost("gpt-5", GPT5)
    assert total.cost_usd == float(single * n_calls)


def test_64_threads_by_50_calls_count_exactly() -> None:
    stats = StatsCollector()
    barrier = threading.Barrier(64)

    def worker(i: int) -> None:
        key = f"key-{i % 8}"
        barrier.wait()
        for _ in range(50):
            one_call(stats, key, retries=2, ok=True, elapsed=0.01 * (i + 1))
            stats.usage(key, "gpt-5", GPT5)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(64)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    check_exact(stats, 64 * 50, 8)


async def test_1000_asyncio_tasks_count_exactly() -> None:
    stats = StatsCollector()

    async def task(i: int) -> None:
        key = f"key-{i % 10}"
        stats.call_started(key)
        stats.attempt(key, retry=False)
        for _ in range(2):
            await asyncio.sleep(0)  # interleave the tasks between reports
            stats.failure(key, Failure(kind="status", status=503, code="server_error"))
            stats.attempt(key, retry=True)
        await asyncio.sleep(0)
        stats.usage(key, "gpt-5", GPT5)
        stats.call_finished(key, ok=True, elapsed_s=0.001 * i)

    await asyncio.gather(*(task(i) for i in range(1000)))
    check_exact(stats, 1000, 10)


def test_memory_per_key_does_not_grow_with_observations() -> None:
    stats = StatsCollector()
    for i in range(20_000):
        stats.call_finished("k", ok=True, elapsed_s=(i % 997) * 0.013 + 1e-4)
    state = stats._keys["k"]
    assert state.latency.bins <= 2048
    assert state.latency.count == 20_000
