"""run_batch (threads): the sync twin of test_batch_async.py."""

from __future__ import annotations

import threading
from typing import Any

import openai
import pytest

import resilient_responses as rr
from resilient_responses import Outcome, run_batch
from resilient_responses.events import observe_calls
from resilient_responses.testing import Chaos, FakeResponsesAPI, Fault

from ._batch_support import InFlight
from .test_batch_async import MODEL, TEN_PERCENT, requests_


def test_sync_200_requests_10_percent_faults_concurrency_8() -> None:
    fake = FakeResponsesAPI()
    fake.chaos(Chaos(TEN_PERCENT, seed=11))
    transport = InFlight(fake, gate=8)
    client = rr.ResilientOpenAI(transport.client(), resilience=rr.Resilience(breaker=None))
    progress: list[tuple[int, int]] = []
    callback_threads: set[int] = set()

    def on_progress(done: int, total: int) -> None:
        callback_threads.add(threading.get_ident())
        progress.append((done, total))

    outcomes = run_batch(client, requests_(200), concurrency=8, on_progress=on_progress)

    assert [o.index for o in outcomes] == list(range(200))
    assert [o.custom_id for o in outcomes] == [f"q{i}" for i in range(200)]
    assert transport.max_in_flight == 8
    assert transport.in_flight == 0
    assert sum(o.attempts for o in outcomes) == len(fake.requests) == transport.started
    assert progress == [(n, 200) for n in range(1, 201)]
    assert callback_threads == {threading.get_ident()}  # callbacks run in the caller
    for outcome in outcomes:
        assert outcome.ok or (
            isinstance(outcome.error, openai.RateLimitError)
            and outcome.error.code == "insufficient_quota"
        )


def test_sync_one_failure_is_its_own_outcome_and_the_rest_go_on() -> None:
    fake = FakeResponsesAPI()
    fake.plan([None, Fault.status(429, code="insufficient_quota"), Fault.status(503), None])
    client = rr.ResilientOpenAI(fake.client())
    outcomes = run_batch(client, requests_(3), concurrency=1)
    assert [o.ok for o in outcomes] == [True, False, True]
    assert [o.attempts for o in outcomes] == [1, 1, 2]
    assert isinstance(outcomes[1].error, openai.RateLimitError)
    assert outcomes[1].request == {"model": MODEL, "input": "question 1"}


def test_sync_keyboard_interrupt_stops_new_work_and_reports_every_started_call() -> None:
    """Ctrl-C from the caller's thread (here: raised by a callback) propagates unchanged;
    nothing new starts; the calls already running finish and are reported first."""
    fake = FakeResponsesAPI()
    transport = InFlight(fake)
    client = rr.ResilientOpenAI(transport.client())
    finished: list[Outcome] = []
    raised = []

    def on_progress(done: int, total: int) -> None:
        if done == 4 and not raised:
            raised.append(done)
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_batch(
            client,
            requests_(20),
            concurrency=3,
            on_progress=on_progress,
            on_outcome=finished.append,
        )
    assert transport.in_flight == 0
    assert 4 <= transport.started <= 4 + 3
    assert len(finished) == transport.started  # every call that started was reported
    assert len({o.index for o in finished}) == len(finished)


def test_sync_context_is_copied_into_the_worker_threads() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.status(500)])
    seen: list[Any] = []
    with observe_calls(seen.append):
        outcomes = run_batch(rr.ResilientOpenAI(fake.client()), requests_(5), concurrency=3)
    assert sorted(r.attempts for r in seen) == [1, 1, 1, 1, 2]
    assert sum(o.attempts for o in outcomes) == 6


def test_sync_plain_client_is_wrapped_and_async_client_refused() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.status(503)])
    (outcome,) = run_batch(fake.client(), requests_(1))
    assert outcome.ok
    assert outcome.attempts == 2
    with pytest.raises(TypeError, match="async"):
        run_batch(fake.async_client(), requests_(1))  # type: ignore[arg-type]


def test_sync_generator_input_and_empty_batch() -> None:
    fake = FakeResponsesAPI()
    outcomes = run_batch(fake.client(), ({"model": MODEL, "input": str(i)} for i in range(3)))
    assert [o.custom_id for o in outcomes] == [None, None, None]
    assert run_batch(fake.client(), []) == []


def test_sync_invalid_input_raises_before_anything_is_sent() -> None:
    fake = FakeResponsesAPI()
    good = {"model": MODEL, "input": "x"}
    with pytest.raises(ValueError, match="stream"):
        run_batch(fake.client(), [good, {**good, "stream": True}])
    with pytest.raises(ValueError, match="concurrency"):
        run_batch(fake.client(), [good], concurrency=0)
    assert fake.requests == []


def test_sync_a_parameter_create_does_not_take_fails_the_batch_up_front() -> None:
    fake = FakeResponsesAPI()
    good = {"model": MODEL, "input": "x"}
    with pytest.raises(TypeError, match=r"requests\[1\]: 'modle' .*did you mean 'model'"):
        run_batch(fake.client(), [good, {"modle": MODEL, "input": "y"}])
    assert fake.requests == []


def test_sync_a_callback_raising_again_on_the_way_out_keeps_the_first_error() -> None:
    """on_progress raising on every call: the first error leaves run_batch unchanged, and
    every call that ended still reaches on_outcome."""
    raised: list[Exception] = []
    delivered: list[Outcome] = []

    def on_progress(done: int, total: int) -> None:
        if done >= 3:
            raised.append(RuntimeError(f"progress bar broke at {done}"))
            raise raised[-1]

    fake = FakeResponsesAPI()
    with pytest.raises(RuntimeError) as caught:
        run_batch(
            fake.client(),
            requests_(40),
            concurrency=8,
            on_progress=on_progress,
            on_outcome=delivered.append,
        )
    assert caught.value is raised[0]
    assert len(raised) == 1
    assert len(delivered) == len(fake.requests)  # every call that ended was reported
    assert len({o.index for o in delivered}) == len(delivered)  # each once
