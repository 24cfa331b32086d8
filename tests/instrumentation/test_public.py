"""The public surface of ``resilient_responses.instrumentation`` and its docstring examples."""

from __future__ import annotations

import doctest
import importlib

import pytest

import resilient_responses.instrumentation as instrumentation

MODULES = [
    "resilient_responses._cost",
    "resilient_responses._cost_budget",
    "resilient_responses._router",
    "resilient_responses.instrumentation._sketch",
    "resilient_responses.instrumentation._stats",
]


def test_all_is_sorted_and_every_name_is_exported() -> None:
    assert instrumentation.__all__ == sorted(instrumentation.__all__)
    for name in instrumentation.__all__:
        assert getattr(instrumentation, name) is not None
    required = {
        "EventRouter",
        "KNOWN_EVENT_TYPES",
        "Stats",
        "KeyStats",
        "PriceTable",
        "ModelPrice",
        "Usage",
        "usage_from",
        "CostBudget",
        "BudgetWarning",
    }
    assert required <= set(instrumentation.__all__)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
