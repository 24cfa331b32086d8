"""What the framework integration tests share: the fake's answers, the fault cases, clients.

Every case runs a framework over the drop-in client pointed at :class:`FakeResponsesAPI`
served over loopback HTTP, and asserts two things: what the framework finally returned
(or raised), and how many HTTP requests the fake saw.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import pytest
from pydantic import BaseModel

from resilient_responses import (
    AsyncResilientOpenAI,
    BreakerConfig,
    Resilience,
    ResilientOpenAI,
    StreamPolicy,
)
from resilient_responses.testing import FakeResponsesAPI, Fault, RecordedRequest

MODEL = "gpt-5-mini"
API_KEY = "sk-fake-integrations"

#: The fake's plain-text answer: five deltas of one word each when streamed.
ANSWER = "It is sunny in Paris."

#: Events of a streamed text answer (plain, not background): created 0, in_progress 1,
#: output_item.added 2, content_part.added 3, output_text.delta 4..8, then the closing
#: events. A fault after 6 events cuts after "It is " reached the consumer.
AFTER_OUTPUT = 6
#: After `response.created` only: nothing but a lifecycle event was delivered.
BEFORE_OUTPUT = 1


class Weather(BaseModel):
    """The structured output the tests ask for."""

    city: str
    temperature_c: int


WEATHER = Weather(city="Paris", temperature_c=21)


def answer(body: dict[str, Any]) -> str:
    """The fake's output text: JSON of :data:`WEATHER` when the request asks for a JSON
    schema (structured output), else :data:`ANSWER`."""
    text = body.get("text")
    fmt = text.get("format") if isinstance(text, dict) else None
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        return WEATHER.model_dump_json()
    return ANSWER


Outcome = Literal["answer", "connection_error"]


@dataclass(frozen=True)
class Case:
    """One fault plan and what the framework should make of it once issue 11 is fixed.

    Attributes:
        id: the pytest id.
        fault: the fault applied to the first request (``None``: no fault).
        requests: how many HTTP requests the fake sees in all.
        resumable: run with ``StreamPolicy(make_resumable=True)`` (background streams).
        outcome: ``"answer"`` (the fault-free output) or ``"connection_error"`` (the
            framework's own connection error type).
        resumed: the second request must be a ``retrieve(..., starting_after=n)``.
    """

    id: str
    fault: Fault | None
    requests: int
    resumable: bool = False
    outcome: Outcome = "answer"
    resumed: bool = False


#: Plain (non-stream) calls: every transport fault is retried, the answer is the fault-free one.
CALL_CASES = (
    Case("no_fault", None, 1),
    Case("status_500", Fault.status(500), 2),
    Case("status_429_retry_after", Fault.status(429, retry_after=1), 2),
    Case("reset_mid_body", Fault.reset(), 2),
    Case("body_cut_short", Fault.truncate(), 2),
    Case("response_failed", Fault.failed(after_events=3), 2),
)

#: Streams: recovered before output (restart) or by resume (background); a plain stream cut
#: after output reaches the framework as its own connection error, after one request.
STREAM_CASES = (
    Case("no_fault", None, 1),
    Case("status_500", Fault.status(500), 2),
    Case("status_429_retry_after", Fault.status(429, retry_after=1), 2),
    Case("reset_before_output", Fault.reset(after_events=BEFORE_OUTPUT), 2),
    Case("failed_before_output", Fault.failed(after_events=BEFORE_OUTPUT), 2),
    Case(
        "reset_after_output_background",
        Fault.reset(after_events=AFTER_OUTPUT),
        2,
        resumable=True,
        resumed=True,
    ),
    Case(
        "reset_after_output_plain",
        Fault.reset(after_events=AFTER_OUTPUT),
        1,
        outcome="connection_error",
    ),
    Case(
        "body_cut_short_background",
        Fault.truncate(after_events=AFTER_OUTPUT),
        2,
        resumable=True,
        resumed=True,
    ),
    Case(
        "body_cut_short_plain",
        Fault.truncate(after_events=AFTER_OUTPUT),
        1,
        outcome="connection_error",
    ),
)


def case_params(cases: tuple[Case, ...]) -> Any:
    """``pytest.mark.parametrize`` over *cases*, with readable ids."""
    return pytest.mark.parametrize("case", cases, ids=[c.id for c in cases])


def resilience(*, resumable: bool = False, **config: Any) -> Resilience:
    """The engine under test: defaults, plus background streams when *resumable*."""
    return Resilience(stream=StreamPolicy(make_resumable=resumable), **config)


def tripping_resilience() -> Resilience:
    """One attempt per call and a breaker that opens at the first failure (and stays open)."""
    return Resilience(attempts=1, breaker=BreakerConfig(fail_max=1, reset_timeout=600.0))


def sync_client(base_url: str, engine: Resilience) -> ResilientOpenAI:
    return ResilientOpenAI(resilience=engine, api_key=API_KEY, base_url=base_url)


def async_client(base_url: str, engine: Resilience) -> AsyncResilientOpenAI:
    return AsyncResilientOpenAI(resilience=engine, api_key=API_KEY, base_url=base_url)


def plan(fake: FakeResponsesAPI, case: Case) -> None:
    """Apply the case's fault to the next request; every later request is clean."""
    fake.plan([case.fault])


def check_requests(fake: FakeResponsesAPI, case: Case) -> None:
    """The number of requests the fake saw, and how a resumed stream came back."""
    seen = fake.requests
    assert len(seen) == case.requests, [(r.method, r.path, r.query, r.fault) for r in seen]
    if case.resumed:
        first, resume = seen[0], seen[1]
        assert first.method == "POST"
        assert first.json["background"] is True
        # Resumed where it broke (no tokens paid twice), not restarted.
        assert resume.method == "GET"
        assert resume.path.endswith(f"/responses/{first.response_id}")
        assert resume.query.get("starting_after") is not None


def final_request_id(fake: FakeResponsesAPI) -> str:
    """The ``x-request-id`` the fake sent with its last ``POST /responses`` answer."""
    posts = [r for r in fake.requests if r.method == "POST" and r.path.endswith("/responses")]
    return f"req_{posts[-1].index + 1}"


def inside_arguments(
    make_fake: Callable[[], FakeResponsesAPI], prompt: str, *, background: bool
) -> int:
    """``after_events`` that cuts a function-call reply's stream just after its first
    ``response.function_call_arguments.delta``, read from a fault-free run of a fake made
    by *make_fake* (in-process: no network)."""
    probe = make_fake()
    extra: dict[str, Any] = {"background": True, "store": True} if background else {}
    with probe.client(max_retries=0) as client:
        events = list(client.responses.create(model=MODEL, input=prompt, stream=True, **extra))
    types = [e.type for e in events]
    assert "response.function_call_arguments.delta" in types, types
    first = types.index("response.function_call_arguments.delta")
    assert "response.function_call_arguments.done" in types[first + 1 :], types
    return first + 1


def has_tool_output(body: Any) -> bool:
    """The request body carries a ``function_call_output`` item (a tool's result)."""
    items = body.get("input") if isinstance(body, dict) else None
    return isinstance(items, list) and any(
        isinstance(item, dict) and item.get("type") == "function_call_output" for item in items
    )


def sends_tool_output(request: RecordedRequest) -> bool:
    """The recorded request carried a tool's result back to the model."""
    return has_tool_output(request.json)
