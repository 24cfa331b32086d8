"""The exchange model: what the fake's decision layer produces and every transport plays.

:meth:`FakeResponsesAPI._begin <resilient_responses.testing.FakeResponsesAPI>` decides one
request (fault, answer, state change, log entry) and returns an :class:`Exchange`. The
in-process transports (:mod:`._transport`) and the HTTP server (:mod:`._server`) only *play*
it: sleep, raise or abort, write bytes. Everything that shapes the bytes of an SSE body
(cuts, stalls, keepalives, reordered or renumbered events, malformed data) is decided here,
once, by :func:`sse_steps`, so the in-process and over-HTTP fakes cannot disagree.

Nothing here does I/O; :class:`Source` is the narrow view of the fake that transports need.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from resilient_responses.testing import _wire
from resilient_responses.testing._faults import Fault

__all__ = [
    "KEEPALIVE",
    "Exchange",
    "Silence",
    "Source",
    "Step",
    "malformed_json",
    "sse_steps",
    "stall_plan",
]

JSON = dict[str, Any]

#: The SSE comment line a keepalive sends (clients must ignore it, the SDK does).
KEEPALIVE = b": keepalive\n\n"


@dataclass(frozen=True, slots=True)
class Silence:
    """No bytes for *seconds* (a stall, or the wait before a keepalive comment).

    Over HTTP it is real silence; in-process it is resolved against the request's read
    timeout by :func:`stall_plan`.
    """

    seconds: float


#: One step of an SSE body: bytes to send, or a silence.
Step = bytes | Silence


@dataclass(slots=True)
class Exchange:
    """Everything a transport needs to play one request.

    Attributes:
        index: the request's position in the fake's log.
        fault: the fault applied (``None`` = clean).
        status: the HTTP status to answer (unused when *pre* is set).
        headers: the response headers.
        latency: real seconds to wait before anything else.
        pre: ``connect_error`` / ``timeout``: no response at all.
        head_stalls: plain answers: stalls before the headers.
        body: a plain answer's body.
        body_cut: a plain answer cut in half: ``"reset"`` raises / aborts after it,
            ``"truncate"`` ends cleanly.
        steps: an SSE answer's body, step by step (``None`` = not SSE).
        end: how an SSE body ends after its last step: ``"close"`` (cleanly) or
            ``"reset"`` (the connection drops).
    """

    index: int
    fault: Fault | None
    status: int
    headers: dict[str, str]
    latency: float = 0.0
    pre: Fault | None = None
    head_stalls: tuple[float, ...] = ()
    body: bytes = b""
    body_cut: Literal["reset", "truncate"] | None = None
    steps: tuple[Step, ...] | None = None
    end: Literal["close", "reset"] = "close"


class Source(Protocol):
    """What transports need from the fake: decide a request, and stream bookkeeping."""

    realtime: bool

    def _begin(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        headers: dict[str, str],
        raw_body: bytes,
    ) -> Exchange: ...

    def _mark_no_response(self, index: int) -> None: ...

    def _stream_opened(self) -> None: ...

    def _stream_closed(self) -> None: ...


def stall_plan(read_timeout: float | None, seconds: float, *, realtime: bool) -> tuple[float, bool]:
    """How an in-process transport plays *seconds* of silence.

    Returns (seconds to really wait, whether the client's read timeout fires). Without
    *realtime* nothing waits: the outcome is decided by comparing with the read timeout.
    """
    fires = read_timeout is not None and read_timeout < seconds
    if not realtime:
        return 0.0, fires
    return (read_timeout if fires and read_timeout is not None else seconds), fires


def malformed_json(text: bytes) -> bytes:
    """The first half of a JSON document: never valid JSON (an object needs its ``}``)."""
    return text[: max(1, len(text) // 2)]


def _malformed_frame(frames: Sequence[bytes], at: int) -> bytes:
    """A frame whose ``data:`` JSON is cut in half, shaped like the event it replaces."""
    if not frames:
        return b'event: response.output_text.delta\ndata: {"type":"response.out\n\n'
    frame = frames[min(at, len(frames) - 1)].rstrip(b"\n")
    head, _, data = frame.partition(b"data: ")
    return head + b"data: " + malformed_json(data) + b"\n\n"


def _renumbered(event: JSON, base: int) -> bytes:
    return _wire.encode_sse({**event, "sequence_number": int(event["sequence_number"]) - base})


def _apply_sequence_fault(frames: list[bytes], events: list[JSON], fault: Fault) -> list[bytes]:
    """Play a reorder / renumber / duplicate / gap on the encoded events of one connection.

    A position past the events does nothing: there is nothing there to disturb.
    """
    n = fault.after_events or 0
    out = list(frames)
    if fault.kind == "reorder" and n + 1 < len(out):
        out[n], out[n + 1] = out[n + 1], out[n]
    elif fault.kind == "renumber" and n < len(out):
        base = int(events[n]["sequence_number"])
        out[n:] = [_renumbered(event, base) for event in events[n:]]
    elif fault.kind == "duplicate" and 1 <= n <= len(out):
        out.insert(n, out[n - 1])
    elif fault.kind == "gap" and n < len(out):
        del out[n]
    return out


def _silences(fault: Fault | None) -> dict[int, list[Step]]:
    """Stalls and keepalives by position (events delivered before them), in the order given."""
    by_point: dict[int, list[Step]] = {}
    if fault is None:
        return by_point
    for part in fault.components:
        point = part.after_events or 0
        seconds = part.seconds or 0.0
        if part.kind == "stall":
            by_point.setdefault(point, []).append(Silence(seconds))
        elif part.kind == "keepalive":
            every = part.every or seconds
            # Comments at every, 2*every, ... up to seconds; the remainder is plain silence.
            count = int(seconds / every + 1e-9)
            steps = by_point.setdefault(point, [])
            for _ in range(count):
                steps.extend((Silence(every), KEEPALIVE))
            rest = seconds - count * every
            if rest > 1e-9:
                steps.append(Silence(rest))
    return by_point


def sse_steps(
    events: list[JSON], fault: Fault | None
) -> tuple[tuple[Step, ...], Literal["close", "reset"]]:
    """The body of one SSE answer: *events* (already what the server generated, failures
    declared in the stream included) with the network-side parts of *fault* played on them.

    Every ``after_events`` here counts events as delivered on this connection: a sequence
    fault (reorder, renumber, duplicate, gap) acts first; stalls, keepalives and the cut
    (reset, truncate, malformed) then count the events actually sent.
    """
    frames = [_wire.encode_sse(event) for event in events]
    sequence = fault.sequence_fault if fault is not None else None
    if sequence is not None:
        frames = _apply_sequence_fault(frames, events, sequence)
    terminal = fault.terminal if fault is not None else None
    cutting = terminal is not None and terminal.kind in ("reset", "truncate", "malformed")
    cut = min(terminal.after_events or 0, len(frames)) if cutting and terminal else len(frames)
    silences = _silences(fault)
    steps: list[Step] = []
    for point in range(cut + 1):
        steps.extend(silences.get(point, ()))
        if point < cut:
            steps.append(frames[point])
    if terminal is not None and terminal.kind == "malformed":
        steps.append(_malformed_frame(frames, cut))
    end: Literal["close", "reset"] = (
        "reset" if terminal is not None and terminal.kind == "reset" else "close"
    )
    return tuple(steps), end
