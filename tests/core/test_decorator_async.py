"""The decorator on coroutine functions: identity kept, cancellation passes through,
only server faults are retried (async)."""

from __future__ import annotations

import asyncio
import inspect

import openai
import pytest

import resilient_responses as rr
from resilient_responses.testing import FakeResponsesAPI, Fault

from ._support import MODEL, fail_count, outage, sdk_error


async def _original(text: str, *, times: int = 1) -> str:
    """Repeat *text*."""
    return text * times


async def test_async_decorator_keeps_name_docstring_signature_and_coroutineness() -> None:
    """The wrapper is itself a coroutine function with the original's identity."""
    decorated = rr.resilient(_original)
    assert inspect.iscoroutinefunction(decorated)
    assert decorated.__name__ == "_original"
    assert decorated.__doc__ == "Repeat *text*."
    assert inspect.signature(decorated) == inspect.signature(_original)
    assert await decorated("ab", times=2) == "abab"


async def test_async_decorator_on_a_method(vtime) -> None:
    """An async method is decorated like a function; self is passed through."""

    class Asker:
        calls = 0

        @rr.resilient(sleep=vtime.asleep, clock=vtime.clock)
        async def ask(self, text: str) -> str:
            self.calls += 1
            if self.calls == 1:
                raise sdk_error(429, "rate_limit_exceeded")
            return text

    asker = Asker()
    assert await asker.ask("x") == "x"
    assert asker.calls == 2


async def test_acall_runs_a_coroutine_function_through_the_engine(vtime) -> None:
    """Resilience.acall(fn, ...) retries a raw async SDK call."""
    fake = FakeResponsesAPI()
    fake.plan([Fault.status(503)])
    raw = fake.async_client(max_retries=0)
    resilience = rr.Resilience(sleep=vtime.asleep, clock=vtime.clock)
    response = await resilience.acall(raw.responses.create, model=MODEL, input="hi")
    assert response.status == "completed"
    assert len(fake.requests) == 2


async def test_cancelled_while_sleeping_between_attempts_stops_for_good(logs) -> None:
    """A call cancelled during the wait after a 503 raises CancelledError: no further
    attempt, no gave_up, and the breaker counts only the real 503, not the cancellation."""
    started = asyncio.Event()
    sleeps: list[float] = []

    async def blocking_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        started.set()
        await asyncio.Event().wait()  # never set: only cancellation ends it

    resilience = rr.Resilience(
        attempts=5,
        sleep=blocking_sleep,
        breaker=rr.BreakerConfig(fail_max=10, key=lambda: "k"),
    )
    calls = []

    @resilience
    async def flaky() -> None:
        calls.append(1)
        raise sdk_error(503, "server_error")

    task = asyncio.ensure_future(flaky())
    await asyncio.wait_for(started.wait(), timeout=5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(5):
        await asyncio.sleep(0)
    assert calls == [1]
    assert len(sleeps) == 1
    assert fail_count(resilience, "k") == 1
    assert [e["event"] for e in logs] == ["resilient_responses.retry_scheduled"]


async def test_cancelled_during_an_attempt_passes_through_uncounted() -> None:
    """Cancelled while the request is in flight: CancelledError, one request, nothing
    counted by the breaker, no note on anything."""
    fake = outage(Fault.latency(5.0))
    raw = fake.async_client(max_retries=0)
    resilience = rr.Resilience(breaker=rr.BreakerConfig(fail_max=1, key=lambda: "k"))

    @resilience
    async def ask() -> object:
        return await raw.responses.create(model=MODEL, input="hi")

    task = asyncio.ensure_future(ask())
    for _ in range(50):
        await asyncio.sleep(0.01)
        if fake.requests:
            break
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(fake.requests) == 1
    assert fail_count(resilience, "k") == 0
    assert resilience.breaker_state("k") == "closed"


async def test_async_value_error_is_not_retried(vtime) -> None:
    """A ValueError from the coroutine is the caller's bug: raised at once, one call."""
    calls = []

    @rr.resilient(sleep=vtime.asleep, clock=vtime.clock)
    async def broken() -> None:
        calls.append(1)
        raise ValueError("bug")

    with pytest.raises(ValueError, match="bug"):
        await broken()
    assert calls == [1]
    assert vtime.sleeps == []


async def test_async_decorated_call_reraises_the_last_sdk_error(vtime) -> None:
    """After the attempts, the last SDK error itself is re-raised with the note."""
    raised: list[openai.APIError] = []

    @rr.resilient(attempts=2, sleep=vtime.asleep, clock=vtime.clock)
    async def fail() -> None:
        raised.append(sdk_error(504, "server_error"))
        raise raised[-1]

    with pytest.raises(openai.InternalServerError) as info:
        await fail()
    assert info.value is raised[-1]
    assert len(raised) == 2


async def test_an_object_with_an_async_call_method_is_decorated_as_a_coroutine(vtime) -> None:
    """``async def __call__`` makes an object a coroutine function in all but name: its
    calls are retried (found by an unscripted run: they were returned unawaited by the
    sync wrapper, neither retried nor counted as failed)."""

    class Ask:
        def __init__(self) -> None:
            self.calls = 0

        async def __call__(self, text: str) -> str:
            self.calls += 1
            if self.calls == 1:
                raise sdk_error(500, "server_error")
            return text

    ask = Ask()
    resilience = rr.Resilience(sleep=vtime.asleep, clock=vtime.clock)
    decorated = resilience(ask)
    assert inspect.iscoroutinefunction(decorated)
    assert await decorated("x") == "x"
    assert ask.calls == 2
    assert resilience.stats().total.failures == 0
