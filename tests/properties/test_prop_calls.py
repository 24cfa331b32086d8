"""Call invariants (attempts, non-retryable, deadline, breaker, budget), end to end."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import openai
import pytest
import structlog
from hypothesis import event, given
from hypothesis import strategies as st

from resilient_responses import (
    AsyncResilientOpenAI,
    BreakerConfig,
    ErrorPolicy,
    Resilience,
    ResilientOpenAI,
    RetryBudget,
    resilient,
)
from resilient_responses.testing import FakeResponsesAPI, Fault, set_testing, strategies

from ._support import (
    BREAKER_MOVES,
    MODEL,
    PLAIN_KINDS,
    PROMPT,
    VirtualTime,
    check_attempts,
)

NON_RETRYABLE = (400, 401, 403, 404, 422)

attempt_counts = st.integers(min_value=1, max_value=5)
rate_limit_attempts = st.none() | st.integers(min_value=1, max_value=6)


def _policies(rate_limit: int | None) -> dict[Any, ErrorPolicy]:
    return {} if rate_limit is None else {429: ErrorPolicy(attempts=rate_limit)}


@given(
    plan=strategies.fault_plans(max_size=8, kinds=PLAIN_KINDS),
    attempts=attempt_counts,
    rate_limit=rate_limit_attempts,
    calls=st.integers(min_value=1, max_value=3),
)
def test_drop_in_client_never_attempts_more_than_the_policy_allows(
    plan: list[Fault | None], attempts: int, rate_limit: int | None, calls: int
) -> None:
    """Pins, counting requests at the fake per call: a ``ResilientOpenAI`` call sends at most
    the attempts its policies allow, and each retry was allowed by the policy of the failure
    before it (``{429: ErrorPolicy(attempts=n)}`` overrides the default only for 429s)."""
    fake = FakeResponsesAPI()
    fake.plan(plan)
    resilience = Resilience(attempts=attempts, policies=_policies(rate_limit), breaker=None)
    client = ResilientOpenAI(fake.client(), resilience=resilience)
    with set_testing(True):
        for _ in range(calls):
            start = len(fake.requests)
            with contextlib.suppress(openai.OpenAIError):
                client.responses.create(model=MODEL, input=PROMPT)
            faults = [r.fault for r in fake.requests[start:]]
            assert 1 <= len(faults) <= max(attempts, rate_limit or 0)
            check_attempts(faults, attempts, rate_limit)
            if len(faults) == max(attempts, rate_limit or 0) > 1:
                event("a call used every attempt allowed")


@given(
    plan=strategies.fault_plans(max_size=8, kinds=PLAIN_KINDS),
    attempts=attempt_counts,
    rate_limit=rate_limit_attempts,
    calls=st.integers(min_value=1, max_value=3),
)
def test_decorated_async_function_never_attempts_more_than_the_policy_allows(
    plan: list[Fault | None], attempts: int, rate_limit: int | None, calls: int
) -> None:
    """Pins the same attempt bound for ``@resilient`` on an ``async def`` calling a raw
    ``openai.AsyncOpenAI`` (SDK retries off, as the docs tell users)."""
    fake = FakeResponsesAPI()
    fake.plan(plan)
    raw = fake.async_client(max_retries=0)

    @resilient(attempts=attempts, policies=_policies(rate_limit), breaker=None)
    async def ask() -> str:
        response = await raw.responses.create(model=MODEL, input=PROMPT)
        return response.output_text

    async def run() -> None:
        for _ in range(calls):
            start = len(fake.requests)
            with contextlib.suppress(openai.OpenAIError):
                await ask()
            faults = [r.fault for r in fake.requests[start:]]
            assert 1 <= len(faults) <= max(attempts, rate_limit or 0)
            check_attempts(faults, attempts, rate_limit)
            if len(faults) == max(attempts, rate_limit or 0) > 1:
                event("a call used every attempt allowed")

    with set_testing(True):
        asyncio.run(run())


declared_non_retryable = st.builds(
    lambda n: Fault.error_event(after_events=n, code="invalid_prompt"),
    strategies.stream_cut_points(20),
)


@given(
    first=strategies.status_faults(NON_RETRYABLE) | declared_non_retryable,
    rest=strategies.fault_plans(),
    stream=st.booleans(),
    via=st.sampled_from(["client", "decorator"]),
)
def test_non_retryable_failures_are_tried_once(
    first: Fault, rest: list[Fault | None], stream: bool, via: str
) -> None:
    """Pins: 400/401/403/404/422, the billing 429 ``insufficient_quota`` and a stream's
    ``invalid_prompt`` error event cost exactly one request, through the drop-in client or
    the decorator, streamed or not; HTTP errors re-raise the SDK's own exception."""
    fake = FakeResponsesAPI()
    fake.plan([first, *rest])
    stream = stream or first.kind == "error_event"

    def call(client: openai.OpenAI) -> list[Any]:
        if stream:
            return list(client.responses.create(model=MODEL, input=PROMPT, stream=True))
        return [client.responses.create(model=MODEL, input=PROMPT)]

    if via == "client":
        resilient_client = ResilientOpenAI(fake.client())

        def run() -> list[Any]:
            return call(resilient_client)
    else:
        raw = fake.client(max_retries=0)

        @resilient
        def run() -> list[Any]:
            return call(raw)

    with set_testing(True):
        if first.kind == "status":
            with pytest.raises(openai.APIStatusError) as info:
                run()
            assert info.value.status_code == first.status_code
            assert info.value.code == first.code
        else:
            events = run()
            assert events[-1].type == "error"
            assert events[-1].code == "invalid_prompt"
    assert len(fake.requests) == 1


retry_after_429s = st.builds(
    lambda headers: Fault.status(429, headers=headers), strategies.retry_after_values()
)
waiting_faults = (
    strategies.status_faults()
    | retry_after_429s
    | strategies.faults(kinds=["connect_error", "timeout", "reset", "stall"])
)


@given(
    plan=strategies.fault_plans(max_size=10, of=waiting_faults),
    deadline=st.floats(min_value=0.1, max_value=60.0),
    attempts=st.integers(min_value=1, max_value=12),
    asynchronous=st.booleans(),
)
def test_no_sleep_ends_past_the_deadline(
    plan: list[Fault | None], deadline: float, attempts: int, asynchronous: bool
) -> None:
    """Pins, with an injected clock and sleep: the waits of one call (backoff or the
    server's Retry-After, sane or absurd) never add up past ``deadline``."""
    fake = FakeResponsesAPI()
    fake.plan(plan)
    time = VirtualTime()
    resilience = Resilience(
        attempts=attempts, deadline=deadline, sleep=time.sleep, clock=time.clock, breaker=None
    )
    with set_testing(False):  # really (virtually) sleep
        if asynchronous:
            aclient = AsyncResilientOpenAI(fake.async_client(), resilience=resilience)

            async def run() -> None:
                with contextlib.suppress(openai.OpenAIError):
                    await aclient.responses.create(model=MODEL, input=PROMPT)

            asyncio.run(run())
        else:
            client = ResilientOpenAI(fake.client(), resilience=resilience)
            with contextlib.suppress(openai.OpenAIError):
                client.responses.create(model=MODEL, input=PROMPT)
    event(f"slept {len(time.sleeps)} times")
    assert all(s >= 0 for s in time.sleeps)
    assert sum(time.sleeps) <= deadline


@given(
    plan=strategies.fault_plans(max_size=20, kinds=PLAIN_KINDS),
    streamed=st.lists(st.booleans(), min_size=1, max_size=8),
    fail_max=st.integers(min_value=1, max_value=3),
    reset_timeout=st.sampled_from([0.0, 60.0]),
    success_threshold=st.integers(min_value=1, max_value=2),
    attempts=st.integers(min_value=1, max_value=3),
)
def test_breaker_moves_only_closed_open_half_open_and_back(
    plan: list[Fault | None],
    streamed: list[bool],
    fail_max: int,
    reset_timeout: float,
    success_threshold: int,
    attempts: int,
) -> None:
    """Pins, from the ``resilient_responses.breaker_state_changed`` logs of a run of calls
    and streams: every move is closed -> open, open -> half-open, half-open -> closed or
    half-open -> open; moves chain (each starts where the last ended, the first at closed);
    and the last one is the state the breaker reports."""
    fake = FakeResponsesAPI()
    fake.plan(plan)
    breaker = BreakerConfig(
        fail_max=fail_max, reset_timeout=reset_timeout, success_threshold=success_threshold
    )
    resilience = Resilience(attempts=attempts, breaker=breaker)
    client = ResilientOpenAI(fake.client(), resilience=resilience)
    with set_testing(True), structlog.testing.capture_logs() as logs:
        for stream in streamed:
            with contextlib.suppress(openai.OpenAIError):
                if stream:
                    list(client.responses.create(model=MODEL, input=PROMPT, stream=True))
                else:
                    client.responses.create(model=MODEL, input=PROMPT)
    moves = [
        (log["previous_state"], log["breaker_state"])
        for log in logs
        if log["event"] == "resilient_responses.breaker_state_changed"
    ]
    for move in sorted(set(moves)):
        event(f"breaker moved {move[0]} -> {move[1]}")
    state = "closed"
    for old, new in moves:
        assert (old, new) in BREAKER_MOVES
        assert old == state, moves
        state = new
    assert resilience.breaker_state(f"{client.base_url} {MODEL}") == state


@given(
    plan=strategies.fault_plans(max_size=12, kinds=PLAIN_KINDS),
    calls=st.lists(st.booleans(), min_size=1, max_size=6),
    ratio=st.sampled_from([0.0, 0.1, 0.5, 1.0]),
    min_per_second=st.sampled_from([0.0, 0.1, 0.2, 1.0]),
)
def test_retry_budget_never_goes_below_zero(
    plan: list[Fault | None], calls: list[bool], ratio: float, min_per_second: float
) -> None:
    """Pins, after every call and stream: the budget's level (``stats()`` and the engine's)
    is >= 0, and the retries actually sent (requests beyond each call's first) never
    exceed what the budget could pay: ``ratio * calls + min_per_second * ttl``."""
    fake = FakeResponsesAPI()
    fake.plan(plan)
    ttl = 10.0
    resilience = Resilience(
        attempts=4,
        budget=RetryBudget(ratio=ratio, min_per_second=min_per_second, ttl=ttl),
        clock=lambda: 1000.0,  # one budget window for the whole run
        breaker=None,
    )
    client = ResilientOpenAI(fake.client(), resilience=resilience)
    engine_budget = resilience._engine.budget
    assert engine_budget is not None
    with set_testing(True):
        for done, stream in enumerate(calls, start=1):
            with contextlib.suppress(openai.OpenAIError):
                if stream:
                    list(client.responses.create(model=MODEL, input=PROMPT, stream=True))
                else:
                    client.responses.create(model=MODEL, input=PROMPT)
            level = resilience.stats().retry_budget_level
            assert level is not None
            assert level >= 0
            assert engine_budget.level >= 0
            if engine_budget.level < 1:
                event("retry budget ran dry")
            retries = len(fake.requests) - done
            assert retries <= done * ratio + min_per_second * ttl + 1e-9
