"""set_testing(): no sleeping, attempts capped, previous state restored on exit."""

from __future__ import annotations

import openai
import pytest

import resilient_responses as rr
from resilient_responses._config import TestingState, get_testing
from resilient_responses.testing import FakeResponsesAPI, Fault, set_testing

from ._support import MODEL, events_named, outage


class SleepSpy:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)

    async def asleep(self, seconds: float) -> None:
        self.calls.append(seconds)


def test_testing_mode_never_sleeps_and_caps_attempts(logs) -> None:
    """Inside set_testing(True, attempts=2): attempts=5 becomes 2, the injected sleep is
    never called, and the computed wait is still logged."""
    spy = SleepSpy()
    fake = outage(Fault.status(503))
    resilience = rr.Resilience(attempts=5, breaker=None, sleep=spy)
    client = rr.ResilientOpenAI(fake.client(), resilience=resilience)
    with set_testing(True, attempts=2), pytest.raises(openai.InternalServerError) as info:
        client.responses.create(model=MODEL, input="hi")
    assert len(fake.requests) == 2
    assert spy.calls == []
    (scheduled,) = events_named(logs, "retry_scheduled")
    assert scheduled["wait_s"] > 0
    assert "gave up after 2 attempts" in "\n".join(info.value.__notes__)


async def test_testing_mode_never_awaits_the_async_sleep() -> None:
    """The async loop does not call the injected sleep either."""
    spy = SleepSpy()
    fake = outage(Fault.status(503))
    resilience = rr.Resilience(attempts=3, breaker=None, sleep=spy.asleep)
    client = rr.AsyncResilientOpenAI(fake.async_client(), resilience=resilience)
    with set_testing(True), pytest.raises(openai.InternalServerError):
        await client.responses.create(model=MODEL, input="hi")
    assert len(fake.requests) == 3  # attempts not capped without attempts=
    assert spy.calls == []


def test_testing_mode_caps_a_policy_with_more_attempts() -> None:
    """A per-policy attempts=8 is capped too."""
    fake = outage(Fault.status(429))
    resilience = rr.Resilience(
        policies={429: rr.ErrorPolicy(attempts=8, trips_breaker=False)}, sleep=SleepSpy()
    )
    client = rr.ResilientOpenAI(fake.client(), resilience=resilience)
    with set_testing(True, attempts=3), pytest.raises(openai.RateLimitError):
        client.responses.create(model=MODEL, input="hi")
    assert len(fake.requests) == 3


def test_testing_mode_restores_the_previous_state_on_exit() -> None:
    """Nested blocks restore what was there before, also when the block raises."""
    assert get_testing() == TestingState()
    with set_testing(True, attempts=3) as state:
        assert state == TestingState(enabled=True, attempts=3)
        with set_testing(True, attempts=1):
            assert get_testing().attempts == 1
        assert get_testing() == TestingState(enabled=True, attempts=3)
        with pytest.raises(RuntimeError), set_testing(False):
            raise RuntimeError
        assert get_testing() == TestingState(enabled=True, attempts=3)
    assert get_testing() == TestingState()


def test_sleep_resumes_after_the_testing_block(vtime) -> None:
    """After the block, the injected sleep is called again."""
    fake = FakeResponsesAPI()
    resilience = rr.Resilience(sleep=vtime.sleep, clock=vtime.clock, breaker=None)
    client = rr.ResilientOpenAI(fake.client(), resilience=resilience)
    with set_testing(True):
        fake.plan([Fault.status(503), None])
        client.responses.create(model=MODEL, input="hi")
    assert vtime.sleeps == []
    fake.plan([Fault.status(503), None])
    client.responses.create(model=MODEL, input="hi")
    assert len(vtime.sleeps) == 1


@pytest.mark.parametrize("attempts", [0, -1, True, 1.5])
def test_set_testing_rejects_bad_attempts(attempts: object) -> None:
    """attempts must be None or an int >= 1; the state is left untouched."""
    with pytest.raises(ValueError, match="attempts"):
        set_testing(True, attempts=attempts)  # type: ignore[arg-type]
    assert get_testing() == TestingState()
