"""Errors the library itself raises, placed in the SDK's own hierarchy.

After the last attempt of a failing call the library re-raises the *original* SDK exception
(``except openai.RateLimitError`` keeps working); the classes here are for what only this
library can know. Each is a :class:`ResilienceError` *and* the SDK error a framework
expects in its place, so code that handles SDK errors handles ours:

============================  ==============================  ================================
error                         is also an                      why
============================  ==============================  ================================
``StreamInterruptedError``    ``openai.APIConnectionError``   the stream's connection was lost
``CircuitOpenError``          ``openai.APIConnectionError``   the API is unreachable for now
``DeadlineExceededError``     ``openai.APITimeoutError``      the call ran out of time
``BudgetExceededError``       ``openai.APIError``             a local spending limit, no request
``GuardTripped``              ``openai.APIError``             the stream was stopped by a check
============================  ==============================  ================================

So ``except openai.APIError`` catches whatever the library raises in place of an SDK call,
and frameworks that map ``openai.APIConnectionError`` (pydantic-ai's fallback, LangChain's
retries) treat an open circuit and an interrupted stream as the connection errors they are.
None of them carries an HTTP response: no request was answered.
"""

from __future__ import annotations

import sys
from typing import Any

import httpx2
import openai

__all__ = [
    "BudgetExceededError",
    "CircuitOpenError",
    "DeadlineExceededError",
    "GuardTripped",
    "ResilienceError",
    "StreamInterruptedError",
]


#: Stands in for the request of an error raised without one (nothing was sent).
_NO_REQUEST_URL = "https://api.openai.com/v1/responses"


def _request(request: httpx2.Request | None) -> httpx2.Request:
    return request if request is not None else httpx2.Request("POST", _NO_REQUEST_URL)


class ResilienceError(openai.OpenAIError):
    """Base class of every error raised by resilient_responses itself."""


class CircuitOpenError(ResilienceError, openai.APIConnectionError):
    """The circuit breaker for *key* is open; no request was sent.

    Attributes:
        key: the breaker key (by default ``"<base_url> <model>"`` or the function's name).
        retry_in: seconds until the breaker lets a probe through (0.0 when half-open and
            all probe slots are taken).
    """

    def __init__(self, key: str, retry_in: float, *, request: httpx2.Request | None = None) -> None:
        self.key = key
        self.retry_in = retry_in
        openai.APIConnectionError.__init__(
            self,
            message=f"circuit breaker {key!r} is open; next probe in {retry_in:.2f}s",
            request=_request(request),
        )

    def __reduce__(self) -> tuple[type[CircuitOpenError], tuple[str, float]]:
        return (type(self), (self.key, self.retry_in))


class DeadlineExceededError(ResilienceError, openai.APITimeoutError):
    """The call's overall deadline passed before any attempt could succeed.

    Raised only when there is no SDK error to re-raise (the deadline ran out waiting for
    the breaker's next probe, or for rate-limit capacity: *waiting_for* says which);
    otherwise the last SDK error is re-raised with a note saying why the retries stopped.
    """

    def __init__(
        self,
        deadline: float,
        elapsed: float,
        *,
        waiting_for: str | None = None,
        request: httpx2.Request | None = None,
    ) -> None:
        self.deadline = deadline
        self.elapsed = elapsed
        self.waiting_for = waiting_for
        message = f"deadline of {deadline:g}s exceeded after {elapsed:.3f}s"
        if waiting_for is not None:
            message += f" waiting for {waiting_for}; nothing was sent"
        openai.APIConnectionError.__init__(self, message=message, request=_request(request))

    def __reduce__(self) -> Any:
        return (_rebuild_deadline, (self.deadline, self.elapsed, self.waiting_for))


class StreamInterruptedError(ResilienceError, openai.APIConnectionError):
    """A stream was cut by a transport fault that could not be recovered.

    The consumer received every event up to ``last_sequence_number`` exactly once, and
    ``partial_text`` is exactly the output text it received. ``__cause__`` is the fault.

    Attributes:
        response_id: the id of the response that was cut (``None`` before ``response.created``).
        last_sequence_number: the last sequence number delivered (``None`` if none was).
        partial_text: the concatenated ``response.output_text.delta`` text delivered.
        reason: the failure kind, e.g. ``"stream_truncated"``, ``"connection"``.
    """

    def __init__(
        self,
        message: str,
        *,
        response_id: str | None = None,
        last_sequence_number: int | None = None,
        partial_text: str = "",
        reason: str = "stream_error",
        request: httpx2.Request | None = None,
    ) -> None:
        self.response_id = response_id
        self.last_sequence_number = last_sequence_number
        self.partial_text = partial_text
        self.reason = reason
        openai.APIConnectionError.__init__(self, message=message, request=_request(request))

    def __reduce__(self) -> Any:
        return (
            _rebuild_interrupted,
            (
                self.message,
                self.response_id,
                self.last_sequence_number,
                self.partial_text,
                self.reason,
            ),
        )


class BudgetExceededError(ResilienceError, openai.APIError):
    """A hard :class:`~resilient_responses.CostBudget` is spent; no request was sent."""

    def __init__(self, window: str, limit_usd: float, spent_usd: float) -> None:
        self.window = window
        self.limit_usd = limit_usd
        self.spent_usd = spent_usd
        openai.APIError.__init__(
            self,
            f"{window} cost budget of ${limit_usd:.4f} is spent (${spent_usd:.4f}); "
            "request not sent",
            _request(None),
            body=None,
        )

    def __reduce__(self) -> tuple[type[BudgetExceededError], tuple[str, float, float]]:
        return (type(self), (self.window, self.limit_usd, self.spent_usd))


class GuardTripped(ResilienceError, openai.APIError):
    """A :class:`~resilient_responses.StreamGuard` check flagged the streamed text."""

    def __init__(self, reason: str, *, response_id: str | None = None, text: str = "") -> None:
        self.reason = reason
        self.response_id = response_id
        self.text = text
        openai.APIError.__init__(self, f"stream guard tripped: {reason}", _request(None), body=None)

    def __reduce__(self) -> Any:
        return (_rebuild_guard, (self.reason, self.response_id, self.text))


def _rebuild_interrupted(
    message: str,
    response_id: str | None,
    last_sequence_number: int | None,
    partial_text: str,
    reason: str,
) -> StreamInterruptedError:
    return StreamInterruptedError(
        message,
        response_id=response_id,
        last_sequence_number=last_sequence_number,
        partial_text=partial_text,
        reason=reason,
    )


def _rebuild_deadline(
    deadline: float, elapsed: float, waiting_for: str | None
) -> DeadlineExceededError:
    return DeadlineExceededError(deadline, elapsed, waiting_for=waiting_for)


def _rebuild_guard(reason: str, response_id: str | None, text: str) -> GuardTripped:
    return GuardTripped(reason, response_id=response_id, text=text)


def add_note(exc: BaseException, note: str) -> None:
    """PEP 678 ``add_note``, with the same ``__notes__`` list on Python 3.10."""
    if sys.version_info >= (3, 11):
        exc.add_note(note)
    else:  # pragma: no cover - exercised only on 3.10
        notes = getattr(exc, "__notes__", None)
        if not isinstance(notes, list):
            notes = []
            exc.__notes__ = notes  # type: ignore[attr-defined]
        notes.append(note)
