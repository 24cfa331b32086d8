"""DESIGN.md "Defaults", row by row, through the drop-in client and the decorator (sync)."""

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
    # fail_max above any call's attempts: the counter shows how many failures tripped.
    return rr.Resilience(
        attempts=ATTEMPTS,
        breaker=rr.BreakerConfig(fail_max=100, key=lambda *a, **k: DECORATOR_KEY),
        sleep=vtime.sleep,
        clock=vtime.clock,
    )


@pytest.mark.parametrize("row", ROWS, ids=ROW_IDS)
def test_client_applies_default_row_requests_exception_note_and_breaker(row: Row, vtime) -> None:
    """ResilientOpenAI: retried rows send `attempts` requests, the others one; the SDK
    exception of that exact type is re-raised with a note per attempt; only tripping
    rows count against the breaker."""
    fake = outage(row.fault)
    resilience = _resilience(vtime)
    client = rr.ResilientOpenAI(fake.client(), resilience=resilience)

    with pytest.raises(row.exc_type) as info:
        client.responses.create(model=MODEL, input="hi")

    assert type(info.value) is row.exc_type
    assert len(fake.requests) == row.requests
    assert len(vtime.sleeps) == row.requests - 1
    assert_note_lists_attempts(info.value, row.requests, row.described)
    key = client_key(client)
    assert fail_count(resilience, key) == (row.requests if row.trips else 0)
    assert resilience.breaker_state(key) == "closed"


@pytest.mark.parametrize("row", ROWS, ids=ROW_IDS)
def test_decorator_applies_default_row_requests_exception_note_and_breaker(row: Row, vtime) -> None:
    """@Resilience around a raw SDK call (max_retries=0): same requests, same exception,
    same note, same breaker accounting as the drop-in client."""
    fake = outage(row.fault)
    raw = fake.client(max_retries=0)
    resilience = _resilience(vtime)

    @resilience
    def ask(text: str) -> openai.types.responses.Response:
        return raw.responses.create(model=MODEL, input=text)

    with pytest.raises(row.exc_type) as info:
        ask("hi")

    assert type(info.value) is row.exc_type
    assert len(fake.requests) == row.requests
    assert_note_lists_attempts(info.value, row.requests, row.described)
    assert fail_count(resilience, DECORATOR_KEY) == (row.requests if row.trips else 0)


@pytest.mark.parametrize("row", ROWS, ids=ROW_IDS)
def test_resilient_shorthand_applies_default_row(row: Row, vtime) -> None:
    """@resilient(...) builds the same engine: same request count and exception type."""
    fake = outage(row.fault)
    raw = fake.client(max_retries=0)

    @rr.resilient(attempts=ATTEMPTS, sleep=vtime.sleep, clock=vtime.clock)
    def ask(text: str) -> openai.types.responses.Response:
        return raw.responses.create(model=MODEL, input=text)

    with pytest.raises(row.exc_type) as info:
        ask("hi")
    assert type(info.value) is row.exc_type
    assert len(fake.requests) == row.requests


def test_insufficient_quota_keeps_its_code_on_the_reraised_error(vtime) -> None:
    """The billing 429 is re-raised as openai.RateLimitError with code insufficient_quota."""
    fake = outage(ROWS[ROW_IDS.index("429-insufficient_quota")].fault)
    client = rr.ResilientOpenAI(fake.client(), resilience=_resilience(vtime))
    with pytest.raises(openai.RateLimitError) as info:
        client.responses.create(model=MODEL, input="hi")
    assert info.value.code == "insufficient_quota"
    assert len(fake.requests) == 1


def test_tripping_rows_open_the_breaker_and_rate_limits_do_not(vtime) -> None:
    """With fail_max == attempts a 503 outage opens the breaker; a 429 outage does not."""
    for fault_row, opens in (("503", True), ("429-rate_limit_exceeded", False)):
        fake = outage(ROWS[ROW_IDS.index(fault_row)].fault)
        resilience = rr.Resilience(
            attempts=ATTEMPTS,
            breaker=rr.BreakerConfig(fail_max=ATTEMPTS),
            sleep=vtime.sleep,
            clock=vtime.clock,
        )
        client = rr.ResilientOpenAI(fake.client(), resilience=resilience)
        with pytest.raises(openai.APIStatusError):
            client.responses.create(model=MODEL, input="hi")
        assert resilience.breaker_state(client_key(client)) == ("open" if opens else "closed")
