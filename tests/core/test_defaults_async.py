"""DESIGN.md "Defaults", row by row, through the async client and the decorator."""

from __future__ import annotations

import openai
import pytest

import resilient_responses as rr

from ._support import (
    ATTEMPTS,
    DECORATOR_KEY,
    MODEL,
    ROW_IDS,
    ROWS,
    Row,
    assert_note_lists_attempts,
    client_key,
    fail_count,
    outage,
)


def _resilience(vtime) -> rr.Resilience:
    return rr.Resilience(
        attempts=ATTEMPTS,
        breaker=rr.BreakerConfig(fail_max=100, key=lambda *a, **k: DECORATOR_KEY),
        sleep=vtime.asleep,
        clock=vtime.clock,
    )


@pytest.mark.parametrize("row", ROWS, ids=ROW_IDS)
async def test_async_client_applies_default_row_requests_exception_note_and_breaker(
    row: Row, vtime
) -> None:
    """AsyncResilientOpenAI: retried rows send `attempts` requests, the others one; the SDK
    exception of that exact type is re-raised with a note per attempt; only tripping rows
    count against the breaker."""
    fake = outage(row.fault)
    resilience = _resilience(vtime)
    client = rr.AsyncResilientOpenAI(fake.async_client(), resilience=resilience)

    with pytest.raises(row.exc_type) as info:
        await client.responses.create(model=MODEL, input="hi")

    assert type(info.value) is row.exc_type
    assert len(fake.requests) == row.requests
    assert len(vtime.sleeps) == row.requests - 1
    assert_note_lists_attempts(info.value, row.requests, row.described)
    key = client_key(client)
    assert fail_count(resilience, key) == (row.requests if row.trips else 0)


@pytest.mark.parametrize("row", ROWS, ids=ROW_IDS)
async def test_async_decorator_applies_default_row_requests_exception_note_and_breaker(
    row: Row, vtime
) -> None:
    """@Resilience on a coroutine function around a raw AsyncOpenAI call (max_retries=0)."""
    fake = outage(row.fault)
    raw = fake.async_client(max_retries=0)
    resilience = _resilience(vtime)

    @resilience
    async def ask(text: str) -> openai.types.responses.Response:
        return await raw.responses.create(model=MODEL, input=text)

    with pytest.raises(row.exc_type) as info:
        await ask("hi")

    assert type(info.value) is row.exc_type
    assert len(fake.requests) == row.requests
    assert len(vtime.sleeps) == row.requests - 1
    assert_note_lists_attempts(info.value, row.requests, row.described)
    assert fail_count(resilience, DECORATOR_KEY) == (row.requests if row.trips else 0)


@pytest.mark.parametrize("row", ROWS, ids=ROW_IDS)
async def test_async_acall_applies_default_row(row: Row, vtime) -> None:
    """Resilience.acall(fn, ...) follows the same row."""
    fake = outage(row.fault)
    raw = fake.async_client(max_retries=0)
    with pytest.raises(row.exc_type) as info:
        await _resilience(vtime).acall(raw.responses.create, model=MODEL, input="hi")
    assert type(info.value) is row.exc_type
    assert len(fake.requests) == row.requests


async def test_async_insufficient_quota_keeps_its_code_on_the_reraised_error(vtime) -> None:
    """The billing 429 is re-raised as openai.RateLimitError with code insufficient_quota."""
    fake = outage(ROWS[ROW_IDS.index("429-insufficient_quota")].fault)
    client = rr.AsyncResilientOpenAI(fake.async_client(), resilience=_resilience(vtime))
    with pytest.raises(openai.RateLimitError) as info:
        await client.responses.create(model=MODEL, input="hi")
    assert info.value.code == "insufficient_quota"
    assert len(fake.requests) == 1
