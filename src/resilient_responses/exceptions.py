"""Errors the library itself raises.

All of them derive from :class:`openai.OpenAIError`, so an application that already catches
the SDK's base error keeps working. After the last attempt of a failing call the library
re-raises the *original* SDK exception (``except openai.RateLimitError`` keeps working); the
classes here are for what only this library can know: an open circuit, a spent deadline, a
stream cut in a way that cannot be recovered.
"""

from __future__ import annotations

import openai

__all__ = [
    "BudgetExceededError",
    "CircuitOpenError",
    "DeadlineExceededError",
    "GuardTripped",
    "ResilienceError",
    "StreamInterruptedError",
]


class ResilienceError(openai.OpenAIError):
    """Base class of every error raised by resilient_responses itself."""


class CircuitOpenError(ResilienceError):
    """The circuit breaker for *key* is open; no request was sent.

    Attributes:
        key: the breaker key (by default ``"<base_url> <model>"`` or the function's name).
        retry_in: seconds until the breaker lets a probe through (0.0 when half-open and
            all probe slots are taken).
    """

    def __init__(self, key: str, retry_in: float) -> None:
        self.key = key
        self.retry_in = retry_in
        super().__init__(f"circuit breaker {key!r} is open; next probe in {retry_in:.2f}s")

    def __reduce__(self) -> tuple[type[CircuitOpenError], tuple[str, float]]:
        return (type(self), (self.key, self.retry_in))


class DeadlineExceededError(ResilienceError):
    """The call's overall deadline passed before any attempt could succeed.

    Raised only when there is no SDK error to re-raise (for example the deadline ran out
    while waiting for a half-open probe slot); otherwise the last SDK error is re-raised
    with a note saying the deadline stopped the retries.
    """

    def __init__(self, deadline: float, elapsed: float) -> None:
        self.deadline = deadline
        self.elapsed = elapsed
        super().__init__(f"deadline of {deadline:g}s exceeded after {elapsed:.3f}s")

    def __reduce__(self) -> tuple[type[DeadlineExceededError], tuple[float, float]]:
        return (type(self), (self.deadline, self.elapsed))


class StreamInterruptedError(ResilienceError):
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
    ) -> None:
        self.response_id = response_id
        self.last_sequence_number = last_sequence_number
        self.partial_text = partial_text
        self.reason = reason
        super().__init__(message)


class BudgetExceededError(ResilienceError):
    """A hard :class:`~resilient_responses.CostBudget` is spent; no request was sent."""

    def __init__(self, window: str, limit_usd: float, spent_usd: float) -> None:
        self.window = window
        self.limit_usd = limit_usd
        self.spent_usd = spent_usd
        super().__init__(
            f"{window} cost budget of ${limit_usd:.4f} is spent (${spent_usd:.4f}); "
            "request not sent"
        )

    def __reduce__(self) -> tuple[type[BudgetExceededError], tuple[str, float, float]]:
        return (type(self), (self.window, self.limit_usd, self.spent_usd))


class GuardTripped(ResilienceError):
    """A :class:`~resilient_responses.StreamGuard` check flagged the streamed text."""

    def __init__(self, reason: str, *, response_id: str | None = None, text: str = "") -> None:
        self.reason = reason
        self.response_id = response_id
        self.text = text
        super().__init__(f"stream guard tripped: {reason}")
