"""Observability for resilient calls: stats, token usage and cost, budgets, event routing.

Re-exports only; the code lives in the private modules next to this file.
``OpenTelemetryTracer`` imports opentelemetry only when it is built, so importing this
package without the ``otel`` extra costs nothing.
"""

from ._otel import OpenTelemetryTracer
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
    "OpenTelemetryTracer",
    "PriceTable",
    "QuantileSketch",
    "Quote",
    "RouteSummary",
    "Stats",
    "StatsCollector",
    "Usage",
    "usage_from",
]
