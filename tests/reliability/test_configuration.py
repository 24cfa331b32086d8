"""Items 9, 10, 11: configuration fails at construction, never later; instrumentation that
raises never changes a call; absurd Retry-After values give up at once instead of
overflowing or hanging; a garbage ``retry-after-ms`` does not hide a valid ``retry-after``."""

from __future__ import annotations

import math
from typing import Any

import openai
import pytest
import structlog

import resilient_responses as rr
from resilient_responses.testing import FakeResponsesAPI, Fault, VirtualClock

from ._support import MODEL


def _tracer_object() -> Any:
    return object()


BAD: list[tuple[str, dict[str, Any], type[Exception], str]] = [
    ("logger", {"logger": 123}, TypeError, "logger"),
    ("tracers", {"tracers": [_tracer_object()]}, TypeError, "tracers"),
    ("cost_budget", {"cost_budget": "x"}, TypeError, "cost_budget"),
    ("prices", {"prices": "x"}, TypeError, "prices"),
    ("clock", {"clock": lambda: "x"}, TypeError, "clock"),
    ("deadline inf", {"deadline": math.inf}, ValueError, "deadline"),
    ("deadline nan", {"deadline": math.nan}, ValueError, "deadline"),
    ("hooks", {"hooks": [42]}, TypeError, "hooks"),
    ("store", {"store": "redis://"}, TypeError, "store"),
    ("typo kind", {"policies": {"connetion": rr.ErrorPolicy()}}, ValueError, "'connection'"),
    (
        "typo kind 2",
        {"policies": {"strem_stalled": rr.ErrorPolicy()}},
        ValueError,
        "stream_stalled",
    ),
    (
        "typo code",
        {"policies": {"rate_limit_exceded": rr.ErrorPolicy()}},
        ValueError,
        "rate_limit_exceeded",
    ),
]


@pytest.mark.parametrize(("name", "config", "error", "named"), BAD, ids=[b[0] for b in BAD])
def test_bad_configuration_fails_at_construction_naming_it(
    name: str, config: dict[str, Any], error: type[Exception], named: str
) -> None:
    with pytest.raises(error) as raised:
        rr.Resilience(**config)
    assert named in str(raised.value)


@pytest.mark.parametrize(
    "build",
    [
        lambda: rr.ErrorPolicy(max_retry_after=math.inf),
        lambda: rr.BreakerConfig(reset_timeout=math.inf),
        lambda: rr.StreamPolicy(idle_timeout=math.inf),
        lambda: rr.Backoff(maximum=1e300),
        lambda: rr.CostBudget(hourly=1.0, hard="yes"),  # type: ignore[arg-type]
    ],
    ids=["max_retry_after", "reset_timeout", "idle_timeout", "backoff", "hard"],
)
def test_values_that_mean_never_or_nonsense_are_refused(build: Any) -> None:
    with pytest.raises((ValueError, TypeError)):
        build()


def test_an_unknown_error_code_far_from_every_known_one_is_accepted() -> None:
    rr.Resilience(policies={"my_gateway_overloaded": rr.ErrorPolicy(attempts=2)})


def test_a_raising_hook_and_tracer_are_isolated_and_logged_once() -> None:
    class Broken:
        def __call__(self, event: object) -> None:
            raise RuntimeError("hook bug")

        def call_started(self, *args: object, **kwargs: object) -> object:
            raise RuntimeError("tracer bug")

    fake = FakeResponsesAPI()
    fake.plan([Fault.status(500), Fault.status(500), Fault.status(500)])
    clock = VirtualClock()
    broken = Broken()  # one component, both a hook and a tracer
    policy = rr.Resilience(hooks=[broken], tracers=[broken], sleep=clock.sleep, clock=clock)
    client = rr.ResilientOpenAI(fake.client(), resilience=policy)
    with structlog.testing.capture_logs() as logs:
        for _ in range(2):
            assert client.responses.create(model=MODEL, input="hi").status == "completed"
    failed = [e for e in logs if e["event"] == "resilient_responses.instrumentation_failed"]
    assert [e["component"] for e in failed] == ["Broken"]  # once, not per event
    assert "hook bug" not in str(failed)
    assert len(fake.requests) == 5


@pytest.mark.parametrize("header", ["1e309", "1e300", "inf"])
def test_an_absurd_retry_after_gives_up_at_once_sync(header: str) -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.status(429, retry_after=header)])
    clock = VirtualClock()
    policy = rr.Resilience(
        deadline=None,
        policies={429: rr.ErrorPolicy(max_retry_after=7 * 86400.0)},
        sleep=clock.sleep,
        clock=clock,
    )
    client = rr.ResilientOpenAI(fake.client(), resilience=policy)
    with pytest.raises(openai.RateLimitError) as raised:
        client.responses.create(model=MODEL, input="hi")
    assert "retry_after_too_long" in "\n".join(raised.value.__notes__)
    assert clock.sleeps == []


async def test_an_absurd_retry_after_gives_up_at_once_async() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.status(429, retry_after="1e309")])
    policy = rr.Resilience(deadline=None, policies={429: rr.ErrorPolicy(max_retry_after=604800)})
    client = rr.AsyncResilientOpenAI(fake.async_client(), resilience=policy)
    with pytest.raises(openai.RateLimitError):
        await client.responses.create(model=MODEL, input="hi")


def test_a_negative_retry_after_ms_does_not_hide_retry_after() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.status(429, retry_after=2, headers={"retry-after-ms": "-100"})])
    clock = VirtualClock()
    policy = rr.Resilience(sleep=clock.sleep, clock=clock)
    client = rr.ResilientOpenAI(fake.client(), resilience=policy)
    assert client.responses.create(model=MODEL, input="hi").status == "completed"
    assert clock.sleeps == [2.0]
