"""Helpers for the rate-limiter tests: many callers on one virtual clock, each sleeping
the waits it is given (as the engine does), and the headers the API sends."""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from resilient_responses._backends import LimiterBackend
from resilient_responses.testing import VirtualClock

KEY = "https://api.openai.com/v1|gpt-5-mini"


@dataclass
class Run:
    """What a simulation saw: admission times (and each one's tokens), acquire calls."""

    admitted: list[float] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    asks: int = 0

    def most_in_window(self, seconds: float, weights: bool = False) -> float:
        """The most admitted (requests, or tokens with *weights*) in any closed window
        of *seconds* (windows starting at an admission are the fullest ones)."""
        times = self.admitted
        values = self.tokens if weights else [1] * len(times)
        best = 0.0
        end = 0
        total = 0.0
        for start in range(len(times)):
            while end < len(times) and times[end] <= times[start] + seconds:
                total += values[end]
                end += 1
            best = max(best, total)
            total -= values[start]
        return best


def simulate(
    limiter: LimiterBackend,
    clock: VirtualClock,
    arrivals: Sequence[tuple[float, int]],
    *,
    key: str = KEY,
    on_admit: Callable[[int, int], None] | None = None,
    until: float | None = None,
) -> Run:
    """Callers arriving at ``(time, tokens)``, each asking the limiter and sleeping the
    wait it returns until admitted; *on_admit(index, tokens)* runs at admission (send the
    request, observe its answer). Times are absolute virtual seconds."""
    run = Run()
    queue = [(at, i, tokens) for i, (at, tokens) in enumerate(arrivals)]
    heapq.heapify(queue)
    while queue:
        at, i, tokens = heapq.heappop(queue)
        if until is not None and at > until:
            break
        clock.now = max(clock.now, at)
        run.asks += 1
        wait = limiter.acquire(key, tokens)
        if wait > 0:
            heapq.heappush(queue, (clock.now + wait, i, tokens))
            continue
        run.admitted.append(clock.now)
        run.tokens.append(tokens)
        if on_admit is not None:
            on_admit(i, tokens)
    return run


def limits(
    requests: tuple[int, int, str] | None = None,
    tokens: tuple[int, int, str] | None = None,
    **extra: str,
) -> dict[str, str]:
    """x-ratelimit headers: ``(limit, remaining, reset)`` per dimension."""
    headers: dict[str, str] = {}
    for kind, values in (("requests", requests), ("tokens", tokens)):
        if values is not None:
            limit, remaining, reset = values
            headers[f"x-ratelimit-limit-{kind}"] = str(limit)
            headers[f"x-ratelimit-remaining-{kind}"] = str(remaining)
            headers[f"x-ratelimit-reset-{kind}"] = reset
    headers.update(extra)
    return headers
