"""Token prices and the cost of a response (rolling cost budgets: ``_cost_budget``).

Money is counted exactly: prices and costs are converted to integer *atto-dollars*
(1e-18 USD) internally, so sums over any number of threads are exact and do not depend on
the order in which they were added. Floats appear only at the edges (``float`` results of
:meth:`CostBudget.spent`, ``Stats.cost_usd``); :meth:`PriceTable.cost` returns an exact
:class:`~decimal.Decimal`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from decimal import Decimal
from fractions import Fraction
from types import MappingProxyType
from typing import Any

from openai.types.responses import Response

__all__ = [
    "ModelPrice",
    "PriceTable",
    "Quote",
    "Usage",
    "usage_from",
]

#: Atto-dollars per dollar. A price in USD per 1M tokens times 1e12 is atto-dollars per token.
_ATTO = 10**18
_PER_TOKEN_SCALE = 10**12


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


def _checked_usage(input_tokens: int, cached: int, output_tokens: int, reasoning: int) -> Usage:
    """A :class:`Usage` of counts already checked by :func:`_count` (ints >= 0): built
    without running the checks again (once per response, on the hot path)."""
    usage = object.__new__(Usage)
    _set_field(usage, "input_tokens", input_tokens)
    _set_field(usage, "cached_input_tokens", cached)
    _set_field(usage, "output_tokens", output_tokens)
    _set_field(usage, "reasoning_tokens", reasoning)
    return usage


_set_field = object.__setattr__


def _count(value: object) -> int:
    """A token count from untrusted data: a non-negative int, else 0."""
    if type(value) is int:  # the hot path: what the SDK parsed
        return value if value >= 0 else 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return 0
    return int(value)


_MISSING = object()
#: How many prefix matches a price table remembers (model names seen are few).
_MATCHES_KEPT = 256


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
        return _checked_usage(
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
    if type(obj) is Response:  # the hot path: one per call
        return None if obj.usage is None else _usage_record(obj.usage)
    if isinstance(obj, Usage):
        return obj
    # Anything else with a usage next (a ParsedResponse, a dict): asking a pydantic model
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

    __slots__ = ("_atto", "_by_length", "_matched", "_prices")

    def __init__(self, prices: Mapping[str, ModelPrice] | None = None) -> None:
        merged = _default_prices()
        for name, price in (prices or {}).items():
            if not isinstance(name, str) or not name:
                raise ValueError(f"prices keys must be non-empty model names, got {name!r}")
            if not isinstance(price, ModelPrice):
                raise TypeError(f"prices[{name!r}] must be a ModelPrice, got {price!r}")
            merged[name] = price
        self._prices: Mapping[str, ModelPrice] = MappingProxyType(merged)
        #: Model names priced by a prefix (dated snapshots), as matched before.
        self._matched: dict[str, str | None] = {}
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
        if model in self._matched:
            return self._matched[model]
        found = next((name for name in self._by_length if model.startswith(name)), None)
        if len(self._matched) < _MATCHES_KEPT:  # a table is immutable: what matched stays
            self._matched[model] = found
        return found

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
        inputs, cached_inputs = usage.input_tokens, usage.cached_input_tokens
        if cached_inputs > inputs:
            cached_inputs = inputs
        return (
            (inputs - cached_inputs) * uncached
            + cached_inputs * cached
            + usage.output_tokens * output,
            True,
        )

    def __repr__(self) -> str:
        return f"PriceTable({dict(self._prices)!r})"
