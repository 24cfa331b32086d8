"""The counters behind ``Resilience.stats()``: calls, attempts, failures, latency, tokens, cost.

The engine reports to one :class:`StatsCollector` per :class:`~resilient_responses.Resilience`;
every report takes the collector's lock once and does a few integer additions, so it is
cheap on the hot path and exact under any mix of threads and asyncio tasks. Reading is
:meth:`StatsCollector.snapshot`, which returns an immutable :class:`Stats`.

Memory is bounded per key: counters, two :class:`QuantileSketch` es (latency and time to
first event) and at most :data:`MAX_LABELS` distinct failure codes. The number of keys is
the number of distinct keys the engine reports: breaker keys (base URL + model) or the
decorated functions' names, so it is bounded by the application's own keys. A custom
``BreakerConfig(key=...)`` that derives keys from unbounded data (user ids, prompts) makes
the collector grow with it.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from types import MappingProxyType
from typing import Any

from .._cache import CacheStats
from .._classify import Failure
from .._cost import PriceTable, Usage, _atto_to_float
from ._sketch import QuantileSketch

__all__ = ["MAX_LABELS", "KeyStats", "Stats", "StatsCollector"]

#: Distinct failure statuses / codes kept per key; further ones are counted under "other".
MAX_LABELS = 64
#: Distinct unpriced model names remembered (for ``Stats.unpriced_models`` and logging once).
_MAX_UNPRICED = 64
_OTHER = "other"
_EMPTY: Mapping[str, int] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class KeyStats:
    """Counters for one breaker key (or the total over all keys).

    Attributes:
        calls: calls finished (a call in flight is counted when it ends).
        attempts: requests sent (first attempts and retries) by finished calls.
        retries: attempts after the first of their call.
        successes: calls that finished successfully.
        failures: calls that finished with an error (after all their retries).
        failures_by_status: failed *attempts* by HTTP status (``"429"``) or, for failures
            without one, by kind (``"connection"``, ``"stream_truncated"``, ...).
        failures_by_code: failed attempts by OpenAI error code (``"rate_limit_exceeded"``);
            attempts without a code are not counted here.
        breaker_state: ``"closed"``, ``"open"`` or ``"half-open"`` as reported by the engine;
            ``None`` when unknown (always ``None`` in the total).
        breaker_opens: how many times the key's breaker opened.
        resumes / restarts / interruptions: stream recoveries by resume, by restart, and
            streams that could not be recovered.
        fallbacks: calls on this key's model that gave up and went to a fallback model.
        rate_limited: attempts held back by client-side pacing (``RateLimit``) before
            they were sent; rate_limited_s: the seconds they waited in all.
        latency_p50 / latency_p95 / latency_p99: seconds per finished call (all attempts
            and waits included), within 1% relative error; ``None`` with no data.
        ttfe_p50 / ttfe_p95: seconds to the first stream event; ``None`` with no data.
        input_tokens / cached_input_tokens / output_tokens / reasoning_tokens: tokens paid,
            wasted ones included (cached are part of input, reasoning part of output).
        cost_usd: what those tokens cost, wasted ones included (they were paid).
        wasted_output_tokens / wasted_cost_usd: the part paid on attempts whose output was
            thrown away (a stream restarted after output, a failed attempt that had usage).
    """

    calls: int = 0
    attempts: int = 0
    retries: int = 0
    successes: int = 0
    failures: int = 0
    failures_by_status: Mapping[str, int] = field(default_factory=lambda: _EMPTY)
    failures_by_code: Mapping[str, int] = field(default_factory=lambda: _EMPTY)
    breaker_state: str | None = None
    breaker_opens: int = 0
    resumes: int = 0
    restarts: int = 0
    interruptions: int = 0
    fallbacks: int = 0
    rate_limited: int = 0
    rate_limited_s: float = 0.0
    latency_p50: float | None = None
    latency_p95: float | None = None
    latency_p99: float | None = None
    ttfe_p50: float | None = None
    ttfe_p95: float | None = None
    input_tokens: int = 0
    cached_input_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    cost_usd: float = 0.0
    wasted_output_tokens: int = 0
    wasted_cost_usd: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """A JSON-serialisable ``dict`` (mappings become plain dicts)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = dict(value) if isinstance(value, Mapping) else value
        return out


@dataclass(frozen=True, slots=True)
class Stats:
    """An immutable snapshot of a :class:`StatsCollector`.

    >>> collector = StatsCollector()
    >>> collector.call_started("gpt-5-mini")
    >>> collector.attempt("gpt-5-mini", retry=False)
    >>> collector.call_finished("gpt-5-mini", ok=True, elapsed_s=0.25)
    >>> stats = collector.snapshot()
    >>> stats.total.successes, stats.by_key["gpt-5-mini"].latency_p50
    (1, 0.25)

    Attributes:
        total: exact sums over all keys (quantiles from the merged sketches).
        by_key: per-key counters, read-only.
        retry_budget_level: the retry budget's fill level as reported by the engine
            (``None`` without a retry budget).
        unpriced_models: model names seen in usage that the price table does not know
            (their cost is counted as 0).
        cache: the response cache's hits, misses, evictions and tokens saved (``None``
            without ``Resilience(cache=...)``); cache_usd_saved: what those tokens would
            have cost, from the price table.
    """

    total: KeyStats
    by_key: Mapping[str, KeyStats]
    retry_budget_level: float | None = None
    unpriced_models: tuple[str, ...] = ()
    cache: CacheStats | None = None
    cache_usd_saved: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """A JSON-serialisable ``dict``: ``{"total": {...}, "by_key": {...}, ...}``."""
        return {
            "total": self.total.as_dict(),
            "by_key": {key: ks.as_dict() for key, ks in self.by_key.items()},
            "retry_budget_level": self.retry_budget_level,
            "unpriced_models": list(self.unpriced_models),
            "cache": None if self.cache is None else _plain(self.cache),
            "cache_usd_saved": self.cache_usd_saved,
        }


class _KeyState:
    """Mutable counters of one key; only touched with the collector's lock held."""

    __slots__ = (
        "attempts",
        "breaker_opens",
        "by_code",
        "by_status",
        "cached_input_tokens",
        "calls",
        "cost_atto",
        "failures",
        "fallbacks",
        "input_tokens",
        "interruptions",
        "latency",
        "output_tokens",
        "rate_limited",
        "rate_limited_s",
        "reasoning_tokens",
        "restarts",
        "resumes",
        "retries",
        "successes",
        "ttfe",
        "wasted_cost_atto",
        "wasted_output_tokens",
    )

    def __init__(self) -> None:
        self.calls = 0
        self.attempts = 0
        self.retries = 0
        self.successes = 0
        self.failures = 0
        self.by_status: dict[str, int] = {}
        self.by_code: dict[str, int] = {}
        self.breaker_opens = 0
        self.resumes = 0
        self.restarts = 0
        self.interruptions = 0
        self.fallbacks = 0
        self.rate_limited = 0
        self.rate_limited_s = 0.0
        self.latency = QuantileSketch()
        self.ttfe = QuantileSketch()
        self.input_tokens = 0
        self.cached_input_tokens = 0
        self.output_tokens = 0
        self.reasoning_tokens = 0
        self.cost_atto = 0
        self.wasted_output_tokens = 0
        self.wasted_cost_atto = 0

    def freeze(self, breaker_state: str | None) -> KeyStats:
        latency, ttfe = self.latency, self.ttfe
        return KeyStats(
            calls=self.calls,
            attempts=self.attempts,
            retries=self.retries,
            successes=self.successes,
            failures=self.failures,
            failures_by_status=MappingProxyType(dict(self.by_status)),
            failures_by_code=MappingProxyType(dict(self.by_code)),
            breaker_state=breaker_state,
            breaker_opens=self.breaker_opens,
            resumes=self.resumes,
            restarts=self.restarts,
            interruptions=self.interruptions,
            fallbacks=self.fallbacks,
            rate_limited=self.rate_limited,
            rate_limited_s=self.rate_limited_s,
            latency_p50=latency.quantile(0.5),
            latency_p95=latency.quantile(0.95),
            latency_p99=latency.quantile(0.99),
            ttfe_p50=ttfe.quantile(0.5),
            ttfe_p95=ttfe.quantile(0.95),
            input_tokens=self.input_tokens,
            cached_input_tokens=self.cached_input_tokens,
            output_tokens=self.output_tokens,
            reasoning_tokens=self.reasoning_tokens,
            cost_usd=_atto_to_float(self.cost_atto),
            wasted_output_tokens=self.wasted_output_tokens,
            wasted_cost_usd=_atto_to_float(self.wasted_cost_atto),
        )

    def absorb(self, other: _KeyState) -> None:
        """Add *other*'s counters into this one (building the total)."""
        for name in _SUMMED:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for mine, theirs in ((self.by_status, other.by_status), (self.by_code, other.by_code)):
            for label, n in theirs.items():
                mine[label] = mine.get(label, 0) + n
        self.latency.merge(other.latency)
        self.ttfe.merge(other.ttfe)


_SUMMED = tuple(
    name for name in _KeyState.__slots__ if name not in {"by_code", "by_status", "latency", "ttfe"}
)


def _plain(value: Any) -> Any:
    """Frozen dataclass records (and mappings of them) as JSON-serialisable values."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _bump(counts: dict[str, int], label: str) -> None:
    if label in counts:
        counts[label] += 1
    elif len(counts) < MAX_LABELS:
        counts[label] = 1
    else:
        counts[_OTHER] = counts.get(_OTHER, 0) + 1


def _seconds(value: float) -> float | None:
    # A clock can step; a bad reading must not fail the call it measures.
    if not isinstance(value, (int, float)) or math.isnan(value) or value == math.inf:
        return None
    return value if value > 0.0 else 0.0


class StatsCollector:
    """Thread-safe, exact counters of the engine's activity, per key and in total.

    Each method takes the lock once; the engine calls them on the hot path. Read with
    :meth:`snapshot`.

    >>> stats = StatsCollector()
    >>> stats.call_started("k")
    >>> stats.attempt("k", retry=False)
    >>> cost = stats.usage("k", "gpt-5-mini", Usage(input_tokens=1_000_000))
    >>> cost
    0.25
    >>> stats.snapshot().total.cost_usd
    0.25
    """

    __slots__ = ("_keys", "_lock", "_prices", "_unpriced", "_warned")

    def __init__(self, prices: PriceTable | None = None) -> None:
        self._prices = prices if prices is not None else PriceTable()
        self._lock = threading.Lock()
        self._keys: dict[str, _KeyState] = {}
        self._unpriced: dict[str, None] = {}  # insertion-ordered set
        self._warned: set[str] = set()

    @property
    def prices(self) -> PriceTable:
        """The price table used by :meth:`usage`."""
        return self._prices

    def _state(self, key: str) -> _KeyState:
        # Lock held.
        state = self._keys.get(key)
        if state is None:
            state = self._keys[key] = _KeyState()
        return state

    def call_started(self, key: str) -> None:
        """A call began (before its first attempt)."""
        with self._lock:
            self._state(key).calls += 1

    def attempt(self, key: str, *, retry: bool) -> None:
        """A request is being sent; ``retry=True`` for every attempt after the first."""
        with self._lock:
            state = self._state(key)
            state.attempts += 1
            if retry:
                state.retries += 1

    def failure(self, key: str, failure: Failure) -> None:
        """An attempt failed: counted by status (or kind) and by error code."""
        label = str(failure.status) if failure.status is not None else failure.kind
        code = failure.code
        with self._lock:
            state = self._state(key)
            _bump(state.by_status, label)
            if code is not None:
                _bump(state.by_code, code)

    def call_finished(self, key: str, *, ok: bool, elapsed_s: float) -> None:
        """A call ended: a success, or a failure after its last attempt.

        *elapsed_s* goes into the latency sketch; a negative reading counts as 0 and a
        NaN or infinite one is ignored (the counters still move).
        """
        seconds = _seconds(elapsed_s)
        with self._lock:
            self._end(self._state(key), ok, seconds)

    @staticmethod
    def _end(state: _KeyState, ok: bool, seconds: float | None) -> None:
        # Lock held.
        if ok:
            state.successes += 1
        else:
            state.failures += 1
        if seconds is not None:
            state.latency.add(seconds)

    def first_event(self, key: str, seconds: float) -> None:
        """Time from sending a stream request to its first event."""
        value = _seconds(seconds)
        if value is None:
            return
        with self._lock:
            self._state(key).ttfe.add(value)

    def breaker_opened(self, key: str) -> None:
        """The breaker of *key* moved to open."""
        with self._lock:
            self._state(key).breaker_opens += 1

    def stream_resumed(self, key: str) -> None:
        """A broken stream was resumed (``retrieve(..., starting_after=n)``)."""
        with self._lock:
            self._state(key).resumes += 1

    def stream_restarted(self, key: str) -> None:
        """A broken stream was restarted (a new request, before any output)."""
        with self._lock:
            self._state(key).restarts += 1

    def stream_interrupted(self, key: str) -> None:
        """A broken stream could not be recovered (``StreamInterruptedError``)."""
        with self._lock:
            self._state(key).interruptions += 1

    def fell_back(self, key: str) -> None:
        """A call on *key* gave up and went on with a fallback model."""
        with self._lock:
            self._state(key).fallbacks += 1

    def rate_limited(self, key: str, seconds: float) -> None:
        """An attempt on *key* waited *seconds* for rate-limit capacity."""
        with self._lock:
            state = self._state(key)
            state.rate_limited += 1
            state.rate_limited_s += seconds

    def call_done(
        self,
        key: str,
        *,
        ok: bool,
        elapsed_s: float,
        attempts: int,
        usage: Usage | None = None,
        model: str | None = None,
    ) -> float:
        """A call ended, in one step (the engine's hot path): the call, its *attempts*
        (all but the first are retries), the outcome and latency, and the tokens and cost
        of its final response when it has *usage*. Returns the cost added in USD.

        Equivalent to :meth:`call_started`, *attempts* x :meth:`attempt`,
        :meth:`call_finished` and :meth:`usage`, under one lock acquisition.
        """
        seconds = _seconds(elapsed_s)
        atto, priced = self._prices._cost_atto(model, usage) if usage is not None else (0, True)
        with self._lock:
            state = self._state(key)
            state.calls += 1
            state.attempts += attempts
            if attempts > 1:
                state.retries += attempts - 1
            self._end(state, ok, seconds)
            if usage is not None:
                self._add_usage(state, model, usage, atto, priced, wasted=False)
        return _atto_to_float(atto)

    def _add_usage(
        self,
        state: _KeyState,
        model: str | None,
        usage: Usage,
        atto: int,
        priced: bool,
        *,
        wasted: bool,
    ) -> None:
        # Lock held.
        state.input_tokens += usage.input_tokens
        state.cached_input_tokens += usage.cached_input_tokens
        state.output_tokens += usage.output_tokens
        state.reasoning_tokens += usage.reasoning_tokens
        state.cost_atto += atto
        if wasted:
            state.wasted_output_tokens += usage.output_tokens
            state.wasted_cost_atto += atto
        if not priced and model and len(self._unpriced) < _MAX_UNPRICED:
            self._unpriced[model] = None

    def usage(self, key: str, model: str | None, usage: Usage, *, wasted: bool = False) -> float:
        """Add the tokens of one response and their cost; return the cost added in USD.

        ``wasted=True`` marks tokens paid on an attempt whose output was discarded: they
        count in the token totals and ``cost_usd`` (they were paid) and also in
        ``wasted_output_tokens`` / ``wasted_cost_usd``. A model the price table does not
        know costs 0 and is listed in ``Stats.unpriced_models``; see :meth:`claim_unpriced`
        to log it once.
        """
        atto, priced = self._prices._cost_atto(model, usage)
        with self._lock:
            self._add_usage(self._state(key), model, usage, atto, priced, wasted=wasted)
        return _atto_to_float(atto)

    def claim_unpriced(self, model: str | None) -> bool:
        """``True`` exactly once per model name the price table does not know.

        The log-once gate for the engine: after :meth:`usage` returned ``0.0``,
        ``if stats.claim_unpriced(model): logger.warning(...)``. Bounded: after 64
        distinct names it returns ``False``.
        """
        if not model or self._prices.match(model) is not None:
            return False
        with self._lock:
            if model in self._warned or len(self._warned) >= _MAX_UNPRICED:
                return False
            self._warned.add(model)
            return True

    def snapshot(
        self,
        *,
        breaker_states: Mapping[str, str] | None = None,
        budget_level: float | None = None,
        cache: CacheStats | None = None,
    ) -> Stats:
        """An immutable :class:`Stats` of everything counted so far.

        *breaker_states* (key -> state) and *budget_level* (the retry budget's level) are
        supplied by the engine, which owns the breakers and the budget. Keys that have a
        breaker state but no counters yet appear with zero counters.
        """
        states = breaker_states or {}
        with self._lock:
            total = _KeyState()
            by_key: dict[str, KeyStats] = {}
            for key, state in self._keys.items():
                by_key[key] = state.freeze(states.get(key))
                total.absorb(state)
            unpriced = tuple(self._unpriced)
        for key, state_name in states.items():
            if key not in by_key:
                by_key[key] = KeyStats(breaker_state=state_name)
        return Stats(
            total=total.freeze(None),
            by_key=MappingProxyType(by_key),
            retry_budget_level=budget_level,
            unpriced_models=unpriced,
            cache=cache,
            cache_usd_saved=cache.usd_saved(self._prices) if cache is not None else 0.0,
        )

    def __repr__(self) -> str:
        return f"StatsCollector(keys={len(self._keys)})"
