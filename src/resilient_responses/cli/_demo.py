"""The ``resilient-responses demo``: the raw SDK, a naive retry loop and this library, side by side.

One seeded chaos mix (429 with a small Retry-After, 500s, connection resets mid-stream, silent
truncations, ``error`` events, real-time stalls, and a short 503 outage) is played by the fake
Responses API over real HTTP on 127.0.0.1, three times: once for each contender, with a fresh
fake and the same seed each time, so every run meets the same sequence of faults. The same
requests are sent each time: plain calls, plain streams and background streams.

The consumer of each call records what it actually got (the text deltas, the terminal event,
the exception), and the fake's request log says which faults each call met, so the table
compares outcomes rather than counters: completed correctly, silently truncated, duplicated
text, explicit failures, server-declared failures, HTTP requests per call, latency.

The expected text of every request is known in advance (the fake is given a text function),
and every word of it is unique within its response, so a delta seen twice is a duplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import openai

from .. import (
    AsyncResilientOpenAI,
    Backoff,
    BreakerConfig,
    ErrorPolicy,
    Resilience,
    StreamPolicy,
)
from ..testing import Chaos, FakeResponsesAPI, Fault, RecordedRequest

__all__ = [
    "CONTENDERS",
    "CallOutcome",
    "DemoConfig",
    "RunSummary",
    "expected_text",
    "render_table",
    "text_for_body",
    "run_demo",
    "run_live",
]

Kind = Literal["call", "stream", "background"]
KINDS: tuple[Kind, ...] = ("call", "stream", "background")
CONTENDERS: tuple[str, ...] = ("raw_sdk", "naive_retry", "resilient")
LABELS: Mapping[str, str] = {
    "raw_sdk": "raw SDK",
    "naive_retry": "naive retry",
    "resilient": "this library",
}
MODEL = "gpt-5-mini"
_TERMINAL = frozenset({"response.completed", "response.incomplete"})
_DECLARED = frozenset({"error", "response.failed"})
#: Faults that break the connection or the body, as opposed to HTTP statuses and the
#: failures the server itself declares in the stream.
TRANSPORT_FAULTS = frozenset({"reset", "truncate", "stall", "connect_error", "timeout"})
DECLARED_FAULTS = frozenset({"error_event", "failed"})
_VOCABULARY = (
    *("amber", "basil", "cedar", "delta", "ember", "fjord", "garnet", "harbor", "indigo"),
    *("juniper", "kelp", "lumen", "mesa", "nectar", "onyx", "pollen", "quartz", "raven"),
    *("sable", "tundra", "umber", "violet", "willow", "xenon", "yarrow", "zephyr"),
)


@dataclass(frozen=True, slots=True)
class DemoConfig:
    """What the demo sends, and the chaos it meets.

    Attributes:
        requests: calls per contender (a third each: plain calls, plain streams,
            background streams, round robin).
        concurrency: calls in flight at once.
        seed: the chaos seed (the same for every contender).
        words: words of output per response (one delta per word).
        stall_seconds: real silence of a stall fault.
        idle_timeout: the library's ``StreamPolicy(idle_timeout=...)``, below the stall.
        retry_after: the Retry-After of the 429s, seconds.
        outage_at: the request (in arrival order) at which the 503 outage begins; ``None``:
            half way through the calls (request number ``requests // 2``).
        outage_seconds: how long every request gets a 503 (0: no outage).
        naive_attempts: attempts of the naive loop (the article's 3).
        naive_wait_scale: the naive loop waits ``scale * 1.5 ** attempt`` (the article's
            backoff, scaled so the demo stays short).
    """

    requests: int = 200
    concurrency: int = 20
    seed: int = 7
    words: int = 40
    stall_seconds: float = 1.5
    idle_timeout: float = 0.5
    retry_after: float = 0.2
    outage_at: int | None = None
    outage_seconds: float = 0.6
    naive_attempts: int = 3
    naive_wait_scale: float = 0.2

    def __post_init__(self) -> None:
        for name in ("requests", "concurrency", "words", "naive_attempts"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        if not 0 < self.idle_timeout < self.stall_seconds:
            raise ValueError("idle_timeout must be > 0 and below stall_seconds")
        if self.outage_seconds < 0:
            raise ValueError(f"outage_seconds must be >= 0, got {self.outage_seconds!r}")

    @property
    def outage_start(self) -> int:
        """The request number at which the outage begins."""
        return self.outage_at if self.outage_at is not None else self.requests // 2


def kind_of(index: int) -> Kind:
    """The request kind of call *index* (round robin)."""
    return KINDS[index % len(KINDS)]


def expected_text(index: int, words: int) -> str:
    """The fault-free output of call *index*: *words* words, each unique in the response."""
    return " ".join(f"{_VOCABULARY[(index + k) % len(_VOCABULARY)]}{k}" for k in range(words))


def _call_index(body: object) -> int | None:
    if not isinstance(body, dict):
        return None
    metadata = body.get("metadata")
    if not isinstance(metadata, dict):
        return None
    raw = metadata.get("demo_call")
    return int(raw) if isinstance(raw, str) and raw.isdigit() else None


def text_for_body(words: int) -> Callable[[dict[str, Any]], str]:
    """The fake's text function: :func:`expected_text` of the request's
    ``metadata["demo_call"]``, with ``metadata["fake_output_words"]`` words if given."""

    def text(body: dict[str, Any]) -> str:
        index = _call_index(body)
        count = words
        metadata = body.get("metadata")
        if isinstance(metadata, dict) and str(metadata.get("fake_output_words", "")).isdigit():
            count = int(metadata["fake_output_words"])
        return expected_text(index if index is not None else 0, count)

    return text


class OutageChaos(Chaos):
    """A :class:`Chaos` mix with a short outage: from the *outage_at*-th request on, every
    request gets a 503 for *outage_seconds* of wall time.

    The outage is timed, not counted: a circuit breaker that stops sending requests must
    not make the outage last longer. The underlying draws go on during the outage, so the
    faults after it are the same whatever happened during it.
    """

    def __init__(
        self,
        rates: Mapping[str, float],
        *,
        seed: int,
        stall_seconds: float,
        retry_after: float,
        outage_at: int,
        outage_seconds: float,
    ) -> None:
        super().__init__(rates, seed=seed, stall_seconds=stall_seconds, retry_after=retry_after)
        self.outage_at = outage_at
        self.outage_seconds = outage_seconds
        self.draws = 0
        self.outage_started: float | None = None
        self.outage_requests = 0
        self._outage_lock = threading.Lock()

    def draw(self, n_events: int) -> Fault | None:
        """The next request's fault: a 503 during the outage, else the mix's draw."""
        fault = super().draw(n_events)
        with self._outage_lock:
            self.draws += 1
            now = time.monotonic()
            if self.outage_started is None and self.draws > self.outage_at:
                self.outage_started = now
            started = self.outage_started
            if started is not None and now - started < self.outage_seconds:
                self.outage_requests += 1
                return Fault.status(503)
        return fault


def make_chaos(config: DemoConfig) -> OutageChaos:
    """The demo's chaos: the kit's ``"default"`` mix with a small Retry-After, real-time
    stalls of ``config.stall_seconds``, and the timed 503 outage."""
    return OutageChaos(
        Chaos.mix("default", seed=config.seed).rates,
        seed=config.seed,
        stall_seconds=config.stall_seconds,
        retry_after=config.retry_after,
        outage_at=config.outage_start,
        outage_seconds=config.outage_seconds,
    )


# -- what a consumer saw ------------------------------------------------------------------


@dataclass(slots=True)
class CallOutcome:
    """What the consumer of one call got, and which faults the call met.

    Attributes:
        index: the call's number; kind: ``"call"``, ``"stream"`` or ``"background"``.
        correct: the consumer got exactly the fault-free text once (streams) or a
            completed response with it (calls).
        silent_truncation: a stream that ended with no terminal event and no exception.
        duplicated: a text delta appeared twice in what the consumer saw.
        declared: the server's failure (``error`` / ``response.failed`` / a failed
            response) was delivered to the consumer.
        error: the type name of the exception raised to the consumer, if any.
        detail: the exception message (shortened), for the report.
        deltas: text deltas the consumer saw; terminal: the last event type seen.
        latency_s: wall time of the call, consumption included.
        faults: the faults the call's HTTP requests met, in order (from the fake's log).
        requests: HTTP requests the call made.
    """

    index: int
    kind: Kind
    correct: bool = False
    silent_truncation: bool = False
    duplicated: bool = False
    declared: bool = False
    error: str | None = None
    detail: str | None = None
    deltas: int = 0
    terminal: str | None = None
    latency_s: float = 0.0
    faults: list[str] = field(default_factory=list)
    requests: int = 0


class _Seen:
    """Accumulates the events of one stream as the consumer sees them."""

    __slots__ = ("deltas", "terminal")

    def __init__(self) -> None:
        self.deltas: list[str] = []
        self.terminal: str | None = None

    def add(self, event: Any) -> None:
        event_type = getattr(event, "type", None)
        if event_type == "response.output_text.delta":
            self.deltas.append(str(getattr(event, "delta", "")))
        elif isinstance(event_type, str) and (event_type in _TERMINAL or event_type in _DECLARED):
            self.terminal = event_type


def _judge_stream(outcome: CallOutcome, seen: _Seen, expected: str) -> None:
    outcome.deltas = len(seen.deltas)
    outcome.terminal = seen.terminal
    outcome.duplicated = any(n > 1 for n in Counter(seen.deltas).values())
    outcome.declared = seen.terminal in _DECLARED
    if outcome.error is None and seen.terminal is None:
        outcome.silent_truncation = True
    outcome.correct = (
        outcome.error is None
        and seen.terminal == "response.completed"
        and "".join(seen.deltas) == expected
    )


def _judge_call(outcome: CallOutcome, response: Any, expected: str) -> None:
    status = getattr(response, "status", None)
    outcome.terminal = f"status={status}"
    if status == "failed":
        outcome.declared = True
    outcome.correct = status == "completed" and getattr(response, "output_text", None) == expected


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    notes = [line.strip() for note in getattr(exc, "__notes__", ()) for line in note.splitlines()]
    # The library's PEP 678 note says why it gave up (attempts, deadline, breaker).
    suffix = f" [{'; '.join(notes)}]" if notes else ""
    return f"{type(exc).__name__}: {text[:240]}{suffix}"


# -- the contenders -----------------------------------------------------------------------


def _request(index: int, kind: Kind) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "model": MODEL,
        "input": f"Demo request {index}: say something.",
        "metadata": {"demo_call": str(index)},
    }
    if kind != "call":
        kwargs["stream"] = True
    if kind == "background":
        kwargs["background"] = True
        kwargs["store"] = True
    return kwargs


async def _consume(stream: Any, seen: _Seen) -> None:
    async for event in stream:
        seen.add(event)


Runner = Callable[[int, Kind, CallOutcome, str], Awaitable[None]]


async def _send(
    client: openai.AsyncOpenAI,
    index: int,
    kind: Kind,
    outcome: CallOutcome,
    expected: str,
    seen: _Seen,
) -> None:
    """One request: a call judged on its response, or a stream consumed into *seen*."""
    if kind == "call":
        response = await client.responses.create(**_request(index, kind))
        _judge_call(outcome, response, expected)
        return
    stream = await client.responses.create(**_request(index, kind))
    async with stream:
        await _consume(stream, seen)


def _sdk_runner(client: openai.AsyncOpenAI) -> Runner:
    """The SDK (raw, or the drop-in client): one request, consumed once."""

    async def run(index: int, kind: Kind, outcome: CallOutcome, expected: str) -> None:
        seen = _Seen()
        try:
            await _send(client, index, kind, outcome, expected, seen)
        except (openai.OpenAIError, ValueError) as exc:
            outcome.error, outcome.detail = type(exc).__name__, _short(exc)
        if kind != "call":
            _judge_stream(outcome, seen, expected)

    return run


def _naive_runner(client: openai.AsyncOpenAI, config: DemoConfig) -> Runner:
    """The seed article's ``create_resilient_stream``: on any error, run it all again.

    Three attempts, backoff ``1.5 ** attempt`` (scaled), around an SDK client that keeps
    its own retries; every attempt's events reach the consumer, so a stream that broke
    half-way is replayed from the start after what was already shown.
    """
    import tenacity

    def wait(retry_state: tenacity.RetryCallState) -> float:
        return float(config.naive_wait_scale * 1.5**retry_state.attempt_number)

    async def run(index: int, kind: Kind, outcome: CallOutcome, expected: str) -> None:
        seen = _Seen()
        try:
            async for attempt in tenacity.AsyncRetrying(
                stop=tenacity.stop_after_attempt(config.naive_attempts),
                wait=wait,
                retry=tenacity.retry_if_exception_type((openai.OpenAIError, ValueError)),
                reraise=True,
            ):
                with attempt:
                    await _send(client, index, kind, outcome, expected, seen)
        except (openai.OpenAIError, ValueError) as exc:
            outcome.error, outcome.detail = type(exc).__name__, _short(exc)
        if kind != "call":
            _judge_stream(outcome, seen, expected)

    return run


class _QuietLogger:
    """Takes the library's structlog events and counts them instead of printing them."""

    def __init__(self) -> None:
        self.events: Counter[str] = Counter()

    def _log(self, event: str, **fields: Any) -> None:
        self.events[event] += 1

    debug = info = warning = error = _log


def demo_resilience(config: DemoConfig, logger: Any = None) -> Resilience:
    """The library's configuration for the demo.

    Stalls are detected by ``idle_timeout`` (below the chaos' stalls), background streams
    resume losslessly, and the breaker opens after ten consecutive failures (the chaos mix
    alone fails about 40% of requests, which must not look like an outage) and probes again
    after a short reset timeout (the demo's outage is short). While it is open, callers
    wait for its next probe within their deadline (the ``"circuit_open"`` policy) instead
    of failing at once: the outage costs time, not requests.
    """
    return Resilience(
        # A batch's settings: a call may meet the outage and then the chaos' 429s and
        # 5xx in a row, so it gets 10 attempts (within the 30 s deadline).
        attempts=10,
        deadline=30.0,
        backoff=Backoff(initial=0.1, maximum=1.0),
        breaker=BreakerConfig(fail_max=10, reset_timeout=0.5),
        policies={"circuit_open": ErrorPolicy(attempts=40)},
        stream=StreamPolicy(idle_timeout=config.idle_timeout),
        logger=logger if logger is not None else _QuietLogger(),
    )


# -- one run ------------------------------------------------------------------------------


@dataclass(slots=True)
class RunSummary:
    """One contender's figures (the columns of the table)."""

    name: str
    label: str
    calls: int
    correct: int
    correct_pct: float
    silent_truncations: int
    duplicated_text: int
    explicit_failures: int
    failures_by_type: dict[str, int]
    declared_failures: int
    http_requests: int
    requests_per_call: float
    latency_p50_s: float
    latency_p95_s: float
    wall_s: float
    breaker_opens: int | None = None
    resumes: int | None = None
    restarts: int | None = None
    interruptions: int | None = None
    extra_output_tokens: int | None = None
    outage_requests: int = 0
    by_kind: dict[str, dict[str, int]] = field(default_factory=dict)
    background: dict[str, int] = field(default_factory=dict)
    unrecovered_background: list[dict[str, Any]] = field(default_factory=list)


def _fault_label(fault: Fault | None) -> str | None:
    if fault is None:
        return None
    terminal = fault.terminal
    if terminal is None:
        kinds = {part.kind for part in fault.components}
        return "stall" if "stall" in kinds else "latency"
    if terminal.kind == "status":
        return str(terminal.status_code)
    return terminal.kind


def attribute_requests(requests: list[RecordedRequest], outcomes: list[CallOutcome]) -> None:
    """Give each call the faults its HTTP requests met (creates by metadata, resumes by
    response id)."""
    by_response: dict[str, int] = {}
    for record in requests:
        index = _call_index(record.json) if record.method == "POST" else None
        if index is None and record.response_id is not None:
            index = by_response.get(record.response_id)
        if index is None or not 0 <= index < len(outcomes):
            continue
        if record.response_id is not None:
            by_response.setdefault(record.response_id, index)
        outcome = outcomes[index]
        outcome.requests += 1
        label = _fault_label(record.fault)
        if label is not None:
            outcome.faults.append(label)


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))
    return ordered[rank]


def summarize(
    name: str,
    outcomes: list[CallOutcome],
    requests: list[RecordedRequest],
    wall_s: float,
    resilience: Resilience | None,
    outage_requests: int = 0,
) -> RunSummary:
    """Turn one run's outcomes and request log into its row of the table."""
    attribute_requests(requests, outcomes)
    errors = Counter(o.error for o in outcomes if o.error is not None)
    latencies = [o.latency_s for o in outcomes]
    by_kind: dict[str, dict[str, int]] = {}
    for kind in KINDS:
        mine = [o for o in outcomes if o.kind == kind]
        by_kind[kind] = {
            "calls": len(mine),
            "correct": sum(o.correct for o in mine),
            "silent_truncations": sum(o.silent_truncation for o in mine),
            "duplicated_text": sum(o.duplicated for o in mine),
            "explicit_failures": sum(o.error is not None for o in mine),
            "declared_failures": sum(o.declared for o in mine),
        }
    background = [o for o in outcomes if o.kind == "background"]
    hit_transport = [
        o
        for o in background
        if any(f in TRANSPORT_FAULTS for f in o.faults)
        and not any(f in DECLARED_FAULTS for f in o.faults)
    ]
    hit_any = [
        o for o in background if o.faults and not any(f in DECLARED_FAULTS for f in o.faults)
    ]
    unrecovered = [o for o in background if not o.correct and not o.declared]
    summary = RunSummary(
        name=name,
        label=LABELS.get(name, name),
        calls=len(outcomes),
        correct=sum(o.correct for o in outcomes),
        correct_pct=round(100.0 * sum(o.correct for o in outcomes) / max(len(outcomes), 1), 1),
        silent_truncations=sum(o.silent_truncation for o in outcomes),
        duplicated_text=sum(o.duplicated for o in outcomes),
        explicit_failures=sum(errors.values()),
        failures_by_type=dict(errors.most_common()),
        declared_failures=sum(o.declared for o in outcomes),
        http_requests=len(requests),
        requests_per_call=round(len(requests) / max(len(outcomes), 1), 3),
        latency_p50_s=round(statistics.median(latencies) if latencies else 0.0, 4),
        latency_p95_s=round(_percentile(latencies, 0.95), 4),
        wall_s=round(wall_s, 3),
        outage_requests=outage_requests,
        by_kind=by_kind,
        background={
            "calls": len(background),
            "with_transport_fault": len(hit_transport),
            "transport_fault_recovered": sum(o.correct for o in hit_transport),
            "with_any_non_declared_fault": len(hit_any),
            "non_declared_fault_recovered": sum(o.correct for o in hit_any),
            "declared_failures": sum(o.declared for o in background),
            "failed_not_declared": len(unrecovered),
        },
        unrecovered_background=[
            {
                "call": o.index,
                "faults": o.faults,
                "error": o.detail,
                "deltas_seen": o.deltas,
                "terminal": o.terminal,
                "duplicated": o.duplicated,
                "silent_truncation": o.silent_truncation,
            }
            for o in unrecovered
        ],
    )
    if resilience is not None:
        total = resilience.stats().total
        summary.breaker_opens = total.breaker_opens
        summary.resumes = total.resumes
        summary.restarts = total.restarts
        summary.interruptions = total.interruptions
        summary.extra_output_tokens = total.wasted_output_tokens
    return summary


ProgressHook = Callable[[str, int], None]


async def _drive(
    runner: Runner,
    config: DemoConfig,
    name: str,
    progress: ProgressHook | None,
    expected: Callable[[int], str],
) -> list[CallOutcome]:
    outcomes = [CallOutcome(index=i, kind=kind_of(i)) for i in range(config.requests)]
    gate = asyncio.Semaphore(config.concurrency)
    done = 0

    async def one(outcome: CallOutcome) -> None:
        nonlocal done
        async with gate:
            start = time.perf_counter()
            await runner(outcome.index, outcome.kind, outcome, expected(outcome.index))
            outcome.latency_s = time.perf_counter() - start
        done += 1
        if progress is not None:
            progress(name, done)

    await asyncio.gather(*(one(o) for o in outcomes))
    return outcomes


@contextlib.asynccontextmanager
async def _client_for(
    name: str, base_url: str, config: DemoConfig
) -> AsyncIterator[tuple[Runner, Resilience | None]]:
    if name == "resilient":
        resilience = demo_resilience(config)
        rclient = AsyncResilientOpenAI(base_url=base_url, api_key="sk-demo", resilience=resilience)
        async with rclient:
            yield _sdk_runner(rclient), resilience
        return
    client = openai.AsyncOpenAI(base_url=base_url, api_key="sk-demo")
    async with client:
        yield (_sdk_runner(client) if name == "raw_sdk" else _naive_runner(client, config)), None


async def run_contender(
    name: str, config: DemoConfig, progress: ProgressHook | None = None
) -> RunSummary:
    """One contender against a fresh fake (same seed) served on 127.0.0.1."""
    fake = FakeResponsesAPI(output_words=config.words, text=text_for_body(config.words))
    chaos = make_chaos(config)
    fake.chaos(chaos)
    async with (
        fake.serve(host="127.0.0.1") as base_url,
        _client_for(name, base_url, config) as (runner, resilience),
    ):
        start = time.perf_counter()
        outcomes = await _drive(
            runner, config, name, progress, lambda i: expected_text(i, config.words)
        )
        wall = time.perf_counter() - start
    return summarize(name, outcomes, fake.requests, wall, resilience, chaos.outage_requests)


def acceptance(rows: Mapping[str, RunSummary]) -> dict[str, Any]:
    """The demo's claim, checked: the library leaves no silent truncation and no duplicated
    text, and every background stream it did not complete ended in a failure the server
    declared (delivered as such)."""
    lib = rows["resilient"]
    bg = lib.background
    checks = {
        "library_silent_truncations_zero": lib.silent_truncations == 0,
        "library_duplicated_text_zero": lib.duplicated_text == 0,
        "library_background_transport_faults_all_recovered": bg["transport_fault_recovered"]
        == bg["with_transport_fault"],
        "library_background_failures_all_server_declared": bg["failed_not_declared"] == 0,
    }
    return {"passed": all(checks.values()), "checks": checks}


async def run_demo_async(
    config: DemoConfig,
    progress: ProgressHook | None = None,
    contenders: tuple[str, ...] = CONTENDERS,
) -> dict[str, Any]:
    """Run every contender in turn and return the machine-readable report."""
    start = time.perf_counter()
    rows: dict[str, RunSummary] = {}
    for name in contenders:
        rows[name] = await run_contender(name, config, progress)
    report: dict[str, Any] = {
        "config": asdict(config),
        "chaos": make_chaos(config).describe()
        + (
            f"; 503 outage for {config.outage_seconds:g}s from request {config.outage_start}"
            if config.outage_seconds > 0
            else "; no outage"
        ),
        "wall_time_s": round(time.perf_counter() - start, 2),
        "runs": {name: asdict(row) for name, row in rows.items()},
    }
    if "resilient" in rows:
        report["acceptance"] = acceptance(rows)
    return report


def run_demo(config: DemoConfig, progress: ProgressHook | None = None) -> dict[str, Any]:
    """Synchronous entry point of :func:`run_demo_async`."""
    return asyncio.run(run_demo_async(config, progress))


# -- live -----------------------------------------------------------------------------------


async def _run_live_async(requests: int, concurrency: int, model: str) -> dict[str, Any]:
    rows: dict[str, Any] = {}
    config = DemoConfig(requests=requests, concurrency=concurrency)
    for name in ("raw_sdk", "resilient"):
        resilience = demo_resilience(config) if name == "resilient" else None
        # The SDK's default base URL: the real API. No address is written here.
        client: openai.AsyncOpenAI = (
            AsyncResilientOpenAI(resilience=resilience)
            if resilience is not None
            else openai.AsyncOpenAI()
        )
        outcomes = [CallOutcome(index=i, kind=kind_of(i)) for i in range(requests)]
        gate = asyncio.Semaphore(concurrency)

        async def one(
            outcome: CallOutcome,
            client: openai.AsyncOpenAI = client,
            gate: asyncio.Semaphore = gate,
        ) -> None:
            seen = _Seen()
            kwargs: dict[str, Any] = {"model": model, "input": "Say hello in five words."}
            if outcome.kind != "call":
                kwargs["stream"] = True
            if outcome.kind == "background":
                kwargs["background"] = True
                kwargs["store"] = True
            async with gate:
                start = time.perf_counter()
                try:
                    if outcome.kind == "call":
                        response = await client.responses.create(**kwargs)
                        outcome.correct = getattr(response, "status", None) == "completed"
                    else:
                        stream: Any = await client.responses.create(**kwargs)
                        async with stream:
                            await _consume(stream, seen)
                except openai.OpenAIError as exc:
                    outcome.error, outcome.detail = type(exc).__name__, _short(exc)
                outcome.latency_s = time.perf_counter() - start
            if outcome.kind != "call":
                outcome.deltas = len(seen.deltas)
                outcome.terminal = seen.terminal
                outcome.duplicated = any(n > 1 for n in Counter(seen.deltas).values())
                outcome.silent_truncation = outcome.error is None and seen.terminal is None
                outcome.declared = seen.terminal in _DECLARED
                outcome.correct = outcome.error is None and seen.terminal == "response.completed"

        async with client:
            start = time.perf_counter()
            await asyncio.gather(*(one(o) for o in outcomes))
            wall = time.perf_counter() - start
        errors = Counter(o.error for o in outcomes if o.error is not None)
        latencies = [o.latency_s for o in outcomes]
        row: dict[str, Any] = {
            "label": LABELS[name],
            "calls": requests,
            "correct_pct": round(100.0 * sum(o.correct for o in outcomes) / requests, 1),
            "silent_truncations": sum(o.silent_truncation for o in outcomes),
            "duplicated_text": sum(o.duplicated for o in outcomes),
            "explicit_failures": sum(errors.values()),
            "failures_by_type": dict(errors),
            "declared_failures": sum(o.declared for o in outcomes),
            "latency_p50_s": round(statistics.median(latencies), 4),
            "latency_p95_s": round(_percentile(latencies, 0.95), 4),
            "wall_s": round(wall, 3),
        }
        if resilience is not None:
            total = resilience.stats().total
            row.update(
                breaker_opens=total.breaker_opens, resumes=total.resumes, restarts=total.restarts
            )
        rows[name] = row
    return {"live": True, "model": model, "runs": rows}


def run_live(requests: int, concurrency: int, model: str = MODEL) -> dict[str, Any]:
    """Send *requests* real requests with the raw SDK and with the library (no chaos).

    Raises:
        RuntimeError: ``OPENAI_API_KEY`` is not set.
    """
    if not os.environ.get("OPENAI_API_KEY"):
        raise RuntimeError(
            "--live sends real requests to the OpenAI API and needs OPENAI_API_KEY; "
            "it is not set. Run without --live to use the embedded fake API."
        )
    return asyncio.run(_run_live_async(requests, concurrency, model))


# -- rendering ------------------------------------------------------------------------------


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def render_table(report: Mapping[str, Any]) -> Any:
    """The side-by-side comparison as a ``rich.table.Table``."""
    from rich.table import Table

    runs: Mapping[str, Mapping[str, Any]] = report["runs"]
    names = list(runs)
    title = "resilient-responses demo" + (" (live)" if report.get("live") else "")
    config = report.get("config") or {}
    if config:
        title += (
            f": {config['requests']} calls, {config['concurrency']} at once, seed {config['seed']}"
        )
    table = Table(title=title, caption=report.get("chaos"))
    table.add_column("per run", no_wrap=True)
    for name in names:
        table.add_column(str(runs[name]["label"]), justify="right", no_wrap=True)

    def add(label: str, fn: Callable[[Mapping[str, Any]], str], style: str = "") -> None:
        table.add_row(label, *(fn(runs[name]) for name in names), style=style or None)

    def background(row: Mapping[str, Any]) -> str:
        bg: Mapping[str, int] | None = row.get("background")
        if not bg:
            return "-"
        return f"{bg['transport_fault_recovered']} / {bg['with_transport_fault']}"

    def ms(key: str) -> Callable[[Mapping[str, Any]], str]:
        return lambda row: f"{1000 * float(row[key]):.0f} ms"

    add("completed correctly", lambda r: f"{r['correct_pct']:.1f}%", "bold")
    add("silently truncated", lambda r: _cell(r["silent_truncations"]))
    add("duplicated text", lambda r: _cell(r["duplicated_text"]))
    add("explicit failures", lambda r: _cell(r["explicit_failures"]))
    kinds: list[str] = []
    for row in runs.values():
        kinds.extend(k for k in row.get("failures_by_type") or {} if k not in kinds)

    def count_of(kind: str) -> Callable[[Mapping[str, Any]], str]:
        return lambda row: _cell((row.get("failures_by_type") or {}).get(kind, 0))

    for kind in kinds:
        add(f"  {kind}", count_of(kind), "dim")
    add("server-declared failures", lambda r: _cell(r["declared_failures"]))
    add("bg transport faults recovered", background)
    add("HTTP requests per call", lambda r: _cell(r.get("requests_per_call")))
    add("latency p50", ms("latency_p50_s"))
    add("latency p95", ms("latency_p95_s"))
    add("breaker opens", lambda r: _cell(r.get("breaker_opens")))
    add("stream resumes", lambda r: _cell(r.get("resumes")))
    add("stream restarts", lambda r: _cell(r.get("restarts")))
    add("wall time", lambda r: f"{float(r['wall_s']):.1f} s")
    return table
