"""Shared pieces of the property suite: the prompt, its full text, and event checks."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import openai
from hypothesis import event

from resilient_responses import ResilientOpenAI
from resilient_responses.exceptions import StreamInterruptedError
from resilient_responses.testing import FakeResponsesAPI, Fault, VirtualClock
from resilient_responses.testing.strategies import FaultKindName

MODEL = "gpt-5-mini"
PROMPT = "Explain circuit breakers in one paragraph"

#: The faults a plain (non-streaming) call is turned into a result or an SDK error by the
#: library today. ``truncate`` and ``error_event``/``failed`` on plain calls are known gaps,
#: pinned by strict xfails in ``tests/test_user_story.py``.
PLAIN_KINDS: tuple[FaultKindName, ...] = ("status", "connect_error", "timeout", "reset", "stall")

#: Allowed breaker moves (pybreaker's state names).
BREAKER_MOVES = frozenset(
    {("closed", "open"), ("open", "half-open"), ("half-open", "closed"), ("half-open", "open")}
)


@functools.cache
def full_text() -> str:
    """What a fault-free call for :data:`PROMPT` returns (the fake is deterministic)."""
    return FakeResponsesAPI().client().responses.create(model=MODEL, input=PROMPT).output_text


VirtualTime = VirtualClock


def limit_for(fault: Fault | None, attempts: int, rate_limit_attempts: int | None) -> int:
    """The attempt limit in force after a request that got *fault* (see ``decide``)."""
    terminal = fault.terminal if fault is not None else None
    if (
        terminal is not None
        and terminal.kind == "status"
        and terminal.status_code == 429
        and terminal.code != "insufficient_quota"
        and rate_limit_attempts is not None
    ):
        return rate_limit_attempts
    return attempts


def check_attempts(
    faults: Sequence[Fault | None], attempts: int, rate_limit_attempts: int | None
) -> None:
    """Each request after the first was allowed by the policy of the failure before it."""
    for number, fault in enumerate(faults[:-1], start=1):
        limit = limit_for(fault, attempts, rate_limit_attempts)
        assert number < limit, (
            f"request {number + 1} sent although attempt {number} ({fault!r}) "
            f"was the last allowed ({limit})"
        )


def check_stream(events: Sequence[Any], error: BaseException | None) -> None:
    """Exactly once: within each response, sequence numbers 0, 1, 2... with no gap or repeat;
    a new response only before any output; a completed stream carries the full text; an
    interruption reports exactly what was delivered."""
    segments: list[list[Any]] = []
    for item in events:
        # A restarted response opens with response.created, or with the server's failure
        # numbered 0 (``Fault.error_event(after_events=0)`` on the restart's request).
        declared_first = item.type in ("error", "response.failed") and item.sequence_number == 0
        if item.type == "response.created" or (segments and declared_first):
            if segments:
                seen = {e.type for e in segments[-1]}
                assert seen <= {"response.created", "response.queued", "response.in_progress"}, (
                    f"restarted after output was delivered: {sorted(seen)}"
                )
            segments.append([])
        elif not segments:
            # A stream may open with the server's failure (``Fault.error_event`` or
            # ``Fault.failed`` with ``after_events=0``).
            assert item.type in ("error", "response.failed"), f"first event is {item.type}"
            segments.append([])
        segments[-1].append(item)
    for segment in segments:
        numbers = [e.sequence_number for e in segment]
        assert numbers == list(range(len(numbers))), numbers
    last_text = (
        "".join(e.delta for e in segments[-1] if e.type == "response.output_text.delta")
        if segments
        else ""
    )
    event(f"stream ended by {type(error).__name__ if error else events[-1].type}")
    if len(segments) > 1:
        event("stream restarted")
    if events and events[-1].type == "response.completed":
        assert error is None
        assert last_text == full_text()
        assert events[-1].response.output_text == full_text()
    if isinstance(error, StreamInterruptedError):
        last = segments[-1][-1].sequence_number if segments else None
        assert error.last_sequence_number == last
        assert error.partial_text == last_text
        assert full_text().startswith(error.partial_text)


def stream_once(
    client: ResilientOpenAI, *, background: bool
) -> tuple[list[Any], openai.OpenAIError | None]:
    """Consume one resilient stream; the events delivered and the error that ended it."""
    events: list[Any] = []
    try:
        with client.responses.create(
            model=MODEL, input=PROMPT, stream=True, background=background
        ) as stream:
            for event in stream:
                events.append(event)  # noqa: PERF402 (events before an error must survive)
    except openai.OpenAIError as exc:
        return events, exc
    return events, None
