"""Breaker state machine, driven by random outcome sequences: only legal edges are logged."""

from __future__ import annotations

import contextlib

import openai
import structlog
from hypothesis import given
from hypothesis import strategies as st

import resilient_responses as rr

from ._support import Clock, connection_error, rewind_breaker, sdk_error

KEY = "k"
EDGES = {("closed", "open"), ("open", "half-open"), ("half-open", "closed"), ("half-open", "open")}

STEPS = st.lists(
    st.sampled_from(["ok", "503", "timeout", "400", "429", "quota", "wait"]),
    max_size=30,
)


def _outcome(step: str) -> BaseException | None:
    return {
        "ok": None,
        "503": sdk_error(503, "server_error"),
        "timeout": connection_error(),
        "400": sdk_error(400, "invalid_request_error"),
        "429": sdk_error(429, "rate_limit_exceeded"),
        "quota": sdk_error(429, "insufficient_quota"),
    }[step]


@given(
    steps=STEPS,
    fail_max=st.integers(1, 3),
    success_threshold=st.integers(1, 2),
    attempts=st.integers(1, 3),
)
def test_logged_breaker_transitions_follow_the_state_machine(
    steps: list[str], fail_max: int, success_threshold: int, attempts: int
) -> None:
    """Every breaker_state_changed event is closed->open, open->half-open, half-open->closed
    or half-open->open; the events chain (each starts where the last ended, from closed) and
    the last one names the breaker's current state."""
    clock = Clock()
    resilience = rr.Resilience(
        attempts=attempts,
        breaker=rr.BreakerConfig(
            fail_max=fail_max, success_threshold=success_threshold, key=lambda *a, **k: KEY
        ),
        sleep=clock.sleep,
        clock=clock.clock,
    )
    with structlog.testing.capture_logs() as logs:
        for step in steps:
            if step == "wait":
                if resilience.breaker_state(KEY) == "open":
                    rewind_breaker(resilience, KEY)
                continue
            error = _outcome(step)

            @resilience
            def call(error: BaseException | None = error) -> str:
                if error is not None:
                    raise error
                return "ok"

            with contextlib.suppress(openai.OpenAIError):
                call()

    changes = [
        (e["previous_state"], e["breaker_state"])
        for e in logs
        if e["event"] == "resilient_responses.breaker_state_changed"
    ]
    assert set(changes) <= EDGES
    state = "closed"
    for old, new in changes:
        assert old == state
        state = new
    assert resilience.breaker_state(KEY) == state
