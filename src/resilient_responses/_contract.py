"""The stream contract: the event vocabulary, one text accumulator, and the sans-I/O core.

Everything that knows what a Responses stream event *means* lives here: which events end a
stream, which carry no output (so a restart is still allowed), which declare a failure,
which carry text. :class:`StreamCore` applies that vocabulary to the events one stream
delivers: it deduplicates by ``sequence_number``, tracks the response id, the delivered text
and whether output was seen, and says which recovery a fault allows. It does no I/O and
knows nothing of retries: the stream shells feed it events and ask it questions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from openai.types.responses import ResponseTextDeltaEvent as _TextDeltaEvent

__all__ = [
    "DECLARED_FAILURE_EVENTS",
    "LIFECYCLE_EVENTS",
    "TERMINAL_EVENTS",
    "TEXT_DELTA",
    "Mode",
    "Recovery",
    "StreamCore",
    "TextAccumulator",
    "Verdict",
]

#: Events that end a Responses stream. A body that ends without one was cut.
TERMINAL_EVENTS = frozenset(
    {"response.completed", "response.failed", "response.incomplete", "error"}
)
#: Events that carry no output: a restart is allowed while the consumer saw only these.
LIFECYCLE_EVENTS = frozenset({"response.created", "response.queued", "response.in_progress"})
#: Events in which the server declares that the response failed.
DECLARED_FAILURE_EVENTS = frozenset({"error", "response.failed"})
#: The event that carries output text.
TEXT_DELTA = "response.output_text.delta"

#: What :meth:`StreamCore.accept` says of one event read from the wire: hand it to the
#: consumer, drop it (already delivered), hand it over and end, a declared failure, or a
#: broken sequence (a transport fault: the connection cannot be trusted).
Verdict = Literal["deliver", "skip", "end", "declared", "fault"]
#: How a broken stream can be recovered.
Mode = Literal["resume", "restart"]
#: What a broken stream does (``StreamPolicy.recovery``).
Recovery = Literal["auto", "resume", "restart", "raise"]
RECOVERIES: tuple[Recovery, ...] = ("auto", "resume", "restart", "raise")


class TextAccumulator:
    """The output text delivered so far, joined only when asked for."""

    __slots__ = ("parts",)

    def __init__(self) -> None:
        self.parts: list[str] = []

    def add(self, delta: object) -> int:
        """Add a ``response.output_text.delta`` event's ``delta`` (anything else is
        ignored); the number of characters added."""
        if isinstance(delta, str):
            self.parts.append(delta)
            return len(delta)
        return 0

    @property
    def text(self) -> str:
        return "".join(self.parts)


class StreamCore:
    """What one resilient stream has delivered, and which recovery a fault allows. No I/O.

    ``deliver_count`` counts events handed to the consumer; ``output_seen`` turns true at
    the first event that is not a lifecycle event, after which a restart would replay
    output and is no longer allowed. ``progressed`` says whether the current connection
    delivered something new (output, or any event of a resume): lifecycle events of a
    fresh response are not progress, so a server that cuts every stream after
    ``response.created`` still exhausts the attempts.
    """

    __slots__ = (
        "_append_text",
        "_check_replays",
        "_hot",
        "deliver_count",
        "first_event_seen",
        "first_seq",
        "first_type",
        "last_seq",
        "last_type",
        "on_first_event",
        "on_progress",
        "output_seen",
        "progressed",
        "recovery",
        "replay_next",
        "replay_part",
        "replaying",
        "response_id",
        "restart_pending",
        "resumable",
        "resuming",
        "text",
    )

    def __init__(
        self,
        recovery: Recovery = "auto",
        *,
        resumable: bool = False,
        response_id: str | None = None,
        starting_after: int | None = None,
    ) -> None:
        self.recovery = recovery
        self.resumable = resumable
        self.response_id = response_id
        self.last_seq = starting_after
        self.output_seen = False
        self.first_event_seen = False
        # Set by a restart until the new response's first event: until then the consumer
        # still holds the old response's id and sequence number (an interruption reports
        # them), but neither may be used to deduplicate or to resume.
        self.restart_pending = False
        self.deliver_count = 0
        self.progressed = False
        # accept()'s hot path applies: this connection made progress, output was seen, no
        # restart is pending, last_seq is an int and the first numbered event is known
        # (set at the end of _accept).
        self._hot = False
        self.resuming = False
        # A resumed connection may replay events the consumer already has before the
        # first new one: those are skipped; anywhere else a step back is a fault. A replay
        # is checked against what was delivered (see _replays): where it starts, that it
        # has no gap, its text deltas, its last event.
        self.replaying = False
        self.replay_next: int | None = None  # the number the replay must go on with
        self.replay_part = 0  # the delivered text delta the replay must carry next
        # The first event delivered of the current response (a replay starts there).
        self.first_seq: int | None = None
        self.first_type: str | None = None
        # Not after a caller's own starting_after: the events up to it were never
        # delivered here, so there is nothing to check a replay of them against.
        self._check_replays = starting_after is None
        # What a repeat of the last event must equal to be dropped as a duplicate (kept
        # small: holding the event itself would keep a whole Response alive per stream).
        self.last_type: str | None = None
        self.text = TextAccumulator()
        # The hot path appends deltas with the list's own (builtin) method: no Python call.
        self._append_text = self.text.parts.append
        #: Called at the first event delivered (time to first event).
        self.on_first_event: Callable[[], None] | None = None
        #: Called when a connection first makes progress (attempts start over).
        self.on_progress: Callable[[], None] | None = None

    @property
    def partial_text(self) -> str:
        return self.text.text

    def can_resume(self) -> bool:
        return self.response_id is not None and self.resumable and not self.restart_pending

    def connecting(self) -> Literal["create", "resume"]:
        """A new connection is being opened: how, and reset the per-connection progress."""
        self.progressed = self._hot = False
        self.resuming = self.replaying = self.can_resume()
        self.replay_next = None
        self.replay_part = 0
        return "resume" if self.resuming else "create"

    def accept(self, event: Any) -> Verdict:
        """Classify one event read from the wire (and account it when delivered).

        Within one response sequence numbers run ``0, 1, 2, ...``: the next one is
        delivered; a repeat of the last one (same type, and for a text delta the same
        text) is dropped, as are the events a resumed connection replays before its first
        new one (when they are what was delivered: see :meth:`_replays`); a gap, a step
        back or numbering that starts over is a ``"fault"``, never a silent skip.
        """
        if self._hot and type(event) is _TextDeltaEvent and event.type == TEXT_DELTA:
            # The hot path: the next text delta of a connection already under way. What
            # the general path (_accept) would do for it, and nothing else (progress
            # implies that replaying is over and the first event was seen).
            seq = event.sequence_number
            if type(seq) is int and seq == self.last_seq + 1:  # type: ignore[operator]
                self.last_seq = seq
                self.last_type = TEXT_DELTA
                delta = event.delta
                if isinstance(delta, str):
                    self._append_text(delta)
                self.deliver_count += 1
                return "deliver"
        return self._accept(event)

    def _accept(self, event: Any) -> Verdict:
        """:meth:`accept` for any event (the general path)."""
        if self.restart_pending:
            self.restart_pending = False
            self.response_id = None
            self.last_seq = None
            self.first_seq = self.first_type = None
        seq = getattr(event, "sequence_number", None)
        last = self.last_seq
        if isinstance(seq, int) and last is not None and seq != last + 1:
            if seq > last:
                return "fault"
            if self.replaying:
                return "skip" if self._replays(event, seq) else "fault"
            # The consumer already has a repeat of the last event.
            return "skip" if seq == last and self._repeats(event) else "fault"
        self.replaying = False
        if not self.first_event_seen:
            self.first_event_seen = True
            if self.on_first_event is not None:
                self.on_first_event()
        event_type = getattr(event, "type", None)
        if event_type == "response.created":
            response = getattr(event, "response", None)
            self.response_id = getattr(response, "id", None) or self.response_id
            if getattr(response, "background", None):
                self.resumable = True
        if event_type in DECLARED_FAILURE_EVENTS:
            return "declared"
        if not self.progressed and (self.resuming or event_type not in LIFECYCLE_EVENTS):
            self.progressed = True
            if self.on_progress is not None:
                self.on_progress()
        if isinstance(seq, int):
            self.last_seq = seq
            if self.first_type is None:
                self.first_seq, self.first_type = seq, event_type
        self.last_type = event_type
        if event_type not in LIFECYCLE_EVENTS:
            self.output_seen = True
            if event_type == TEXT_DELTA:
                delta = event.delta
                if isinstance(delta, str):
                    self._append_text(delta)
        self.deliver_count += 1
        self._hot = (
            self.progressed
            and self.output_seen
            and type(self.last_seq) is int
            and self.first_type is not None  # where a replay would start is known
        )
        return "end" if event_type in TERMINAL_EVENTS else "deliver"

    def _replays(self, event: Any, seq: int) -> bool:
        """On a resumed connection, *event* (numbered at or below the last delivered) is a
        replay of what the consumer has: a repeat of the last event (a server that counts
        ``starting_after`` in), or the response sent again by a server that ignores it:
        from its first event, without a gap, with the same text deltas in the same order,
        up to the same last event. Anything else (numbering that started over under new
        content) is not: skipping it would lose what it carries."""
        if not self._check_replays:
            return True
        expected = self.replay_next
        if expected is None and seq == self.last_seq:
            self.replay_next = seq + 1
            return self._repeats(event)
        event_type = getattr(event, "type", None)
        if expected is None:  # the replay's first event: where the response started
            if seq != self.first_seq or event_type != self.first_type:
                return False
        elif seq != expected:
            return False
        self.replay_next = seq + 1
        parts = self.text.parts
        if event_type == TEXT_DELTA:
            delta = getattr(event, "delta", None)
            if isinstance(delta, str):
                index = self.replay_part
                if index >= len(parts) or parts[index] != delta:
                    return False
                self.replay_part = index + 1
        return seq != self.last_seq or (self.replay_part == len(parts) and self._repeats(event))

    def _repeats(self, event: Any) -> bool:
        """*event* repeats the last delivered one (its number is the last number)."""
        event_type = getattr(event, "type", None)
        if event_type != self.last_type:
            return False
        parts = self.text.parts
        return event_type != TEXT_DELTA or (
            bool(parts) and getattr(event, "delta", None) == parts[-1]
        )

    def deliver_declared(self, event: Any) -> None:
        """A declared failure is handed to the consumer as the SDK would hand it."""
        seq = getattr(event, "sequence_number", None)
        if isinstance(seq, int):
            self.last_seq = seq
        self.deliver_count += 1

    def mode(self, *, declared: bool) -> Mode | None:
        """The recovery this stream allows now, or ``None``: it cannot be recovered.

        A declared failure is never resumed (the response itself failed): only restarted,
        and only before output.
        """
        recovery = self.recovery
        if recovery == "raise":
            return None
        can_resume = not declared and self.can_resume()
        can_restart = not self.output_seen
        if recovery == "resume":
            return "resume" if can_resume else None
        if recovery == "restart":
            return "restart" if can_restart else None
        if can_resume:
            return "resume"
        return "restart" if can_restart else None

    def restarting(self) -> None:
        """A restart begins a new response (its events start at ``response.created``)."""
        self.restart_pending = True
        self._hot = False
        self.resumable = False
