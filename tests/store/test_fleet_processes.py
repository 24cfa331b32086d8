"""Four worker processes share one breaker key through Redis, against the fake served over
HTTP in a 503 outage: the fleet behaves like one careful client.

The workers are spawned once and driven in phases; the parent plans the fake's faults,
counts the requests that reached it, and moves the breaker's opening time back (the
server's clock cannot be moved) instead of waiting out the reset timeout.
"""

from __future__ import annotations

import multiprocessing
import queue
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from resilient_responses.testing import FakeResponsesAPI, Fault
from resilient_responses.testing._redis_server import RedisServer

from ._fleet_worker import worker
from ._support import rewind_redis

WORKERS = 4
CALLS = 50
FAIL_MAX = 5
RESET_TIMEOUT = 30.0
TIMEOUT = 120.0  # seconds any phase may take before the test gives up on a worker


class Fleet:
    """The spawned workers and their command and result queues."""

    def __init__(self, base_url: str, redis_url: str, prefix: str) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.results: Any = ctx.Queue()
        self.commands: list[Any] = [ctx.Queue() for _ in range(WORKERS)]
        self.procs = [
            ctx.Process(
                target=worker,
                args=(
                    i,
                    base_url,
                    redis_url,
                    prefix,
                    RESET_TIMEOUT,
                    self.commands[i],
                    self.results,
                ),
                daemon=True,
            )
            for i in range(WORKERS)
        ]
        for proc in self.procs:
            proc.start()
        ready = [self._get() for _ in range(WORKERS)]
        assert sorted(r["index"] for r in ready) == list(range(WORKERS))
        [self.key] = {r["key"] for r in ready}  # one breaker key for the whole fleet

    def _get(self) -> dict[str, Any]:
        try:
            result: dict[str, Any] = self.results.get(timeout=TIMEOUT)
        except queue.Empty:
            dead = [p.exitcode for p in self.procs]
            raise AssertionError(f"a worker did not answer (exit codes {dead})") from None
        return result

    def run(self, store: str, calls: int) -> list[dict[str, Any]]:
        """Every worker makes *calls* calls at once; their reports, by worker index."""
        for commands in self.commands:
            commands.put(("call", store, calls))
        reports = sorted((self._get() for _ in range(WORKERS)), key=lambda r: r["index"])
        assert [r["unavailable"] for r in reports] == [[]] * WORKERS
        return reports

    def states(self, store: str) -> list[str]:
        """Each worker's view of its breaker, once every worker is done (no calls)."""
        return [r["state"] for r in self.run(store, 0)]

    def stop(self) -> None:
        for commands in self.commands:
            commands.put(("stop", "", 0))
        for proc in self.procs:
            proc.join(timeout=30)
            if proc.is_alive():
                proc.kill()
                proc.join()


@pytest.fixture
def served() -> Iterator[tuple[FakeResponsesAPI, str]]:
    fake = FakeResponsesAPI()
    with fake.serve() as base_url:
        yield fake, base_url


def transitions(reports: list[dict[str, Any]]) -> Counter[tuple[str, str]]:
    return Counter(tuple(t) for r in reports for t in r["transitions"])


def test_four_processes_share_one_breaker_through_redis(
    served: tuple[FakeResponsesAPI, str], redis_server: RedisServer
) -> None:
    fake, base_url = served
    if not redis_server.running:
        redis_server.start()
    prefix = f"rrtest-fleet-{uuid.uuid4().hex[:12]}"
    rclient = redis.Redis.from_url(redis_server.url)
    fleet = Fleet(base_url, redis_server.url, prefix)
    try:
        fake.plan([], then=Fault.status(503))

        # In-process breakers: each process finds out for itself (fail_max requests each).
        before = len(fake.requests)
        fleet.run("memory", CALLS)
        memory_requests = len(fake.requests) - before
        assert memory_requests == WORKERS * FAIL_MAX
        assert fleet.states("memory") == ["open"] * WORKERS

        # One breaker in Redis: it opens once for the whole fleet.
        before = len(fake.requests)
        reports = fleet.run("redis", CALLS)
        fleet_requests = len(fake.requests) - before
        assert fleet_requests <= FAIL_MAX + WORKERS
        assert fleet_requests * 2 < memory_requests
        for report in reports:
            assert report["outcomes"].get("open", 0) >= CALLS - 2
        assert transitions(reports) == {("closed", "open"): 1}
        assert fleet.states("redis") == ["open"] * WORKERS

        # The reset timeout passes: exactly one probe reaches the fake across the fleet; it
        # fails, and the breaker is open again for everyone.
        rewind_redis(rclient, prefix, fleet.key, RESET_TIMEOUT + 1)
        before = len(fake.requests)
        reports = fleet.run("redis", 10)
        assert len(fake.requests) - before == 1
        assert transitions(reports) == {("open", "half-open"): 1, ("half-open", "open"): 1}
        assert fleet.states("redis") == ["open"] * WORKERS

        # The outage ends; after the next reset timeout a good probe closes it for all.
        fake.reset_plan()
        rewind_redis(rclient, prefix, fleet.key, RESET_TIMEOUT + 1)
        reports = fleet.run("redis", 10)
        assert transitions(reports) == {("open", "half-open"): 1, ("half-open", "closed"): 1}
        assert fleet.states("redis") == ["closed"] * WORKERS
        before = len(fake.requests)
        reports = fleet.run("redis", 5)
        assert len(fake.requests) - before == WORKERS * 5
        assert [r["outcomes"] for r in reports] == [{"ok": 5}] * WORKERS
    finally:
        fleet.stop()
        keys = list(rclient.scan_iter(match=f"{prefix}:*"))
        if keys:
            rclient.delete(*keys)
        rclient.close()
