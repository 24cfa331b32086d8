"""Half-open: a bounded number of probes; a good probe closes, a bad one re-opens (async)."""

from __future__ import annotations

import asyncio
from typing import Any

import openai
import pytest

import resilient_responses as rr
from resilient_responses.testing import Fault

from ._support import MODEL, client_key, events_named, outage, rewind_breaker

CALLERS = 6


async def _opened(vtime, **breaker: Any) -> tuple[rr.AsyncResilientOpenAI, rr.Resilience, Any, str]:
    fake = outage(Fault.status(503))
    resilience = rr.Resilience(
        attempts=3,
        breaker=rr.BreakerConfig(fail_max=1, reset_timeout=30.0, **breaker),
        sleep=vtime.asleep,
        clock=vtime.clock,
    )
    client = rr.AsyncResilientOpenAI(fake.async_client(), resilience=resilience)
    with pytest.raises(openai.InternalServerError):
        await client.responses.create(model=MODEL, input="hi")
    key = client_key(client)
    assert resilience.breaker_state(key) == "open"
    return client, resilience, fake, key


async def _fire(client: rr.AsyncResilientOpenAI, n: int) -> list[Any]:
    return await asyncio.gather(
        *(client.responses.create(model=MODEL, input=f"probe {i}") for i in range(n)),
        return_exceptions=True,
    )


@pytest.mark.parametrize("probes", [1, 3])
async def test_async_half_open_lets_exactly_half_open_probes_through(
    probes: int, vtime, logs
) -> None:
    """Of 6 concurrent callers exactly `half_open_probes` reach the server; the others get
    CircuitOpenError; the good probe closes the breaker."""
    client, resilience, fake, key = await _opened(vtime, half_open_probes=probes)
    rewind_breaker(resilience, key)
    fake.plan([Fault.latency(0.3)] * probes)

    outcomes = await _fire(client, CALLERS)

    served = [o for o in outcomes if isinstance(o, openai.types.responses.Response)]
    refused = [o for o in outcomes if isinstance(o, rr.CircuitOpenError)]
    assert len(served) == probes
    assert len(refused) == CALLERS - probes
    assert len(fake.requests) == 1 + probes
    assert resilience.breaker_state(key) == "closed"
    changes = [
        (e["previous_state"], e["breaker_state"])
        for e in events_named(logs, "breaker_state_changed")
    ]
    assert changes == [("closed", "open"), ("open", "half-open"), ("half-open", "closed")]


async def test_async_failed_probe_reopens_the_breaker(vtime) -> None:
    """A 503 probe re-opens the breaker; its call stops after one request."""
    client, resilience, fake, key = await _opened(vtime)
    rewind_breaker(resilience, key)
    fake.plan([Fault.latency(0.3) + Fault.status(503)], then=Fault.status(503))

    outcomes = await _fire(client, CALLERS)

    assert sum(type(o) is openai.InternalServerError for o in outcomes) == 1
    assert sum(isinstance(o, rr.CircuitOpenError) for o in outcomes) == CALLERS - 1
    assert len(fake.requests) == 2
    assert resilience.breaker_state(key) == "open"


async def test_async_success_threshold_two_needs_two_good_probes(vtime) -> None:
    """success_threshold=2: the first good probe leaves it half-open, the second closes it."""
    client, resilience, fake, key = await _opened(vtime, success_threshold=2)
    rewind_breaker(resilience, key)
    fake.reset_plan()
    await client.responses.create(model=MODEL, input="probe 1")
    assert resilience.breaker_state(key) == "half-open"
    await client.responses.create(model=MODEL, input="probe 2")
    assert resilience.breaker_state(key) == "closed"


async def test_cancelled_probe_frees_its_slot(vtime) -> None:
    """A probe cancelled in flight records nothing and releases its probe slot: the next
    caller may probe (otherwise the breaker would stay half-open and refuse forever)."""
    client, resilience, fake, key = await _opened(vtime)
    rewind_breaker(resilience, key)
    fake.plan([Fault.latency(5.0)])
    task = asyncio.ensure_future(client.responses.create(model=MODEL, input="slow"))
    await asyncio.sleep(0.05)
    assert resilience.breaker_state(key) == "half-open"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert resilience.breaker_state(key) == "half-open"
    response = await client.responses.create(model=MODEL, input="next probe")
    assert response.status == "completed"
    assert resilience.breaker_state(key) == "closed"
