"""StreamGuard over sync streams: flagged text never runs more than ``every_chars`` past the
flagged word, the stream is closed, background responses are cancelled, checks are spaced."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any, cast

import openai
import pytest
from hypothesis import given
from hypothesis import strategies as st

from resilient_responses import GuardTripped, Resilience, ResilientOpenAI, StreamPolicy
from resilient_responses._guard import StreamGuard, moderation_check
from resilient_responses.testing import FakeResponsesAPI, Fault

MODEL = "gpt-5-mini"
WORD = "xyzzy"  # fillers are drawn from other letters, so only the planted word matches


def flags_word(text: str) -> str | None:
    return f"contains {WORD}" if WORD in text.split() else None


@pytest.fixture
def fake() -> FakeResponsesAPI:
    # The output is the input, so each test places the flagged word exactly.
    return FakeResponsesAPI(text=lambda body: str(body["input"]))


@pytest.fixture
def client(fake: FakeResponsesAPI) -> Iterator[openai.OpenAI]:
    with fake.client(max_retries=0) as c:
        yield c


def sentence(words: int, start: int = 0) -> str:
    return " ".join(f"w{n:03d}" for n in range(start, start + words))


def deltas(events: list[Any]) -> str:
    return "".join(e.delta for e in events if e.type == "response.output_text.delta")


def consume(guarded: Iterator[Any]) -> tuple[list[Any], GuardTripped | None]:
    received: list[Any] = []
    try:
        for event in guarded:
            received.append(event)  # noqa: PERF402 - keep what arrived before the trip
    except GuardTripped as exc:
        return received, exc
    return received, None


def cancels(fake: FakeResponsesAPI) -> list[str]:
    return [r.path for r in fake.requests if r.method == "POST" and r.path.endswith("/cancel")]


# -- the guarantee ----------------------------------------------------------------------


_PROPERTY_FAKE = FakeResponsesAPI(text=lambda body: str(body["input"]))
_PROPERTY_CLIENT = _PROPERTY_FAKE.client(max_retries=0)
filler = st.text(alphabet="abcdefg", min_size=1, max_size=12)


@given(
    every_chars=st.integers(min_value=1, max_value=80),
    before=st.lists(filler, max_size=30),
    after=st.lists(filler, max_size=30),
)
def test_the_consumer_never_receives_every_chars_past_the_end_of_a_flagged_word(
    every_chars: int, before: list[str], after: list[str]
) -> None:
    text = " ".join([*before, WORD, *after])
    word_end = text.index(WORD) + len(WORD)
    guard = StreamGuard(flags_word, every_chars=every_chars)
    stream = _PROPERTY_CLIENT.responses.create(model=MODEL, input=text, stream=True)
    received, tripped = consume(guard.iter(stream))
    assert tripped is not None
    assert WORD in tripped.text.split()
    delivered = deltas(received)
    assert tripped.text.startswith(delivered)
    assert len(delivered) - word_end < every_chars  # fewer than every_chars past the word
    # Events repeating the whole text are never delivered once it is flagged.
    assert not any(e.type.endswith(".done") or e.type == "response.completed" for e in received)
    assert _PROPERTY_FAKE.open_streams == 0


@given(
    every_chars=st.integers(min_value=1, max_value=80),
    words=st.lists(filler, max_size=40),
)
def test_clean_text_passes_unchanged_and_checks_are_spaced_every_chars_apart(
    every_chars: int, words: list[str]
) -> None:
    text = " ".join(words)
    seen: list[str] = []

    def check(accumulated: str) -> None:
        seen.append(accumulated)

    stream = _PROPERTY_CLIENT.responses.create(model=MODEL, input=text, stream=True)
    received = list(StreamGuard(check, every_chars=every_chars).iter(stream))
    assert received[-1].type == "response.completed"
    assert deltas(received) == text
    sizes = [len(s) for s in seen]
    # Every check but the final one sees at least every_chars new characters...
    assert all(b - a >= every_chars for a, b in zip([0, *sizes], sizes[:-1], strict=False))
    # ...and the final one covers the whole text, so nothing was delivered unchecked.
    assert sizes[-1:] == ([len(text)] if text else [])
    assert len(seen) <= len(text) // every_chars + 1


def test_a_flagged_word_stops_the_stream_within_the_interval(
    client: openai.OpenAI, fake: FakeResponsesAPI
) -> None:
    text = f"{sentence(10)} {WORD} {sentence(30, 10)}"
    stream = client.responses.create(model=MODEL, input=text, stream=True)
    received, tripped = consume(StreamGuard(flags_word, every_chars=20).iter(stream))
    assert tripped is not None
    assert tripped.reason == f"contains {WORD}"
    assert tripped.response_id == received[0].response.id
    assert str(tripped) == f"stream guard tripped: contains {WORD}"
    delivered = deltas(received)
    assert WORD in delivered  # it arrived between two checks...
    assert len(delivered) - (text.index(WORD) + len(WORD)) < 20  # ...and little after it
    assert fake.open_streams == 0
    assert cancels(fake) == []  # not a background response


def test_the_final_check_runs_before_the_text_is_repeated_in_done_events(
    client: openai.OpenAI,
) -> None:
    text = f"short {WORD}"  # far fewer than every_chars characters
    stream = client.responses.create(model=MODEL, input=text, stream=True)
    received, tripped = consume(StreamGuard(flags_word, every_chars=1000).iter(stream))
    assert tripped is not None
    assert deltas(received) == text
    assert received[-1].type == "response.output_text.delta"


def test_a_stream_cut_without_a_terminal_event_is_checked_at_its_end(
    client: openai.OpenAI, fake: FakeResponsesAPI
) -> None:
    fake.plan([Fault.truncate(after_events=8)])  # the raw SDK stream ends silently
    stream = client.responses.create(model=MODEL, input=f"a {WORD} b c d e f", stream=True)
    received, tripped = consume(StreamGuard(flags_word, every_chars=1000).iter(stream))
    assert tripped is not None
    assert received[-1].type == "response.output_text.delta"


# -- closing and cancelling -------------------------------------------------------------


def test_a_flagged_background_response_is_cancelled(
    client: openai.OpenAI, fake: FakeResponsesAPI
) -> None:
    stream = client.responses.create(
        model=MODEL, input=f"{sentence(5)} {WORD} {sentence(20)}", stream=True, background=True
    )
    _received, tripped = consume(StreamGuard(flags_word, every_chars=10).iter(stream, client))
    assert tripped is not None
    assert tripped.response_id is not None
    assert cancels(fake) == [f"/v1/responses/{tripped.response_id}/cancel"]
    assert client.responses.retrieve(tripped.response_id).status == "cancelled"
    assert fake.open_streams == 0


@pytest.mark.parametrize(
    ("with_client", "cancel_background"), [(False, True), (True, False)], ids=["no-client", "off"]
)
def test_no_cancel_without_a_client_or_when_turned_off(
    client: openai.OpenAI, fake: FakeResponsesAPI, with_client: bool, cancel_background: bool
) -> None:
    guard = StreamGuard(flags_word, every_chars=5, cancel_background=cancel_background)
    stream = client.responses.create(
        model=MODEL, input=f"{WORD} {sentence(10)}", stream=True, background=True
    )
    _received, tripped = consume(guard.iter(stream, client if with_client else None))
    assert tripped is not None
    assert cancels(fake) == []
    assert fake.open_streams == 0


def test_a_failed_cancel_still_raises_the_verdict_with_a_note(
    client: openai.OpenAI, fake: FakeResponsesAPI
) -> None:
    stream = client.responses.create(
        model=MODEL, input=f"{WORD} {sentence(10)}", stream=True, background=True
    )
    fake.plan([Fault.status(500)])  # the cancel request
    _received, tripped = consume(StreamGuard(flags_word, every_chars=5).iter(stream, client))
    assert tripped is not None
    notes = getattr(tripped, "__notes__", [])
    assert any("InternalServerError" in note and "may still be running" in note for note in notes)


def test_a_trip_on_the_terminal_event_does_not_cancel_a_finished_response() -> None:
    created = SimpleNamespace(
        type="response.created", response=SimpleNamespace(id="resp_1", background=True)
    )
    delta = SimpleNamespace(type="response.output_text.delta", delta=f"{WORD} ")
    completed = SimpleNamespace(type="response.completed", response=None)
    calls: list[str] = []
    client: Any = SimpleNamespace(responses=SimpleNamespace(cancel=calls.append))
    guard = StreamGuard(flags_word, every_chars=100)
    received, tripped = consume(guard.iter([created, delta, completed], client))
    assert tripped is not None
    assert received == [created, delta]
    assert calls == []


def test_leaving_the_guarded_loop_early_closes_the_stream(
    client: openai.OpenAI, fake: FakeResponsesAPI
) -> None:
    stream = client.responses.create(model=MODEL, input=sentence(20), stream=True)
    guarded = StreamGuard(flags_word).iter(stream)
    for event in guarded:
        if event.type == "response.output_text.delta":
            break
    guarded.close()  # what a for loop's owner does when it drops the iterator
    assert fake.open_streams == 0


def test_guarding_a_resilient_stream_that_was_resumed(fake: FakeResponsesAPI) -> None:
    fake.plan([Fault.reset(after_events=9)])
    policy = Resilience(sleep=lambda _s: None, stream=StreamPolicy(make_resumable=True))
    client = ResilientOpenAI(fake.client(), resilience=policy)
    stream = client.responses.create(
        model=MODEL, input=f"{sentence(8)} {WORD} {sentence(30)}", stream=True
    )
    received, tripped = consume(StreamGuard(flags_word, every_chars=15).iter(stream, client))
    assert tripped is not None
    assert tripped.response_id == cast(Any, stream).response_id
    delivered = deltas(received)
    assert tripped.text.startswith(delivered)
    assert len(delivered) - (tripped.text.index(WORD) + len(WORD)) < 15
    assert cancels(fake) == [f"/v1/responses/{tripped.response_id}/cancel"]
    assert fake.open_streams == 0


def test_the_sdk_stream_helper_can_be_guarded(client: openai.OpenAI) -> None:
    with client.responses.stream(model=MODEL, input=f"{WORD} {sentence(5)}") as stream:
        received, tripped = consume(StreamGuard(flags_word, every_chars=3).iter(stream))
    assert tripped is not None
    assert deltas(received) == ""


# -- check results ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("result", "reason"),
    [(True, "flagged by the stream guard's check"), ("pii", "pii")],
)
def test_a_true_or_str_result_flags(client: openai.OpenAI, result: Any, reason: str) -> None:
    stream = client.responses.create(model=MODEL, input=sentence(3), stream=True)
    _received, tripped = consume(StreamGuard(lambda _t: result, every_chars=1).iter(stream))
    assert tripped is not None
    assert tripped.reason == reason


@pytest.mark.parametrize("result", [None, False, ""])
def test_none_false_and_empty_results_pass(client: openai.OpenAI, result: Any) -> None:
    stream = client.responses.create(model=MODEL, input=sentence(3), stream=True)
    received = list(StreamGuard(lambda _t: result, every_chars=1).iter(stream))
    assert deltas(received) == sentence(3)


def test_a_check_returning_something_else_is_a_type_error(
    client: openai.OpenAI, fake: FakeResponsesAPI
) -> None:
    stream = client.responses.create(model=MODEL, input=sentence(3), stream=True)
    with pytest.raises(TypeError, match=r"str \| bool \| None"):
        list(StreamGuard(lambda _t: cast(Any, 1), every_chars=1).iter(stream))
    assert fake.open_streams == 0


def test_an_error_in_the_check_propagates_and_closes_the_stream(
    client: openai.OpenAI, fake: FakeResponsesAPI
) -> None:
    def broken(_text: str) -> None:
        raise RuntimeError("checker down")

    stream = client.responses.create(model=MODEL, input=sentence(3), stream=True)
    with pytest.raises(RuntimeError, match="checker down"):
        list(StreamGuard(broken, every_chars=1).iter(stream))
    assert fake.open_streams == 0


def test_async_checks_are_refused_by_the_sync_iterator(client: openai.OpenAI) -> None:
    async def acheck(_text: str) -> None:
        return None

    with pytest.raises(TypeError, match=r"guard\.aiter"):
        StreamGuard(acheck).iter([])

    def sneaky(text: str) -> Any:
        return acheck(text)  # a sync callable returning a coroutine

    stream = client.responses.create(model=MODEL, input=sentence(3), stream=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "coroutine was never awaited" would fail here
        with pytest.raises(TypeError, match=r"guard\.aiter"):
            list(StreamGuard(sneaky, every_chars=1).iter(stream))


# -- moderation -------------------------------------------------------------------------


def test_moderation_check_flags_with_the_categories_as_reason(
    client: openai.OpenAI, fake: FakeResponsesAPI
) -> None:
    fake.flagged_words.add(WORD)
    guard = StreamGuard(moderation_check(client, model="omni-moderation-test"), every_chars=25)
    stream = client.responses.create(
        model=MODEL, input=f"{sentence(4)} {WORD} {sentence(20)}", stream=True, background=True
    )
    received, tripped = consume(guard.iter(stream, client))
    assert tripped is not None
    assert tripped.reason == "harassment, violence"
    moderations = [r for r in fake.requests if r.path.endswith("/moderations")]
    assert moderations
    assert moderations[-1].json == {"input": tripped.text, "model": "omni-moderation-test"}
    assert all(r.json["input"] != "" for r in moderations)
    assert len(cancels(fake)) == 1
    assert len(deltas(received)) - (tripped.text.index(WORD) + len(WORD)) < 25


def test_moderation_check_passes_clean_text(client: openai.OpenAI, fake: FakeResponsesAPI) -> None:
    fake.flagged_words.add(WORD)
    stream = client.responses.create(model=MODEL, input=sentence(30), stream=True)
    received = list(StreamGuard(moderation_check(client), every_chars=50).iter(stream, client))
    assert deltas(received) == sentence(30)
    assert received[-1].type == "response.completed"


def test_a_moderation_outage_stops_the_stream(
    client: openai.OpenAI, fake: FakeResponsesAPI
) -> None:
    stream = client.responses.create(model=MODEL, input=sentence(30), stream=True)
    fake.plan([Fault.status(503)])  # the first moderation request
    with pytest.raises(openai.InternalServerError):
        list(StreamGuard(moderation_check(client), every_chars=10).iter(stream))
    assert fake.open_streams == 0


# -- validation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        ({"every_chars": 0}, ValueError, "every_chars"),
        ({"every_chars": -3}, ValueError, "every_chars"),
        ({"every_chars": "100"}, TypeError, "every_chars"),
        ({"every_chars": 2.5}, TypeError, "every_chars"),
        ({"every_chars": True}, TypeError, "every_chars"),
        ({"cancel_background": 1}, TypeError, "cancel_background"),
    ],
)
def test_bad_settings_are_rejected_naming_the_parameter(
    kwargs: dict[str, Any], error: type[Exception], name: str
) -> None:
    with pytest.raises(error, match=name):
        StreamGuard(flags_word, **kwargs)


def test_check_must_be_callable() -> None:
    with pytest.raises(TypeError, match="check"):
        StreamGuard("moderation")  # type: ignore[arg-type]


def test_stream_must_be_iterable_and_client_of_the_right_kind() -> None:
    with pytest.raises(TypeError, match="stream"):
        StreamGuard(flags_word).iter(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"openai\.OpenAI"):
        moderation_check(object())  # type: ignore[arg-type]


def test_repr_shows_the_settings() -> None:
    guard = StreamGuard(flags_word, every_chars=7, cancel_background=False)
    assert "every_chars=7" in repr(guard)
    assert "cancel_background=False" in repr(guard)
