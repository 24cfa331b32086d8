"""Overhead and goodput of resilient_responses against the raw SDK: one script, one table.

Every network figure is measured against the fake Responses API running in a separate
process (``run_server`` under uvicorn) on 127.0.0.1, started by this script on a free port
and stopped at the end; the overhead figures are measured a second time on the fake's
in-process transport (no sockets at all, so the library's share of the time is larger).

Measures:

* per-call overhead: ``ResilientOpenAI`` / ``openai.OpenAI(max_retries=0)``, non-streaming
  create, no faults, in alternating blocks; the median of the per-block ratios;
* per-event overhead: the same for a 200-word stream (about 210 events), per event;
* an outage (every request a 503) for 100 calls: HTTP requests per call for the raw SDK
  (its default retries), tenacity around the SDK (4 attempts x the SDK's 3), and the library
  (defaults: its breaker opens);
* goodput under the seeded ``"default"`` chaos mix (about half clean; 429, 500, reset,
  truncation, error event, stall): plain and background streams, raw SDK, a naive loop that
  re-runs the stream on any error, and the library;
* extra output tokens paid because of restarts.

Usage::

    python benchmarks/run.py                 # full run, prints the table
    python benchmarks/run.py --quick         # smoke run (seconds)
    python benchmarks/run.py --json          # JSON on stdout instead of the table
    python benchmarks/run.py --results-md benchmarks/RESULTS.md
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import platform
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import tenacity

from resilient_responses import (
    AsyncResilientOpenAI,
    ErrorPolicy,
    Resilience,
    ResilientOpenAI,
    StreamPolicy,
)
from resilient_responses.cli._demo import expected_text, text_for_body
from resilient_responses.testing import Chaos, FakeResponsesAPI, Fault

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _fleet  # benchmarks/_fleet.py, beside this script
import _quota  # benchmarks/_quota.py
from _child import HOST, ChildServer

MODEL = "gpt-5-mini"
WORDS = 40
STREAM_WORDS = 200
API_KEY = "sk-bench"


@dataclass(frozen=True)
class Sizes:
    """How much work each section does."""

    blocks: int
    per_block: int
    stream_blocks: int
    streams_per_block: int
    outage_calls: int
    goodput_streams: int
    concurrency: int
    connection_streams: int = 100
    memory_streams: int = 1000
    fleet: bool = True
    quota: bool = True


FULL = Sizes(
    blocks=40,
    per_block=50,
    stream_blocks=20,
    streams_per_block=10,
    outage_calls=100,
    goodput_streams=200,
    concurrency=20,
)
QUICK = Sizes(
    blocks=4,
    per_block=10,
    stream_blocks=4,
    streams_per_block=2,
    outage_calls=20,
    goodput_streams=20,
    concurrency=10,
    connection_streams=20,
    memory_streams=100,
    fleet=False,
    quota=False,
)


class _QuietLogger:
    """Swallows the library's structlog events (the default config prints them)."""

    def _log(self, event: str, **fields: Any) -> None:
        return None

    debug = info = warning = error = _log


def _resilience(**config: Any) -> Resilience:
    return Resilience(logger=_QuietLogger(), **config)


# -- the fake in a separate process ----------------------------------------------------------


def serve(port: int, mode: str, seed: int, stall_seconds: float) -> None:
    """Serve the fake on 127.0.0.1:*port* (blocking; runs in the child process).

    *mode*: ``"clean"``, ``"outage"`` (every request a 503) or ``"mix"`` (the kit's
    ``"default"`` chaos mix with *seed*, stalls of *stall_seconds*).
    """
    from resilient_responses.testing._server import run_server

    fake = FakeResponsesAPI(output_words=WORDS, text=text_for_body(WORDS))
    if mode == "outage":
        fake.plan([], then=Fault.status(503))
    elif mode == "mix":
        fake.chaos(Chaos(Chaos.mix("default").rates, seed=seed, stall_seconds=stall_seconds))
    run_server(HOST, port, fake=fake, log_level="warning")


def server_process(mode: str, seed: int = 0, stall_seconds: float = 2.0) -> ChildServer:
    """This script serving the fake in *mode* in a child process (``wait`` for its URL)."""
    args = ["--mode", mode, "--seed", str(seed), "--stall-seconds", str(stall_seconds)]
    return ChildServer(Path(__file__).resolve(), args)


@contextlib.contextmanager
def servers(specs: dict[str, tuple[str, int, float]]) -> Iterator[dict[str, str]]:
    """Start one server per spec ``name -> (mode, seed, stall_seconds)`` at once (their
    start-up overlaps), wait until each answers, yield their base URLs, stop them all."""
    started: dict[str, ChildServer] = {}
    try:
        for name, (mode, seed, stall) in specs.items():
            started[name] = server_process(mode, seed, stall)
        yield {name: server.wait() for name, server in started.items()}
    finally:
        for server in started.values():
            server.stop()


# -- overhead ------------------------------------------------------------------------------


def _alternate(
    raw: Callable[[], None], lib: Callable[[], None], blocks: int, per_block: int
) -> dict[str, float]:
    """Time ``blocks * per_block`` single runs of each, interleaved one by one (raw, lib,
    lib, raw, ...) so both see the same machine state, and compare the medians of the
    single runs: a GC pause or a scheduler hiccup on a 2-core machine lands in one sample
    instead of skewing a block. The per-block ratio spread is kept as a noise indicator."""
    for _ in range(max(5, per_block // 5)):
        raw()
        lib()
    raw_samples: list[float] = []
    lib_samples: list[float] = []
    ratios: list[float] = []
    clock = time.perf_counter
    for block in range(blocks):
        block_raw = block_lib = 0.0
        for i in range(per_block):
            pair = ((raw, raw_samples), (lib, lib_samples))
            for fn, samples in pair if (block + i) % 2 == 0 else pair[::-1]:
                start = clock()
                fn()
                samples.append(clock() - start)
            block_raw += raw_samples[-1]
            block_lib += lib_samples[-1]
        ratios.append(block_lib / block_raw)
    raw_median = statistics.median(raw_samples)
    lib_median = statistics.median(lib_samples)
    return {
        "ratio": lib_median / raw_median,
        "raw_s": raw_median,
        "lib_s": lib_median,
        "overhead_s": lib_median - raw_median,
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
        "blocks": blocks,
        "per_block": per_block,
    }


def _call_pair(
    raw: openai.OpenAI, lib: openai.OpenAI
) -> tuple[Callable[[], None], Callable[[], None]]:
    def call(client: openai.OpenAI) -> Callable[[], None]:
        def run() -> None:
            client.responses.create(model=MODEL, input="Benchmark: hello.")

        return run

    return call(raw), call(lib)


def _stream_pair(
    raw: openai.OpenAI, lib: openai.OpenAI
) -> tuple[Callable[[], None], Callable[[], None]]:
    def stream(client: openai.OpenAI) -> Callable[[], None]:
        def run() -> None:
            with client.responses.create(
                model=MODEL,
                input="Benchmark: a long answer.",
                stream=True,
                metadata={"fake_output_words": str(STREAM_WORDS)},
            ) as events:
                for _ in events:
                    pass

        return run

    return stream(raw), stream(lib)


def _events_per_stream(client: openai.OpenAI) -> int:
    with client.responses.create(
        model=MODEL,
        input="count",
        stream=True,
        metadata={"fake_output_words": str(STREAM_WORDS)},
    ) as events:
        return sum(1 for _ in events)


def overhead(base_url: str | None, sizes: Sizes) -> dict[str, Any]:
    """Per-call and per-event overhead ratios, over loopback or in-process (``None``)."""
    if base_url is None:
        fake = FakeResponsesAPI(output_words=WORDS)
        raw = fake.client(max_retries=0)
        lib: openai.OpenAI = ResilientOpenAI(fake.client(max_retries=0), resilience=_resilience())
    else:
        raw = openai.OpenAI(base_url=base_url, api_key=API_KEY, max_retries=0)
        lib = ResilientOpenAI(base_url=base_url, api_key=API_KEY, resilience=_resilience())
    with raw, lib:
        calls = _alternate(*_call_pair(raw, lib), sizes.blocks, sizes.per_block)
        n_events = _events_per_stream(raw)
        streams = _alternate(*_stream_pair(raw, lib), sizes.stream_blocks, sizes.streams_per_block)
    streams["events"] = n_events
    streams["raw_per_event_s"] = streams["raw_s"] / n_events
    streams["lib_per_event_s"] = streams["lib_s"] / n_events
    return {"call": calls, "event": streams}


# -- connections and memory -------------------------------------------------------------------


def _pool_connections(client: Any) -> list[Any]:
    """The connections in the client's httpx2 pool right now."""
    return list(client._client._transport._pool.connections)


def connections(base_url: str, streams: int = 100) -> dict[str, Any]:
    """TCP connections opened by *streams* sequential streams read to the end: the raw SDK
    reuses one; a client that closes early opens one per stream."""
    results: dict[str, Any] = {"streams": streams}
    make: dict[str, Callable[[], openai.OpenAI]] = {
        "raw_sdk": lambda: openai.OpenAI(base_url=base_url, api_key=API_KEY, max_retries=0),
        "resilient": lambda: ResilientOpenAI(
            base_url=base_url, api_key=API_KEY, resilience=_resilience()
        ),
    }
    for name, build in make.items():
        seen: list[Any] = []  # kept alive, so no two connections share an id()
        with build() as client:
            for _ in range(streams):
                with client.responses.create(model=MODEL, input="hi", stream=True) as events:
                    for _ in events:
                        pass
                seen.extend(c for c in _pool_connections(client) if all(c is not s for s in seen))
        results[name] = len(seen)
    return results


async def _open_streams(client: Any, n: int) -> list[Any]:
    gate = asyncio.Semaphore(50)

    async def one(index: int) -> Any:
        async with gate:
            stream = await client.responses.create(model=MODEL, input=f"m{index}", stream=True)
            await stream.__anext__()  # mid-stream: its first event read
            return stream

    return list(await asyncio.gather(*(one(i) for i in range(n))))


def _traced_per_stream(build: Callable[[], Any], n: int) -> float:
    """Bytes traced per open stream, *n* of them open at once (after their first event)."""
    import gc
    import tracemalloc

    async def measure() -> float:
        client = build()
        warm = await _open_streams(client, 1)
        await warm[0].close()
        gc.collect()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        streams = await _open_streams(client, n)
        gc.collect()
        current = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        for stream in streams:
            await stream.close()
        await client.close()
        return (current - base) / n

    return asyncio.run(measure())


def memory(base_url: str, streams: int = 1000) -> dict[str, Any]:
    """Memory per stream with *streams* open at once, raw SDK against the library
    (raw measured before and after the library; the ratio uses their mean)."""

    def raw() -> Any:
        return openai.AsyncOpenAI(base_url=base_url, api_key=API_KEY, max_retries=0, timeout=120)

    def lib() -> Any:
        return AsyncResilientOpenAI(
            base_url=base_url, api_key=API_KEY, timeout=120, resilience=_resilience()
        )

    raw_before = _traced_per_stream(raw, streams)
    library = _traced_per_stream(lib, streams)
    raw_after = _traced_per_stream(raw, streams)
    raw_bytes = (raw_before + raw_after) / 2
    return {
        "streams": streams,
        "raw_bytes": raw_bytes,
        "lib_bytes": library,
        "ratio": library / raw_bytes,
    }


# -- requests counting -----------------------------------------------------------------------


class RequestCounter:
    """Counts the HTTP requests a client sends (an httpx2 request hook)."""

    def __init__(self) -> None:
        self.count = 0

    async def ahook(self, request: Any) -> None:
        self.count += 1

    def hook(self, request: Any) -> None:
        self.count += 1


def _async_client(base_url: str, counter: RequestCounter, **kwargs: Any) -> openai.AsyncOpenAI:
    http = openai.DefaultAsyncHttpxClient(event_hooks={"request": [counter.ahook]})
    return openai.AsyncOpenAI(base_url=base_url, api_key=API_KEY, http_client=http, **kwargs)


# -- outage ----------------------------------------------------------------------------------


async def _outage_run(base_url: str, calls: int, name: str) -> dict[str, Any]:
    counter = RequestCounter()
    errors: Counter[str] = Counter()
    client = _async_client(base_url, counter)
    resilience: Resilience | None = None
    concurrency = calls
    if name.startswith("resilient"):
        resilience = _resilience()  # the library's defaults
        client = AsyncResilientOpenAI(client, resilience=resilience)
        # The library keeps state (its breaker): calls one after another, as a service
        # would see them over time; then the same with 20 concurrent callers.
        concurrency = 1 if name == "resilient" else 20
    gate = asyncio.Semaphore(concurrency)

    async def create() -> None:
        await client.responses.create(model=MODEL, input="outage")

    async def one() -> None:
        async with gate:
            try:
                if name == "tenacity_sdk":
                    async for attempt in tenacity.AsyncRetrying(
                        stop=tenacity.stop_after_attempt(4),
                        wait=tenacity.wait_exponential(multiplier=0.05, max=1.0),
                        reraise=True,
                    ):
                        with attempt:
                            await create()
                else:
                    await create()
            except openai.OpenAIError as exc:
                errors[type(exc).__name__] += 1

    start = time.perf_counter()
    async with client:
        await asyncio.gather(*(one() for _ in range(calls)))
    result: dict[str, Any] = {
        "requests_per_call": counter.count / calls,
        "errors": dict(errors),
        "concurrency": concurrency,
        "wall_s": time.perf_counter() - start,
    }
    if resilience is not None:
        result["breaker_opens"] = resilience.stats().total.breaker_opens
    return result


async def _outage_async(base_url: str, calls: int) -> dict[str, Any]:
    names = ("raw_sdk", "tenacity_sdk", "resilient", "resilient_concurrent")
    # Separate clients, counters and breakers; the server answers 503 statelessly, so the
    # four run at the same time (the SDK's own backoff makes each take seconds).
    results = await asyncio.gather(*(_outage_run(base_url, calls, name) for name in names))
    out: dict[str, Any] = dict(zip(names, results, strict=True))
    out["calls"] = calls
    return out


def outage(base_url: str, sizes: Sizes) -> dict[str, Any]:
    """HTTP requests per call while every request gets a 503."""
    return asyncio.run(_outage_async(base_url, sizes.outage_calls))


# -- goodput ---------------------------------------------------------------------------------

GOODPUT_RUNS: tuple[tuple[str, str, bool], ...] = (
    # (name, contender, background)
    ("raw_plain", "raw", False),
    ("raw_background", "raw", True),
    ("naive_plain", "naive", False),
    ("lib_plain", "lib", False),
    ("lib_background", "lib", True),
    ("lib_background_defaults", "lib_defaults", True),
)
IDLE_TIMEOUT = 0.5


async def _goodput_async(
    base_url: str, contender: str, background: bool, sizes: Sizes
) -> dict[str, Any]:
    counter = RequestCounter()
    resilience: Resilience | None = None
    client: openai.AsyncOpenAI = _async_client(base_url, counter)
    if contender.startswith("lib"):
        # Stall detection only where a stall can be recovered without loss: a plain
        # stream cannot be resumed, and after output it may not be restarted, so there an
        # idle timeout would turn a slow stream into a failure.
        policy = StreamPolicy(idle_timeout=IDLE_TIMEOUT) if background else StreamPolicy()
        if contender == "lib_defaults":
            # Every default: under this storm (half the requests fail) the breaker opens
            # and fails calls fast, which is its job in an outage.
            resilience = _resilience(stream=policy)
        else:
            # A batch's configuration: while the breaker is open, callers wait for its
            # next probe within their deadline instead of failing at once; and with half
            # the requests failing, a recovery chain gets 8 attempts instead of 4.
            resilience = _resilience(
                attempts=8,
                stream=policy,
                policies={"circuit_open": ErrorPolicy(attempts=30)},
            )
        client = AsyncResilientOpenAI(client, resilience=resilience)
    gate = asyncio.Semaphore(sizes.concurrency)
    good = truncated = duplicated = declared = wasted_words = 0
    errors: Counter[str] = Counter()
    examples: list[str] = []

    async def one(index: int) -> None:
        nonlocal good, truncated, duplicated, declared, wasted_words
        kwargs: dict[str, Any] = {
            "model": MODEL,
            "input": f"Goodput request {index}.",
            "stream": True,
            "metadata": {"demo_call": str(index)},
        }
        if background:
            kwargs.update(background=True, store=True)
        deltas: list[str] = []
        terminal: str | None = None
        error: str | None = None
        attempts = 3 if contender == "naive" else 1
        async with gate:
            for attempt in range(attempts):
                seen_before = len(deltas)
                try:
                    stream: Any = await client.responses.create(**kwargs)
                    async with stream:
                        async for event in stream:
                            kind = getattr(event, "type", None)
                            if kind == "response.output_text.delta":
                                deltas.append(event.delta)
                            elif kind in (
                                "response.completed",
                                "response.incomplete",
                                "response.failed",
                                "error",
                            ):
                                terminal = kind
                    error = None
                    break
                except openai.OpenAIError as exc:
                    error = type(exc).__name__
                    if attempt + 1 == attempts and len(examples) < 5:
                        notes = " | ".join(getattr(exc, "__notes__", ()))
                        examples.append(f"stream {index}: {error}: {exc} {notes}"[:600])
                    if attempt + 1 < attempts:
                        # The naive loop threw this attempt's output away: paid, not used.
                        wasted_words += len(deltas) - seen_before
                        await asyncio.sleep(0.1 * 1.5**attempt)
        if error is not None:
            errors[error] += 1
        elif terminal is None:
            truncated += 1
        if terminal in ("response.failed", "error"):
            declared += 1
        if any(n > 1 for n in Counter(deltas).values()):
            duplicated += 1
        if (
            error is None
            and terminal == "response.completed"
            and "".join(deltas) == expected_text(index, WORDS)
        ):
            good += 1

    start = time.perf_counter()
    async with client:
        await asyncio.gather(*(one(i) for i in range(sizes.goodput_streams)))
    n = sizes.goodput_streams
    result: dict[str, Any] = {
        "streams": n,
        "good_pct": 100.0 * good / n,
        "explicit_failures": sum(errors.values()),
        "failures_by_type": dict(errors),
        "duplicated_text": duplicated,
        "silent_truncations": truncated,
        "declared_failures": declared,
        "requests_per_stream": counter.count / n,
        "wall_s": time.perf_counter() - start,
        "extra_output_tokens": wasted_words if contender == "naive" else 0,
        "failure_examples": examples,
    }
    if resilience is not None:
        total = resilience.stats().total
        result.update(
            resumes=total.resumes,
            restarts=total.restarts,
            breaker_opens=total.breaker_opens,
            output_tokens=total.output_tokens,
            extra_output_tokens=total.wasted_output_tokens,
        )
    return result


def goodput(urls: dict[str, str], sizes: Sizes, seed: int, stall_seconds: float) -> dict[str, Any]:
    """Each contender against its own fresh fake with the same chaos seed."""
    out: dict[str, Any] = {"seed": seed, "stall_seconds": stall_seconds}
    for name, contender, background in GOODPUT_RUNS:
        out[name] = asyncio.run(_goodput_async(urls[name], contender, background, sizes))
    return out


# -- the table -------------------------------------------------------------------------------


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:,.0f} µs"


def _mark(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def table_rows(results: dict[str, Any]) -> list[tuple[str, str, str, str, str, str]]:
    """(measure, raw SDK, tenacity/naive + SDK, this library, target, verdict) rows."""
    rows: list[tuple[str, str, str, str, str, str]] = []
    for where, key in (("loopback", "overhead_loopback"), ("in-process", "overhead_inprocess")):
        figures = results[key]
        call, event = figures["call"], figures["event"]
        rows.append(
            (
                f"per-call time, {where}",
                _us(call["raw_s"]),
                "",
                f"{_us(call['lib_s'])} (x{call['ratio']:.3f})",
                "x <= 1.02",
                _mark(call["ratio"] <= 1.02),
            )
        )
        rows.append(
            (
                f"per-event time, {where}",
                _us(event["raw_per_event_s"]),
                "",
                f"{_us(event['lib_per_event_s'])} (x{event['ratio']:.3f})",
                "x <= 1.02",
                _mark(event["ratio"] <= 1.02),
            )
        )
    out = results["outage"]
    rows.append(
        (
            f"outage: requests/call ({out['calls']} calls)",
            f"{out['raw_sdk']['requests_per_call']:.2f}",
            f"{out['tenacity_sdk']['requests_per_call']:.2f}",
            f"{out['resilient']['requests_per_call']:.2f} "
            f"(breaker opens {out['resilient']['breaker_opens']})",
            "<= 0.15",
            _mark(out["resilient"]["requests_per_call"] <= 0.15),
        )
    )
    rows.append(
        (
            "outage: requests/call, 20 concurrent",
            "",
            "",
            f"{out['resilient_concurrent']['requests_per_call']:.2f}",
            "",
            "",
        )
    )
    conn = results.get("connections")
    if conn is not None:
        rows.append(
            (
                f"TCP connections per {conn['streams']} sequential streams",
                str(conn["raw_sdk"]),
                "",
                str(conn["resilient"]),
                "<= 2",
                _mark(conn["resilient"] <= 2),
            )
        )
    mem = results.get("memory")
    if mem is not None:
        rows.append(
            (
                f"memory per stream, {mem['streams']} open at once",
                f"{mem['raw_bytes'] / 1024:.1f} KB",
                "",
                f"{mem['lib_bytes'] / 1024:.1f} KB (x{mem['ratio']:.3f})",
                "x <= 1.15",
                _mark(mem["ratio"] <= 1.15),
            )
        )
    fleet = results.get("fleet")
    if fleet is not None:
        for measure, figure in _fleet.rows(fleet):
            rows.append((measure, "", "", figure, "", ""))
    gp = results["goodput"]
    for kind in ("plain", "background"):
        raw, lib = gp[f"raw_{kind}"], gp[f"lib_{kind}"]
        naive = gp.get(f"naive_{kind}")
        n = raw["streams"]

        def cell(run: dict[str, Any] | None, key: str, fmt: str = "{}") -> str:
            return "" if run is None else fmt.format(run[key])

        rows.append(
            (
                f"{kind} streams ({n}): good",
                cell(raw, "good_pct", "{:.1f}%"),
                cell(naive, "good_pct", "{:.1f}%"),
                cell(lib, "good_pct", "{:.1f}%"),
                "",
                "",
            )
        )
        rows.append(
            (
                f"{kind} streams: explicit failures",
                cell(raw, "explicit_failures"),
                cell(naive, "explicit_failures"),
                cell(lib, "explicit_failures")
                + (f" ({_types(lib['failures_by_type'])})" if lib["failures_by_type"] else ""),
                "",
                "",
            )
        )
        rows.append(
            (
                f"{kind} streams: server-declared",
                cell(raw, "declared_failures"),
                cell(naive, "declared_failures"),
                cell(lib, "declared_failures"),
                "",
                "",
            )
        )
        rows.append(
            (
                f"{kind} streams: duplicated text",
                cell(raw, "duplicated_text"),
                cell(naive, "duplicated_text"),
                cell(lib, "duplicated_text"),
                "0",
                _mark(lib["duplicated_text"] == 0),
            )
        )
        rows.append(
            (
                f"{kind} streams: silent truncations",
                cell(raw, "silent_truncations"),
                cell(naive, "silent_truncations"),
                cell(lib, "silent_truncations"),
                "0",
                _mark(lib["silent_truncations"] == 0),
            )
        )
        rows.append(
            (
                f"{kind} streams: requests/stream",
                cell(raw, "requests_per_stream", "{:.2f}"),
                cell(naive, "requests_per_stream", "{:.2f}"),
                cell(lib, "requests_per_stream", "{:.2f}")
                + f" (resumes {lib['resumes']}, restarts {lib['restarts']})",
                "",
                "",
            )
        )
        rows.append(
            (
                f"{kind} streams: extra output tokens",
                "0",
                cell(naive, "extra_output_tokens"),
                cell(lib, "extra_output_tokens"),
                "",
                "",
            )
        )
    for name, label in (
        ("lib_background", "breaker waits"),
        ("lib_background_defaults", "defaults (breaker fails fast)"),
    ):
        bg = gp[name]
        failures = bg["explicit_failures"]
        detail = f" ({_types(bg['failures_by_type'])})" if failures else ""
        rows.append(
            (
                f"background, {label}: not recovered",
                "",
                "",
                f"{failures}{detail}, good {bg['good_pct']:.1f}%",
                "0",
                _mark(failures == 0),
            )
        )
    return rows


def _types(by_type: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(by_type.items()))


def render(results: dict[str, Any], width: int | None = None) -> str:
    """The one table, as text (rich)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="resilient_responses benchmarks")
    for name, justify in (
        ("measure", "left"),
        ("raw SDK", "right"),
        ("tenacity/naive + SDK", "right"),
        ("resilient_responses", "right"),
        ("target", "right"),
        ("", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for row in table_rows(results):
        table.add_row(*row)
    console = Console(record=True, width=width or 140, file=open(os.devnull, "w"))  # noqa: SIM115
    console.print(table)
    quota = results.get("quota")
    if quota is not None:
        paced = Table(
            title=f"a fake quota, {quota['workers']} processes x {quota['calls_per_worker']} "
            "concurrent calls each (1,200 requests / 420,000 tokens a minute)"
        )
        for name in ("quota: contender", "429s / HTTP", "calls ok", "of quota", "p50", "p95"):
            paced.add_column(name, justify="left" if name.startswith("quota") else "right")
        for label, r429, ok, share, _capacity, p50, p95 in _quota.rows(quota):
            paced.add_row(label, r429, ok, share, p50, p95)
        console.print(paced)
    return console.export_text()


def machine() -> dict[str, Any]:
    """Where the numbers came from."""
    return {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "openai": openai.__version__,
    }


def run(sizes: Sizes, seed: int, stall_seconds: float, *, overlap: bool = False) -> dict[str, Any]:
    """Every section, in one run (*overlap*: the outage beside the goodput section)."""
    started = time.perf_counter()
    results: dict[str, Any] = {"machine": machine(), "sizes": sizes.__dict__}
    sections: dict[str, float] = {}
    specs = {"clean": ("clean", 0, stall_seconds), "outage": ("outage", 0, stall_seconds)}
    specs.update({name: ("mix", seed, stall_seconds) for name, _, _ in GOODPUT_RUNS})
    with servers(specs) as urls:
        sections["start_servers"] = time.perf_counter() - started
        sections_first: list[tuple[str, Callable[[], dict[str, Any]]]] = [
            ("overhead_loopback", lambda: overhead(urls["clean"], sizes)),
            ("overhead_inprocess", lambda: overhead(None, sizes)),
            ("connections", lambda: connections(urls["clean"], sizes.connection_streams)),
            ("memory", lambda: memory(urls["clean"], sizes.memory_streams)),
        ]
        for name, fn in sections_first:
            begin = time.perf_counter()
            results[name] = fn()
            sections[name] = time.perf_counter() - begin
        if overlap:
            # Smoke runs: the outage section mostly sleeps (the SDK's own backoff), so it
            # runs in a thread beside the goodput section, on its own server.
            begin = time.perf_counter()
            with ThreadPoolExecutor(max_workers=1) as pool:
                pending = pool.submit(outage, urls["outage"], sizes)
                results["goodput"] = goodput(urls, sizes, seed, stall_seconds)
                sections["goodput"] = time.perf_counter() - begin
                results["outage"] = pending.result()
                sections["outage"] = time.perf_counter() - begin
        else:
            for name, fn in (
                ("outage", lambda: outage(urls["outage"], sizes)),
                ("goodput", lambda: goodput(urls, sizes, seed, stall_seconds)),
            ):
                begin = time.perf_counter()
                results[name] = fn()
                sections[name] = time.perf_counter() - begin
    if sizes.fleet:
        begin = time.perf_counter()
        results["fleet"] = _fleet.run(quick=False, servers=servers)
        sections["fleet"] = time.perf_counter() - begin
    if sizes.quota:
        begin = time.perf_counter()
        results["quota"] = _quota.quota_rows()
        sections["quota"] = time.perf_counter() - begin
    results["section_s"] = sections
    results["wall_s"] = time.perf_counter() - started
    return results


def results_markdown(results: dict[str, Any], command: str, table: str) -> str:
    """``benchmarks/RESULTS.md`` from one run."""
    m = results["machine"]
    return (
        "# Benchmark results\n\n"
        f"- date: {m['date']}\n"
        f"- machine: nproc {m['nproc']}, Python {m['python']}, {m['platform']}, "
        f"openai {m['openai']}\n"
        f"- command: `{command}`\n"
        f"- wall time: {results['wall_s']:.1f} s\n\n"
        "```\n" + table.rstrip() + "\n```\n"
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks (or, with ``--serve``, be the fake server process)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a fast smoke run")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    parser.add_argument("--results-md", type=Path, default=None, help="also write RESULTS.md")
    parser.add_argument("--seed", type=int, default=3, help="chaos seed for goodput")
    parser.add_argument(
        "--stall-seconds", type=float, default=None, help="stall length (2.0; --quick 1.0)"
    )
    parser.add_argument("--serve", type=int, default=None, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="clean", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve is not None:
        serve(args.serve, args.mode, args.seed, args.stall_seconds or 2.0)
        return 0
    stall = args.stall_seconds if args.stall_seconds is not None else (1.0 if args.quick else 2.0)
    results = run(QUICK if args.quick else FULL, args.seed, stall, overlap=args.quick)
    table = render(results)
    if args.json:
        sys.stdout.write(json.dumps(results, indent=2) + "\n")
    else:
        sys.stdout.write(table)
    if args.results_md is not None:
        command = "python benchmarks/run.py " + " ".join(argv or sys.argv[1:])
        args.results_md.write_text(results_markdown(results, command.strip(), table))
        # Every figure (and up to five failure messages per goodput run) beside it.
        args.results_md.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
