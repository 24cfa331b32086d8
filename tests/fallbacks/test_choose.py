"""The pure fallback decision: which model a call goes on with after giving up."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from resilient_responses._classify import Failure
from resilient_responses._policy import GIVE_UP_REASONS, check_fallbacks, choose_fallback

FALLBACKS = check_fallbacks("fallbacks", {"gpt-5": ("gpt-5-mini", "gpt-4o")})
CONTEXT = check_fallbacks("context_fallbacks", {"gpt-5-mini": ("gpt-5",)})

models = st.sampled_from(["gpt-5", "gpt-5-mini", "gpt-4o", "other"])
reasons = st.sampled_from(sorted(GIVE_UP_REASONS | {"circuit_open"}))
codes = st.sampled_from(
    [None, "server_error", "rate_limit_exceeded", "insufficient_quota", "context_length_exceeded"]
)


@given(
    model=models,
    reason=reasons,
    code=codes,
    retryable=st.booleans(),
    tried=st.lists(models, max_size=3).map(tuple),
)
def test_a_fallback_is_always_a_listed_untried_other_model(
    model: str, reason: str, code: str | None, retryable: bool, tried: tuple[str, ...]
) -> None:
    failure = Failure(kind="status", status=500, code=code)
    chosen = choose_fallback(
        failure,
        reason,
        retryable=retryable,
        model=model,
        fallbacks=FALLBACKS,
        context_fallbacks=CONTEXT,
        tried=tried,
    )
    if chosen is None:
        return
    assert chosen != model
    assert chosen not in tried
    chain = CONTEXT if code == "context_length_exceeded" else FALLBACKS
    assert chosen in chain[model]
    if code != "context_length_exceeded" and reason != "circuit_open":
        assert retryable
        assert reason not in ("not_retryable", "server_declined", "not_recoverable")


@pytest.mark.parametrize("code", ["insufficient_quota", None])
def test_the_callers_own_errors_never_fall_back(code: str | None) -> None:
    for status in (400, 401, 403, 404, 429):
        failure = Failure(kind="status", status=status, code=code)
        assert (
            choose_fallback(
                failure,
                "not_retryable",
                retryable=False,
                model="gpt-5",
                fallbacks=FALLBACKS,
                context_fallbacks=CONTEXT,
            )
            is None
        )


def test_the_chain_is_followed_in_order_and_context_errors_take_their_own() -> None:
    outage = Failure(kind="status", status=503, code="server_error")
    first = choose_fallback(
        outage,
        "attempts_exhausted",
        retryable=True,
        model="gpt-5",
        fallbacks=FALLBACKS,
        context_fallbacks=CONTEXT,
    )
    second = choose_fallback(
        outage,
        "breaker_open",
        retryable=True,
        model="gpt-5",
        fallbacks=FALLBACKS,
        context_fallbacks=CONTEXT,
        tried=("gpt-5", "gpt-5-mini"),
    )
    assert (first, second) == ("gpt-5-mini", "gpt-4o")
    too_long = Failure(kind="status", status=400, code="context_length_exceeded")
    assert (
        choose_fallback(
            too_long,
            "not_retryable",
            retryable=False,
            model="gpt-5-mini",
            fallbacks=FALLBACKS,
            context_fallbacks=CONTEXT,
        )
        == "gpt-5"
    )
    assert (
        choose_fallback(
            too_long,
            "not_retryable",
            retryable=False,
            model="gpt-5",
            fallbacks=FALLBACKS,
            context_fallbacks=CONTEXT,
        )
        is None
    )  # gpt-5 has no context fallback: its ordinary fallbacks are smaller


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ({"gpt-5": "gpt-5"}, ValueError),
        ({"gpt-5": (1,)}, TypeError),
        ({"": ("a",)}, TypeError),
        (["gpt-5"], TypeError),
    ],
)
def test_bad_fallbacks_are_refused(value: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        check_fallbacks("fallbacks", value)
