"""One process of a fleet, for the multi-process tests (started with ``spawn``).

It builds two clients on the same fake (over HTTP): one whose breaker lives in the shared
Redis, one with the in-process ``MemoryStore``, and runs the calls the parent asks for,
reporting what each call ended with, its breaker's state and the transitions it made.
"""

from __future__ import annotations

import os
from collections import Counter
from multiprocessing.queues import Queue
from typing import Any

import openai

import resilient_responses as rr
from resilient_responses.events import BreakerStateChanged, EngineEvent, StoreUnavailable
from resilient_responses.testing import set_testing

MODEL = "gpt-5-mini"


class _Quiet:
    """Drops the library's log lines (the parent asserts on reports instead)."""

    def _log(self, event: str, **fields: Any) -> None:
        return None

    debug = info = warning = error = _log


def _call(client: rr.ResilientOpenAI) -> str:
    """How one call ended: ``ok``, ``open`` (refused by the breaker), a status, an error."""
    try:
        client.responses.create(model=MODEL, input="fleet")
    except rr.CircuitOpenError:
        return "open"
    except openai.APIStatusError as exc:
        return str(exc.status_code)
    except openai.OpenAIError as exc:
        return type(exc).__name__
    return "ok"


def worker(
    index: int,
    base_url: str,
    redis_url: str,
    prefix: str,
    reset_timeout: float,
    commands: Queue[tuple[str, str, int]],
    results: Queue[dict[str, Any]],
) -> None:
    """Serve ``(command, store, n)`` from *commands* until ``("stop", "", 0)``."""
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"
    set_testing(True)  # no sleeping between attempts
    transitions: dict[str, list[tuple[str, str]]] = {"redis": [], "memory": []}
    unavailable: list[str] = []
    clients: dict[str, rr.ResilientOpenAI] = {}
    resiliences: dict[str, rr.Resilience] = {}
    for name, store in (
        # A generous timeout: four workers, the fake and Redis share two cores here, and
        # this test is about sharing state, not about a slow Redis.
        ("redis", rr.RedisStore.from_url(redis_url, prefix=prefix, timeout=2.0)),
        ("memory", rr.MemoryStore()),
    ):

        def hook(event: EngineEvent, name: str = name) -> None:
            if isinstance(event, BreakerStateChanged):
                transitions[name].append((event.old, event.new))
            elif isinstance(event, StoreUnavailable):
                unavailable.append(event.error)

        resiliences[name] = rr.Resilience(
            store=store,
            breaker=rr.BreakerConfig(fail_max=5, reset_timeout=reset_timeout),
            logger=_Quiet(),
            hooks=[hook],
        )
        clients[name] = rr.ResilientOpenAI(
            openai.OpenAI(base_url=base_url, api_key="sk-fake"), resilience=resiliences[name]
        )
    key = f"{clients['redis'].base_url} {MODEL}"
    results.put({"index": index, "key": key})
    while True:
        command, name, n = commands.get()
        if command == "stop":
            break
        outcomes = Counter(_call(clients[name]) for _ in range(n))
        results.put(
            {
                "index": index,
                "outcomes": dict(outcomes),
                "state": resiliences[name].breaker_state(key),
                "transitions": transitions[name][:],
                "unavailable": unavailable[:],
            }
        )
        transitions[name].clear()
