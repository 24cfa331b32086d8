"""Type-level checks of the public API, run by mypy (strict) only.

Nothing here executes: every check sits in a function that is never called. Each
``assert_type`` fails the mypy run if the library's annotations drift.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import openai
from openai.types.responses import Response, ResponseStreamEvent
from typing_extensions import assert_type

import resilient_responses as rr
from resilient_responses import (
    AsyncResilientOpenAI,
    Backoff,
    BreakerConfig,
    CircuitOpenError,
    ErrorPolicy,
    Failure,
    Resilience,
    ResilientOpenAI,
    RetryBudget,
    classify,
    resilient,
)
from resilient_responses.testing import FakeResponsesAPI, Fault, VirtualClock, set_testing


async def _decorators_preserve_signatures() -> None:
    @resilient
    def bare(x: int) -> int:
        return x

    @resilient(attempts=3, backoff=Backoff(initial=0.1))
    def configured(x: int, *, label: str = "") -> int:
        return x

    policy = Resilience(
        policies={429: ErrorPolicy(attempts=8), "insufficient_quota": ErrorPolicy.never()}
    )

    @policy
    def shared(x: int) -> int:
        return x

    @policy
    async def ask(question: str) -> str:
        return question

    assert_type(bare(1), int)
    assert_type(configured(1, label="a"), int)
    assert_type(shared(1), int)
    assert_type(await ask("q"), str)
    coroutine = assert_type(ask("q"), Coroutine[Any, Any, str])
    await coroutine


async def _call_and_acall() -> None:
    policy = Resilience(attempts=2, breaker=BreakerConfig(fail_max=3), budget=RetryBudget())

    def double(x: int) -> int:
        return 2 * x

    async def adouble(x: int) -> int:
        return 2 * x

    assert_type(policy.call(double, 2), int)
    assert_type(await policy.acall(adouble, 2), int)
    assert_type((await policy.astats()).total.calls, int)


def _drop_in_client_keeps_sdk_types() -> None:
    client = ResilientOpenAI()
    assert_type(client, ResilientOpenAI)
    response = client.responses.create(model="gpt-5-mini", input="hi")
    assert_type(response, Response)
    assert_type(response.output_text, str)
    raw: openai.OpenAI = client  # a real subclass
    wrapped = Resilience().wrap(raw)
    assert_type(wrapped, ResilientOpenAI)
    assert_type(client.resilience, Resilience)


async def _async_client_keeps_sdk_types() -> None:
    wrapped = Resilience().wrap(openai.AsyncOpenAI())
    assert_type(wrapped, AsyncResilientOpenAI)
    response = await wrapped.responses.create(model="gpt-5-mini", input="hi")
    assert_type(response, Response)
    client = AsyncResilientOpenAI(openai.AsyncOpenAI(), resilience=Resilience())
    assert_type(client, AsyncResilientOpenAI)
    aclient: openai.AsyncOpenAI = client
    del aclient


def _errors_and_failures(exc: BaseException) -> None:
    failure = classify(exc)
    assert_type(failure, Failure | None)
    if failure is not None:
        assert_type(failure.status, int | None)
        assert_type(failure.retry_after, float | None)
    try:
        pass
    except CircuitOpenError as open_error:
        assert_type(open_error.key, str)
        assert_type(open_error.retry_in, float)
        base: openai.OpenAIError = open_error
        del base
    assert issubclass(rr.ResilienceError, openai.OpenAIError)


def _testing_kit() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.status(429, retry_after=1), None], then=Fault.status(503))
    assert_type(fake.client(max_retries=0), openai.OpenAI)
    assert_type(fake.async_client(), openai.AsyncOpenAI)
    with set_testing(True, attempts=1):
        pass


def _awaitable_is_typed(f: Callable[[], Awaitable[int]]) -> None:
    policy = Resilience()

    async def run() -> int:
        return await policy.acall(f)

    del run


def _observability(client: rr.ResilientOpenAI) -> None:
    resilience = Resilience(
        prices=rr.PriceTable(),
        cost_budget=rr.CostBudget(hourly=5.0, daily=50.0),
        tracers=[rr.OpenTelemetryTracer()],
    )
    stats = resilience.stats()
    assert_type(stats.total.calls, int)
    assert_type(stats.total.cost_usd, float)
    assert_type(stats.as_dict(), dict[str, Any])
    router = rr.EventRouter()
    guard = rr.StreamGuard(lambda text: "flagged" if "x" in text else None, every_chars=50)
    stream = client.responses.create(model="gpt-5-mini", input="hi", stream=True)
    for event in guard.iter(stream, client=client):
        assert_type(event, ResponseStreamEvent)
    summary = router.run(client.responses.create(model="gpt-5-mini", input="hi", stream=True))
    assert_type(summary.total, int)
    clock = VirtualClock()
    Resilience(clock=clock.clock, sleep=clock.sleep)


async def _wave_two_types() -> None:
    """The wave-2 API keeps the SDK's types: adapters, batches, stores, cache, streams."""
    from openai.types.chat import ChatCompletion

    from resilient_responses import (
        AsyncChatCompletionsAdapter,
        CallReport,
        ChatCompletionsAdapter,
        MemoryStore,
        Outcome,
        RedisStore,
        ResponseCache,
        arun_batch,
        observe_calls,
        run_batch,
    )
    from resilient_responses.testing import Quota, Reply

    client = ResilientOpenAI(FakeResponsesAPI().client())
    aclient = AsyncResilientOpenAI(FakeResponsesAPI().async_client())
    completion = ChatCompletionsAdapter(client).create(
        model="gpt-5-mini", messages=[{"role": "user", "content": "hi"}]
    )
    assert_type(completion, ChatCompletion)
    acompletion = await AsyncChatCompletionsAdapter(aclient).create(
        model="gpt-5-mini", messages=[{"role": "user", "content": "hi"}]
    )
    assert_type(acompletion, ChatCompletion)
    assert_type(run_batch(client, [{"model": "gpt-5-mini", "input": "hi"}]), list[Outcome])
    assert_type(await arun_batch(aclient, [{"model": "m", "input": "hi"}]), list[Outcome])
    Resilience(store=MemoryStore(), cache=ResponseCache(max_entries=10))
    Resilience(store=RedisStore.from_url("redis://127.0.0.1:6379/0"))
    Resilience(fallbacks={"gpt-5": ("gpt-5-mini",)}, context_fallbacks={"gpt-5-mini": ["gpt-5"]})
    reports: list[CallReport] = []
    with observe_calls(reports.append):
        stream = client.responses.create(model="gpt-5-mini", input="hi", stream=True)
        assert isinstance(stream, openai.Stream)
    FakeResponsesAPI(turns=[Reply.function_call("f", {"a": 1}), Reply.text("ok")])
    FakeResponsesAPI(quota=Quota(requests_per_minute=60))
