"""Prices, exact costs, usage extraction and rolling cost budgets."""

from __future__ import annotations

import math
import threading
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from openai.types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseCreatedEvent,
    ResponseFailedEvent,
    ResponseIncompleteEvent,
    ResponseTextDeltaEvent,
    ResponseUsage,
)

from resilient_responses.exceptions import BudgetExceededError
from resilient_responses.instrumentation import (
    CostBudget,
    ModelPrice,
    PriceTable,
    Usage,
    usage_from,
)
from resilient_responses.instrumentation._stats import StatsCollector

# -- ModelPrice / PriceTable -------------------------------------------------------------


@pytest.mark.parametrize("field", ["input", "cached_input", "output"])
@pytest.mark.parametrize("bad", [-0.01, math.nan, math.inf, "1.0", None, True])
def test_model_price_rejects_invalid_values_naming_the_field(field: str, bad: object) -> None:
    values: dict[str, Any] = {"input": 1.0, "cached_input": 0.5, "output": 2.0, field: bad}
    with pytest.raises(ValueError, match=f"^{field} must be"):
        ModelPrice(**values)


def test_model_price_is_frozen_and_slotted() -> None:
    price = ModelPrice(1.0, 0.5, 2.0)
    assert not hasattr(price, "__dict__")
    with pytest.raises(AttributeError):
        price.input = 3.0  # type: ignore[misc]


def test_default_prices_are_the_seed_table_with_input_price_for_unstated_cached() -> None:
    prices = PriceTable().prices
    assert prices["gpt-5"] == ModelPrice(1.25, 0.125, 10.00)
    assert prices["gpt-5-mini"] == ModelPrice(0.25, 0.025, 2.50)
    assert prices["gpt-4o"] == ModelPrice(2.50, 2.50, 10.00)
    assert prices["gpt-4o-mini"] == ModelPrice(0.15, 0.15, 0.60)


@pytest.mark.parametrize(
    ("model", "entry"),
    [
        ("gpt-5", "gpt-5"),
        ("gpt-5-mini-2025-08-07", "gpt-5-mini"),
        ("gpt-5-2025-08-07", "gpt-5"),
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("gpt-4o-2024-11-20", "gpt-4o"),
        ("o3-pro", None),
        ("", None),
        (None, None),
    ],
)
def test_lookup_is_exact_name_then_longest_prefix(model: str | None, entry: str | None) -> None:
    assert PriceTable().match(model) == entry


def test_user_prices_override_defaults_and_add_models() -> None:
    table = PriceTable(
        {"gpt-5": ModelPrice(2.0, 0.2, 20.0), "gpt-5-mini-2025": ModelPrice(9.0, 9.0, 9.0)}
    )
    assert table.lookup("gpt-5") == ModelPrice(2.0, 0.2, 20.0)
    assert table.match("gpt-5-mini-2025-08-07") == "gpt-5-mini-2025"
    assert table.match("gpt-5-mini") == "gpt-5-mini"


def test_price_table_rejects_entries_that_are_not_model_prices() -> None:
    with pytest.raises(TypeError, match="ModelPrice"):
        PriceTable({"m": (1.0, 1.0, 1.0)})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="model names"):
        PriceTable({"": ModelPrice(1.0, 1.0, 1.0)})


def test_unknown_model_costs_zero_and_is_flagged() -> None:
    quote = PriceTable().quote("o3-pro", Usage(input_tokens=10, output_tokens=10))
    assert quote.cost_usd == 0
    assert not quote.priced
    assert quote.matched is None


SCRIPT = [
    # model, input, cached, output, reasoning, hand-computed USD
    ("gpt-5", 12_345, 2_000, 678, 300, "0.01996125"),  # (10345*1.25 + 2000*0.125 + 678*10)/1e6
    ("gpt-5-mini-2025-08-07", 1_000_000, 500_000, 100_000, 0, "0.3875"),
    ("gpt-4o", 3_000, 1_000, 500, 0, "0.0125"),  # cached billed at input price
    ("gpt-4o-mini", 7, 0, 3, 0, "0.00000285"),  # (7*0.15 + 3*0.60)/1e6
    ("o3-pro", 1_000, 0, 1_000, 0, "0"),  # unknown: 0
]


def scripted_response(i: int, model: str, inp: int, cached: int, out: int, reas: int) -> Any:
    usage = ResponseUsage.model_validate(
        {
            "input_tokens": inp,
            "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": 0},
            "output_tokens": out,
            "output_tokens_details": {"reasoning_tokens": reas},
            "total_tokens": inp + out,
        }
    )
    return Response.construct(id=f"resp_{i}", model=model, status="completed", usage=usage)


@pytest.mark.parametrize(("model", "inp", "cached", "out", "reas", "usd"), SCRIPT)
def test_cost_equals_the_hand_computation_exactly(
    model: str, inp: int, cached: int, out: int, reas: int, usd: str
) -> None:
    usage = usage_from(scripted_response(0, model, inp, cached, out, reas))
    assert usage == Usage(inp, cached, out, reas)
    assert PriceTable().cost(model, usage) == Decimal(usd)


def test_collector_cost_over_scripted_responses_equals_the_hand_total_exactly() -> None:
    stats = StatsCollector()
    for i, (model, inp, cached, out, reas, _) in enumerate(SCRIPT):
        event = ResponseCompletedEvent.construct(
            type="response.completed",
            sequence_number=i,
            response=scripted_response(i, model, inp, cached, out, reas),
        )
        usage = usage_from(event)
        assert usage is not None
        stats.usage("k", model, usage)
    total = stats.snapshot().total
    assert total.cost_usd == float(sum(Decimal(row[-1]) for row in SCRIPT))
    assert total.cost_usd == 0.4199641
    assert total.reasoning_tokens == 300


usages = st.builds(
    lambda inp, cached_share, out, reas_share: Usage(
        inp, inp * cached_share // 100, out, out * reas_share // 100
    ),
    st.integers(0, 10**9),
    st.integers(0, 100),
    st.integers(0, 10**9),
    st.integers(0, 100),
)
models = st.sampled_from(["gpt-5", "gpt-5-mini", "gpt-4o", "gpt-4o-mini", "custom"])
# Real prices have a few decimals; the table is exact to 12 (1e-12 USD per 1M tokens).
price_values = st.decimals(0, 1000, places=6).map(float)
custom_prices = st.builds(ModelPrice, price_values, price_values, price_values)


@given(models, usages, usages, custom_prices)
def test_cost_is_additive_over_usage(model: str, a: Usage, b: Usage, price: ModelPrice) -> None:
    table = PriceTable({"custom": price})
    assert table.cost(model, a + b) == table.cost(model, a) + table.cost(model, b)


@given(models, usages, custom_prices)
def test_cached_tokens_are_billed_once_at_the_cached_price(
    model: str, usage: Usage, price: ModelPrice
) -> None:
    table = PriceTable({"custom": price})
    p = table.lookup(model)
    assert p is not None

    def d(price: float) -> Decimal:  # prices are read as their decimal literal
        return Decimal(repr(price))

    expected = (
        (usage.input_tokens - usage.cached_input_tokens) * d(p.input)
        + usage.cached_input_tokens * d(p.cached_input)
        + usage.output_tokens * d(p.output)
    ) / 10**6
    assert table.cost(model, usage) == expected


@given(models, usages, st.integers(0, 10**6))
def test_reasoning_tokens_are_not_billed_on_top_of_output(
    model: str, usage: Usage, extra_reasoning: int
) -> None:
    more = Usage(
        usage.input_tokens,
        usage.cached_input_tokens,
        usage.output_tokens,
        usage.reasoning_tokens + extra_reasoning,
    )
    assert PriceTable().cost(model, more) == PriceTable().cost(model, usage)


@given(st.lists(st.tuples(models, usages), max_size=30), st.randoms(use_true_random=False))
def test_collector_cost_sum_is_order_independent(calls: list[tuple[str, Usage]], rnd: Any) -> None:
    shuffled = list(calls)
    rnd.shuffle(shuffled)
    forward, backward = StatsCollector(), StatsCollector()
    for model, usage in calls:
        forward.usage("k", model, usage)
    for model, usage in shuffled:
        backward.usage("k", model, usage)
    table = PriceTable()
    exact = sum((table.cost(m, u) for m, u in calls), Decimal(0))
    assert forward.snapshot().total.cost_usd == backward.snapshot().total.cost_usd
    assert forward.snapshot().total.cost_usd == float(exact)


# -- usage_from --------------------------------------------------------------------------


def test_usage_from_reads_completed_incomplete_and_failed_events() -> None:
    response = scripted_response(1, "gpt-5", 100, 40, 20, 5)
    kinds: list[tuple[Any, str]] = [
        (ResponseCompletedEvent, "response.completed"),
        (ResponseIncompleteEvent, "response.incomplete"),
        (ResponseFailedEvent, "response.failed"),
    ]
    for cls, kind in kinds:
        event = cls.construct(type=kind, sequence_number=7, response=response)
        assert usage_from(event) == Usage(100, 40, 20, 5)


def test_usage_from_returns_none_when_there_is_no_usage() -> None:
    in_progress = Response.construct(id="resp_1", status="in_progress", usage=None)
    created = ResponseCreatedEvent.construct(
        type="response.created", sequence_number=0, response=in_progress
    )
    delta = ResponseTextDeltaEvent.construct(
        type="response.output_text.delta", sequence_number=1, delta="x"
    )
    assert usage_from(in_progress) is None
    assert usage_from(created) is None
    assert usage_from(delta) is None
    assert usage_from(None) is None
    assert usage_from({"type": "response.output_text.delta"}) is None
    assert usage_from(object()) is None
    assert usage_from({"usage": None}) is None


def test_usage_from_treats_none_and_garbage_counts_as_zero() -> None:
    raw = ResponseUsage.construct(
        input_tokens=None, input_tokens_details=None, output_tokens=12, output_tokens_details=None
    )
    assert usage_from(raw) == Usage(0, 0, 12, 0)
    assert usage_from({"input_tokens": -3, "output_tokens": "7"}) == Usage(0, 0, 0, 0)
    partial = {"input_tokens": 5, "input_tokens_details": {"cached_tokens": None}}
    assert usage_from(partial) == Usage(5, 0, 0, 0)


def test_usage_from_reads_dict_shapes_of_responses_and_events() -> None:
    usage = {
        "input_tokens": 10,
        "input_tokens_details": {"cached_tokens": 4},
        "output_tokens": 6,
        "output_tokens_details": {"reasoning_tokens": 2},
    }
    expected = Usage(10, 4, 6, 2)
    assert usage_from(usage) == expected
    assert usage_from({"id": "resp_1", "usage": usage}) == expected
    assert usage_from({"type": "response.completed", "response": {"usage": usage}}) == expected
    assert usage_from(expected) is expected


def test_usage_rejects_negative_counts_naming_the_field() -> None:
    with pytest.raises(ValueError, match=r"^output_tokens"):
        Usage(output_tokens=-1)


def test_uncached_input_never_goes_negative_when_cached_exceeds_input() -> None:
    odd = Usage(input_tokens=5, cached_input_tokens=9)
    assert odd.uncached_input_tokens == 0
    assert PriceTable().cost("gpt-5", odd) == Decimal("5") * Decimal("0.125") / 10**6


# -- CostBudget --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"hourly": -1.0}, "hourly"),
        ({"hourly": math.nan}, "hourly"),
        ({"hourly": math.inf}, "hourly"),
        ({"hourly": 0.0}, "hourly"),
        ({"daily": -5.0}, "daily"),
        ({"daily": math.nan}, "daily"),
        ({"hourly": 1.0, "warn_at": 0.0}, "warn_at"),
        ({"hourly": 1.0, "warn_at": 1.5}, "warn_at"),
        ({"hourly": 1.0, "warn_at": math.nan}, "warn_at"),
        ({}, "hourly and daily"),
    ],
)
def test_cost_budget_rejects_invalid_parameters_naming_them(
    kwargs: dict[str, Any], name: str
) -> None:
    with pytest.raises(ValueError, match=f"^{name}"):
        CostBudget(**kwargs)


class Clock:
    def __init__(self, t: float = 1_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_warnings_fire_once_at_warn_at_and_once_at_the_limit() -> None:
    budget = CostBudget(hourly=5.0, clock=Clock())
    assert budget.record(3.0) == []
    (warn,) = budget.record(1.0)
    assert (warn.window, warn.threshold) == ("hourly", 0.8)
    assert (warn.limit_usd, warn.spent_usd) == (5.0, 4.0)
    assert not warn.exceeded
    assert budget.record(0.5) == []
    (over,) = budget.record(0.5)
    assert over.exceeded
    assert over.spent_usd == 5.0
    assert budget.record(10.0) == []


def test_one_large_cost_returns_both_warnings_in_order() -> None:
    budget = CostBudget(hourly=5.0, daily=50.0, clock=Clock())
    warnings = budget.record(6.0)
    assert [(w.window, w.threshold) for w in warnings] == [("hourly", 0.8), ("hourly", 1.0)]


def test_warn_at_one_gives_a_single_warning_at_the_limit() -> None:
    budget = CostBudget(hourly=1.0, warn_at=1.0, clock=Clock())
    assert [w.threshold for w in budget.record(2.0)] == [1.0]


def test_warnings_rearm_after_the_window_slides_past_the_spend() -> None:
    clock = Clock(0.0)
    budget = CostBudget(hourly=1.0, clock=clock)
    assert len(budget.record(1.0)) == 2
    clock.t = 3600.0
    assert budget.spent("hourly") == 0.0
    assert len(budget.record(1.0)) == 2


def test_prices_finer_than_twelve_decimals_are_rounded_not_rejected() -> None:
    table = PriceTable({"m": ModelPrice(0.0, 0.0, 1.1700382882240774)})
    assert table.cost("m", Usage(output_tokens=10**6)) == Decimal("1.170038288224")


def test_hourly_window_keeps_the_current_minute_and_the_59_before() -> None:
    clock = Clock(0.0)
    budget = CostBudget(hourly=10.0, daily=100.0, clock=clock)
    budget.record(1.0)
    clock.t = 3599.0
    assert budget.spent("hourly") == 1.0
    clock.t = 3600.0
    assert budget.spent("hourly") == 0.0
    assert budget.spent("daily") == 1.0
    clock.t = 86_400.0
    assert budget.spent("daily") == 0.0


def test_hard_budget_check_raises_before_a_request_once_spent() -> None:
    clock = Clock(0.0)
    budget = CostBudget(hourly=5.0, daily=50.0, hard=True, clock=clock)
    budget.check()
    budget.record(5.0)
    with pytest.raises(BudgetExceededError) as info:
        budget.check()
    assert (info.value.window, info.value.limit_usd, info.value.spent_usd) == ("hourly", 5.0, 5.0)
    clock.t = 3600.0
    budget.check()


def test_daily_window_raises_with_its_own_name() -> None:
    clock = Clock(0.0)
    budget = CostBudget(hourly=5.0, daily=6.0, hard=True, clock=clock)
    budget.record(4.0)
    clock.t = 3600.0
    budget.record(4.0)
    with pytest.raises(BudgetExceededError) as info:
        budget.check()
    assert info.value.window == "daily"
    assert info.value.spent_usd == 8.0


def test_soft_budget_check_never_raises() -> None:
    budget = CostBudget(hourly=1.0, clock=Clock())
    budget.record(100.0)
    budget.check()
    assert budget.remaining("hourly") == 0.0
    assert budget.level() == 100.0


def test_unlimited_window_is_still_tracked_and_has_infinite_remaining() -> None:
    budget = CostBudget(daily=10.0, clock=Clock())
    budget.record(2.5)
    assert budget.spent("hourly") == 2.5
    assert budget.remaining("hourly") == math.inf
    assert budget.remaining("daily") == 7.5
    with pytest.raises(ValueError, match="window must be"):
        budget.spent("weekly")  # type: ignore[arg-type]


def test_a_clock_stepping_backwards_is_treated_as_standing_still() -> None:
    clock = Clock(7200.0)
    budget = CostBudget(hourly=10.0, clock=clock)
    budget.record(1.0)
    clock.t = 0.0
    budget.record(1.0)
    assert budget.spent("hourly") == 2.0
    clock.t = 7200.0 + 3600.0
    assert budget.spent("hourly") == 0.0


@pytest.mark.parametrize("bad", [-1.0, math.nan, math.inf, Decimal("-1"), Decimal("NaN")])
def test_record_rejects_negative_and_non_finite_costs(bad: float) -> None:
    with pytest.raises(ValueError, match="cost_usd"):
        CostBudget(hourly=1.0, clock=Clock()).record(bad)


def test_concurrent_records_sum_exactly_and_warn_exactly_once() -> None:
    budget = CostBudget(hourly=20.0, clock=Clock())
    warnings: list[Any] = []
    lock = threading.Lock()
    barrier = threading.Barrier(64)

    def worker() -> None:
        barrier.wait()
        for _ in range(50):
            got = budget.record(0.01)
            if got:
                with lock:
                    warnings.extend(got)

    threads = [threading.Thread(target=worker) for _ in range(64)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert budget.spent("hourly") == 32.0
    assert sorted(w.threshold for w in warnings) == [0.8, 1.0]


records = st.lists(
    st.tuples(st.integers(0, 2 * 3600), st.integers(0, 500)),  # (seconds later, cents)
    max_size=60,
)


@given(records, st.integers(50, 2000))
def test_window_sums_match_a_brute_force_model_and_never_go_negative(
    steps: list[tuple[int, int]], limit_cents: int
) -> None:
    clock = Clock(0.0)
    limit = limit_cents / 100
    budget = CostBudget(hourly=limit, daily=limit * 10, clock=clock)
    history: list[tuple[int, Decimal]] = []
    hourly_crossings = 0
    for dt, cents in steps:
        clock.t += dt
        minute = math.floor(clock.t / 60)

        def hourly_spend() -> Decimal:
            return sum((c for m, c in history if m > minute - 60), Decimal(0))  # noqa: B023

        before = hourly_spend()
        cost = Decimal(cents) / 100
        history.append((minute, cost))
        after = before + cost
        if before < Decimal(limit_cents) / 100 <= after:
            hourly_crossings += 1
        warnings = budget.record(cents / 100)
        hourly_full = [w for w in warnings if w.window == "hourly" and w.exceeded]
        assert len(hourly_full) == (1 if before < Decimal(limit_cents) / 100 <= after else 0)
        assert budget.spent("hourly") == float(after)
        day = sum((c for m, c in history if m > minute - 1440), Decimal(0))
        assert budget.spent("daily") == float(day)
        assert budget.spent("hourly") >= 0.0
        assert budget.remaining("hourly") >= 0.0
        assert budget.remaining("daily") >= 0.0
