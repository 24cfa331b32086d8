"""StreamGuard over async streams: the same guarantee as the sync twin, async checks,
async moderation, background cancel, and cancellation passing through untouched."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any, cast

import openai
import pytest
from hypothesis import given
from hypothesis import strategies as st

from resilient_responses import (
    AsyncResilientOpenAI,
    GuardTripped,
    Resilience,
    StreamPolicy,
)
from resilient_responses._guard import StreamGuard, amoderation_check
from resilient_responses.testing import FakeResponsesAPI, Fault

MODEL = "gpt-5-mini"
WORD = "xyzzy"


def flags_word(text: str) -> str | None:
    return f"contains {WORD}" if WORD in text.split() else None


async def aflags_word(text: str) -> str | None:
    await asyncio.sleep(0)  # a real suspension point, like a network check
    return flags_word(text)


@pytest.fixture
def fake() -> FakeResponsesAPI:
    return FakeResponsesAPI(text=lambda body: str(body["input"]))


@pytest.fixture
async def client(fake: FakeResponsesAPI) -> AsyncIterator[openai.AsyncOpenAI]:
    async with fake.async_client(max_retries=0) as c:
        yield c


def sentence(words: int, start: int = 0) -> str:
    return " ".join(f"w{n:03d}" for n in range(start, start + words))


def deltas(events: list[Any]) -> str:
    return "".join(e.delta for e in events if e.type == "response.output_text.delta")


async def consume(guarded: AsyncIterator[Any]) -> tuple[list[Any], GuardTripped | None]:
    received: list[Any] = []
    try:
        async for event in guarded:
            received.append(event)  # noqa: PERF401 - keep what arrived before the trip
    except GuardTripped as exc:
        return received, exc
    return received, None


def cancels(fake: FakeResponsesAPI) -> list[str]:
    return [r.path for r in fake.requests if r.method == "POST" and r.path.endswith("/cancel")]


# -- the guarantee ----------------------------------------------------------------------

_PROPERTY_FAKE = FakeResponsesAPI(text=lambda body: str(body["input"]))
filler = st.text(alphabet="abcdefg", min_size=1, max_size=12)


@given(
    every_chars=st.integers(min_value=1, max_value=80),
    before=st.lists(filler, max_size=30),
    after=st.lists(filler, max_size=30),
    async_check=st.booleans(),
)
def test_the_consumer_never_receives_every_chars_past_the_end_of_a_flagged_word(
    every_chars: int, before: list[str], after: list[str], async_check: bool
) -> None:
    text = " ".join([*before, WORD, *after])
    word_end = text.index(WORD) + len(WORD)
    guard = StreamGuard(aflags_word if async_check else flags_word, every_chars=every_chars)

    async def run() -> tuple[list[Any], GuardTripped | None]:
        async with _PROPERTY_FAKE.async_client(max_retries=0) as client:
            stream = await client.responses.create(model=MODEL, input=text, stream=True)
            return await consume(guard.aiter(stream))

    received, tripped = asyncio.run(run())
    assert tripped is not None
    delivered = deltas(received)
    assert tripped.text.startswith(delivered)
    assert len(delivered) - word_end < every_chars
    assert not any(e.type.endswith(".done") or e.type == "response.completed" for e in received)
    assert _PROPERTY_FAKE.open_streams == 0


async def test_clean_text_passes_unchanged_with_an_async_check(
    client: openai.AsyncOpenAI,
) -> None:
    seen: list[str] = []

    async def check(text: str) -> None:
        seen.append(text)

    stream = await client.responses.create(model=MODEL, input=sentence(30), stream=True)
    received = [e async for e in StreamGuard(check, every_chars=40).aiter(stream)]
    assert deltas(received) == sentence(30)
    assert received[-1].type == "response.completed"
    assert seen[-1] == sentence(30)
    assert len(seen) <= len(sentence(30)) // 40 + 1


# -- closing and cancelling -------------------------------------------------------------


async def test_a_flagged_background_response_is_cancelled(
    client: openai.AsyncOpenAI, fake: FakeResponsesAPI
) -> None:
    stream = await client.responses.create(
        model=MODEL, input=f"{sentence(5)} {WORD} {sentence(20)}", stream=True, background=True
    )
    _received, tripped = await consume(
        StreamGuard(aflags_word, every_chars=10).aiter(stream, client)
    )
    assert tripped is not None
    assert cancels(fake) == [f"/v1/responses/{tripped.response_id}/cancel"]
    assert (await client.responses.retrieve(str(tripped.response_id))).status == "cancelled"
    assert fake.open_streams == 0


async def test_no_cancel_for_a_foreground_response_or_without_a_client(
    client: openai.AsyncOpenAI, fake: FakeResponsesAPI
) -> None:
    foreground = await client.responses.create(
        model=MODEL, input=f"{WORD} {sentence(5)}", stream=True
    )
    _r, tripped = await consume(StreamGuard(flags_word, every_chars=3).aiter(foreground, client))
    assert tripped is not None
    background = await client.responses.create(
        model=MODEL, input=f"{WORD} {sentence(5)}", stream=True, background=True
    )
    _r, tripped = await consume(StreamGuard(flags_word, every_chars=3).aiter(background))
    assert tripped is not None
    assert cancels(fake) == []
    assert fake.open_streams == 0


async def test_a_failed_cancel_still_raises_the_verdict_with_a_note(
    client: openai.AsyncOpenAI, fake: FakeResponsesAPI
) -> None:
    stream = await client.responses.create(
        model=MODEL, input=f"{WORD} {sentence(10)}", stream=True, background=True
    )
    fake.plan([Fault.status(500)])
    _r, tripped = await consume(StreamGuard(flags_word, every_chars=5).aiter(stream, client))
    assert tripped is not None
    assert any("may still be running" in n for n in getattr(tripped, "__notes__", []))


async def test_leaving_the_guarded_loop_early_closes_the_stream(
    client: openai.AsyncOpenAI, fake: FakeResponsesAPI
) -> None:
    stream = await client.responses.create(model=MODEL, input=sentence(20), stream=True)
    guarded = StreamGuard(flags_word).aiter(stream)
    async for event in guarded:
        if event.type == "response.output_text.delta":
            break
    await guarded.aclose()
    assert fake.open_streams == 0


async def test_guarding_a_resilient_stream_that_was_resumed(fake: FakeResponsesAPI) -> None:
    fake.plan([Fault.reset(after_events=9)])
    policy = Resilience(sleep=lambda _s: None, stream=StreamPolicy(make_resumable=True))
    client = AsyncResilientOpenAI(fake.async_client(), resilience=policy)
    stream = await client.responses.create(
        model=MODEL, input=f"{sentence(8)} {WORD} {sentence(30)}", stream=True
    )
    received, tripped = await consume(
        StreamGuard(aflags_word, every_chars=15).aiter(stream, client)
    )
    assert tripped is not None
    assert tripped.response_id == cast(Any, stream).response_id
    assert len(deltas(received)) - (tripped.text.index(WORD) + len(WORD)) < 15
    assert cancels(fake) == [f"/v1/responses/{tripped.response_id}/cancel"]
    assert fake.open_streams == 0


async def test_an_async_generator_of_events_is_closed_with_aclose() -> None:
    closed: list[bool] = []

    async def events() -> AsyncIterator[Any]:
        try:
            yield SimpleNamespace(type="response.output_text.delta", delta=f"{WORD} ")
            yield SimpleNamespace(type="response.output_text.delta", delta="more ")
        finally:
            closed.append(True)

    received, tripped = await consume(StreamGuard(flags_word, every_chars=1).aiter(events()))
    assert tripped is not None
    assert received == []
    assert closed == [True]


# -- errors and cancellation ------------------------------------------------------------


async def test_cancellation_inside_the_check_passes_through_and_closes_the_stream(
    client: openai.AsyncOpenAI, fake: FakeResponsesAPI
) -> None:
    async def cancelled(_text: str) -> None:
        raise asyncio.CancelledError

    stream = await client.responses.create(model=MODEL, input=sentence(10), stream=True)
    with pytest.raises(asyncio.CancelledError):
        await consume(StreamGuard(cancelled, every_chars=5).aiter(stream))
    assert fake.open_streams == 0


async def test_a_task_cancelled_while_checking_is_cancelled(
    client: openai.AsyncOpenAI, fake: FakeResponsesAPI
) -> None:
    entered = asyncio.Event()

    async def slow(_text: str) -> None:
        entered.set()
        await asyncio.Event().wait()  # never set: only cancellation ends it

    stream = await client.responses.create(model=MODEL, input=sentence(10), stream=True)
    task = asyncio.create_task(consume(StreamGuard(slow, every_chars=5).aiter(stream)))
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled()
    assert fake.open_streams == 0


async def test_an_error_in_the_check_propagates(
    client: openai.AsyncOpenAI, fake: FakeResponsesAPI
) -> None:
    async def broken(_text: str) -> None:
        raise RuntimeError("checker down")

    stream = await client.responses.create(model=MODEL, input=sentence(3), stream=True)
    with pytest.raises(RuntimeError, match="checker down"):
        await consume(StreamGuard(broken, every_chars=1).aiter(stream))
    assert fake.open_streams == 0


# -- moderation -------------------------------------------------------------------------


async def test_amoderation_check_flags_with_the_categories_as_reason(
    client: openai.AsyncOpenAI, fake: FakeResponsesAPI
) -> None:
    fake.flagged_words.add(WORD)
    guard = StreamGuard(amoderation_check(client), every_chars=25)
    stream = await client.responses.create(
        model=MODEL, input=f"{sentence(4)} {WORD} {sentence(20)}", stream=True, background=True
    )
    received, tripped = await consume(guard.aiter(stream, client))
    assert tripped is not None
    assert tripped.reason == "harassment, violence"
    moderations = [r for r in fake.requests if r.path.endswith("/moderations")]
    assert moderations[-1].json == {"input": tripped.text, "model": "omni-moderation-latest"}
    assert len(cancels(fake)) == 1
    assert len(deltas(received)) - (tripped.text.index(WORD) + len(WORD)) < 25


async def test_amoderation_check_passes_clean_text(
    client: openai.AsyncOpenAI, fake: FakeResponsesAPI
) -> None:
    fake.flagged_words.add(WORD)
    stream = await client.responses.create(model=MODEL, input=sentence(30), stream=True)
    guard = StreamGuard(amoderation_check(client), every_chars=50)
    received = [e async for e in guard.aiter(stream, client)]
    assert deltas(received) == sentence(30)


# -- validation -------------------------------------------------------------------------


async def test_the_stream_must_be_async_iterable_and_the_client_async() -> None:
    with pytest.raises(TypeError, match="stream"):
        StreamGuard(flags_word).aiter([])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"openai\.AsyncOpenAI"):
        amoderation_check(FakeResponsesAPI().client())  # type: ignore[arg-type]
