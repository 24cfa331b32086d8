"""Thread safety: no lost log entries, unique ids, sleeps that run in parallel."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import openai

from resilient_responses.testing import FakeResponsesAPI, Fault

MODEL = "gpt-5-mini"


def test_64_threads_x_20_requests() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.status(503)] * 100 + [Fault.truncate(after_events=2)] * 100)
    barrier = threading.Barrier(64)
    with fake.client(max_retries=0) as client:

        def worker(n: int) -> list[str]:
            barrier.wait()
            ids: list[str] = []
            for k in range(20):
                # Planned faults land on whichever request comes next.
                with contextlib.suppress(openai.InternalServerError, json.JSONDecodeError):
                    if k % 2:
                        with client.responses.create(
                            model=MODEL, input=f"{n}-{k}", stream=True
                        ) as s:
                            ids.extend(e.type for e in s)
                    else:
                        ids.append(client.responses.create(model=MODEL, input=f"{n}-{k}").id)
            return ids

        with ThreadPoolExecutor(max_workers=64) as pool:
            list(pool.map(worker, range(64)))
    records = fake.requests
    assert len(records) == 1280
    assert sorted(r.index for r in records) == list(range(1280))
    assert sum(r.status == 503 for r in records) == 100
    assert sum(r.fault == Fault.truncate(after_events=2) for r in records) == 100
    assert fake.open_streams == 0
    assert fake.request_count("/responses", method="POST") == 1280


def test_sync_latency_runs_in_parallel() -> None:
    fake = FakeResponsesAPI()
    fake.plan([Fault.latency(0.3)] * 8)
    with fake.client(max_retries=0) as client, ThreadPoolExecutor(max_workers=8) as pool:
        started = time.monotonic()
        list(pool.map(lambda n: client.responses.create(model=MODEL, input=str(n)), range(8)))
        elapsed = time.monotonic() - started
    assert 0.25 <= elapsed < 2.0  # serial would be 2.4 s
