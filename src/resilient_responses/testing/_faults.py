"""Faults: what the fake API does wrong on one request.

A :class:`Fault` is a small immutable value (hashable, comparable, with a ``repr`` that reads
like the constructor call) so plans of faults can be printed, shrunk and replayed by
Hypothesis. The fake (:mod:`._fake`, :mod:`._server`) interprets it; nothing here touches I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import format_datetime
from typing import Literal

__all__ = ["Fault", "FaultKind"]

FaultKind = Literal[
    "status",
    "connect_error",
    "timeout",
    "latency",
    "reset",
    "truncate",
    "stall",
    "error_event",
    "failed",
    "keepalive",
    "reorder",
    "renumber",
    "duplicate",
    "gap",
    "malformed",
    "composite",
]

# Kinds that decide how the request ends; a composite may hold at most one of them.
_TERMINAL_KINDS = frozenset(
    {
        "status",
        "connect_error",
        "timeout",
        "reset",
        "truncate",
        "error_event",
        "failed",
        "malformed",
    }
)
# Kinds that disturb the order or numbering of SSE events; a composite holds at most one.
_SEQUENCE_KINDS = frozenset({"reorder", "renumber", "duplicate", "gap"})
# Kinds that act before any response byte is sent.
_PRE_RESPONSE_KINDS = frozenset({"status", "connect_error", "timeout"})
# Kinds that act after some SSE events.
_STREAM_KINDS = frozenset(
    {
        "reset",
        "truncate",
        "stall",
        "error_event",
        "failed",
        "keepalive",
        "reorder",
        "renumber",
        "duplicate",
        "gap",
        "malformed",
    }
)
# Keepalive comments one fault may send (a bound, so a typo cannot build a huge body).
_MAX_KEEPALIVES = 100_000

# status -> (default code, error type, default message). Types follow what the real API sends:
# rate limits are typed by the limited resource ("requests"), billing by "insufficient_quota".
_STATUS_DEFAULTS: dict[int, tuple[str | None, str, str]] = {
    400: ("invalid_request_error", "invalid_request_error", "Invalid request (fake fault)."),
    401: (
        "invalid_api_key",
        "invalid_request_error",
        "Incorrect API key provided (fake fault).",
    ),
    403: ("permission_denied", "invalid_request_error", "Permission denied (fake fault)."),
    404: ("not_found", "invalid_request_error", "Not found (fake fault)."),
    408: ("timeout", "timeout", "Request timed out (fake fault)."),
    409: ("conflict", "invalid_request_error", "Conflict (fake fault)."),
    422: ("unprocessable_entity", "invalid_request_error", "Unprocessable entity (fake fault)."),
    429: (
        "rate_limit_exceeded",
        "requests",
        "Rate limit reached for requests (fake fault). Please try again later.",
    ),
    500: (
        "server_error",
        "server_error",
        "The server had an error while processing your request (fake fault).",
    ),
    502: ("server_error", "server_error", "Bad gateway (fake fault)."),
    503: (
        "server_error",
        "server_error",
        "The engine is currently overloaded, please try again later (fake fault).",
    ),
    504: ("server_error", "server_error", "Gateway timeout (fake fault)."),
}

_CODE_TYPES: dict[str, str] = {"insufficient_quota": "insufficient_quota"}
_CODE_MESSAGES: dict[str, str] = {
    "insufficient_quota": (
        "You exceeded your current quota, please check your plan and billing details (fake fault)."
    ),
}


def _seconds(name: str, value: object, *, allow_zero: bool = True) -> float:
    """Validate a duration: a finite real number >= 0 (or > 0)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, got {type(value).__name__}")
    seconds = float(value)
    if math.isnan(seconds) or math.isinf(seconds):
        raise ValueError(f"{name} must be a finite number of seconds, got {value!r}")
    if seconds < 0 or (not allow_zero and seconds == 0):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be {bound} seconds, got {value!r}")
    return seconds


def _after_events(value: object, *, low: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"after_events must be an int >= {low}, got {type(value).__name__}")
    if value < low:
        raise ValueError(f"after_events must be an int >= {low}, got {value!r}")
    return value


def _optional_str(name: str, value: object) -> str | None:
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{name} must be a str or None, got {type(value).__name__}")
    return value


def _number_text(value: float) -> str:
    # Servers send integral seconds as "2", not "2.0"; keep fractions exact.
    return str(int(value)) if value.is_integer() else repr(value)


@dataclass(frozen=True, slots=True, repr=False)
class Fault:
    """One thing that goes wrong with one HTTP request to the fake API.

    Build faults with the class methods, never with the constructor. Every constructor
    validates its input at once (``ValueError`` / ``TypeError`` naming the parameter).
    Faults compose with ``+`` (or :meth:`compose`): latencies and stalls add to a single
    terminal fault applied to the same request::

        plan = [
            Fault.status(429, retry_after=1),
            Fault.latency(0.05) + Fault.reset(after_events=3),
            None,  # a clean request
        ]
        fake.plan(plan, then=Fault.status(503))

    Attributes:
        kind: ``"status"``, ``"connect_error"``, ``"timeout"``, ``"latency"``, ``"reset"``,
            ``"truncate"``, ``"stall"``, ``"error_event"``, ``"failed"``, ``"keepalive"``,
            ``"reorder"``, ``"renumber"``, ``"duplicate"``, ``"gap"``, ``"malformed"`` or
            ``"composite"``.
    """

    kind: FaultKind
    status_code: int | None = None
    code: str | None = None
    message: str | None = None
    error_type: str | None = None
    retry_after: float | str | None = None
    retry_after_ms: float | None = None
    retry_after_date: datetime | None = None
    headers: tuple[tuple[str, str], ...] = ()
    seconds: float | None = None
    after_events: int | None = None
    parts: tuple[Fault, ...] = ()
    every: float | None = None

    # -- constructors -------------------------------------------------------------------

    @classmethod
    def status(
        cls,
        status: int,
        *,
        code: str | None = None,
        message: str | None = None,
        retry_after: float | str | None = None,
        retry_after_ms: float | None = None,
        retry_after_date: datetime | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Fault:
        """Answer with HTTP *status* and an OpenAI error body.

        The body is ``{"error": {"message", "type", "param", "code"}}``; *code* defaults by
        status (429 ``rate_limit_exceeded``, 5xx ``server_error``, 400
        ``invalid_request_error``...). ``code="insufficient_quota"`` gives the billing 429.
        *retry_after* (seconds) becomes ``retry-after``; a str is sent verbatim (garbage,
        HTTP dates); *retry_after_ms* becomes ``retry-after-ms``; *retry_after_date* (aware
        datetime) becomes ``retry-after`` as an HTTP date.

        Example::

            Fault.status(429, retry_after=2)
            Fault.status(429, code="insufficient_quota")
            Fault.status(503, retry_after="soon")  # unparseable on purpose
        """
        if isinstance(status, bool) or not isinstance(status, int):
            raise TypeError(f"status must be an int HTTP status, got {type(status).__name__}")
        if not 100 <= status <= 599:
            raise ValueError(f"status must be an HTTP status in 100..599, got {status!r}")
        code = _optional_str("code", code)
        message = _optional_str("message", message)
        ra: float | str | None
        if retry_after is None or isinstance(retry_after, str):
            ra = retry_after
        else:
            ra = _seconds("retry_after", retry_after)
        ra_ms = None if retry_after_ms is None else _seconds("retry_after_ms", retry_after_ms)
        ra_date: datetime | None = None
        if retry_after_date is not None:
            if not isinstance(retry_after_date, datetime):
                raise TypeError(
                    "retry_after_date must be a timezone-aware datetime, "
                    f"got {type(retry_after_date).__name__}"
                )
            if retry_after_date.tzinfo is None or retry_after_date.utcoffset() is None:
                raise ValueError("retry_after_date must be timezone-aware (e.g. tzinfo=UTC)")
            if ra is not None:
                raise ValueError("give retry_after or retry_after_date, not both")
            ra_date = retry_after_date.astimezone(timezone.utc)
        extra: list[tuple[str, str]] = []
        for name, value in (headers or {}).items():
            if not isinstance(name, str) or not isinstance(value, str):
                raise TypeError("headers must map str names to str values")
            extra.append((name.lower(), value))

        default_code, error_type, default_message = _STATUS_DEFAULTS.get(
            status,
            (None, "server_error" if status >= 500 else "invalid_request_error", "Fake fault."),
        )
        if code is None:
            code = default_code
        else:
            error_type = _CODE_TYPES.get(code, error_type)
            default_message = _CODE_MESSAGES.get(code, default_message)
        return cls(
            kind="status",
            status_code=status,
            code=code,
            message=message if message is not None else default_message,
            error_type=error_type,
            retry_after=ra,
            retry_after_ms=ra_ms,
            retry_after_date=ra_date,
            headers=tuple(extra),
        )

    @classmethod
    def connect_error(cls) -> Fault:
        """The request never reaches the server.

        In-process the transport raises ``httpx2.ConnectError``; over HTTP the server closes
        the connection without answering. The SDK retries, then raises
        ``openai.APIConnectionError``.

        Example::

            fake.plan([Fault.connect_error()])
        """
        return cls(kind="connect_error")

    @classmethod
    def timeout(cls, *, seconds: float = 30.0) -> Fault:
        """No answer in time: the client's read timeout fires before response headers.

        In-process the transport raises ``httpx2.ReadTimeout`` at once (after
        ``min(seconds, read timeout)`` of real sleep when the fake is ``realtime``); over
        HTTP the server waits *seconds* and then drops the connection, so give the client a
        read timeout below *seconds*. The SDK raises ``openai.APITimeoutError``.

        Example::

            Fault.timeout(seconds=2.0)
        """
        return cls(kind="timeout", seconds=_seconds("seconds", seconds))

    @classmethod
    def latency(cls, seconds: float) -> Fault:
        """Wait *seconds* of real time before answering (does not fail by itself).

        Example::

            Fault.latency(0.2) + Fault.status(503)
        """
        return cls(kind="latency", seconds=_seconds("seconds", seconds))

    @classmethod
    def reset(cls, *, after_events: int = 0) -> Fault:
        """The connection is reset after *after_events* SSE events.

        In-process the body raises ``httpx2.ReadError``; over HTTP the TCP connection is
        aborted. The SDK raises ``openai.APIConnectionError`` from the iteration.

        Example::

            Fault.reset(after_events=5)
        """
        return cls(kind="reset", after_events=_after_events(after_events))

    @classmethod
    def truncate(cls, *, after_events: int = 0) -> Fault:
        """The body ends cleanly after *after_events* events, with no terminal event.

        The SDK ends the iteration silently: the consumer gets a cut stream and no error.

        Example::

            Fault.truncate(after_events=4)
        """
        return cls(kind="truncate", after_events=_after_events(after_events))

    @classmethod
    def stall(cls, *, after_events: int = 0, seconds: float = 30.0) -> Fault:
        """No bytes for *seconds* after *after_events* events, then the stream goes on.

        With virtual time (the default) the fake reads the request's read timeout at the
        moment of the stall: shorter than *seconds* raises ``httpx2.ReadTimeout`` at once
        (``openai.APITimeoutError``), otherwise the stream continues at once.

        Example::

            Fault.stall(after_events=3, seconds=60)
        """
        return cls(
            kind="stall",
            after_events=_after_events(after_events),
            seconds=_seconds("seconds", seconds),
        )

    @classmethod
    def error_event(
        cls,
        *,
        after_events: int = 0,
        code: str = "server_error",
        message: str = "The server had an error while processing your request (fake fault).",
    ) -> Fault:
        """After *after_events* events, send an SSE ``error`` event and end the body.

        The SDK yields it as ``ResponseErrorEvent`` (not raised).

        Example::

            Fault.error_event(after_events=2, code="rate_limit_exceeded")
        """
        code = _required_str("code", code)
        message = _required_str("message", message)
        return cls(
            kind="error_event",
            after_events=_after_events(after_events),
            code=code,
            message=message,
        )

    @classmethod
    def failed(
        cls,
        *,
        after_events: int = 0,
        code: str = "server_error",
        message: str = "The server had an error while processing your request (fake fault).",
    ) -> Fault:
        """After *after_events* events, send ``response.failed`` and end the body.

        The response's ``status`` is ``"failed"`` and ``error`` is ``{code, message}``; a
        background response is stored as failed too.

        Example::

            Fault.failed(after_events=6, code="server_error")
        """
        code = _required_str("code", code)
        message = _required_str("message", message)
        return cls(
            kind="failed",
            after_events=_after_events(after_events),
            code=code,
            message=message,
        )

    @classmethod
    def keepalive(
        cls, *, after_events: int = 0, seconds: float = 30.0, every: float = 0.5
    ) -> Fault:
        """After *after_events* events, only SSE comments (``: keepalive``) for *seconds*,
        one every *every* seconds; then the stream goes on normally.

        The SDK skips comment lines, so the consumer sees no event for *seconds* while the
        socket keeps receiving bytes: a read timeout never fires. A client that wants to
        detect a stalled stream must measure the time *between events*, not between bytes.
        In-process with virtual time (the default) the comments are sent at once; the read
        timeout fires only if *every* exceeds it. Over HTTP (or ``realtime=True``) the
        comments really are *every* seconds apart.

        Example::

            Fault.keepalive(after_events=6, seconds=20, every=0.5)
        """
        seconds = _seconds("seconds", seconds)
        every = _seconds("every", every, allow_zero=False)
        if seconds / every > _MAX_KEEPALIVES:
            raise ValueError(
                f"seconds / every must be at most {_MAX_KEEPALIVES} keepalive comments, "
                f"got seconds={seconds!r}, every={every!r}"
            )
        return cls(
            kind="keepalive",
            after_events=_after_events(after_events),
            seconds=seconds,
            every=every,
        )

    @classmethod
    def reorder(cls, *, after_events: int = 0) -> Fault:
        """Events *after_events* and *after_events* + 1 are sent in swapped order.

        The consumer sees sequence numbers ``..., 4, 6, 5, 7, ...``. The raw SDK yields them
        as they come. Past the second-to-last event it does nothing.

        Example::

            Fault.reorder(after_events=5)
        """
        return cls(kind="reorder", after_events=_after_events(after_events))

    @classmethod
    def renumber(cls, *, after_events: int = 0) -> Fault:
        """From event *after_events* on, sequence numbers restart at 0 (the content goes on).

        Like a server that lost its counter after a failover. The raw SDK yields the events
        as they come. Past the last event it does nothing.

        Example::

            Fault.renumber(after_events=8)
        """
        return cls(kind="renumber", after_events=_after_events(after_events))

    @classmethod
    def duplicate(cls, *, after_events: int = 1) -> Fault:
        """After *after_events* events, event *after_events* - 1 is sent again, byte for byte
        (same sequence number, same payload); then the stream goes on.

        Like a proxy that replays a chunk after a hiccup. *after_events* must be >= 1. The raw
        SDK yields the event twice. Past the last event it does nothing.

        Example::

            Fault.duplicate(after_events=5)  # ..., 3, 4, 4, 5, ...
        """
        return cls(kind="duplicate", after_events=_after_events(after_events, low=1))

    @classmethod
    def gap(cls, *, after_events: int = 0) -> Fault:
        """Event *after_events* is never sent; the stream goes on with the next one.

        The consumer sees sequence numbers ``..., 4, 6, ...``; the raw SDK does not notice.
        Past the last event it does nothing.

        Example::

            Fault.gap(after_events=5)
        """
        return cls(kind="gap", after_events=_after_events(after_events))

    @classmethod
    def malformed(cls, *, after_events: int = 0) -> Fault:
        """After *after_events* events, a ``data:`` line whose JSON is cut in half, then the
        body ends.

        The raw SDK raises ``json.JSONDecodeError`` (not an ``openai.OpenAIError``) from the
        stream iterator. On a plain (non-streaming) request the whole JSON body is cut in
        half and ends cleanly: ``json.JSONDecodeError`` from ``create()``.

        Example::

            Fault.malformed(after_events=4)
        """
        return cls(kind="malformed", after_events=_after_events(after_events))

    @classmethod
    def compose(cls, *faults: Fault) -> Fault:
        """Combine faults applied to one request (same as ``a + b + ...``).

        At most one terminal fault (status, connect_error, timeout, reset, truncate,
        error_event, failed, malformed), at most one sequence fault (reorder, renumber,
        duplicate, gap); any number of latencies, stalls and keepalives. A single fault is
        returned unchanged.

        Example::

            Fault.compose(Fault.latency(0.1), Fault.stall(after_events=2, seconds=5),
                          Fault.reset(after_events=4))
        """
        if not faults:
            raise ValueError("compose needs at least one Fault")
        flat: list[Fault] = []
        for fault in faults:
            if not isinstance(fault, Fault):
                raise TypeError(f"compose takes Fault values, got {type(fault).__name__}")
            flat.extend(fault.parts if fault.kind == "composite" else (fault,))
        terminals = [f for f in flat if f.kind in _TERMINAL_KINDS]
        if len(terminals) > 1:
            raise ValueError(
                "a composite fault may hold at most one terminal fault "
                "(status, connect_error, timeout, reset, truncate, error_event, failed, "
                f"malformed), got {', '.join(repr(f) for f in terminals)}"
            )
        sequences = [f for f in flat if f.kind in _SEQUENCE_KINDS]
        if len(sequences) > 1:
            raise ValueError(
                "a composite fault may hold at most one sequence fault "
                f"(reorder, renumber, duplicate, gap), got {', '.join(repr(f) for f in sequences)}"
            )
        if len(flat) == 1:
            return flat[0]
        return cls(kind="composite", parts=tuple(flat))

    def __add__(self, other: object) -> Fault:
        if not isinstance(other, Fault):
            return NotImplemented
        return Fault.compose(self, other)

    # -- views used by the fake -----------------------------------------------------------

    @property
    def components(self) -> tuple[Fault, ...]:
        """The simple faults this fault is made of (itself unless composite)."""
        return self.parts if self.kind == "composite" else (self,)

    @property
    def terminal(self) -> Fault | None:
        """The one terminal component, or ``None`` (only latencies / stalls)."""
        for part in self.components:
            if part.kind in _TERMINAL_KINDS:
                return part
        return None

    @property
    def latency_seconds(self) -> float:
        """Total latency before the answer."""
        return sum(p.seconds or 0.0 for p in self.components if p.kind == "latency")

    @property
    def stalls(self) -> tuple[Fault, ...]:
        """The stall components, in the order given."""
        return tuple(p for p in self.components if p.kind == "stall")

    @property
    def keepalives(self) -> tuple[Fault, ...]:
        """The keepalive components, in the order given."""
        return tuple(p for p in self.components if p.kind == "keepalive")

    @property
    def sequence_fault(self) -> Fault | None:
        """The one reorder / renumber / duplicate / gap component, or ``None``."""
        for part in self.components:
            if part.kind in _SEQUENCE_KINDS:
                return part
        return None

    @property
    def is_pre_response(self) -> bool:
        """Whether the terminal part acts before any response (status, connect, timeout)."""
        terminal = self.terminal
        return terminal is not None and terminal.kind in _PRE_RESPONSE_KINDS

    def error_body(self) -> dict[str, object]:
        """The OpenAI error body of a status fault."""
        return {
            "error": {
                "message": self.message,
                "type": self.error_type,
                "param": None,
                "code": self.code,
            }
        }

    def response_headers(self) -> dict[str, str]:
        """Extra response headers of a status fault (Retry-After and the given headers)."""
        out: dict[str, str] = {}
        if isinstance(self.retry_after, str):
            out["retry-after"] = self.retry_after
        elif self.retry_after is not None:
            out["retry-after"] = _number_text(self.retry_after)
        if self.retry_after_date is not None:
            out["retry-after"] = format_datetime(self.retry_after_date, usegmt=True)
        if self.retry_after_ms is not None:
            out["retry-after-ms"] = _number_text(self.retry_after_ms)
        out.update(self.headers)
        return out

    # -- repr ---------------------------------------------------------------------------

    def __repr__(self) -> str:
        if self.kind == "composite":
            return " + ".join(repr(p) for p in self.parts)
        if self.kind == "status":
            args = [str(self.status_code)]
            default_code = _STATUS_DEFAULTS.get(self.status_code or 0, (None,))[0]
            if self.code != default_code:
                args.append(f"code={self.code!r}")
            if self.retry_after is not None:
                args.append(f"retry_after={self.retry_after!r}")
            if self.retry_after_ms is not None:
                args.append(f"retry_after_ms={self.retry_after_ms!r}")
            if self.retry_after_date is not None:
                args.append(f"retry_after_date={self.retry_after_date.isoformat()!r}")
            if self.headers:
                args.append(f"headers={dict(self.headers)!r}")
            return f"Fault.status({', '.join(args)})"
        if self.kind == "connect_error":
            return "Fault.connect_error()"
        if self.kind in ("timeout", "latency"):
            label = "seconds=" if self.kind == "timeout" else ""
            return f"Fault.{self.kind}({label}{self.seconds!r})"
        if self.kind in ("reset", "truncate", "malformed") or self.kind in _SEQUENCE_KINDS:
            return f"Fault.{self.kind}(after_events={self.after_events})"
        if self.kind == "stall":
            return f"Fault.stall(after_events={self.after_events}, seconds={self.seconds!r})"
        if self.kind == "keepalive":
            return (
                f"Fault.keepalive(after_events={self.after_events}, seconds={self.seconds!r}, "
                f"every={self.every!r})"
            )
        # error_event / failed
        return f"Fault.{self.kind}(after_events={self.after_events}, code={self.code!r})"


def _required_str(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__}")
    return value
