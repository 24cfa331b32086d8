"""``StreamPolicy``: what a broken stream does."""

from __future__ import annotations

from dataclasses import dataclass

from ._checks import check_bool, check_seconds
from ._contract import RECOVERIES, Recovery

__all__ = ["Recovery", "StreamPolicy"]


@dataclass(frozen=True, slots=True)
class StreamPolicy:
    """How resilient streams recover from faults.

    Attributes:
        recovery: ``"resume"`` continues a background response from the last event seen
            with ``responses.retrieve(id, stream=True, starting_after=n)`` (lossless, no
            token paid twice); ``"restart"`` re-issues the request, only while the consumer
            has seen nothing but lifecycle events; ``"raise"`` raises
            ``StreamInterruptedError``; ``"auto"`` (default) resumes when the response is
            resumable, else restarts while allowed, else raises.
        idle_timeout: seconds without an event that count as a stall (``None``: the SDK's
            read timeout applies). Keepalive comments do not reset it; the time the consumer
            spends on an event does not count. Implemented as the stream request's read
            timeout plus a check of each chunk read, so no thread or timer watches the
            stream.
        first_event_timeout: the read timeout of the first connection, before any event has
            been seen (``None``: *idle_timeout* applies from the start). Reconnections
            (resumes, restarts after the first event) use *idle_timeout*. The HTTP stack
            fixes a connection's read timeout when its body starts, so on the first
            connection this allowance also covers silences after the first event: reasoning
            models may think silently for minutes, and a false stall on a plain stream
            would throw the response away.
        make_resumable: add ``background=True, store=True`` to stream requests so every
            stream can be resumed (not to a request sent with ``store=False``, which the
            API refuses as a background one: it stays a plain stream).

    >>> StreamPolicy(recovery="resume", idle_timeout=30.0).recovery
    'resume'
    """

    recovery: Recovery = "auto"
    idle_timeout: float | None = None
    first_event_timeout: float | None = None
    make_resumable: bool = False

    def __post_init__(self) -> None:
        if self.recovery not in RECOVERIES:
            raise ValueError(
                f"StreamPolicy.recovery must be one of {RECOVERIES}, got {self.recovery!r}"
            )
        if self.idle_timeout is not None:
            check_seconds("StreamPolicy.idle_timeout", self.idle_timeout, allow_zero=False)
        if self.first_event_timeout is not None:
            check_seconds(
                "StreamPolicy.first_event_timeout", self.first_event_timeout, allow_zero=False
            )
        check_bool("StreamPolicy.make_resumable", self.make_resumable)
