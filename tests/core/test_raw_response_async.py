"""The async client's ``with_raw_response`` / ``with_streaming_response`` calls go through
the engine: the attempt covers parsing the body (legacy raw responses parse synchronously,
streaming responses asynchronously)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx2
import openai
import pytest
from openai._legacy_response import LegacyAPIResponse
from openai._response import AsyncAPIResponse
from openai.resources.responses import AsyncResponses

import resilient_responses as rr
from resilient_responses.testing import FakeResponsesAPI, Fault

from ._support import MODEL

ATTEMPTS = 3

#: How the caller asks for a raw response, and the SDK class it gets.
HOWS: dict[str, type[Any]] = {
    "responses.with_raw_response": LegacyAPIResponse,
    "client.with_raw_response": LegacyAPIResponse,
    "responses.with_streaming_response": AsyncAPIResponse,
}

#: Faults met by a plain call, each retried once.
FAULTS = {
    "status_500": Fault.status(500),
    "body_cut_short": Fault.truncate(),
    "reset_mid_body": Fault.reset(),
    "response_failed": Fault.failed(after_events=3),
}


def _client(fake: FakeResponsesAPI, vtime: Any) -> rr.AsyncResilientOpenAI:
    engine = rr.Resilience(attempts=ATTEMPTS, breaker=None, sleep=vtime.asleep, clock=vtime.clock)
    return rr.AsyncResilientOpenAI(fake.async_client(), resilience=engine)


async def _create(client: rr.AsyncResilientOpenAI, how: str) -> tuple[Any, Any]:
    """(raw response, what its .parse() returned) for one ``create`` the way *how* says."""
    if how == "responses.with_raw_response":
        raw = await client.responses.with_raw_response.create(model=MODEL, input="hi")
        return raw, raw.parse()
    if how == "client.with_raw_response":
        raw = await client.with_raw_response.responses.create(model=MODEL, input="hi")
        return raw, raw.parse()
    async with client.responses.with_streaming_response.create(model=MODEL, input="hi") as raw:
        return raw, await raw.parse()


async def _parse_again(raw: Any) -> Any:
    parsed = raw.parse()
    return await parsed if isinstance(raw, AsyncAPIResponse) else parsed


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("how", list(HOWS))
async def test_async_raw_create_retries_each_fault_and_returns_the_answering_attempt(
    how: str, fault: str, vtime: Any
) -> None:
    """A 500, a body cut short, a reset mid-body and a failed response are each retried;
    the raw response is the second attempt's, its parse cached (the same object again)."""
    fake = FakeResponsesAPI()
    fake.plan([FAULTS[fault]])
    client = _client(fake, vtime)
    raw, parsed = await _create(client, how)
    assert type(raw) is HOWS[how]
    assert len(fake.requests) == 2
    assert parsed.status == "completed"
    assert parsed.output_text
    assert await _parse_again(raw) is parsed
    assert raw.request_id == parsed._request_id == "req_2"
    assert raw.headers["x-request-id"] == "req_2"
    assert raw.status_code == 200
    assert raw.retries_taken == 1
    # The engine settled on the parsed answer: one call, its usage counted (a failed
    # response thrown away is counted as wasted).
    total = client.resilience.stats().total
    assert total.calls == 1
    assert total.output_tokens - total.wasted_output_tokens == parsed.usage.output_tokens


@pytest.mark.parametrize("how", list(HOWS))
@pytest.mark.parametrize(
    ("fault", "cause"),
    [
        pytest.param(Fault.truncate(), json.JSONDecodeError, id="body_cut_short"),
        pytest.param(Fault.reset(), httpx2.TransportError, id="reset_mid_body"),
    ],
)
async def test_async_raw_create_gives_up_with_an_sdk_connection_error(
    how: str, fault: Fault, cause: type[BaseException], vtime: Any
) -> None:
    """A body cut short on every attempt ends in ``openai.APIConnectionError`` (caused by
    the decode error), never a raw ``json.JSONDecodeError`` or ``httpx2`` error."""
    fake = FakeResponsesAPI()
    fake.plan([fault] * ATTEMPTS)
    with pytest.raises(openai.APIConnectionError) as caught:
        await _create(_client(fake, vtime), how)
    assert isinstance(caught.value.__cause__, cause)
    assert len(fake.requests) == ATTEMPTS


@pytest.mark.parametrize("how", list(HOWS))
@pytest.mark.parametrize(
    ("plan", "requests"),
    [
        pytest.param([Fault.failed(after_events=3, code="invalid_prompt")], 1, id="not_retryable"),
        pytest.param([Fault.failed(after_events=3)] * ATTEMPTS, ATTEMPTS, id="every_attempt"),
    ],
)
async def test_async_raw_create_returns_a_failed_response_the_engine_gives_up_on(
    how: str, plan: list[Fault], requests: int, vtime: Any
) -> None:
    """A failed response that is not retried (its code, or no attempts left) comes back as
    the SDK returned it, from the last attempt."""
    fake = FakeResponsesAPI()
    fake.plan(plan)
    raw, parsed = await _create(_client(fake, vtime), how)
    assert parsed.status == "failed"
    assert raw.request_id == f"req_{requests}"
    assert len(fake.requests) == requests


RawMethod = Callable[[Any, str], Any]

#: The raw variants of every responses method: (call on the raw resource, HTTP method, path).
METHODS: dict[str, tuple[RawMethod, str, str]] = {
    "create": (lambda r, rid: r.create(model=MODEL, input="hi"), "POST", "/responses"),
    "retrieve": (lambda r, rid: r.retrieve(rid), "GET", "/responses/{rid}"),
    "parse": (lambda r, rid: r.parse(model=MODEL, input="hi"), "POST", "/responses"),
    "cancel": (lambda r, rid: r.cancel(rid), "POST", "/responses/{rid}/cancel"),
    "delete": (lambda r, rid: r.delete(rid), "DELETE", "/responses/{rid}"),
    "compact": (lambda r, rid: r.compact(model=MODEL, input="a b"), "POST", "/responses/compact"),
    "input_items.list": (
        lambda r, rid: r.input_items.list(rid),
        "GET",
        "/responses/{rid}/input_items",
    ),
    "input_tokens.count": (
        lambda r, rid: r.input_tokens.count(model=MODEL, input="a b"),
        "POST",
        "/responses/input_tokens",
    ),
}


@pytest.mark.parametrize(
    ("name", "streaming"),
    [
        pytest.param(name, streaming, id=f"{name}-{'with_streaming' if streaming else 'with_raw'}")
        for name in METHODS
        for streaming in (False, True)
        if not (streaming and name == "parse")  # the SDK has no with_streaming_response.parse
    ],
)
async def test_async_every_raw_responses_method_is_retried_on_503(
    name: str, streaming: bool, vtime: Any
) -> None:
    """Each method's raw variant survives a 503: two requests, one Idempotency-Key, and a
    raw response whose parse is the second attempt's."""
    call, method, path = METHODS[name]
    fake = FakeResponsesAPI()
    client = _client(fake, vtime)
    rid = fake.client(max_retries=0).responses.create(model=MODEL, input="hi", background=True).id
    fake.plan([Fault.status(503), None])
    before = len(fake.requests)
    if streaming:
        async with call(client.responses.with_streaming_response, rid) as raw:
            parsed = await raw.parse()
    else:
        raw = await call(client.responses.with_raw_response, rid)
        parsed = raw.parse()
    sent = fake.requests[before:]
    assert [(r.method, r.path) for r in sent] == [(method, "/v1" + path.format(rid=rid))] * 2
    assert [r.status for r in sent] == [503, 200]
    assert len({r.headers["idempotency-key"] for r in sent}) == 1
    assert raw.retries_taken == 1
    if name == "delete":
        assert parsed is None
    else:
        assert parsed is not None
        assert await _parse_again(raw) is parsed


async def test_async_raw_parse_is_judged_like_create_a_failed_parsed_response_is_retried(
    vtime: Any,
) -> None:
    """``with_raw_response.parse`` (LangChain's structured output): a failed response is
    retried, and the parsed output is the answering attempt's."""
    fake = FakeResponsesAPI()
    fake.plan([Fault.failed(after_events=2)])
    client = _client(fake, vtime)
    raw = await client.responses.with_raw_response.parse(model=MODEL, input="hi")
    assert raw.parse().status == "completed"
    assert len(fake.requests) == 2


@pytest.mark.parametrize("how", list(HOWS))
async def test_async_raw_attempts_get_the_callers_timeout_capped_by_the_deadline(
    how: str, vtime: Any
) -> None:
    """Each raw attempt's timeout is the caller's, capped by what the deadline leaves: a
    503 with Retry-After 4 leaves the second attempt 6 of the deadline's 10 seconds."""
    fake = FakeResponsesAPI()
    fake.plan([Fault.status(503, retry_after=4)])
    timeouts: list[dict[str, float]] = []

    async def record(request: Any) -> None:
        timeouts.append(request.extensions["timeout"])

    http = openai.DefaultAsyncHttpxClient(
        transport=fake.async_transport, event_hooks={"request": [record]}
    )
    engine = rr.Resilience(deadline=10.0, breaker=None, sleep=vtime.asleep, clock=vtime.clock)
    client = rr.AsyncResilientOpenAI(fake.async_client(http_client=http), resilience=engine)
    resource = (
        client.with_raw_response.responses
        if how == "client.with_raw_response"
        else getattr(client.responses, how.split(".")[1])
    )
    if how.endswith("streaming_response"):
        async with resource.create(model=MODEL, input="hi", timeout=60.0) as raw:
            await raw.parse()
    else:
        (await resource.create(model=MODEL, input="hi", timeout=60.0)).parse()
    assert [t["read"] for t in timeouts] == [pytest.approx(10.0), pytest.approx(6.0)]


async def test_async_connect_is_the_sdks_own_websocket_mode_not_routed() -> None:
    """``responses.connect()`` (WebSocket mode) is passed through, as the README says: the
    SDK's own method and connection manager, with the SDK's own reconnection."""
    client = rr.AsyncResilientOpenAI(FakeResponsesAPI().async_client())
    assert type(client.responses).connect is AsyncResponses.connect
    assert type(client.responses.connect()).__name__ == "AsyncResponsesConnectionManager"
