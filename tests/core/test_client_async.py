"""The async drop-in client: SDK retries off, every method retried, per-attempt headers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import openai
import pytest

import resilient_responses as rr
from resilient_responses.testing import FakeResponsesAPI, Fault

from ._support import MODEL, outage

ATTEMPTS = 3


def _resilience(vtime) -> rr.Resilience:
    return rr.Resilience(attempts=ATTEMPTS, breaker=None, sleep=vtime.asleep, clock=vtime.clock)


@pytest.mark.parametrize("how", ["AsyncResilientOpenAI", "wrap"])
async def test_async_wrapping_a_default_client_sends_exactly_attempts_requests(
    how: str, vtime
) -> None:
    """openai.AsyncOpenAI() keeps max_retries=2; wrapped, a failing call sends `attempts`."""
    fake = outage(Fault.status(503))
    raw = fake.async_client()
    assert raw.max_retries == 2
    resilience = _resilience(vtime)
    if how == "wrap":
        client = resilience.wrap(raw)
    else:
        client = rr.AsyncResilientOpenAI(raw, resilience=resilience)
    assert isinstance(client, rr.AsyncResilientOpenAI)
    assert isinstance(client, openai.AsyncOpenAI)
    assert client.max_retries == 0
    with pytest.raises(openai.InternalServerError):
        await client.responses.create(model=MODEL, input="hi")
    assert len(fake.requests) == ATTEMPTS


@pytest.mark.parametrize("options", [{}, {"timeout": 5.0}, {"max_retries": 5}])
async def test_async_with_options_returns_a_wrapped_client_with_the_same_resilience(
    options: dict[str, Any], vtime
) -> None:
    """with_options() keeps the engine and keeps SDK retries off."""
    fake = outage(Fault.status(503))
    resilience = _resilience(vtime)
    client = rr.AsyncResilientOpenAI(fake.async_client(), resilience=resilience)
    copy = client.with_options(**options)
    assert isinstance(copy, rr.AsyncResilientOpenAI)
    assert copy.resilience is resilience
    assert copy.max_retries == 0
    with pytest.raises(openai.InternalServerError):
        await copy.responses.create(model=MODEL, input="hi")
    assert len(fake.requests) == ATTEMPTS


AsyncMethod = Callable[[rr.AsyncResilientOpenAI, str], Awaitable[Any]]


async def _input_items(c: rr.AsyncResilientOpenAI, rid: str) -> Any:
    return await c.responses.input_items.list(rid)


METHODS: dict[str, tuple[AsyncMethod, str, str]] = {
    "create": (lambda c, rid: c.responses.create(model=MODEL, input="hi"), "POST", "/responses"),
    "retrieve": (lambda c, rid: c.responses.retrieve(rid), "GET", "/responses/{rid}"),
    "parse": (lambda c, rid: c.responses.parse(model=MODEL, input="hi"), "POST", "/responses"),
    "cancel": (lambda c, rid: c.responses.cancel(rid), "POST", "/responses/{rid}/cancel"),
    "delete": (lambda c, rid: c.responses.delete(rid), "DELETE", "/responses/{rid}"),
    "compact": (
        lambda c, rid: c.responses.compact(model=MODEL, input="a b c"),
        "POST",
        "/responses/compact",
    ),
    "input_items.list": (_input_items, "GET", "/responses/{rid}/input_items"),
    "input_tokens.count": (
        lambda c, rid: c.responses.input_tokens.count(model=MODEL, input="a b c"),
        "POST",
        "/responses/input_tokens",
    ),
}


@pytest.mark.parametrize("name", list(METHODS))
async def test_async_every_non_streaming_responses_method_is_retried_on_503(
    name: str, vtime
) -> None:
    """Each async method survives one 503: two requests, one Idempotency-Key, counts 0, 1."""
    call, method, path = METHODS[name]
    fake = FakeResponsesAPI()
    client = rr.AsyncResilientOpenAI(fake.async_client(), resilience=_resilience(vtime))
    created = await fake.async_client(max_retries=0).responses.create(
        model=MODEL, input="hi", background=True
    )
    fake.plan([Fault.status(503), None])
    before = len(fake.requests)

    result = await call(client, created.id)

    sent = fake.requests[before:]
    assert [(r.method, r.path) for r in sent] == [(method, "/v1" + path.format(rid=created.id))] * 2
    assert [r.status for r in sent] == [503, 200]
    assert [r.headers["x-stainless-retry-count"] for r in sent] == ["0", "1"]
    assert len({r.headers["idempotency-key"] for r in sent}) == 1
    if name != "delete":
        assert result is not None


async def test_async_idempotency_key_is_shared_by_attempts_and_user_key_is_kept(vtime) -> None:
    """One generated key per call (new per call); a user-given key is kept on all attempts."""
    fake = FakeResponsesAPI()
    fake.plan([Fault.status(500), None, Fault.status(500), None, Fault.status(500), None])
    client = rr.AsyncResilientOpenAI(fake.async_client(), resilience=_resilience(vtime))
    await client.responses.create(model=MODEL, input="one")
    await client.responses.create(model=MODEL, input="two")
    await client.responses.create(
        model=MODEL, input="three", extra_headers={"Idempotency-Key": "mine"}
    )
    keys = [r.headers["idempotency-key"] for r in fake.requests]
    assert keys[0] == keys[1] != keys[2] == keys[3]
    assert keys[4:] == ["mine", "mine"]
    counts = [r.headers["x-stainless-retry-count"] for r in fake.requests]
    assert counts == ["0", "1"] * 3
