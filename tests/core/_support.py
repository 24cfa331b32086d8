"""Shared rows and helpers for the core-engine acceptance tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import httpx2
import openai

import resilient_responses as rr
from resilient_responses.testing import FakeResponsesAPI, Fault, VirtualClock

MODEL = "gpt-5-mini"
ATTEMPTS = 3
DECORATOR_KEY = "decorated"


@dataclass(frozen=True)
class Row:
    """One row of DESIGN.md's default table, as the fake plays it."""

    name: str
    fault: Fault
    exc_type: type[BaseException]
    retried: bool
    trips: bool
    described: str

    @property
    def requests(self) -> int:
        return ATTEMPTS if self.retried else 1


def _status(status: int, exc_type: type[BaseException], *, retried: bool, trips: bool) -> Row:
    fault = Fault.status(status)
    described = f"{status} {fault.code}" if fault.code else str(status)
    return Row(str(status), fault, exc_type, retried, trips, described)


ROWS: list[Row] = [
    _status(400, openai.BadRequestError, retried=False, trips=False),
    _status(401, openai.AuthenticationError, retried=False, trips=False),
    _status(403, openai.PermissionDeniedError, retried=False, trips=False),
    _status(404, openai.NotFoundError, retried=False, trips=False),
    _status(422, openai.UnprocessableEntityError, retried=False, trips=False),
    Row(
        "429-insufficient_quota",
        Fault.status(429, code="insufficient_quota"),
        openai.RateLimitError,
        retried=False,
        trips=False,
        described="429 insufficient_quota",
    ),
    Row(
        "429-rate_limit_exceeded",
        Fault.status(429, code="rate_limit_exceeded"),
        openai.RateLimitError,
        retried=True,
        trips=False,
        described="429 rate_limit_exceeded",
    ),
    # 408 has no SDK subclass: the SDK raises a plain APIStatusError.
    _status(408, openai.APIStatusError, retried=True, trips=True),
    _status(409, openai.ConflictError, retried=True, trips=True),
    _status(500, openai.InternalServerError, retried=True, trips=True),
    _status(502, openai.InternalServerError, retried=True, trips=True),
    _status(503, openai.InternalServerError, retried=True, trips=True),
    _status(504, openai.InternalServerError, retried=True, trips=True),
    # "other 5xx": not named in the table, retried and tripping like the rest.
    _status(529, openai.InternalServerError, retried=True, trips=True),
    Row(
        "connection",
        Fault.connect_error(),
        openai.APIConnectionError,
        retried=True,
        trips=True,
        described="connection",
    ),
    Row(
        "timeout",
        Fault.timeout(),
        openai.APITimeoutError,
        retried=True,
        trips=True,
        described="timeout",
    ),
]
ROW_IDS = [row.name for row in ROWS]


def outage(fault: Fault) -> FakeResponsesAPI:
    """A fake that answers every request with *fault*."""
    fake = FakeResponsesAPI()
    fake.plan([], then=fault)
    return fake


def notes(exc: BaseException) -> str:
    return "\n".join(getattr(exc, "__notes__", []))


def assert_note_lists_attempts(exc: BaseException, attempts: int, described: str) -> None:
    """The PEP 678 note says how many attempts were made and lists each one."""
    text = notes(exc)
    plural = "s" if attempts != 1 else ""
    assert f"gave up after {attempts} attempt{plural}" in text
    for number in range(1, attempts + 1):
        assert f"attempt {number}: {described}" in text
    assert f"attempt {attempts + 1}:" not in text


def fail_count(resilience: rr.Resilience, key: str) -> int:
    """Failures pybreaker has counted for *key* since it last closed."""
    breakers = resilience._engine.breakers
    assert breakers is not None
    return int(breakers.get(key).storage.counter)


def client_key(client: openai.OpenAI | openai.AsyncOpenAI, model: str = MODEL) -> str:
    return f"{client.base_url} {model}"


def events_named(logs: list[dict[str, object]], name: str) -> list[dict[str, object]]:
    return [e for e in logs if e["event"] == f"resilient_responses.{name}"]


Clock = VirtualClock  # virtual time for Hypothesis examples


def sdk_error(
    status: int,
    code: str | None = None,
    headers: dict[str, str] | None = None,
    *,
    message: str = "fake",
) -> openai.APIStatusError:
    """The exception the SDK raises for an HTTP error answer, built without I/O."""
    request = httpx2.Request("POST", "http://fake.openai.test/v1/responses")
    response = httpx2.Response(
        status, headers={"x-request-id": "req_test", **(headers or {})}, request=request
    )
    body = {"message": message, "type": "server_error", "param": None, "code": code}
    client = _ERROR_FACTORY
    return client._make_status_error(  # the SDK's own status -> class mapping
        f"Error code: {status}", body=body, response=response
    )


def connection_error() -> openai.APIConnectionError:
    return openai.APIConnectionError(
        request=httpx2.Request("POST", "http://fake.openai.test/v1/responses")
    )


def rewind_breaker(resilience: rr.Resilience, key: str, seconds: float = 3600.0) -> None:
    """Pretend the breaker of *key* opened *seconds* ago (pybreaker uses the wall clock)."""
    breakers = resilience._engine.breakers
    assert breakers is not None
    breakers.get(key).storage.opened_at = datetime.now(timezone.utc) - timedelta(seconds=seconds)


_ERROR_FACTORY = openai.OpenAI(api_key="sk-unused", base_url="http://fake.openai.test/v1")
