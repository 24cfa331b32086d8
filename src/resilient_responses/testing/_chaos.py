"""Chaos: a seeded, reproducible per-request fault draw."""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Mapping

from resilient_responses.testing._faults import Fault, _seconds

__all__ = ["Chaos"]

# Order matters: it fixes which slice of [0, 1) each key owns, so it is part of the
# reproducibility contract. Append new keys at the end only.
_KEYS: tuple[str, ...] = (
    "429",
    "500",
    "502",
    "503",
    "504",
    "insufficient_quota",
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
)

_MIXES: dict[str, dict[str, float]] = {
    # About half the requests clean; the rest the everyday faults a client must survive.
    "default": {
        "429": 0.10,
        "500": 0.08,
        "reset": 0.10,
        "truncate": 0.07,
        "error_event": 0.05,
        "stall": 0.10,
    },
    # Everything fails: the server is down behind a healthy load balancer.
    "outage": {"503": 1.0},
    # A busy shared key: every third request is rate limited.
    "rate_limited": {"429": 0.33},
    # Only the stream breaks mid-body; headers always arrive fine.
    "streams": {"reset": 0.15, "truncate": 0.1, "stall": 0.1, "error_event": 0.05},
}


class Chaos:
    """Draw at most one fault per request from fixed *rates*, reproducibly.

    *rates* maps fault keys to probabilities (summing to at most 1; the rest is clean):
    ``"429"`` (with Retry-After *retry_after*), ``"500"``, ``"502"``, ``"503"``, ``"504"``,
    ``"insufficient_quota"``, ``"connect_error"``, ``"timeout"``, ``"reset"``,
    ``"truncate"``, ``"stall"`` (*stall_seconds*), ``"error_event"``, ``"failed"``,
    ``"latency"`` (*latency_seconds*), and the SSE protocol faults ``"keepalive"``
    (comments every 0.5 s for *stall_seconds*), ``"reorder"``, ``"renumber"``,
    ``"duplicate"``, ``"gap"``, ``"malformed"``. Stream faults cut at a point drawn within
    the response's event count. The same *seed* gives the same sequence of faults: each
    :meth:`draw` consumes exactly two numbers from a private ``random.Random(seed)``.

    Example::

        chaos = Chaos({"429": 0.1, "reset": 0.2}, seed=7)
        fake.chaos(chaos)
        Chaos.mix("outage", seed=0).draw(10)  # Fault.status(503)
    """

    __slots__ = (
        "_latency_seconds",
        "_lock",
        "_random",
        "_rates",
        "_stall_seconds",
        "retry_after",
        "seed",
    )

    def __init__(
        self,
        rates: Mapping[str, float],
        *,
        seed: int,
        stall_seconds: float = 30.0,
        retry_after: float | None = 1.0,
        latency_seconds: float = 0.05,
    ) -> None:
        if not isinstance(rates, Mapping):
            raise TypeError(f"rates must be a mapping of fault key -> rate, got {rates!r}")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"seed must be an int, got {type(seed).__name__}")
        clean: dict[str, float] = {}
        for key, rate in rates.items():
            if key not in _KEYS:
                raise ValueError(f"unknown chaos key {key!r}; allowed: {', '.join(_KEYS)}")
            if isinstance(rate, bool) or not isinstance(rate, (int, float)):
                raise TypeError(f"rate for {key!r} must be a number, got {type(rate).__name__}")
            if math.isnan(rate) or rate < 0:
                raise ValueError(f"rate for {key!r} must be >= 0, got {rate!r}")
            clean[key] = float(rate)
        total = math.fsum(clean.values())
        if total > 1.0 + 1e-9:
            raise ValueError(f"chaos rates must sum to at most 1, got {total:g}")
        self._stall_seconds = _seconds("stall_seconds", stall_seconds)
        self._latency_seconds = _seconds("latency_seconds", latency_seconds)
        self.retry_after = None if retry_after is None else _seconds("retry_after", retry_after)
        self._rates = {k: clean[k] for k in _KEYS if clean.get(k, 0.0) > 0.0}
        self.seed = seed
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    @classmethod
    def mix(cls, name: str, *, seed: int = 0, stall_seconds: float = 30.0) -> Chaos:
        """A named mix: ``"default"`` (half clean; 429 with Retry-After, 500, reset, truncate,
        error event, stall), ``"outage"`` (every request 503), ``"rate_limited"``,
        ``"streams"``.

        Example::

            fake.chaos(Chaos.mix("default", seed=42))
        """
        try:
            rates = _MIXES[name]
        except KeyError:
            raise ValueError(
                f"unknown chaos mix {name!r}; allowed: {', '.join(sorted(_MIXES))}"
            ) from None
        return cls(rates, seed=seed, stall_seconds=stall_seconds)

    @staticmethod
    def mixes() -> tuple[str, ...]:
        """The names :meth:`mix` accepts."""
        return tuple(sorted(_MIXES))

    @property
    def rates(self) -> dict[str, float]:
        """A copy of the non-zero rates."""
        return dict(self._rates)

    def draw(self, n_events: int) -> Fault | None:
        """Draw the fault for the next request (``None`` = clean).

        *n_events* is how many SSE events the answer would carry (0 for a plain JSON
        answer); stream faults cut at a point in ``0..n_events-1``.
        """
        if isinstance(n_events, bool) or not isinstance(n_events, int) or n_events < 0:
            raise ValueError(f"n_events must be an int >= 0, got {n_events!r}")
        with self._lock:
            # Always two draws, so the kind sequence does not depend on response sizes.
            pick = self._random.random()
            where = self._random.random()
        cut = min(int(where * n_events), max(n_events - 1, 0))
        upto = 0.0
        for key, rate in self._rates.items():
            upto += rate
            if pick < upto:
                return self._fault(key, cut)
        return None

    def _fault(self, key: str, cut: int) -> Fault:
        if key == "429":
            return Fault.status(429, retry_after=self.retry_after)
        if key == "insufficient_quota":
            return Fault.status(429, code="insufficient_quota")
        if key.isdigit():
            return Fault.status(int(key))
        if key == "connect_error":
            return Fault.connect_error()
        if key == "timeout":
            return Fault.timeout()
        if key == "reset":
            return Fault.reset(after_events=cut)
        if key == "truncate":
            return Fault.truncate(after_events=cut)
        if key == "stall":
            return Fault.stall(after_events=cut, seconds=self._stall_seconds)
        if key == "error_event":
            return Fault.error_event(after_events=cut)
        if key == "failed":
            return Fault.failed(after_events=cut)
        if key == "keepalive":
            return Fault.keepalive(after_events=cut, seconds=self._stall_seconds)
        if key == "reorder":
            return Fault.reorder(after_events=cut)
        if key == "renumber":
            return Fault.renumber(after_events=cut)
        if key == "duplicate":
            return Fault.duplicate(after_events=max(cut, 1))
        if key == "gap":
            return Fault.gap(after_events=cut)
        if key == "malformed":
            return Fault.malformed(after_events=cut)
        return Fault.latency(self._latency_seconds)

    def describe(self) -> str:
        """One line: the seed and each rate, then the clean share.

        Example::

            >>> Chaos({"429": 0.25}, seed=1).describe()
            'Chaos(seed=1): 429 25.0%, clean 75.0%'
        """
        parts = [f"{key} {rate * 100:.1f}%" for key, rate in self._rates.items()]
        clean = max(0.0, 1.0 - math.fsum(self._rates.values()))
        parts.append(f"clean {clean * 100:.1f}%")
        return f"Chaos(seed={self.seed}): {', '.join(parts)}"

    def __repr__(self) -> str:
        return f"Chaos({self._rates!r}, seed={self.seed})"
