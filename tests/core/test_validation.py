"""Bad configuration raises at construction, naming the parameter."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import openai
import pytest

import resilient_responses as rr

CASES: list[tuple[str, Callable[[], Any], type[Exception], str]] = [
    ("attempts=0", lambda: rr.Resilience(attempts=0), ValueError, "attempts"),
    ("attempts=-3", lambda: rr.Resilience(attempts=-3), ValueError, "attempts"),
    ("attempts=1.5", lambda: rr.Resilience(attempts=1.5), TypeError, "attempts"),  # type: ignore[arg-type]
    ("resilient attempts=0", lambda: rr.resilient(attempts=0), ValueError, "attempts"),
    ("ErrorPolicy attempts=0", lambda: rr.ErrorPolicy(attempts=0), ValueError, "attempts"),
    ("Backoff initial<0", lambda: rr.Backoff(initial=-1), ValueError, "Backoff.initial"),
    ("Backoff maximum nan", lambda: rr.Backoff(maximum=float("nan")), ValueError, "maximum"),
    ("Backoff maximum<0", lambda: rr.Backoff(maximum=-0.5), ValueError, "maximum"),
    ("Backoff initial nan", lambda: rr.Backoff(initial=float("nan")), ValueError, "initial"),
    ("Backoff multiplier<1", lambda: rr.Backoff(multiplier=0.5), ValueError, "multiplier"),
    ("Backoff jitter", lambda: rr.Backoff(jitter="some"), ValueError, "jitter"),  # type: ignore[arg-type]
    (
        "max_retry_after<0",
        lambda: rr.ErrorPolicy(max_retry_after=-1),
        ValueError,
        "max_retry_after",
    ),
    ("deadline=0", lambda: rr.Resilience(deadline=0), ValueError, "deadline"),
    ("deadline<0", lambda: rr.Resilience(deadline=-5), ValueError, "deadline"),
    ("deadline nan", lambda: rr.Resilience(deadline=float("nan")), ValueError, "deadline"),
    (
        "policy key float",
        lambda: rr.Resilience(policies={1.5: rr.ErrorPolicy()}),
        TypeError,
        "policies",
    ),
    (
        "policy key bool",
        lambda: rr.Resilience(policies={True: rr.ErrorPolicy()}),
        TypeError,
        "policies",
    ),
    (
        "policy key 42",
        lambda: rr.Resilience(policies={42: rr.ErrorPolicy()}),
        ValueError,
        "policies",
    ),
    (
        "policy value",
        lambda: rr.Resilience(policies={429: "never"}),  # type: ignore[dict-item]
        TypeError,
        "policies",
    ),
    ("ResilientOpenAI(object())", lambda: rr.ResilientOpenAI(object()), TypeError, "client"),  # type: ignore[arg-type]
    (
        "AsyncResilientOpenAI(sync)",
        lambda: rr.AsyncResilientOpenAI(openai.OpenAI(api_key="sk-x")),  # type: ignore[arg-type]
        TypeError,
        "client",
    ),
    ("wrap('x')", lambda: rr.Resilience().wrap("x"), TypeError, "wrap"),  # type: ignore[call-overload]
    ("fail_max=0", lambda: rr.BreakerConfig(fail_max=0), ValueError, "fail_max"),
    ("reset_timeout<0", lambda: rr.BreakerConfig(reset_timeout=-1), ValueError, "reset_timeout"),
    (
        "half_open_probes=0",
        lambda: rr.BreakerConfig(half_open_probes=0),
        ValueError,
        "half_open_probes",
    ),
    (
        "success_threshold=0",
        lambda: rr.BreakerConfig(success_threshold=0),
        ValueError,
        "success_threshold",
    ),
    ("StreamPolicy recovery", lambda: rr.StreamPolicy(recovery="x"), ValueError, "recovery"),  # type: ignore[arg-type]
    ("RetryBudget ratio<0", lambda: rr.RetryBudget(ratio=-0.1), ValueError, "ratio"),
    ("backoff type", lambda: rr.Resilience(backoff=2.0), TypeError, "backoff"),  # type: ignore[arg-type]
    ("breaker type", lambda: rr.Resilience(breaker=5), TypeError, "breaker"),  # type: ignore[arg-type]
    (
        "resilience type",
        lambda: rr.ResilientOpenAI(openai.OpenAI(api_key="sk-x"), resilience=object()),  # type: ignore[arg-type]
        TypeError,
        "resilience",
    ),
]


@pytest.mark.parametrize(
    ("build", "exc_type", "name"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_raises_at_construction_naming_the_parameter(
    build: Callable[[], Any], exc_type: type[Exception], name: str
) -> None:
    """Each bad value raises the right error type, and the message names the parameter."""
    with pytest.raises(exc_type) as info:
        build()
    assert name in str(info.value)


def test_decorating_a_non_callable_is_a_type_error() -> None:
    """Resilience()(42) is a TypeError, not a failure at first call."""
    with pytest.raises(TypeError, match="callables"):
        rr.Resilience()(42)  # type: ignore[arg-type]


def test_valid_edge_values_are_accepted() -> None:
    """attempts=1, zero delays, deadline=None and the max_retry_after=0 edge are valid."""
    rr.Resilience(attempts=1, deadline=None, backoff=rr.Backoff(initial=0, maximum=0))
    rr.ErrorPolicy(max_retry_after=0)
    rr.BreakerConfig(fail_max=1, reset_timeout=0)
