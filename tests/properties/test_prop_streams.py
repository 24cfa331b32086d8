"""Stream invariants, end to end through the drop-in clients, under drawn fault plans."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import openai
from hypothesis import example, given
from hypothesis import strategies as st

from resilient_responses import AsyncResilientOpenAI, Resilience, ResilientOpenAI, StreamPolicy
from resilient_responses.testing import FakeResponsesAPI, Fault, set_testing, strategies

from ._support import MODEL, PROMPT, check_stream, stream_once

recoveries = st.sampled_from(["auto", "resume", "restart", "raise"])
# Found by a run of the suite: a restart whose new response opens with the server's
# failure, numbered 0 (the consumer sees created 0, then error 0 of the next response).
_RESTART_INTO_A_FAILURE = example(
    plan=[
        Fault.error_event(after_events=1, code="server_error"),
        Fault.error_event(after_events=0, code="invalid_prompt"),
    ],
    background=False,
    recovery="auto",
)


def _resilience(recovery: str) -> Resilience:
    return Resilience(attempts=4, breaker=None, stream=StreamPolicy(recovery=recovery))  # type: ignore[arg-type]


@given(plan=strategies.fault_plans(), background=st.booleans(), recovery=recoveries)
@_RESTART_INTO_A_FAILURE
def test_sync_stream_delivers_every_sequence_number_once_in_order(
    plan: list[Fault | None], background: bool, recovery: str
) -> None:
    """Pins exactly-once delivery for ``ResilientOpenAI`` streams under any fault plan and any
    recovery mode: per response 0, 1, 2... without gap or repeat, no restart after output,
    the full text on completion, an honest ``StreamInterruptedError`` otherwise."""
    fake = FakeResponsesAPI()
    fake.plan(plan)
    client = ResilientOpenAI(fake.client(), resilience=_resilience(recovery))
    with set_testing(True):
        events, error = stream_once(client, background=background)
    check_stream(events, error)


async def _astream_once(
    client: AsyncResilientOpenAI, *, background: bool
) -> tuple[list[Any], openai.OpenAIError | None]:
    events: list[Any] = []
    try:
        stream = await client.responses.create(
            model=MODEL, input=PROMPT, stream=True, background=background
        )
        async with stream:
            async for event in stream:
                events.append(event)  # noqa: PERF401 (events before an error must survive)
    except openai.OpenAIError as exc:
        return events, exc
    return events, None


@given(plan=strategies.fault_plans(), background=st.booleans(), recovery=recoveries)
@_RESTART_INTO_A_FAILURE
def test_async_stream_delivers_every_sequence_number_once_in_order(
    plan: list[Fault | None], background: bool, recovery: str
) -> None:
    """Pins the same exactly-once delivery for ``AsyncResilientOpenAI`` streams."""
    fake = FakeResponsesAPI()
    fake.plan(plan)
    client = AsyncResilientOpenAI(fake.async_client(), resilience=_resilience(recovery))
    with set_testing(True):
        events, error = asyncio.run(_astream_once(client, background=background))
    check_stream(events, error)


# The SDK's own helper raises this when a stream opens with an ``error`` event (the raw SDK
# does the same): the helper's behaviour, not a fault of ours; the stream must still close.
_HELPER_NEEDS_CREATED = "Expected to have received `response.created`"


def _sdk_helper_refused(exc: RuntimeError) -> bool:
    return str(exc).startswith(_HELPER_NEEDS_CREATED)


consumers = st.sampled_from(["to_the_end", "close_early", "with_break", "helper", "helper_break"])


def _consume(client: ResilientOpenAI, how: str, stop: int, background: bool) -> None:
    kwargs: dict[str, Any] = {"model": MODEL, "input": PROMPT, "background": background}
    if how.startswith("helper"):
        try:
            with client.responses.stream(**kwargs) as helper:
                for n, _event in enumerate(helper):
                    if how == "helper_break" and n >= stop:
                        break
        except RuntimeError as exc:
            if not _sdk_helper_refused(exc):
                raise
        return
    stream = client.responses.create(stream=True, **kwargs)
    if how == "with_break":
        with stream:
            for n, _event in enumerate(stream):
                if n >= stop:
                    break
        return
    for n, _event in enumerate(stream):
        if how == "close_early" and n >= stop:
            break
    stream.close()


@given(
    plan=strategies.fault_plans(),
    background=st.booleans(),
    how=consumers,
    stop=st.integers(min_value=0, max_value=25),
)
def test_sync_stream_closes_every_http_response_it_opens(
    plan: list[Fault | None], background: bool, how: str, stop: int
) -> None:
    """Pins: whether the consumer reads to the end, closes early, leaves a ``with`` block,
    or uses the SDK's ``responses.stream()`` helper, and whatever fault ends the stream,
    no SSE body stays open at the fake afterwards (resumes and restarts included)."""
    fake = FakeResponsesAPI()
    fake.plan(plan)
    client = ResilientOpenAI(fake.client(), resilience=Resilience(attempts=4, breaker=None))
    with set_testing(True), contextlib.suppress(openai.OpenAIError):
        _consume(client, how, stop, background)
    assert fake.open_streams == 0


async def _aconsume(client: AsyncResilientOpenAI, how: str, stop: int, background: bool) -> None:
    kwargs: dict[str, Any] = {"model": MODEL, "input": PROMPT, "background": background}
    if how.startswith("helper"):
        try:
            async with client.responses.stream(**kwargs) as helper:
                n = 0
                async for _event in helper:
                    if how == "helper_break" and n >= stop:
                        break
                    n += 1
        except RuntimeError as exc:
            if not _sdk_helper_refused(exc):
                raise
        return
    stream = await client.responses.create(stream=True, **kwargs)
    n = 0
    if how == "with_break":
        async with stream:
            async for _event in stream:
                if n >= stop:
                    break
                n += 1
        return
    async for _event in stream:
        if how == "close_early" and n >= stop:
            break
        n += 1
    await stream.close()


@given(
    plan=strategies.fault_plans(),
    background=st.booleans(),
    how=consumers,
    stop=st.integers(min_value=0, max_value=25),
)
def test_async_stream_closes_every_http_response_it_opens(
    plan: list[Fault | None], background: bool, how: str, stop: int
) -> None:
    """Pins the same for ``AsyncResilientOpenAI``: no SSE body left open, however consumed."""
    fake = FakeResponsesAPI()
    fake.plan(plan)
    client = AsyncResilientOpenAI(
        fake.async_client(), resilience=Resilience(attempts=4, breaker=None)
    )

    async def run() -> None:
        with contextlib.suppress(openai.OpenAIError):
            await _aconsume(client, how, stop, background)

    with set_testing(True):
        asyncio.run(run())
    assert fake.open_streams == 0
