"""Rolling cost budgets: hourly and daily limits in USD, a warning threshold, a hard stop.

Spending is counted in integer atto-dollars in minute buckets (see ``_cost``), so totals are
exact under any concurrency.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Literal

from ._checks import check_bool
from ._cost import _atto_to_float, _to_atto
from .exceptions import BudgetExceededError

__all__ = ["BudgetWarning", "BudgetWindow", "CostBudget"]

BudgetWindow = Literal["hourly", "daily"]


@dataclass(frozen=True, slots=True)
class BudgetWarning:
    """A cost budget window crossed a threshold.

    Attributes:
        window: ``"hourly"`` or ``"daily"``.
        threshold: the fraction of the limit crossed: ``warn_at`` (e.g. 0.8) or ``1.0``.
        limit_usd: the window's limit.
        spent_usd: spent in the window when it was crossed.
    """

    window: BudgetWindow
    threshold: float
    limit_usd: float
    spent_usd: float

    @property
    def exceeded(self) -> bool:
        """``True`` when this is the 100% crossing."""
        return self.threshold >= 1.0


class _Window:
    """Minute buckets of one sliding window: at most ``span`` buckets, an exact int total."""

    __slots__ = (
        "buckets",
        "level",
        "limit",
        "limit_atto",
        "name",
        "span",
        "thresholds",
        "total",
    )

    def __init__(self, name: BudgetWindow, span: int, limit: float | None, warn_at: float) -> None:
        self.name: BudgetWindow = name
        self.span = span
        self.buckets: deque[list[int]] = deque()  # [minute, atto]
        self.total = 0
        self.limit = limit
        self.limit_atto = None if limit is None else _to_atto(limit)
        # (threshold fraction, atto-dollars at which it is crossed), ascending.
        self.thresholds: tuple[tuple[float, int], ...] = ()
        if self.limit_atto is not None:
            limit_atto = self.limit_atto
            warn_atto = math.ceil(Fraction(Decimal(repr(warn_at))) * limit_atto)
            marks = {warn_atto: warn_at, limit_atto: 1.0}  # warn_at == 1 gives one mark
            self.thresholds = tuple(sorted(((f, a) for a, f in marks.items()), key=lambda t: t[1]))
        self.level = 0  # how many thresholds the current total has reached

    def evict(self, minute: int) -> None:
        oldest = minute - self.span + 1
        buckets = self.buckets
        while buckets and buckets[0][0] < oldest:
            self.total -= buckets.popleft()[1]

    def add(self, minute: int, atto: int) -> None:
        buckets = self.buckets
        if buckets and buckets[-1][0] == minute:
            buckets[-1][1] += atto
        else:
            buckets.append([minute, atto])
        self.total += atto

    def crossed(self) -> list[BudgetWarning]:
        """Warnings for thresholds newly reached; re-arms those the total fell back under."""
        level = 0
        for _, atto in self.thresholds:
            if self.total >= atto:
                level += 1
        new: list[BudgetWarning] = []
        if level > self.level and self.limit is not None:
            spent = _atto_to_float(self.total)
            new.extend(
                BudgetWarning(self.name, fraction, self.limit, spent)
                for fraction, _ in self.thresholds[self.level : level]
            )
        self.level = level
        return new

    def exhausted(self) -> bool:
        return bool(self.thresholds) and self.total >= self.thresholds[-1][1]


def _check_limit(name: str, value: float | None) -> None:
    if value is None:
        return
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(f"{name} must be a positive finite number of USD or None, got {value!r}")


class CostBudget:
    """Rolling hourly and daily spending limits.

    Spend is kept in one-minute buckets (bounded memory: at most 60 + 1,440 buckets, however
    many requests), so the hourly window is the current minute and the 59 before it, and the
    daily window the current minute and the 1,439 before it. Sums are exact (integer
    atto-dollars) and never negative. Thread-safe.

    :meth:`record` returns the warnings newly crossed: once at ``warn_at`` of a limit and
    once at 100%, again only after the window's spend has fallen back under the threshold.
    With ``hard=True``, :meth:`check` (which the engine calls before sending a request)
    raises :class:`~resilient_responses.exceptions.BudgetExceededError` while a window is
    spent. A clock that steps backwards is treated as standing still.

    >>> t = [0.0]
    >>> budget = CostBudget(hourly=5.0, daily=50.0, hard=True, clock=lambda: t[0])
    >>> [w.threshold for w in budget.record(4.0)]
    [0.8]
    >>> [w.threshold for w in budget.record(1.0)]
    [1.0]
    >>> budget.remaining("hourly")
    0.0
    >>> t[0] += 3600
    >>> budget.check()  # the hour has rolled over
    """

    __slots__ = ("_clock", "_daily", "_hard", "_hourly", "_lock", "_newest", "_warn_at")

    def __init__(
        self,
        hourly: float | None = None,
        daily: float | None = None,
        *,
        warn_at: float = 0.8,
        hard: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        _check_limit("hourly", hourly)
        _check_limit("daily", daily)
        if hourly is None and daily is None:
            raise ValueError("hourly and daily are both None: set at least one limit")
        if (
            isinstance(warn_at, bool)
            or not isinstance(warn_at, (int, float))
            or not 0.0 < warn_at <= 1.0
        ):
            raise ValueError(f"warn_at must be a fraction in (0, 1], got {warn_at!r}")
        if not callable(clock):
            raise TypeError(f"clock must be a callable returning seconds, got {clock!r}")
        self._warn_at = float(warn_at)
        self._hard = check_bool("hard", hard)
        self._clock = clock
        self._lock = threading.Lock()
        self._hourly = _Window("hourly", 60, hourly, self._warn_at)
        self._daily = _Window("daily", 1440, daily, self._warn_at)
        self._newest: int | None = None

    @property
    def hourly(self) -> float | None:
        """The hourly limit in USD (``None``: unlimited)."""
        return self._hourly.limit

    @property
    def daily(self) -> float | None:
        """The daily limit in USD (``None``: unlimited)."""
        return self._daily.limit

    @property
    def hard(self) -> bool:
        """Whether :meth:`check` raises once a window is spent."""
        return self._hard

    @property
    def warn_at(self) -> float:
        """The warning threshold, as a fraction of each limit."""
        return self._warn_at

    def record(self, cost_usd: float | Decimal, now: float | None = None) -> list[BudgetWarning]:
        """Add a cost; return the warnings it newly crossed (usually none).

        Raises:
            ValueError: for a negative, NaN or infinite cost.
        """
        if isinstance(cost_usd, Decimal):
            if not cost_usd.is_finite() or cost_usd < 0:
                raise ValueError(f"cost_usd must be a finite number >= 0, got {cost_usd!r}")
        elif (
            isinstance(cost_usd, bool)
            or not isinstance(cost_usd, (int, float))
            or not math.isfinite(cost_usd)
            or cost_usd < 0
        ):
            raise ValueError(f"cost_usd must be a finite number >= 0, got {cost_usd!r}")
        atto = _to_atto(cost_usd)
        with self._lock:
            minute = self._advance(now)
            warnings: list[BudgetWarning] = []
            for window in (self._hourly, self._daily):
                window.add(minute, atto)
                warnings.extend(window.crossed())
            return warnings

    def check(self, now: float | None = None) -> None:
        """Raise when ``hard`` and a window is spent; call before sending a request.

        Raises:
            BudgetExceededError: with the window name, its limit and what was spent.
        """
        if not self._hard:
            return
        with self._lock:
            self._advance(now)
            for window in (self._hourly, self._daily):
                if window.limit is not None and window.exhausted():
                    raise BudgetExceededError(
                        window.name, window.limit, _atto_to_float(window.total)
                    )

    def spent(self, window: BudgetWindow, now: float | None = None) -> float:
        """USD spent in the sliding *window* (``"hourly"`` or ``"daily"``)."""
        w = self._window(window)
        with self._lock:
            self._advance(now)
            return _atto_to_float(w.total)

    def remaining(self, window: BudgetWindow, now: float | None = None) -> float:
        """USD left in *window* before its limit (never negative; ``inf`` when unlimited)."""
        w = self._window(window)
        if w.limit_atto is None:
            return math.inf
        with self._lock:
            self._advance(now)
            return _atto_to_float(max(0, w.limit_atto - w.total))

    def level(self, now: float | None = None) -> float:
        """The largest spent/limit ratio over the limited windows (0.0 = nothing spent)."""
        with self._lock:
            self._advance(now)
            return max(
                w.total / w.limit_atto
                for w in (self._hourly, self._daily)
                if w.limit_atto is not None
            )

    def _window(self, name: str) -> _Window:
        if name == "hourly":
            return self._hourly
        if name == "daily":
            return self._daily
        raise ValueError(f"window must be 'hourly' or 'daily', got {name!r}")

    def _advance(self, now: float | None) -> int:
        # Called with the lock held: evicts expired buckets and re-arms warnings.
        t = self._clock() if now is None else now
        if not math.isfinite(t):
            raise ValueError(f"now must be a finite number of seconds, got {t!r}")
        minute = math.floor(t / 60.0)
        if self._newest is not None and minute < self._newest:
            minute = self._newest
        self._newest = minute
        for window in (self._hourly, self._daily):
            window.evict(minute)
            window.crossed()  # re-arm thresholds the window fell back under
        return minute

    def __repr__(self) -> str:
        return (
            f"CostBudget(hourly={self.hourly!r}, daily={self.daily!r}, "
            f"warn_at={self._warn_at!r}, hard={self._hard!r})"
        )
