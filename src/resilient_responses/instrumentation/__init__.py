"""Observability for resilient calls: stats, token usage and cost, budgets, event routing.

Re-exports only; the code lives in the private modules next to this file.
"""

from ._pricing import BudgetWarning, CostBudget, ModelPrice, PriceTable, Quote, Usage, usage_from
from ._router import KNOWN_EVENT_TYPES, EventRouter, RouteSummary
from ._sketch import QuantileSketch
from ._stats import KeyStats, Stats, StatsCollector

__all__ = [
    "BudgetWarning",
    "CostBudget",
    "EventRouter",
    "KNOWN_EVENT_TYPES",
    "KeyStats",
    "ModelPrice",
    "PriceTable",
    "QuantileSketch",
    "Quote",
    "RouteSummary",
    "Stats",
    "StatsCollector",
    "Usage",
    "usage_from",
]
