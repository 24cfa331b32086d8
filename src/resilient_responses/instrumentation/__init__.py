"""Observability for resilient calls: stats, OpenTelemetry, and the structlog hook.

Re-exports only; the code lives in the private modules next to this file. Pricing, cost
budgets and event routing live in the engine and are re-exported here too, where earlier
versions had them (``from resilient_responses.instrumentation import CostBudget`` keeps
working). ``OpenTelemetryTracer`` imports opentelemetry only when it is built, so importing
this package without the ``otel`` extra costs nothing.
"""

from .._cost import ModelPrice, PriceTable, Quote, Usage, usage_from
from .._cost_budget import BudgetWarning, CostBudget
from .._router import KNOWN_EVENT_TYPES, EventRouter, RouteSummary
from ._otel import OpenTelemetryTracer
from ._sketch import QuantileSketch
from ._stats import KeyStats, Stats

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
    "Usage",
    "usage_from",
]
