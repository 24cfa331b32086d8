"""SSE protocol faults (keepalive, reorder, renumber, duplicate, gap, malformed): the values,
the bytes they put on the wire, and what the raw SDK makes of them, in-process (sync and
async), over real HTTP, and on background replays."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator

import httpx2
import openai
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from openai.types.responses import ResponseTextDeltaEvent
from openai.types.responses.response_stream_event import ResponseStreamEvent

from resilient_responses.testing import Chaos, FakeResponsesAPI, Fault, strategies
from resilient_responses.testing._exchange import KEEPALIVE, Silence, sse_steps

MODEL = "gpt-5-mini"
# The default answer: 20 events (12 text deltas at 4..15), one word per delta.
N_EVENTS = 20


def _seqs(events: list[ResponseStreamEvent]) -> list[int]:
    return [e.sequence_number for e in events]


def _deltas(events: list[ResponseStreamEvent]) -> list[str]:
    return [e.delta for e in events if isinstance(e, ResponseTextDeltaEvent)]


# What the raw SDK yields for each fault at after_events=5 of the 20-event default stream.
EXPECTED_SEQS = {
    Fault.reorder(after_events=5): [0, 1, 2, 3, 4, 6, 5, *range(7, 20)],
    Fault.renumber(after_events=5): [0, 1, 2, 3, 4, *range(15)],
    Fault.duplicate(after_events=5): [0, 1, 2, 3, 4, 4, *range(5, 20)],
    Fault.gap(after_events=5): [0, 1, 2, 3, 4, *range(6, 20)],
    Fault.keepalive(after_events=5, seconds=2, every=0.5): list(range(20)),
}


# -- values -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "exc", "words"),
    [
        (lambda: Fault.keepalive(seconds=-1), ValueError, "seconds"),
        (lambda: Fault.keepalive(every=0), ValueError, "every"),
        (lambda: Fault.keepalive(every=float("nan")), ValueError, "every"),
        (lambda: Fault.keepalive(every="1"), TypeError, "every"),  # type: ignore[arg-type]
        (lambda: Fault.keepalive(seconds=1e6, every=1e-3), ValueError, "at most 100000"),
        (lambda: Fault.keepalive(after_events=-1), ValueError, "after_events"),
        (lambda: Fault.reorder(after_events=-1), ValueError, "after_events"),
        (lambda: Fault.renumber(after_events=1.0), TypeError, "after_events"),  # type: ignore[arg-type]
        (lambda: Fault.duplicate(after_events=0), ValueError, r"after_events must be an int >= 1"),
        (lambda: Fault.gap(after_events=True), TypeError, "after_events"),
        (lambda: Fault.malformed(after_events=-2), ValueError, "after_events"),
    ],
)
def test_constructors_validate(build: object, exc: type[Exception], words: str) -> None:
    with pytest.raises(exc, match=words):
        build()  # type: ignore[operator]


def test_repr_reads_back_and_kinds() -> None:
    faults = [
        Fault.keepalive(after_events=3, seconds=5, every=0.25),
        Fault.reorder(after_events=2),
        Fault.renumber(after_events=4),
        Fault.duplicate(after_events=1),
        Fault.gap(after_events=0),
        Fault.malformed(after_events=7),
        Fault.gap(after_events=2) + Fault.keepalive(after_events=1) + Fault.reset(after_events=9),
    ]
    for fault in faults:
        assert eval(repr(fault), {"Fault": Fault}) == fault
    assert repr(faults[0]) == "Fault.keepalive(after_events=3, seconds=5.0, every=0.25)"
    assert [f.kind for f in faults[:6]] == [
        "keepalive",
        "reorder",
        "renumber",
        "duplicate",
        "gap",
        "malformed",
    ]


def test_compose_allows_one_sequence_fault_and_one_terminal() -> None:
    combo = Fault.gap(after_events=2) + Fault.keepalive(after_events=1) + Fault.truncate()
    assert combo.sequence_fault == Fault.gap(after_events=2)
    assert combo.keepalives == (Fault.keepalive(after_events=1),)
    assert combo.terminal == Fault.truncate()
    assert Fault.malformed().terminal == Fault.malformed()
    with pytest.raises(ValueError, match="at most one sequence fault"):
        Fault.gap(after_events=1) + Fault.reorder(after_events=3)
    with pytest.raises(ValueError, match="at most one terminal"):
        Fault.malformed() + Fault.reset()


# -- the bytes (pure) -------------------------------------------------------------------------


def _events(n: int, start: int = 0) -> list[dict[str, object]]:
    return [{"type": "t", "n": i, "sequence_number": start + i} for i in range(n)]


def _frames(steps: tuple[object, ...]) -> list[dict[str, object]]:
    return [
        json.loads(step.split(b"data: ", 1)[1])
        for step in steps
        if isinstance(step, bytes) and step != KEEPALIVE
    ]


def test_sse_steps_play_each_fault_on_delivered_positions() -> None:
    events = _events(6, start=10)  # a replay: numbers start at 10
    steps, end = sse_steps(events, Fault.renumber(after_events=2))
    assert [f["sequence_number"] for f in _frames(steps)] == [10, 11, 0, 1, 2, 3]
    assert [f["n"] for f in _frames(steps)] == [0, 1, 2, 3, 4, 5]  # content goes on
    assert end == "close"
    steps, _ = sse_steps(events, Fault.duplicate(after_events=3))
    frames = [s for s in steps if isinstance(s, bytes)]
    assert frames[2] == frames[3]  # byte-identical
    steps, _ = sse_steps(events, Fault.gap(after_events=0) + Fault.reset(after_events=2))
    assert [f["n"] for f in _frames(steps)] == [1, 2]
    steps, end = sse_steps(events, Fault.reorder(after_events=4) + Fault.reset(after_events=99))
    assert [f["n"] for f in _frames(steps)] == [0, 1, 2, 3, 5, 4]
    assert end == "reset"
    for past_the_end in (
        Fault.reorder(after_events=5),
        Fault.renumber(after_events=6),
        Fault.duplicate(after_events=7),
        Fault.gap(after_events=6),
    ):
        assert sse_steps(events, past_the_end) == sse_steps(events, None)


def test_sse_steps_malformed_and_keepalive() -> None:
    events = _events(4)
    steps, end = sse_steps(events, Fault.malformed(after_events=2))
    assert end == "close"
    assert len(steps) == 3
    last = steps[-1]
    assert isinstance(last, bytes)
    assert last.startswith(b"event: t\ndata: {")
    assert last.endswith(b"\n\n")
    with pytest.raises(json.JSONDecodeError):
        json.loads(last.split(b"data: ", 1)[1])
    steps, _ = sse_steps(events, Fault.keepalive(after_events=1, seconds=1.2, every=0.5))
    assert steps[1:5] == (Silence(0.5), KEEPALIVE, Silence(0.5), KEEPALIVE)
    rest = steps[5]
    assert isinstance(rest, Silence)
    assert rest.seconds == pytest.approx(0.2)  # the silence left after the last comment
    assert [type(s) for s in steps[6:]] == [bytes] * 3
    exact, _ = sse_steps(events, Fault.keepalive(after_events=4, seconds=0.3, every=0.1))
    assert exact.count(KEEPALIVE) == 3  # 0.3 / 0.1 is 2.9999... in floats: still 3 comments
    assert isinstance(exact[-1], bytes)  # after the last event, before the end of the body


# -- the raw SDK, in-process ------------------------------------------------------------------


@pytest.mark.parametrize("fault", list(EXPECTED_SEQS), ids=repr)
def test_raw_sdk_yields_disturbed_sequences_as_they_come(
    client: openai.OpenAI, fake: FakeResponsesAPI, fault: Fault
) -> None:
    clean = list(client.responses.create(model=MODEL, input="x", stream=True))
    fake.plan([fault])
    events = list(client.responses.create(model=MODEL, input="x", stream=True))
    assert _seqs(events) == EXPECTED_SEQS[fault]
    assert events[-1].type == "response.completed"  # no error: the SDK does not check
    if fault.kind == "gap":
        assert len(_deltas(events)) == len(_deltas(clean)) - 1  # one delta silently lost
    if fault.kind == "duplicate":
        assert _deltas(events) == [_deltas(clean)[0], *_deltas(clean)]  # event 4: a delta
    assert fake.open_streams == 0


def test_gap_and_duplicate_on_text_deltas(client: openai.OpenAI, fake: FakeResponsesAPI) -> None:
    clean = _deltas(list(client.responses.create(model=MODEL, input="x", stream=True)))
    fake.plan([Fault.gap(after_events=6), Fault.duplicate(after_events=7)])
    gapped = _deltas(list(client.responses.create(model=MODEL, input="x", stream=True)))
    assert gapped == clean[:2] + clean[3:]
    doubled = _deltas(list(client.responses.create(model=MODEL, input="x", stream=True)))
    assert doubled == [*clean[:3], clean[2], *clean[3:]]


def test_malformed_raises_json_decode_error_from_the_iterator(
    client: openai.OpenAI, fake: FakeResponsesAPI
) -> None:
    fake.plan([Fault.malformed(after_events=5), Fault.malformed(after_events=0)])
    seen: list[ResponseStreamEvent] = []
    with pytest.raises(json.JSONDecodeError):
        seen.extend(client.responses.create(model=MODEL, input="x", stream=True))
    assert _seqs(seen) == [0, 1, 2, 3, 4]
    assert not isinstance(json.JSONDecodeError("", "", 0), openai.OpenAIError)
    stream = client.responses.create(model=MODEL, input="x", stream=True)  # headers arrive fine
    with pytest.raises(json.JSONDecodeError):
        next(iter(stream))
    assert fake.open_streams == 0  # the SDK closes the body on its way out
    assert [r.status for r in fake.requests] == [200, 200]


def test_keepalive_in_virtual_time(client: openai.OpenAI, fake: FakeResponsesAPI) -> None:
    fake.plan(
        [
            Fault.keepalive(after_events=3, seconds=900, every=0.5),
            Fault.keepalive(after_events=3, seconds=60, every=15),
        ]
    )
    started = time.monotonic()
    # Comments every 0.5 s never let a 5 s read timeout fire, whatever the silence lasts.
    events = list(
        client.with_options(timeout=5).responses.create(model=MODEL, input="x", stream=True)
    )
    assert _seqs(events) == list(range(N_EVENTS))
    seen: list[ResponseStreamEvent] = []
    with pytest.raises(openai.APITimeoutError):  # 15 s between comments outlasts it
        seen.extend(
            client.with_options(timeout=5).responses.create(model=MODEL, input="x", stream=True)
        )
    assert len(seen) == 3
    assert time.monotonic() - started < 5  # virtual: nothing waited
    assert fake.open_streams == 0


def test_keepalive_realtime_sends_comments_between_events() -> None:
    fake = FakeResponsesAPI(realtime=True)
    fake.plan([Fault.keepalive(after_events=2, seconds=0.3, every=0.1)])
    with httpx2.Client(transport=fake.transport, base_url="http://fake.openai.test/v1") as http:
        started = time.monotonic()
        with http.stream(
            "POST", "/responses", json={"model": MODEL, "input": "x", "stream": True}
        ) as r:
            chunks = list(r.iter_bytes())
        elapsed = time.monotonic() - started
    assert 0.28 <= elapsed < 3
    assert chunks.count(KEEPALIVE) == 3
    assert chunks.index(KEEPALIVE) == 2  # after two events
    assert b"".join(chunks).count(b"\ndata: ") == N_EVENTS


def test_plain_requests_and_malformed_json_body(
    client: openai.OpenAI, fake: FakeResponsesAPI
) -> None:
    fake.plan(
        [
            Fault.malformed(after_events=3),
            Fault.gap(after_events=1),
            Fault.reorder(after_events=1),
            Fault.keepalive(after_events=1, seconds=60, every=30),
        ]
    )
    with pytest.raises(json.JSONDecodeError):
        client.responses.create(model=MODEL, input="x")
    for _ in range(3):  # SSE-only faults do nothing to a JSON answer
        assert client.responses.create(model=MODEL, input="x").status == "completed"
    assert [r.status for r in fake.requests] == [200] * 4


def test_background_replay_stays_correct(client: openai.OpenAI, fake: FakeResponsesAPI) -> None:
    """The faults disturb one connection; the stored events (and every replay) are intact."""
    fake.plan([Fault.gap(after_events=6), Fault.renumber(after_events=2)])
    first = list(client.responses.create(model=MODEL, input="x", stream=True, background=True))
    assert 6 not in _seqs(first)
    response_id = first[0].response.id  # type: ignore[union-attr]
    replay = list(client.responses.retrieve(response_id, stream=True, starting_after=5))
    # This replay has its own fault: after 2 replayed events the numbers restart at 0.
    assert _seqs(replay) == [6, 7, *range(N_EVENTS + 1 - 8)]
    clean = list(client.responses.retrieve(response_id, stream=True, starting_after=5))
    assert _seqs(clean) == list(range(6, N_EVENTS + 1))
    assert clean[0].type == "response.output_text.delta"
    assert client.responses.retrieve(response_id).status == "completed"


def test_replay_with_malformed_then_resume(client: openai.OpenAI, fake: FakeResponsesAPI) -> None:
    bg = client.responses.create(model=MODEL, input="x", background=True)
    fake.plan([Fault.malformed(after_events=3)])
    seen: list[ResponseStreamEvent] = []
    with pytest.raises(json.JSONDecodeError):
        seen.extend(client.responses.retrieve(bg.id, stream=True, starting_after=4))
    assert _seqs(seen) == [5, 6, 7]
    seen.extend(
        client.responses.retrieve(bg.id, stream=True, starting_after=seen[-1].sequence_number)
    )
    assert _seqs(seen) == list(range(5, N_EVENTS + 1))


# -- async ------------------------------------------------------------------------------------


async def _acollect(
    stream: openai.AsyncStream[ResponseStreamEvent], into: list[ResponseStreamEvent]
) -> None:
    async for event in stream:
        into.append(event)  # noqa: PERF401


@pytest.mark.parametrize("fault", list(EXPECTED_SEQS), ids=repr)
async def test_async_raw_sdk_sees_the_same(
    aclient: openai.AsyncOpenAI, fake: FakeResponsesAPI, fault: Fault
) -> None:
    fake.plan([fault])
    events: list[ResponseStreamEvent] = []
    await _acollect(await aclient.responses.create(model=MODEL, input="x", stream=True), events)
    assert _seqs(events) == EXPECTED_SEQS[fault]
    assert fake.open_streams == 0


async def test_async_malformed_and_keepalive_timeout(
    aclient: openai.AsyncOpenAI, fake: FakeResponsesAPI
) -> None:
    fake.plan([Fault.malformed(after_events=4), Fault.keepalive(after_events=2, every=10)])
    seen: list[ResponseStreamEvent] = []
    with pytest.raises(json.JSONDecodeError):
        await _acollect(await aclient.responses.create(model=MODEL, input="x", stream=True), seen)
    assert _seqs(seen) == [0, 1, 2, 3]
    stalled: list[ResponseStreamEvent] = []
    quick = aclient.with_options(timeout=2)
    with pytest.raises(openai.APITimeoutError):
        await _acollect(await quick.responses.create(model=MODEL, input="x", stream=True), stalled)
    assert len(stalled) == 2
    assert fake.open_streams == 0


# -- over real HTTP ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[FakeResponsesAPI, str]]:
    fake = FakeResponsesAPI()
    with fake.serve() as base_url:
        yield fake, base_url


@pytest.fixture
def http(served: tuple[FakeResponsesAPI, str]) -> Iterator[tuple[FakeResponsesAPI, openai.OpenAI]]:
    fake, base_url = served
    fake.reset_plan()
    with openai.OpenAI(api_key="sk-fake", base_url=base_url, max_retries=0) as client:
        yield fake, client
    fake.reset_plan()


@pytest.mark.parametrize("fault", [f for f in EXPECTED_SEQS if f.kind != "keepalive"], ids=repr)
def test_http_raw_sdk_sees_the_same(
    http: tuple[FakeResponsesAPI, openai.OpenAI], fault: Fault
) -> None:
    fake, client = http
    fake.plan([fault])
    events = list(client.responses.create(model=MODEL, input="x", stream=True))
    assert _seqs(events) == EXPECTED_SEQS[fault]


def test_http_malformed(http: tuple[FakeResponsesAPI, openai.OpenAI]) -> None:
    fake, client = http
    fake.plan([Fault.malformed(after_events=5), Fault.malformed()])
    seen: list[ResponseStreamEvent] = []
    with pytest.raises(json.JSONDecodeError):
        seen.extend(client.responses.create(model=MODEL, input="x", stream=True))
    assert _seqs(seen) == [0, 1, 2, 3, 4]
    with pytest.raises(json.JSONDecodeError):
        client.responses.create(model=MODEL, input="x")
    assert client.responses.create(model=MODEL, input="x").status == "completed"


def test_http_keepalive_defeats_the_read_timeout(
    http: tuple[FakeResponsesAPI, openai.OpenAI],
) -> None:
    """Comments every 0.1 s keep a 0.3 s read timeout from firing through 0.8 s without an
    event: the SDK sees a clean stream, only later."""
    fake, client = http
    fake.plan([Fault.keepalive(after_events=3, seconds=0.8, every=0.1)])
    stream = client.with_options(timeout=0.3).responses.create(model=MODEL, input="x", stream=True)
    arrivals: list[float] = []
    events: list[ResponseStreamEvent] = []
    for event in stream:
        events.append(event)
        arrivals.append(time.monotonic())
    assert _seqs(events) == list(range(N_EVENTS))
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert gaps.index(max(gaps)) == 2  # between the third and the fourth event
    assert max(gaps) >= 0.75


def test_http_keepalive_bytes(served: tuple[FakeResponsesAPI, str]) -> None:
    fake, base_url = served
    fake.plan([Fault.keepalive(after_events=1, seconds=0.2, every=0.1)])
    with httpx2.stream(
        "POST", f"{base_url}/responses", json={"model": MODEL, "input": "x", "stream": True}
    ) as response:
        body = response.read()
    assert body.count(KEEPALIVE) == 2
    assert body.index(KEEPALIVE) > body.index(b"response.created")
    assert body.index(KEEPALIVE) < body.index(b"response.in_progress")
    fake.reset_plan()


async def test_http_async(served: tuple[FakeResponsesAPI, str]) -> None:
    fake, base_url = served
    fake.plan([Fault.reorder(after_events=5), Fault.malformed(after_events=2)])
    async with openai.AsyncOpenAI(api_key="sk-fake", base_url=base_url, max_retries=0) as client:
        events: list[ResponseStreamEvent] = []
        await _acollect(await client.responses.create(model=MODEL, input="x", stream=True), events)
        assert _seqs(events) == EXPECTED_SEQS[Fault.reorder(after_events=5)]
        seen: list[ResponseStreamEvent] = []
        with pytest.raises(json.JSONDecodeError):
            await _acollect(
                await client.responses.create(model=MODEL, input="x", stream=True), seen
            )
        assert _seqs(seen) == [0, 1]
    fake.reset_plan()


def test_http_background_replay_is_intact(http: tuple[FakeResponsesAPI, openai.OpenAI]) -> None:
    fake, client = http
    fake.plan([Fault.duplicate(after_events=8) + Fault.reset(after_events=12)])
    seen: list[ResponseStreamEvent] = []
    with pytest.raises(openai.APIConnectionError):
        seen.extend(client.responses.create(model=MODEL, input="x", stream=True, background=True))
    assert _seqs(seen) == [*range(8), 7, 8, 9, 10]
    response_id = seen[0].response.id  # type: ignore[union-attr]
    rest = list(client.responses.retrieve(response_id, stream=True, starting_after=10))
    assert _seqs(rest) == list(range(11, N_EVENTS + 1))


# -- strategies and chaos ---------------------------------------------------------------------


@given(fault=strategies.protocol_faults(max_events=5))
def test_protocol_faults_draw_protocol_kinds_that_read_back(fault: Fault) -> None:
    assert fault.kind in strategies.PROTOCOL_KINDS
    assert eval(repr(fault), {"Fault": Fault}) == fault
    assert fault.after_events is not None
    assert 0 <= fault.after_events < 5


@given(
    kinds=st.lists(
        st.sampled_from((*strategies.ALL_KINDS, *strategies.PROTOCOL_KINDS)),
        min_size=1,
        unique=True,
    ),
    data=st.data(),
)
def test_fault_plans_take_any_kind(
    kinds: list[strategies.FaultKindName], data: st.DataObject
) -> None:
    plan = data.draw(strategies.fault_plans(kinds=kinds, max_events=3))
    assert all(f is None or f.kind in kinds for f in plan)


def test_protocol_kinds_are_opt_in() -> None:
    assert not set(strategies.PROTOCOL_KINDS) & set(strategies.ALL_KINDS)
    with pytest.raises(InvalidArgument, match="max_events >= 2"):
        strategies.faults(kinds=["duplicate"], max_events=1)


def test_chaos_draws_protocol_faults() -> None:
    for key in ("keepalive", "reorder", "renumber", "duplicate", "gap", "malformed"):
        fault = Chaos({key: 1.0}, seed=3).draw(20)
        assert fault is not None
        assert fault.kind == key
    assert Chaos({"duplicate": 1.0}, seed=0).draw(0) == Fault.duplicate(after_events=1)
