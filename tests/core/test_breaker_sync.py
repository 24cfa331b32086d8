"""Half-open: a bounded number of probes; a good probe closes, a bad one re-opens (sync).

The breaker's open timer is pybreaker's wall-clock ``opened_at``; the tests rewind it
instead of waiting. The probes themselves are slow on purpose (Fault.latency) so that the
other callers arrive while the probe slots are taken: those callers use real time.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import openai
import pytest

import resilient_responses as rr
from resilient_responses.testing import Fault

from ._support import MODEL, client_key, events_named, outage, rewind_breaker, sdk_error

CALLERS = 6


def _opened(vtime, **breaker: Any) -> tuple[rr.ResilientOpenAI, rr.Resilience, Any, str]:
    fake = outage(Fault.status(503))
    resilience = rr.Resilience(
        attempts=3,
        breaker=rr.BreakerConfig(fail_max=1, reset_timeout=30.0, **breaker),
        sleep=vtime.sleep,
        clock=vtime.clock,
    )
    client = rr.ResilientOpenAI(fake.client(), resilience=resilience)
    with pytest.raises(openai.InternalServerError):
        client.responses.create(model=MODEL, input="hi")
    key = client_key(client)
    assert resilience.breaker_state(key) == "open"
    assert len(fake.requests) == 1  # the breaker opened on the first failure: no retry
    return client, resilience, fake, key


def _fire(client: rr.ResilientOpenAI, n: int) -> list[Any]:
    """n threads call at once; each returns its response or the exception it raised."""
    barrier = threading.Barrier(n)

    def one(i: int) -> Any:
        barrier.wait()
        try:
            return client.responses.create(model=MODEL, input=f"probe {i}")
        except openai.OpenAIError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(one, range(n)))


@pytest.mark.parametrize("probes", [1, 2])
def test_half_open_lets_exactly_half_open_probes_through_and_a_good_probe_closes(
    probes: int, vtime, logs
) -> None:
    """After reset_timeout, of 6 simultaneous callers exactly `half_open_probes` reach the
    server; the rest get CircuitOpenError at once; the good probe closes the breaker."""
    client, resilience, fake, key = _opened(vtime, half_open_probes=probes)
    rewind_breaker(resilience, key)
    fake.plan([Fault.latency(0.3)] * probes)

    outcomes = _fire(client, CALLERS)

    refused = [o for o in outcomes if isinstance(o, rr.CircuitOpenError)]
    served = [o for o in outcomes if isinstance(o, openai.types.responses.Response)]
    assert len(served) == probes
    assert len(refused) == CALLERS - probes
    assert all(e.key == key for e in refused)
    assert len(fake.requests) == 1 + probes
    assert resilience.breaker_state(key) == "closed"
    changes = [
        (e["previous_state"], e["breaker_state"])
        for e in events_named(logs, "breaker_state_changed")
    ]
    assert changes == [("closed", "open"), ("open", "half-open"), ("half-open", "closed")]
    # Closed again: everyone gets through.
    assert client.responses.create(model=MODEL, input="after").status == "completed"


def test_failed_probe_reopens_the_breaker_and_stops_its_own_retries(vtime, logs) -> None:
    """A probe answered 503 re-opens the breaker: the probe's call stops (one request, its
    503 re-raised), the other callers were refused, and the breaker is open for a full
    reset_timeout again."""
    client, resilience, fake, key = _opened(vtime)
    rewind_breaker(resilience, key)
    fake.plan([Fault.latency(0.3) + Fault.status(503)], then=Fault.status(503))

    outcomes = _fire(client, CALLERS)

    failed = [o for o in outcomes if type(o) is openai.InternalServerError]
    refused = [o for o in outcomes if isinstance(o, rr.CircuitOpenError)]
    assert len(failed) == 1
    assert len(refused) == CALLERS - 1
    assert len(fake.requests) == 2
    assert resilience.breaker_state(key) == "open"
    with pytest.raises(rr.CircuitOpenError) as info:
        client.responses.create(model=MODEL, input="again")
    assert info.value.retry_in > 25.0
    changes = [
        (e["previous_state"], e["breaker_state"])
        for e in events_named(logs, "breaker_state_changed")
    ]
    assert changes == [("closed", "open"), ("open", "half-open"), ("half-open", "open")]


def test_success_threshold_two_needs_two_good_probes(vtime) -> None:
    """success_threshold=2: one good probe leaves it half-open, the second closes it."""
    client, resilience, fake, key = _opened(vtime, success_threshold=2)
    rewind_breaker(resilience, key)
    fake.reset_plan()
    client.responses.create(model=MODEL, input="probe 1")
    assert resilience.breaker_state(key) == "half-open"
    client.responses.create(model=MODEL, input="probe 2")
    assert resilience.breaker_state(key) == "closed"


def test_non_tripping_failure_of_a_probe_counts_as_success(vtime) -> None:
    """A 400 answer to the probe is the server answering: the breaker closes."""
    client, resilience, fake, key = _opened(vtime)
    rewind_breaker(resilience, key)
    fake.plan([Fault.status(400)])
    with pytest.raises(openai.BadRequestError):
        client.responses.create(model=MODEL, input="probe")
    assert resilience.breaker_state(key) == "closed"


def test_open_breaker_before_reset_timeout_refuses_without_a_request(vtime) -> None:
    """Open and within reset_timeout: CircuitOpenError with the key and retry_in in
    (0, reset_timeout], and no request."""
    client, _resilience, fake, key = _opened(vtime)
    with pytest.raises(rr.CircuitOpenError) as info:
        client.responses.create(model=MODEL, input="hi")
    assert info.value.key == key
    assert 0 < info.value.retry_in <= 30.0
    assert len(fake.requests) == 1


def test_breaker_opened_by_another_call_during_our_wait_stops_our_retries(logs) -> None:
    """Call A fails and sleeps; meanwhile call B's failure opens the breaker. A's next
    attempt is refused, so A stops and re-raises its own last SDK error (not
    CircuitOpenError), with a note saying the breaker opened; gave_up says breaker_open."""
    calls: list[str] = []
    errors: dict[str, openai.InternalServerError] = {}

    def during_wait(seconds: float) -> None:
        if "B" not in calls:
            with pytest.raises(openai.InternalServerError):
                flaky("B")

    resilience = rr.Resilience(
        attempts=4,
        breaker=rr.BreakerConfig(fail_max=2, key=lambda who: "shared"),
        sleep=during_wait,
    )

    @resilience
    def flaky(who: str) -> None:
        calls.append(who)
        errors[who] = sdk_error(503, "server_error")
        raise errors[who]

    with pytest.raises(openai.InternalServerError) as info:
        flaky("A")

    assert calls == ["A", "B"]
    assert info.value is errors["A"]
    assert "the circuit breaker opened" in "\n".join(info.value.__notes__)
    assert "gave up after 1 attempt " in "\n".join(info.value.__notes__)
    assert resilience.breaker_state("shared") == "open"
    reasons = [e["reason"] for e in events_named(logs, "gave_up")]
    assert reasons == ["breaker_open", "breaker_open"]
