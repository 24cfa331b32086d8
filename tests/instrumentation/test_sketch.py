"""QuantileSketch: relative accuracy, exact merges, bounded memory."""

from __future__ import annotations

import math
import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from resilient_responses.instrumentation import QuantileSketch

ALPHA = 0.01
latencies = st.floats(min_value=1e-6, max_value=1e5, allow_nan=False, allow_infinity=False)
samples = st.lists(latencies, min_size=2, max_size=300)
quantiles = st.sampled_from([0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99])


def sketch_of(values: list[float], **kwargs: object) -> QuantileSketch:
    sketch = QuantileSketch(**kwargs)  # type: ignore[arg-type]
    for v in values:
        sketch.add(v)
    return sketch


@given(samples, quantiles)
def test_quantile_is_within_relative_accuracy_of_statistics_quantiles(
    values: list[float], q: float
) -> None:
    estimate = sketch_of(values).quantile(q)
    assert estimate is not None
    ordered = sorted(values)
    rank = q * (len(values) - 1)
    lo, hi = ordered[math.floor(rank)], ordered[math.ceil(rank)]
    # statistics.quantiles interpolates between the two order statistics around the rank...
    exact = statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]
    assert lo <= exact * (1 + 1e-12)
    assert exact <= hi * (1 + 1e-12)
    # ...the sketch answers the lower one, within its stated relative accuracy.
    assert abs(estimate - lo) <= ALPHA * lo * (1 + 1e-9)
    assert lo * (1 - ALPHA) <= estimate <= hi * (1 + ALPHA)


@given(samples, samples, quantiles)
def test_merging_two_sketches_equals_one_sketch_of_all_values(
    a: list[float], b: list[float], q: float
) -> None:
    merged = sketch_of(a)
    merged.merge(sketch_of(b))
    whole = sketch_of(a + b)
    assert merged.count == whole.count == len(a) + len(b)
    assert merged.quantile(q) == whole.quantile(q)


@given(samples, samples)
def test_merge_is_commutative(a: list[float], b: list[float]) -> None:
    ab, ba = sketch_of(a), sketch_of(b)
    ab.merge(sketch_of(b))
    ba.merge(sketch_of(a))
    for q in (0.0, 0.5, 0.95, 1.0):
        assert ab.quantile(q) == ba.quantile(q)


@given(samples)
def test_quantile_zero_and_one_are_the_exact_min_and_max(values: list[float]) -> None:
    sketch = sketch_of(values)
    assert sketch.quantile(0.0) == min(values)
    assert sketch.quantile(1.0) == max(values)
    assert sketch.sum == pytest.approx(sum(values))


def test_memory_does_not_grow_with_the_number_of_observations() -> None:
    sketch = QuantileSketch(max_bins=64)
    for i in range(20_000):
        sketch.add(1.0001 ** (i % 5000) * (10.0 ** (i % 13 - 6)))
        assert sketch.bins <= 64 + 1
    assert sketch.count == 20_000


def test_collapsing_low_buckets_keeps_high_quantiles_accurate() -> None:
    values = [10.0 ** (k / 10) for k in range(-120, 121)]  # 24 decades: more than 64 bins
    sketch = sketch_of(values, max_bins=64)
    assert sketch.bins <= 65
    ordered = sorted(values)
    for q in (0.9, 0.95, 0.99):
        truth = ordered[math.floor(q * (len(values) - 1))]
        estimate = sketch.quantile(q)
        assert estimate is not None
        assert abs(estimate - truth) <= ALPHA * truth


def test_zero_values_are_counted_and_reported_as_zero() -> None:
    sketch = sketch_of([0.0, 0.0, 0.0, 5.0])
    assert sketch.quantile(0.5) == 0.0
    assert sketch.count == 4


def test_empty_sketch_has_no_quantiles() -> None:
    sketch = QuantileSketch()
    assert sketch.quantile(0.5) is None
    assert sketch.count == 0


@pytest.mark.parametrize("bad", [-1.0, math.nan, math.inf])
def test_add_rejects_negative_nan_and_infinite_values(bad: float) -> None:
    with pytest.raises(ValueError, match="finite and >= 0"):
        QuantileSketch().add(bad)


@pytest.mark.parametrize("q", [-0.1, 1.1, math.nan])
def test_quantile_rejects_q_outside_zero_one(q: float) -> None:
    with pytest.raises(ValueError, match=r"q must be in \[0, 1\]"):
        sketch_of([1.0]).quantile(q)


@pytest.mark.parametrize("accuracy", [0.0, 1.0, -0.5, math.nan])
def test_constructor_rejects_accuracy_outside_zero_one(accuracy: float) -> None:
    with pytest.raises(ValueError, match="relative_accuracy"):
        QuantileSketch(accuracy)


def test_constructor_rejects_tiny_max_bins() -> None:
    with pytest.raises(ValueError, match="max_bins"):
        QuantileSketch(max_bins=2)


def test_merge_rejects_sketches_of_different_accuracy() -> None:
    with pytest.raises(ValueError, match="different relative accuracy"):
        QuantileSketch(0.01).merge(sketch_of([1.0], relative_accuracy=0.02))


def test_copy_is_independent_of_the_original() -> None:
    original = sketch_of([1.0, 2.0])
    clone = original.copy()
    clone.add(100.0)
    assert original.count == 2
    assert clone.count == 3
