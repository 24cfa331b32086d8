"""Bounded-memory streaming quantiles: a log-bucketed histogram in the manner of DDSketch.

Each positive value ``x`` falls in the bucket ``k = ceil(log_gamma(x))`` with
``gamma = (1 + a) / (1 - a)``; the bucket's representative ``2 * gamma**k / (gamma + 1)`` is
within relative error ``a`` of every value in ``(gamma**(k-1), gamma**k]``. So a quantile
estimate is within ``a`` (1% by default) of the true order statistic, whatever the
distribution, and merging two sketches is adding their bucket counts: exact, associative,
commutative.

Memory does not grow with the number of observations: at most ``max_bins`` buckets (plus a
zero bucket). With the default 1% accuracy, 2,048 buckets span a ratio of about 6e17 between
the smallest and the largest value, far more than latencies need; beyond that the lowest
buckets are collapsed into one (the low quantiles lose accuracy, the high ones never do).
"""

from __future__ import annotations

import math

__all__ = ["QuantileSketch"]

#: Values at or below this are counted in the zero bucket (``log`` of them is meaningless).
_MIN_INDEXABLE = 1e-12


class QuantileSketch:
    """Streaming quantile estimator with relative accuracy and bounded memory.

    Not thread-safe on its own: the owner (for example
    :class:`~resilient_responses.instrumentation.StatsCollector`) serialises access.

    >>> s = QuantileSketch()
    >>> for ms in range(1, 101):
    ...     s.add(ms / 1000)
    >>> s.count
    100
    >>> abs(s.quantile(0.5) - 0.050) <= 0.01 * 0.050
    True
    """

    __slots__ = (
        "_bins",
        "_count",
        "_floor",
        "_gamma",
        "_log_gamma",
        "_max",
        "_max_bins",
        "_min",
        "_relative_accuracy",
        "_sum",
        "_zero",
    )

    def __init__(self, relative_accuracy: float = 0.01, *, max_bins: int = 2048) -> None:
        if not (isinstance(relative_accuracy, (int, float)) and 0.0 < relative_accuracy < 1.0):
            raise ValueError(
                f"relative_accuracy must be a number in (0, 1), got {relative_accuracy!r}"
            )
        if isinstance(max_bins, bool) or not isinstance(max_bins, int) or max_bins < 16:
            raise ValueError(f"max_bins must be an int >= 16, got {max_bins!r}")
        self._relative_accuracy = float(relative_accuracy)
        self._gamma = (1.0 + relative_accuracy) / (1.0 - relative_accuracy)
        self._log_gamma = math.log(self._gamma)
        self._max_bins = max_bins
        self._bins: dict[int, int] = {}
        # Lowest bucket index kept; smaller indices were collapsed into it.
        self._floor: int | None = None
        self._zero = 0
        self._count = 0
        self._sum = 0.0
        self._min = math.inf
        self._max = -math.inf

    @property
    def relative_accuracy(self) -> float:
        """The guaranteed relative error of :meth:`quantile` (e.g. ``0.01``)."""
        return self._relative_accuracy

    @property
    def count(self) -> int:
        """How many values were added (including merged ones)."""
        return self._count

    @property
    def sum(self) -> float:
        """The sum of all values added."""
        return self._sum

    @property
    def bins(self) -> int:
        """How many buckets are in use (never more than ``max_bins``, plus the zero bucket)."""
        return len(self._bins) + (1 if self._zero else 0)

    def add(self, value: float) -> None:
        """Record one observation: a finite, non-negative number.

        Raises:
            ValueError: for a negative, NaN or infinite value.
        """
        if not (value >= 0.0 and value != math.inf):  # also rejects NaN
            raise ValueError(f"QuantileSketch values must be finite and >= 0, got {value!r}")
        self._count += 1
        self._sum += value
        if value < self._min:
            self._min = value
        if value > self._max:
            self._max = value
        if value <= _MIN_INDEXABLE:
            self._zero += 1
            return
        key = math.ceil(math.log(value) / self._log_gamma)
        if self._floor is not None and key < self._floor:
            key = self._floor
        bins = self._bins
        if key in bins:
            bins[key] += 1
        else:
            bins[key] = 1
            self._bound()

    def merge(self, other: QuantileSketch) -> None:
        """Add every observation of *other* into this sketch (in place; *other* unchanged).

        Raises:
            ValueError: when the two sketches have different relative accuracies.
        """
        if other._relative_accuracy != self._relative_accuracy:
            raise ValueError(
                "cannot merge sketches of different relative accuracy "
                f"({self._relative_accuracy} and {other._relative_accuracy})"
            )
        if other._count == 0:
            return
        bins = self._bins
        floor = self._floor
        if other._floor is not None and (floor is None or other._floor > floor):
            floor = other._floor
        for key, n in other._bins.items():
            k = key if floor is None or key >= floor else floor
            bins[k] = bins.get(k, 0) + n
        if floor is not None and floor != self._floor:
            self._collapse_below(floor)
        self._zero += other._zero
        self._count += other._count
        self._sum += other._sum
        self._min = min(self._min, other._min)
        self._max = max(self._max, other._max)
        self._bound()

    def copy(self) -> QuantileSketch:
        """An independent copy (same accuracy and bound)."""
        clone = QuantileSketch(self._relative_accuracy, max_bins=self._max_bins)
        clone.merge(self)
        return clone

    def quantile(self, q: float) -> float | None:
        """Estimate the *q*-quantile (``0 <= q <= 1``); ``None`` when the sketch is empty.

        The estimate is within ``relative_accuracy`` of the order statistic at rank
        ``floor(q * (count - 1))``; ``quantile(0)`` and ``quantile(1)`` are the exact
        minimum and maximum.

        Raises:
            ValueError: when *q* is outside ``[0, 1]``.
        """
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"q must be in [0, 1], got {q!r}")
        if self._count == 0:
            return None
        if q == 0.0:
            return self._min
        if q == 1.0:
            return self._max
        rank = q * (self._count - 1)
        seen = self._zero
        if seen > rank:
            return self._min if self._min <= _MIN_INDEXABLE else 0.0
        for key in sorted(self._bins):
            seen += self._bins[key]
            if seen > rank:
                estimate = 2.0 * self._gamma**key / (self._gamma + 1.0)
                # The true value lies within [min, max]; clamping only moves the estimate
                # closer to it.
                return min(max(estimate, self._min), self._max)
        return self._max  # pragma: no cover - counts always add up to count

    def _bound(self) -> None:
        bins = self._bins
        if len(bins) <= self._max_bins:
            return
        keys = sorted(bins)
        # Collapse an extra eighth so that a steadily growing maximum does not pay a
        # collapse on every new bucket.
        new_floor = keys[len(keys) - self._max_bins + self._max_bins // 8]
        self._collapse_below(new_floor)

    def _collapse_below(self, floor: int) -> None:
        bins = self._bins
        moved = 0
        for key in [k for k in bins if k < floor]:
            moved += bins.pop(key)
        if moved:
            bins[floor] = bins.get(floor, 0) + moved
        self._floor = floor

    def __repr__(self) -> str:
        return (
            f"QuantileSketch(relative_accuracy={self._relative_accuracy}, "
            f"count={self._count}, bins={self.bins})"
        )
