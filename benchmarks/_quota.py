"""Quota benchmarks: what a rate limit does to a fleet that bursts into it.

Functions for ``benchmarks/run.py``; the fake Responses API is served over HTTP in a child
process with a :class:`~resilient_responses.testing.Quota` (a fresh server per row, so every
contender meets a full quota), and a real ``redis-server`` serves the Redis row.

* :func:`quota_rows`: ``WORKERS`` processes x ``CALLS`` concurrent calls each, started
  together, against ``Quota(requests_per_minute=1200)`` (the ``"requests"`` quota) and a
  token quota (``"tokens"``: calls of about 350 estimated tokens, 420,000 tokens a minute,
  so tokens bind before requests). Per contender: 429 responses received (every HTTP
  answer is counted, the SDK's own retries included), calls that succeeded, throughput as
  a share of the quota (requests, or estimated tokens, of the calls that succeeded, per
  second of the run, over the quota's rate: a short run can pass 100% by the fake's
  one-second burst) and of what the fake could have admitted during the run (its burst
  plus the rate), p50 / p95 latency of a call (all start at once, so it includes the
  time waited for capacity and the calls that failed).

Contenders: the raw SDK with its default retries (``max_retries=2``), tenacity around it
(4 attempts, exponential wait, as in ``run.py``'s outage row), and the library through
``AsyncResilientOpenAI`` with ``rate_limit=None``, with the default ``RateLimit()`` on the
memory store, and on the Redis store. The library rows are built by *resilience_factory*
(default :func:`library_resilience`).

Standalone (serves its own fakes and Redis)::

    python benchmarks/_quota.py [--quick] [--table] [--only raw_sdk,tenacity_sdk]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import random
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import tenacity
from _child import HOST, ChildServer  # benchmarks/_child.py, beside this script

from resilient_responses import (
    AsyncResilientOpenAI,
    MemoryStore,
    RateLimit,
    RedisStore,
    Resilience,
)
from resilient_responses._tokens import estimate_tokens
from resilient_responses.testing import FakeResponsesAPI, Quota
from resilient_responses.testing._redis_server import RedisServer

MODEL = "gpt-5-mini"
API_KEY = "sk-bench"
WORKERS = 4
CALLS = 50
QUOTAS: dict[str, Quota] = {
    "requests": Quota(requests_per_minute=1200),
    "tokens": Quota(tokens_per_minute=420_000),
}
CONTENDERS = ("raw_sdk", "tenacity_sdk", "library_off", "library_memory", "library_redis")
#: Extra rows (not in the default table): the limiter alone around the raw SDK
#: (``max_retries=0``), driven as the engine drives it: acquire before each of 4 attempts,
#: sleeping the waits; observe every answer's headers (an httpx response hook) and every
#: transport failure.
LIMITER_ROWS = ("limiter_memory", "limiter_redis")


class _QuietLogger:
    """Swallows the library's structlog events (the default config prints them)."""

    def _log(self, event: str, **fields: Any) -> None:
        return None

    debug = info = warning = error = _log


@dataclass(frozen=True)
class Contender:
    """One row: how calls are sent (``"sdk"``, ``"tenacity"``, ``"library"`` or
    ``"limiter"``) and, for the library and the limiter, the ``rate_limit`` and store
    (``"memory"`` or ``"redis"``)."""

    name: str
    kind: str
    rate_limit: RateLimit | None = None
    store: str = "memory"


def contenders() -> dict[str, Contender]:
    """The five rows of the table, by name."""
    return {
        "raw_sdk": Contender("raw_sdk", "sdk"),
        "tenacity_sdk": Contender("tenacity_sdk", "tenacity"),
        "library_off": Contender("library_off", "library", None, "memory"),
        "library_memory": Contender("library_memory", "library", RateLimit(), "memory"),
        "library_redis": Contender("library_redis", "library", RateLimit(), "redis"),
        "limiter_memory": Contender("limiter_memory", "limiter", RateLimit(), "memory"),
        "limiter_redis": Contender("limiter_redis", "limiter", RateLimit(), "redis"),
    }


def library_resilience(rate_limit: RateLimit | None, store: MemoryStore | RedisStore) -> Resilience:
    """The library's contender: defaults, plus *rate_limit* on *store*."""
    return Resilience(rate_limit=rate_limit, store=store, logger=_QuietLogger())


ResilienceFactory = Callable[[RateLimit | None, MemoryStore | RedisStore], Resilience]


def bodies(quota: str, calls: int, seed: int) -> list[dict[str, Any]]:
    """The request bodies of one worker: tiny for the requests quota; for the tokens
    quota, 200-1,000 input characters and ``max_output_tokens=200`` (about 350 tokens)."""
    if quota == "requests":
        return [{"model": MODEL, "input": "Benchmark: hello."} for _ in range(calls)]
    draw = random.Random(seed)
    return [
        {"model": MODEL, "input": "x" * draw.randint(200, 1000), "max_output_tokens": 200}
        for _ in range(calls)
    ]


# -- the fake with a quota, in a child process ------------------------------------------------


def serve(port: int, rpm: int | None, tpm: int | None) -> None:
    """Serve the fake with a quota on 127.0.0.1:*port* (blocking; the child process)."""
    from resilient_responses.testing._server import run_server

    quota = Quota(requests_per_minute=rpm, tokens_per_minute=tpm)
    run_server(HOST, port, fake=FakeResponsesAPI(quota=quota), log_level="warning")


@contextlib.contextmanager
def quota_server(quota: Quota) -> Iterator[str]:
    """A fresh fake with *quota* over loopback for the duration; yields its base URL."""
    args: list[str] = []
    if quota.requests_per_minute is not None:
        args += ["--rpm", str(quota.requests_per_minute)]
    if quota.tokens_per_minute is not None:
        args += ["--tpm", str(quota.tokens_per_minute)]
    server = ChildServer(Path(__file__).resolve(), args)
    try:
        yield server.wait()
    finally:
        server.stop()


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """A ``redis-server`` on a free loopback port for the duration; yields its URL."""
    with RedisServer() as url:
        yield url


# -- one process of the fleet -----------------------------------------------------------------


def _worker(
    contender: Contender,
    factory: ResilienceFactory,
    base_url: str,
    redis_url: str | None,
    prefix: str,
    calls: list[dict[str, Any]],
    start: Any,
    out: Any,
) -> None:
    """Send *calls* at once, as *contender*; report statuses, latencies, errors."""
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"
    statuses: Counter[int] = Counter()

    key = f"{base_url}|{MODEL}"
    limiter: Any = None

    rejected_at: list[float] = []
    heard: list[Any] = []  # the limiter's StoreUnavailable events

    async def count(response: Any) -> None:
        statuses[response.status_code] += 1
        if response.status_code == 429:
            rejected_at.append(time.perf_counter())
        if limiter is not None:
            await limiter.aobserve(key, response.headers, response.status_code)

    async def main() -> dict[str, Any]:
        nonlocal limiter
        http = openai.DefaultAsyncHttpxClient(event_hooks={"response": [count]})
        client = openai.AsyncOpenAI(base_url=base_url, api_key=API_KEY, http_client=http)
        store: MemoryStore | RedisStore = MemoryStore()
        if contender.store == "redis" and contender.kind in ("library", "limiter"):
            assert redis_url is not None
            store = RedisStore.from_url(redis_url, prefix=prefix)
        if contender.kind == "limiter":
            assert contender.rate_limit is not None
            limiter = store.limiter_backend(contender.rate_limit, time.monotonic, heard.append)
            client = client.with_options(max_retries=0)
        if contender.kind == "library":
            try:
                resilience = factory(contender.rate_limit, store)
            except TypeError as exc:  # the engine does not take rate_limit= yet
                start.wait()
                return {"unavailable": str(exc)}
            client = AsyncResilientOpenAI(client, resilience=resilience)
        errors: Counter[str] = Counter()
        latencies: list[float] = []
        ok_tokens = 0
        ok = 0

        async def create(body: dict[str, Any]) -> None:
            await client.responses.create(**body)

        async def paced(body: dict[str, Any]) -> None:
            tokens = estimate_tokens(body)
            for attempt in range(4):
                wait = await limiter.aacquire(key, tokens)
                while wait > 0:  # the engine's loop: sleep what it says, ask again
                    await asyncio.sleep(wait)
                    wait = await limiter.aacquire(key, tokens)
                try:
                    await create(body)
                except (openai.RateLimitError, openai.InternalServerError):
                    if attempt == 3:
                        raise
                except openai.APIConnectionError:
                    await limiter.aobserve(key, {}, None)
                    if attempt == 3:
                        raise
                else:
                    return

        async def one(body: dict[str, Any]) -> None:
            nonlocal ok, ok_tokens
            try:
                if contender.kind == "limiter":
                    await paced(body)
                elif contender.kind == "tenacity":
                    async for attempt in tenacity.AsyncRetrying(
                        stop=tenacity.stop_after_attempt(4),
                        wait=tenacity.wait_exponential(multiplier=0.05, max=1.0),
                        reraise=True,
                    ):
                        with attempt:
                            await create(body)
                else:
                    await create(body)
            except openai.OpenAIError as exc:
                errors[type(exc).__name__] += 1
            else:
                ok += 1
                ok_tokens += estimate_tokens(body)
            latencies.append(time.perf_counter() - began)

        start.wait()
        began = time.perf_counter()
        async with client:
            await asyncio.gather(*(one(body) for body in calls))
        return {
            "statuses": {str(k): v for k, v in statuses.items()},
            "errors": dict(errors),
            "latencies": latencies,
            "ok": ok,
            "ok_tokens": ok_tokens,
            "wall_s": time.perf_counter() - began,
            "429_at": [round(t - began, 3) for t in rejected_at],
            "store_unavailable": [getattr(e, "error", "") for e in heard],
        }

    out.put(asyncio.run(main()))


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def quota_row(
    quota_name: str,
    contender: Contender,
    *,
    redis_url: str | None = None,
    workers: int = WORKERS,
    calls: int = CALLS,
    resilience_factory: ResilienceFactory = library_resilience,
) -> dict[str, Any]:
    """One contender against a fresh fake with ``QUOTAS[quota_name]``: *workers* processes
    x *calls* concurrent calls, started together."""
    quota = QUOTAS[quota_name]
    ctx = multiprocessing.get_context("spawn")
    prefix = f"bench-quota-{uuid.uuid4().hex[:8]}"
    with quota_server(quota) as base_url:
        start = ctx.Barrier(workers)
        out: Any = ctx.Queue()
        procs = [
            ctx.Process(
                target=_worker,
                args=(
                    contender,
                    resilience_factory,
                    base_url,
                    redis_url,
                    prefix,
                    bodies(quota_name, calls, seed=i),
                    start,
                    out,
                ),
                daemon=True,
            )
            for i in range(workers)
        ]
        for proc in procs:
            proc.start()
        reports = [out.get(timeout=900) for _ in procs]
        for proc in procs:
            proc.join(timeout=30)
    unavailable = [r["unavailable"] for r in reports if "unavailable" in r]
    if unavailable:
        return {"unavailable": unavailable[0]}
    statuses: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    for report in reports:
        statuses.update(report["statuses"])
        errors.update(report["errors"])
    latencies = [x for r in reports for x in r["latencies"]]
    rejected = [t for r in reports for t in r["429_at"]]
    wall = max(r["wall_s"] for r in reports)
    if quota.requests_per_minute is not None:
        limit = quota.requests_per_minute
        done = sum(r["ok"] for r in reports)
    else:
        assert quota.tokens_per_minute is not None
        limit = quota.tokens_per_minute
        done = sum(r["ok_tokens"] for r in reports)
    rate = limit / 60
    # What the fake could admit during the run: its burst, then the rate.
    capacity = max(limit * quota.period / 60, 1.0) + rate * wall
    return {
        "calls": workers * calls,
        "http_requests": sum(statuses.values()),
        "429s": statuses.get("429", 0),
        "ok": sum(r["ok"] for r in reports),
        "errors": dict(errors),
        "throughput_share": done / wall / rate,
        "capacity_share": done / capacity,
        "latency_p50_s": _percentile(latencies, 0.5),
        "latency_p95_s": _percentile(latencies, 0.95),
        "wall_s": wall,
        # When the 429s came (seconds into the run), and the limiter rows' fallbacks to
        # local state (StoreUnavailable: a Redis that did not answer within the timeout).
        "429s_between_s": [min(rejected), max(rejected)] if rejected else None,
        "store_unavailable": [e for r in reports for e in r["store_unavailable"]],
    }


def quota_rows(
    names: Sequence[str] = CONTENDERS,
    *,
    quotas: Sequence[str] = tuple(QUOTAS),
    workers: int = WORKERS,
    calls: int = CALLS,
    resilience_factory: ResilienceFactory = library_resilience,
) -> dict[str, Any]:
    """Every contender of *names* against every quota of *quotas* (a Redis server is
    started when the Redis row is asked for)."""
    table = contenders()
    results: dict[str, Any] = {"workers": workers, "calls_per_worker": calls}
    with contextlib.ExitStack() as stack:
        redis = any(name.endswith("_redis") for name in names)
        redis_url = stack.enter_context(redis_server()) if redis else None
        for quota_name in quotas:
            quota = QUOTAS[quota_name]
            results[quota_name] = {
                "quota": {
                    "requests_per_minute": quota.requests_per_minute,
                    "tokens_per_minute": quota.tokens_per_minute,
                },
                **{
                    name: quota_row(
                        quota_name,
                        table[name],
                        redis_url=redis_url,
                        workers=workers,
                        calls=calls,
                        resilience_factory=resilience_factory,
                    )
                    for name in names
                },
            }
    return results


Row = tuple[str, str, str, str, str, str, str]


def rows(results: dict[str, Any]) -> list[Row]:
    """(quota and contender, 429s, calls ok, throughput, of capacity, p50, p95) lines."""
    out: list[Row] = []
    for quota_name in QUOTAS:
        block = results.get(quota_name)
        if block is None:
            continue
        for name in (*CONTENDERS, *LIMITER_ROWS):
            r = block.get(name)
            if r is None:
                continue
            label = f"{quota_name} quota: {name}"
            if "unavailable" in r:
                out.append((label, "-", "-", "-", "-", "-", "unavailable"))
                continue
            out.append(
                (
                    label,
                    f"{r['429s']:,} of {r['http_requests']:,}",
                    f"{r['ok']}/{r['calls']}",
                    f"{r['throughput_share']:.1%}",
                    f"{r['capacity_share']:.1%}",
                    f"{r['latency_p50_s']:.2f} s",
                    f"{r['latency_p95_s']:.2f} s",
                )
            )
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the quota rows and print JSON (``--table``: a few lines of text)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="2 processes x 10 calls")
    parser.add_argument("--table", action="store_true", help="text lines instead of JSON")
    parser.add_argument("--only", help="comma-separated contenders (default: all)")
    parser.add_argument("--quota", help="comma-separated quotas (default: requests,tokens)")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--rpm", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--tpm", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve is not None:
        serve(args.serve, args.rpm, args.tpm)
        return 0
    names = tuple(args.only.split(",")) if args.only else CONTENDERS
    quotas = tuple(args.quota.split(",")) if args.quota else tuple(QUOTAS)
    workers, calls = (2, 10) if args.quick else (WORKERS, CALLS)
    results = quota_rows(names, quotas=quotas, workers=workers, calls=calls)
    if args.table:
        header = ("row", "429s / HTTP", "ok", "throughput", "of capacity", "p50", "p95")
        for line in [header, *rows(results)]:
            sys.stdout.write(
                f"{line[0]:<32} {line[1]:>16} {line[2]:>8} "
                + " ".join(f"{cell:>11}" for cell in line[3:])
                + "\n"
            )
    else:
        sys.stdout.write(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
