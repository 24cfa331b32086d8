"""Hypothesis strategies for fault-injection property tests.

Draw single :class:`~resilient_responses.testing.Fault` values, whole fault plans for
:meth:`FakeResponsesAPI.plan <resilient_responses.testing.FakeResponsesAPI.plan>`,
Retry-After headers and stream cut points. Every strategy shrinks towards the simplest
case: a plan towards the empty plan (no fault at all), then towards fewer faults, each
towards its simplest form (a plain 500, a cut before the first event, no Retry-After), so
a failing property reports the smallest plan that still breaks it.

Hypothesis is a test dependency only: import this module from your tests,
``from resilient_responses.testing import strategies`` (importing
``resilient_responses.testing`` alone never imports Hypothesis).

Example::

    from hypothesis import HealthCheck, given, settings
    from resilient_responses.testing import strategies

    @settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(plan=strategies.fault_plans())
    def test_summary_survives(fake_responses_api, plan):
        fake_responses_api.plan(plan)
        ...

Over real HTTP (``fake.serve()``) ``timeout`` and ``stall`` faults really wait their
``seconds`` and ``latency`` really sleeps; choose ``kinds`` accordingly there.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Literal, get_args

from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis.vendor import pretty

from resilient_responses.testing._faults import Fault
from resilient_responses.testing._quota import Quota

__all__ = [
    "ALL_KINDS",
    "PROTOCOL_KINDS",
    "RETRYABLE_STATUSES",
    "STREAM_KINDS",
    "TRANSPORT_KINDS",
    "FaultKindName",
    "fault_plans",
    "faults",
    "protocol_faults",
    "quotas",
    "retry_after_values",
    "status_faults",
    "stream_cut_points",
    "stream_faults",
    "transport_faults",
]

FaultKindName = Literal[
    "status",
    "connect_error",
    "timeout",
    "reset",
    "truncate",
    "stall",
    "error_event",
    "failed",
    "latency",
    "keepalive",
    "reorder",
    "renumber",
    "duplicate",
    "gap",
    "malformed",
]

#: Every kind :func:`faults` draws by default, simplest first (shrinking prefers earlier ones).
ALL_KINDS: tuple[FaultKindName, ...] = get_args(FaultKindName)[:9]

#: Faults of the SSE protocol itself: comment-only keepalives, events out of order,
#: renumbered, repeated or missing, malformed JSON. Opt-in (name them in ``kinds`` or use
#: :func:`protocol_faults`): a client that does not check sequence numbers fails them
#: silently, so drawing them by default would change what existing properties test.
PROTOCOL_KINDS: tuple[FaultKindName, ...] = get_args(FaultKindName)[9:]

_KNOWN_KINDS: tuple[FaultKindName, ...] = (*ALL_KINDS, *PROTOCOL_KINDS)

#: Faults of the network: the request never gets an answer, or its body is cut or stalls.
TRANSPORT_KINDS: tuple[FaultKindName, ...] = (
    "connect_error",
    "timeout",
    "reset",
    "truncate",
    "stall",
)

#: Faults that act after some SSE events of a streamed answer.
STREAM_KINDS: tuple[FaultKindName, ...] = ("reset", "truncate", "stall", "error_event", "failed")

#: Statuses the real API answers under load or in an outage; all retryable by default.
RETRYABLE_STATUSES: tuple[int, ...] = (500, 429, 503, 502, 504, 408, 409)

#: Events of the fake's default answer (12 words, one per delta): 20, 21 in the background.
_DEFAULT_MAX_EVENTS = 20

# Error codes a stream may declare: transient ones first, then one that is not retryable.
_STREAM_ERROR_CODES = ("server_error", "rate_limit_exceeded", "invalid_prompt")

# Stall lengths: shorter than any client timeout, a typical proxy idle kill, and longer
# than the SDK's default 600 s read timeout (so the client sees a read timeout).
_STALL_SECONDS = (1.0, 30.0, 900.0)

# Keepalive intervals: what proxies and servers commonly send, and one slower than most
# clients' read timeouts.
_KEEPALIVE_EVERY = (0.5, 15.0)

_LATENCIES = (0.0, 0.001, 0.002, 0.005)

# Values that parse as "wait this long" in no sane client.
_ABSURD_RETRY_AFTER = (
    "-1",
    "-0.5",
    "NaN",
    "nan",
    "inf",
    "-inf",
    "Infinity",
    "1e308",
    "1e309",
    "99999999999999999999",
    "",
    " ",
    "soon",
    "1,5",
    "0x10",
    "5s",
    "Thu, 32 Foo 2024 25:61:61 GMT",
)


def _pretty_fault(fault: Fault, printer: pretty.RepresentationPrinter, cycle: bool) -> None:
    printer.text(repr(fault))


# Falsifying examples then read like constructor calls (``Fault.reset(after_events=3)``), not
# like a dump of every dataclass field.
pretty.for_type_by_name(Fault.__module__, Fault.__qualname__, _pretty_fault)


def _check_max_events(max_events: object) -> int:
    if isinstance(max_events, bool) or not isinstance(max_events, int) or max_events < 1:
        raise InvalidArgument(f"max_events must be an int >= 1, got {max_events!r}")
    return max_events


def _check_kinds(
    kinds: Iterable[str] | None,
    default: tuple[FaultKindName, ...],
    allowed: tuple[FaultKindName, ...] = _KNOWN_KINDS,
) -> list[str]:
    if kinds is None:
        return list(default)
    if isinstance(kinds, str):
        raise InvalidArgument(f"kinds must be an iterable of kind names, got the str {kinds!r}")
    chosen = list(dict.fromkeys(kinds))
    unknown = [k for k in chosen if k not in allowed]
    if unknown:
        raise InvalidArgument(f"unknown fault kinds {unknown!r}; allowed: {', '.join(allowed)}")
    if not chosen:
        raise InvalidArgument("kinds must name at least one fault kind")
    # Keep the canonical (simplest first) order whatever order the caller used.
    return [k for k in allowed if k in chosen]


def stream_cut_points(n_events: int) -> st.SearchStrategy[int]:
    """Where a stream of *n_events* events can be cut: ``0`` .. ``n_events - 1``.

    A cut at ``n`` delivers ``n`` events and then fails, so every point drawn really cuts
    the stream before its terminal event. Shrinks towards ``0`` (before the first event).

    Example::

        @given(cut=strategies.stream_cut_points(20))
        def test_resume(fake_responses_api, cut):
            fake_responses_api.plan([Fault.reset(after_events=cut)])
    """
    if isinstance(n_events, bool) or not isinstance(n_events, int) or n_events < 0:
        raise InvalidArgument(f"n_events must be an int >= 0, got {n_events!r}")
    return st.integers(min_value=0, max_value=max(n_events - 1, 0))


def _retry_after_seconds() -> st.SearchStrategy[float | None]:
    return st.one_of(st.none(), st.sampled_from((0.0, 1.0, 2.0, 0.5, 5.0, 20.0)))


@st.composite
def _status_fault(draw: st.DrawFn, statuses: tuple[int, ...], insufficient_quota: bool) -> Fault:
    choices: list[tuple[int, str | None]] = [(s, None) for s in statuses]
    if insufficient_quota:
        choices.append((429, "insufficient_quota"))
    status, code = draw(st.sampled_from(choices))
    if code is not None or status not in (429, 503):
        return Fault.status(status, code=code)
    # Rate limits and overloads come with a Retry-After (seconds or milliseconds) or not.
    how = draw(st.sampled_from(("none", "seconds", "milliseconds")))
    if how == "seconds":
        return Fault.status(status, retry_after=draw(_retry_after_seconds()))
    if how == "milliseconds":
        ms = draw(st.sampled_from((0.0, 100.0, 1500.0, 250.0)))
        return Fault.status(status, retry_after_ms=ms)
    return Fault.status(status)


def status_faults(
    statuses: Iterable[int] | None = None, *, insufficient_quota: bool = True
) -> st.SearchStrategy[Fault]:
    """HTTP error answers: :data:`RETRYABLE_STATUSES` by default, with their default codes.

    429 and 503 come with or without a Retry-After (``retry_after=`` seconds or
    ``retry_after_ms=``); *insufficient_quota* adds the billing 429
    (``code="insufficient_quota"``, not retryable). Pass *statuses* for others (e.g. the
    non-retryable ``(400, 401, 403, 404, 422)``). Shrinks towards ``Fault.status(500)``.

    Example::

        strategies.status_faults()                               # load and outages
        strategies.status_faults((400, 422), insufficient_quota=False)  # caller bugs
    """
    chosen = RETRYABLE_STATUSES if statuses is None else tuple(dict.fromkeys(statuses))
    for status in chosen:
        if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
            raise InvalidArgument(f"statuses must be HTTP error statuses 400..599, got {status!r}")
    if not chosen and not insufficient_quota:
        raise InvalidArgument("status_faults needs at least one status")
    if not isinstance(insufficient_quota, bool):
        raise InvalidArgument(f"insufficient_quota must be a bool, got {insufficient_quota!r}")
    return _status_fault(chosen, insufficient_quota)


@st.composite
def _stream_fault(draw: st.DrawFn, kind: str, max_events: int) -> Fault:
    # A composite, not st.builds(lambda ...): Hypothesis would print the lambda call in a
    # falsifying example instead of the fault's own repr.
    if kind == "duplicate":
        # It resends event after_events - 1, so it needs one event before it.
        return Fault.duplicate(after_events=draw(st.integers(1, max(max_events - 1, 1))))
    if kind == "reorder":
        # It swaps events after_events and after_events + 1.
        return Fault.reorder(after_events=draw(st.integers(0, max(max_events - 2, 0))))
    cut = draw(stream_cut_points(max_events))
    if kind == "keepalive":
        return Fault.keepalive(
            after_events=cut,
            seconds=draw(st.sampled_from(_STALL_SECONDS)),
            every=draw(st.sampled_from(_KEEPALIVE_EVERY)),
        )
    if kind == "renumber":
        return Fault.renumber(after_events=cut)
    if kind == "gap":
        return Fault.gap(after_events=cut)
    if kind == "malformed":
        return Fault.malformed(after_events=cut)
    if kind == "reset":
        return Fault.reset(after_events=cut)
    if kind == "truncate":
        return Fault.truncate(after_events=cut)
    if kind == "stall":
        return Fault.stall(after_events=cut, seconds=draw(st.sampled_from(_STALL_SECONDS)))
    code = draw(st.sampled_from(_STREAM_ERROR_CODES))
    if kind == "error_event":
        return Fault.error_event(after_events=cut, code=code)
    return Fault.failed(after_events=cut, code=code)


@st.composite
def _latency(draw: st.DrawFn, max_latency: float) -> Fault:
    latencies = [s for s in _LATENCIES if s <= max_latency] or [0.0]
    return Fault.latency(draw(st.sampled_from(latencies)))


def _kind_strategy(kind: str, max_events: int, max_latency: float) -> st.SearchStrategy[Fault]:
    if kind == "status":
        return status_faults()
    if kind == "connect_error":
        return st.just(Fault.connect_error())
    if kind == "timeout":
        return st.just(Fault.timeout())
    if kind == "latency":
        return _latency(max_latency)
    return _stream_fault(kind, max_events)


def faults(
    kinds: Iterable[FaultKindName] | None = None,
    *,
    max_events: int = _DEFAULT_MAX_EVENTS,
    max_latency: float = 0.005,
) -> st.SearchStrategy[Fault]:
    """Any single :class:`Fault`, with realistic parameters.

    - ``"status"``: 500/429/503/502/504/408/409 with their default codes (429 and 503 with
      or without Retry-After) and the billing 429 ``insufficient_quota``;
    - ``"connect_error"``, ``"timeout"``;
    - ``"reset"``, ``"truncate"``, ``"stall"`` (1 s, 30 s, or 900 s: longer than the SDK's
      600 s read timeout), ``"error_event"``, ``"failed"`` (codes ``server_error``,
      ``rate_limit_exceeded``, ``invalid_prompt``), cut after ``0 .. max_events - 1``
      events;
    - ``"latency"``: at most *max_latency* seconds (latencies are real time);
    - only when named in *kinds* (:data:`PROTOCOL_KINDS`): ``"keepalive"`` (comments every
      0.5 s or 15 s for 1 s, 30 s or 900 s), ``"reorder"``, ``"renumber"``,
      ``"duplicate"`` (``1 .. max_events - 1``), ``"gap"``, ``"malformed"``.

    *kinds* restricts the draw (default :data:`ALL_KINDS`; see also :data:`TRANSPORT_KINDS`,
    :data:`STREAM_KINDS`, :data:`PROTOCOL_KINDS`). Shrinks towards the first kind, with the
    simplest parameters.

    Example::

        @given(fault=strategies.faults(kinds=["reset", "truncate"]))
        def test_stream_survives(fault): ...
    """
    chosen = _check_kinds(kinds, ALL_KINDS)
    events = _check_max_events(max_events)
    if "duplicate" in chosen and events < 2:
        raise InvalidArgument("a duplicate fault needs max_events >= 2 (it resends an event)")
    if isinstance(max_latency, bool) or not isinstance(max_latency, (int, float)):
        raise InvalidArgument(f"max_latency must be a number of seconds, got {max_latency!r}")
    return st.one_of([_kind_strategy(kind, events, float(max_latency)) for kind in chosen])


def transport_faults(*, max_events: int = _DEFAULT_MAX_EVENTS) -> st.SearchStrategy[Fault]:
    """Network faults only: connect error, timeout, reset, truncate, stall.

    These are what resilience is for: no server said "no", the answer just did not arrive
    whole. A background stream survives every one of them.

    Example::

        @given(plan=st.lists(strategies.transport_faults(), max_size=3))
        def test_background_stream_is_complete(plan): ...
    """
    return faults(TRANSPORT_KINDS, max_events=max_events)


def stream_faults(*, max_events: int = _DEFAULT_MAX_EVENTS) -> st.SearchStrategy[Fault]:
    """Mid-stream faults: reset, truncate, stall, error event, ``response.failed``.

    Each cuts a stream after ``0 .. max_events - 1`` events (the fake's default answer has
    20 events, 21 in the background). Shrinks towards ``Fault.reset(after_events=0)``.

    Example::

        @given(fault=strategies.stream_faults(max_events=21))
        def test_stream(fault): ...
    """
    return faults(STREAM_KINDS, max_events=max_events)


def protocol_faults(*, max_events: int = _DEFAULT_MAX_EVENTS) -> st.SearchStrategy[Fault]:
    """SSE protocol faults: keepalive-only silence, reordered, renumbered, duplicated or
    missing events, malformed JSON (:data:`PROTOCOL_KINDS`).

    A stream client that promises exactly-once delivery must notice every one of them: the
    raw SDK yields reordered, renumbered, duplicated and gapped events as they come, ignores
    keepalive comments, and raises ``json.JSONDecodeError`` on malformed data.

    Example::

        @given(fault=strategies.protocol_faults(max_events=21))
        def test_never_a_silent_skip(fault): ...
    """
    return faults(PROTOCOL_KINDS, max_events=max_events)


def fault_plans(
    max_size: int = 5,
    kinds: Iterable[FaultKindName] | None = None,
    *,
    max_events: int = _DEFAULT_MAX_EVENTS,
    of: st.SearchStrategy[Fault] | None = None,
) -> st.SearchStrategy[list[Fault | None]]:
    """Plans for :meth:`FakeResponsesAPI.plan`: lists of ``Fault | None``, one per request.

    ``None`` entries are clean requests; requests past the end of the plan are clean too.
    Entries are drawn from ``faults(kinds, max_events=max_events)``, or from *of* when
    given. Shrinks towards the empty plan, then fewer faults, then simpler ones, so a
    failing property reports the smallest plan that still breaks it.

    Example::

        @given(plan=strategies.fault_plans(max_size=4))
        def test_it(fake_responses_api, plan):
            fake_responses_api.plan(plan)

        strategies.fault_plans(of=strategies.transport_faults() | strategies.status_faults())
    """
    if isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 0:
        raise InvalidArgument(f"max_size must be an int >= 0, got {max_size!r}")
    if of is not None:
        if kinds is not None:
            raise InvalidArgument("give kinds or of, not both")
        if not isinstance(of, st.SearchStrategy):
            raise InvalidArgument(f"of must be a Hypothesis strategy of Fault, got {of!r}")
        entry = of
    else:
        entry = faults(kinds, max_events=max_events)
    # None first: an entry shrinks to "clean" before it shrinks to a simpler fault.
    return st.lists(st.one_of(st.none(), entry), max_size=max_size)


def _http_date(offset: int) -> dict[str, str]:
    # Relative to the moment of the draw: the header means "wait *offset* seconds".
    when = datetime.now(timezone.utc) + timedelta(seconds=offset)
    return {"retry-after": format_datetime(when, usegmt=True)}


def retry_after_values() -> st.SearchStrategy[dict[str, str]]:
    """Retry-After response headers, sane and absurd, as header dicts.

    Whole seconds (``{"retry-after": "2"}``), fractional seconds (``"1.5"``), milliseconds
    (``{"retry-after-ms": "1500"}``), HTTP dates in the past and the future, both headers
    at once, and absurd values: negative, ``NaN``, ``inf``, huge numbers, garbage strings.
    Pass them to ``Fault.status(429, headers=...)``. Shrinks towards
    ``{"retry-after": "0"}``.

    Example::

        @given(headers=strategies.retry_after_values())
        def test_never_sleeps_past_deadline(headers):
            fake.plan([Fault.status(429, headers=headers)])
    """
    seconds = st.integers(min_value=0, max_value=300).map(str)
    fractional = st.floats(
        min_value=0.001, max_value=120.0, allow_nan=False, allow_infinity=False
    ).map(repr)
    garbage = st.text(
        alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=12
    )
    absurd = st.one_of(st.sampled_from(_ABSURD_RETRY_AFTER), garbage)
    retry_after = st.one_of(seconds, fractional, absurd).map(lambda v: {"retry-after": v})
    milliseconds = st.one_of(
        st.integers(min_value=0, max_value=300_000).map(str),
        st.sampled_from(("-100", "NaN", "1e12", "later")),
    ).map(lambda v: {"retry-after-ms": v})
    dates = st.integers(min_value=-86_400, max_value=86_400).map(_http_date)
    both = st.builds(lambda a, b: {**a, **b}, milliseconds, retry_after)
    return st.one_of(retry_after, milliseconds, dates, both)


def quotas(
    *,
    max_requests_per_minute: int = 1200,
    max_tokens_per_minute: int = 200_000,
    periods: Iterable[float] = (1.0, 60.0),
) -> st.SearchStrategy[Quota]:
    """Quotas for ``FakeResponsesAPI(quota=...)``: a request limit, a token limit or both,
    enforced over one of *periods* (seconds). Shrinks towards a small request-only quota
    enforced per second.

    Example::

        @given(quota=strategies.quotas(), gaps=st.lists(st.floats(0, 2)))
        def test_pacing(quota, gaps):
            fake = FakeResponsesAPI(quota=quota, clock=VirtualClock())
    """
    for name, value in (
        ("max_requests_per_minute", max_requests_per_minute),
        ("max_tokens_per_minute", max_tokens_per_minute),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidArgument(f"{name} must be an int >= 1, got {value!r}")
    chosen = tuple(periods)
    if not chosen or any(
        isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 < p <= 60 for p in chosen
    ):
        raise InvalidArgument(f"periods must be seconds in (0, 60], got {chosen!r}")
    requests = st.integers(min_value=1, max_value=max_requests_per_minute)
    tokens = st.integers(min_value=1, max_value=max_tokens_per_minute)
    period = st.sampled_from(chosen)
    return st.one_of(
        st.builds(Quota, requests_per_minute=requests, period=period),
        st.builds(Quota, tokens_per_minute=tokens, period=period),
        st.builds(Quota, requests_per_minute=requests, tokens_per_minute=tokens, period=period),
    )
