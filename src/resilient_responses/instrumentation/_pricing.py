"""Token prices, the cost of a response, and rolling cost budgets.

Money is counted exactly: prices and costs are converted to integer *atto-dollars*
(1e-18 USD) internally, so sums over any number of threads are exact and do not depend on
the order in which they were added. Floats appear only at the edges (``float`` results of
:meth:`CostBudget.spent`, ``Stats.cost_usd``); :meth:`PriceTable.cost` returns an exact
:class:`~decimal.Decimal`.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from decimal import Decimal
from fractions import Fraction
from types import MappingProxyType
from typing import Any, Literal

from ..exceptions import BudgetExceededError

__all__ = [
    "BudgetWarning",
    "CostBudget",
    "ModelPrice",
    "PriceTable",
    "Quote",
    "Usage",
    "usage_from",
]

#: Atto-dollars per dollar. A price in USD per 1M tokens times 1e12 is atto-dollars per token.
_ATTO = 10**18
_PER_TOKEN_SCALE = 10**12

BudgetWindow = Literal["hourly", "daily"]


def _to_atto(value: float | Decimal, scale: int = _ATTO) -> int:
    """Exact ``value * scale`` as an int, reading floats by their shortest repr ("0.15")."""
    exact = value if isinstance(value, Decimal) else Decimal(repr(float(value)))
    return round(Fraction(exact) * scale)


def _atto_to_decimal(atto: int) -> Decimal:
    # Built from a string, which is exact and ignores the thread's decimal context
    # (``normalize()`` would round to the context's precision).
    if atto == 0:
        return Decimal(0)
    exponent = -18
    while exponent < 0 and atto % 10 == 0:
        atto //= 10
        exponent += 1
    return Decimal(f"{atto}E{exponent}")


def _atto_to_float(atto: int) -> float:
    return atto / _ATTO  # int / int is correctly rounded


def _check_price(name: str, value: object) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
    ):
        raise ValueError(f"{name} must be a finite number >= 0 (USD per 1M tokens), got {value!r}")


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """Prices of one model, in USD per 1M tokens.

    >>> ModelPrice(input=1.25, cached_input=0.125, output=10.0)
    ModelPrice(input=1.25, cached_input=0.125, output=10.0)

    Raises:
        ValueError: naming the field, when a price is negative, NaN, infinite or not a number.
    """

    input: float
    cached_input: float
    output: float

    def __post_init__(self) -> None:
        for f in fields(self):
            _check_price(f.name, getattr(self, f.name))


def _default_prices() -> dict[str, ModelPrice]:
    # August 2025 list prices quoted by the article the project grew from. It gives no
    # cached-input price for gpt-4o / gpt-4o-mini, so cached input is billed at the full
    # input price there (the conservative choice: never under-count spend).
    return {
        "gpt-5": ModelPrice(input=1.25, cached_input=0.125, output=10.00),
        "gpt-5-mini": ModelPrice(input=0.25, cached_input=0.025, output=2.50),
        "gpt-4o": ModelPrice(input=2.50, cached_input=2.50, output=10.00),
        "gpt-4o-mini": ModelPrice(input=0.15, cached_input=0.15, output=0.60),
    }


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens used by one response.

    ``input_tokens`` includes ``cached_input_tokens``; ``output_tokens`` includes
    ``reasoning_tokens`` (that is how the API reports them, and how they are billed).

    >>> u = Usage(input_tokens=1000, cached_input_tokens=200, output_tokens=50)
    >>> (u + u).input_tokens
    2000
    """

    input_tokens: int = 0
    cached_input_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0

    def __post_init__(self) -> None:
        # Spelled out rather than looping over dataclasses.fields(): this runs once per
        # response on the hot path.
        for name, value in (
            ("input_tokens", self.input_tokens),
            ("cached_input_tokens", self.cached_input_tokens),
            ("output_tokens", self.output_tokens),
            ("reasoning_tokens", self.reasoning_tokens),
        ):
            if type(value) is not int or value < 0:
                raise ValueError(f"{name} must be an int >= 0, got {value!r}")

    @property
    def uncached_input_tokens(self) -> int:
        """Input tokens billed at the full input price."""
        return max(0, self.input_tokens - self.cached_input_tokens)

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        if not isinstance(other, Usage):
            return NotImplemented
        return Usage(
            self.input_tokens + other.input_tokens,
            self.cached_input_tokens + other.cached_input_tokens,
            self.output_tokens + other.output_tokens,
            self.reasoning_tokens + other.reasoning_tokens,
        )


def _count(value: object) -> int:
    """A token count from untrusted data: a non-negative int, else 0."""
    if type(value) is int:  # the hot path: what the SDK parsed
        return value if value >= 0 else 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return 0
    return int(value)


_MISSING = object()


def _get(obj: object, name: str) -> Any:
    # Attribute first: SDK models are the hot path, and an ABC isinstance check costs
    # more than the attribute read.
    if type(obj) is dict:
        return obj.get(name)
    value = getattr(obj, name, _MISSING)
    if value is not _MISSING:
        return value
    if isinstance(obj, Mapping):
        return obj.get(name)
    return None


def _usage_record(raw: object) -> Usage:
    if type(raw) is not dict and not isinstance(raw, Mapping):
        # An SDK ResponseUsage (the hot path, once per call): plain attribute reads.
        details = getattr(raw, "input_tokens_details", None)
        output_details = getattr(raw, "output_tokens_details", None)
        return Usage(
            _count(getattr(raw, "input_tokens", 0)),
            _count(getattr(details, "cached_tokens", 0)),
            _count(getattr(raw, "output_tokens", 0)),
            _count(getattr(output_details, "reasoning_tokens", 0)),
        )
    cached = _get(_get(raw, "input_tokens_details"), "cached_tokens")
    reasoning = _get(_get(raw, "output_tokens_details"), "reasoning_tokens")
    return Usage(
        input_tokens=_count(_get(raw, "input_tokens")),
        cached_input_tokens=_count(cached),
        output_tokens=_count(_get(raw, "output_tokens")),
        reasoning_tokens=_count(reasoning),
    )


def _looks_like_usage(obj: object) -> bool:
    if isinstance(obj, Mapping):
        return "input_tokens" in obj or "output_tokens" in obj
    return hasattr(obj, "input_tokens") or hasattr(obj, "output_tokens")


def usage_from(obj: object) -> Usage | None:
    """The token usage carried by a response, a terminal stream event, or a dict.

    Accepts an ``openai.types.responses.Response`` (its ``usage``), a ``response.completed``
    / ``response.incomplete`` / ``response.failed`` event (``event.response.usage``), a
    ``ResponseUsage``, a :class:`Usage`, or the same shapes as dicts. Returns ``None`` when
    there is no usage (a non-terminal event, a response still in progress). Missing or
    ``None`` counts inside a usage object read as 0; it never raises.

    >>> usage_from({"usage": {"input_tokens": 10, "output_tokens": 3,
    ...                       "input_tokens_details": {"cached_tokens": 4}}})
    Usage(input_tokens=10, cached_input_tokens=4, output_tokens=3, reasoning_tokens=0)
    >>> usage_from({"type": "response.output_text.delta", "delta": "hi"}) is None
    True
    """
    if obj is None:
        return None
    if isinstance(obj, Usage):
        return obj
    # A Response first: it is the hot path (one per call), and asking a pydantic model
    # for an attribute it lacks costs an exception.
    usage = _get(obj, "usage")
    if usage is not None:
        return _usage_record(usage) if _looks_like_usage(usage) else None
    if _looks_like_usage(obj):
        return _usage_record(obj)
    response = _get(obj, "response")
    if response is not None:
        usage = _get(response, "usage")
        if usage is not None and _looks_like_usage(usage):
            return _usage_record(usage)
    return None


@dataclass(frozen=True, slots=True)
class Quote:
    """The price of one usage under a :class:`PriceTable`.

    Attributes:
        cost_usd: the exact cost (``Decimal("0")`` for an unknown model).
        priced: ``False`` when the model has no price (log it once; the cost is 0).
        matched: the table entry used (``"gpt-5-mini"`` for ``"gpt-5-mini-2025-08-07"``).
    """

    cost_usd: Decimal
    priced: bool
    matched: str | None


class PriceTable:
    """Per-model token prices, looked up by exact name, then by longest prefix.

    The defaults are the August 2025 list prices (USD per 1M tokens): gpt-5 1.25 / cached
    0.125 / output 10.00; gpt-5-mini 0.25 / 0.025 / 2.50; gpt-4o 2.50 / output 10.00;
    gpt-4o-mini 0.15 / output 0.60. No cached-input price was given for the gpt-4o family,
    so cached input is billed at the full input price there; override it if you know
    better. Entries in *prices* override and extend the defaults.

    Cached input tokens are billed at the cached price only (``input_tokens`` already
    includes them); reasoning tokens are part of ``output_tokens`` and are not billed twice.

    Prices are read as their decimal literal (``0.15`` is exactly 15 cents) and kept exact
    to 12 decimal places (1e-12 USD per 1M tokens); finer digits are rounded. Immutable and
    thread-safe.

    >>> table = PriceTable({"my-model": ModelPrice(1.0, 0.5, 2.0)})
    >>> table.cost("gpt-5-mini-2025-08-07", Usage(input_tokens=1_000_000, output_tokens=0))
    Decimal('0.25')
    >>> table.quote("unknown-model", Usage(output_tokens=10)).priced
    False
    """

    __slots__ = ("_atto", "_by_length", "_prices")

    def __init__(self, prices: Mapping[str, ModelPrice] | None = None) -> None:
        merged = _default_prices()
        for name, price in (prices or {}).items():
            if not isinstance(name, str) or not name:
                raise ValueError(f"prices keys must be non-empty model names, got {name!r}")
            if not isinstance(price, ModelPrice):
                raise TypeError(f"prices[{name!r}] must be a ModelPrice, got {price!r}")
            merged[name] = price
        self._prices: Mapping[str, ModelPrice] = MappingProxyType(merged)
        # Atto-dollars per token, precomputed: (uncached input, cached input, output).
        self._atto: Mapping[str, tuple[int, int, int]] = MappingProxyType(
            {
                name: (
                    _to_atto(p.input, _PER_TOKEN_SCALE),
                    _to_atto(p.cached_input, _PER_TOKEN_SCALE),
                    _to_atto(p.output, _PER_TOKEN_SCALE),
                )
                for name, p in merged.items()
            }
        )
        self._by_length = tuple(sorted(merged, key=len, reverse=True))

    @property
    def prices(self) -> Mapping[str, ModelPrice]:
        """All entries (defaults merged with overrides), read-only."""
        return self._prices

    def match(self, model: str | None) -> str | None:
        """The entry name that prices *model*: exact name, else the longest prefix."""
        if not model:
            return None
        if model in self._prices:
            return model
        for name in self._by_length:
            if model.startswith(name):
                return name
        return None

    def lookup(self, model: str | None) -> ModelPrice | None:
        """The price of *model*, or ``None`` when the table does not know it."""
        name = self.match(model)
        return None if name is None else self._prices[name]

    def cost(self, model: str | None, usage: Usage) -> Decimal:
        """The exact cost in USD of *usage* on *model* (0 for an unknown model)."""
        return _atto_to_decimal(self._cost_atto(model, usage)[0])

    def quote(self, model: str | None, usage: Usage) -> Quote:
        """Like :meth:`cost`, and says whether (and by which entry) the model was priced."""
        name = self.match(model)
        atto, _ = self._cost_atto(model, usage, name)
        return Quote(cost_usd=_atto_to_decimal(atto), priced=name is not None, matched=name)

    def _cost_atto(
        self, model: str | None, usage: Usage, name: str | None = None
    ) -> tuple[int, bool]:
        if name is None:
            name = self.match(model)
            if name is None:
                return 0, False
        uncached, cached, output = self._atto[name]
        return (
            usage.uncached_input_tokens * uncached
            + min(usage.cached_input_tokens, usage.input_tokens) * cached
            + usage.output_tokens * output,
            True,
        )

    def __repr__(self) -> str:
        return f"PriceTable({dict(self._prices)!r})"


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
        self._hard = bool(hard)
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
