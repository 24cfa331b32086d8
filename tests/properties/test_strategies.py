"""The strategies themselves: valid, realistic faults that shrink to the minimal plan."""

from __future__ import annotations

import math
import subprocess
import sys

import openai
import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from resilient_responses import Resilience, ResilientOpenAI, classify
from resilient_responses.testing import FakeResponsesAPI, Fault, set_testing, strategies

from ._support import MODEL, PROMPT, full_text


@given(fault=strategies.faults())
def test_every_drawn_fault_reads_back_from_its_repr(fault: Fault) -> None:
    """Pins: a drawn fault's ``repr`` is the constructor call that rebuilds it, so a
    falsifying example can be pasted into a regression test as is."""
    assert eval(repr(fault), {"Fault": Fault}) == fault


@given(
    data=st.data(),
    kinds=st.lists(st.sampled_from(strategies.ALL_KINDS), min_size=1, unique=True),
    max_events=st.integers(min_value=1, max_value=30),
)
def test_faults_honour_kinds_and_cut_points(
    data: st.DataObject, kinds: list[strategies.FaultKindName], max_events: int
) -> None:
    """Pins: ``kinds`` restricts the draw and every cut lies in ``0..max_events-1``."""
    fault = data.draw(strategies.faults(kinds, max_events=max_events))
    assert fault.kind in kinds
    if fault.after_events is not None:
        assert 0 <= fault.after_events < max_events


@given(fault=strategies.transport_faults() | strategies.stream_faults(max_events=5))
def test_transport_and_stream_faults_are_what_they_say(fault: Fault) -> None:
    """Pins the kinds behind :func:`transport_faults` and :func:`stream_faults`."""
    assert fault.kind in (*strategies.TRANSPORT_KINDS, *strategies.STREAM_KINDS)


@given(fault=strategies.status_faults((400, 422), insufficient_quota=False))
def test_status_faults_take_the_statuses_asked_for(fault: Fault) -> None:
    """Pins: ``status_faults(statuses)`` draws only those statuses."""
    assert fault.kind == "status"
    assert fault.status_code in (400, 422)


@given(headers=strategies.retry_after_values())
def test_every_retry_after_value_classifies_to_a_sane_wait(headers: dict[str, str]) -> None:
    """Pins, through the real SDK: every drawn Retry-After header, sane or absurd, reaches
    the client and classifies to ``None`` or a wait >= 0 (never NaN, never negative)."""
    assert set(headers) <= {"retry-after", "retry-after-ms"}
    fake = FakeResponsesAPI()
    fake.plan([Fault.status(429, headers=headers)])
    with pytest.raises(openai.RateLimitError) as info:
        fake.client(max_retries=0).responses.create(model=MODEL, input=PROMPT)
    failure = classify(info.value)
    assert failure is not None
    wait = failure.retry_after
    assert wait is None or (not math.isnan(wait) and wait >= 0)


@pytest.mark.parametrize(
    "make",
    [
        lambda: strategies.faults(kinds=["nope"]),  # type: ignore[list-item]
        lambda: strategies.faults(kinds="reset"),  # type: ignore[arg-type]
        lambda: strategies.faults(kinds=[]),
        lambda: strategies.faults(max_events=0),
        lambda: strategies.fault_plans(max_size=-1),
        lambda: strategies.fault_plans(kinds=["reset"], of=strategies.faults()),
        lambda: strategies.status_faults((200,)),
        lambda: strategies.stream_cut_points(-1),
    ],
)
def test_bad_arguments_fail_at_once(make: object) -> None:
    """Pins: a wrong argument raises Hypothesis's ``InvalidArgument`` when the strategy is
    built, not in the middle of a run."""
    with pytest.raises(InvalidArgument):
        make()  # type: ignore[operator]


_FIND = settings(database=None, max_examples=2000, derandomize=True)


def test_a_failing_property_shrinks_to_the_simplest_one_fault_plan() -> None:
    """Pins shrinking: "the raw SDK (retries off) always answers" is false, and Hypothesis
    reduces the failing plans (up to five faults) to a plan of one fault."""

    def raw_sdk_fails(plan: list[Fault | None]) -> bool:
        fake = FakeResponsesAPI()
        fake.plan(plan)
        try:
            fake.client(max_retries=0).responses.create(model=MODEL, input=PROMPT)
        except openai.OpenAIError:
            return True
        return False

    plan = find(strategies.fault_plans(), raw_sdk_fails, settings=_FIND)
    assert len(plan) == 1
    assert plan[0] is not None
    assert plan[0].kind in ("status", "connect_error", "timeout")


def test_shrinking_finds_the_exact_boundary_of_a_library_guarantee() -> None:
    """Pins shrinking on a real boundary: a non-background stream can be restarted only
    while the consumer has seen nothing but lifecycle events, so the smallest plan that
    makes it fail is one cut right after the first output event (``after_events=3``). With
    more attempts than faults, running out of attempts cannot be the reason."""

    def stream_is_cut(plan: list[Fault | None]) -> bool:
        fake = FakeResponsesAPI()
        fake.plan(plan)
        client = ResilientOpenAI(fake.client(), resilience=Resilience(attempts=6))
        text = []
        try:
            with set_testing(True):
                for event in client.responses.create(model=MODEL, input=PROMPT, stream=True):
                    if event.type == "response.output_text.delta":
                        text.append(event.delta)  # noqa: PERF401
        except openai.OpenAIError:
            return True
        return "".join(text) != full_text()

    transport = strategies.fault_plans(of=strategies.transport_faults())
    plan = find(transport, stream_is_cut, settings=_FIND)
    assert len(plan) == 1
    assert plan[0] is not None
    assert plan[0].kind in ("reset", "truncate", "stall")
    assert plan[0].after_events == 3


def test_importing_the_kit_does_not_import_hypothesis() -> None:
    """Pins: Hypothesis stays a test dependency; only ``testing.strategies`` needs it."""
    code = (
        "import sys, resilient_responses.testing\n"
        "assert 'hypothesis' not in sys.modules, 'hypothesis imported'\n"
        "from resilient_responses.testing import strategies\n"
        "assert 'hypothesis' in sys.modules\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
