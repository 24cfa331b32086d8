"""``Resilience``, the engine object, and ``resilient``, the decorator shorthand."""

from __future__ import annotations

import asyncio
import functools
import inspect
import math
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast, overload

import openai
from typing_extensions import ParamSpec

from ._backends import Store
from ._breaker import BreakerConfig
from ._budget import RetryBudget
from ._cache import ResponseCache
from ._call import CallState
from ._checks import check_attempts, check_bool, check_callable, check_seconds
from ._cost import PriceTable
from ._cost_budget import CostBudget
from ._engine import Engine, EngineConfig
from ._loop import run_async, run_sync
from ._policy import Backoff, ErrorPolicy, PolicyTable, check_fallbacks
from ._ratelimit import RateLimit
from ._store import MemoryStore
from ._stream_gen import decorate_async_generator, decorate_generator
from ._stream_policy import StreamPolicy
from .events import CallTracer, Hook
from .instrumentation._stats import Stats, StatsCollector
from .instrumentation._structlog import StructlogHook

if TYPE_CHECKING:
    from ._client import AsyncResilientOpenAI, ResilientOpenAI

__all__ = ["Resilience", "resilient"]

P = ParamSpec("P")
T = TypeVar("T")

_DEFAULT_BREAKER = BreakerConfig()
_DEFAULT_RATE_LIMIT = RateLimit()


_C = TypeVar("_C")


def _instance(name: str, value: _C | None, kind: type[_C]) -> _C | None:
    """*value* when it is a *kind* or ``None``; a ``TypeError`` naming *name* otherwise."""
    if value is not None and not isinstance(value, kind):
        raise TypeError(f"{name} must be a {kind.__name__} or None, got {type(value).__name__}")
    return value


def _check_store(store: object, *, paced: bool) -> Store:
    if store is None:
        return MemoryStore()
    needed = ("breaker_backend", "budget_backend", *(("limiter_backend",) if paced else ()))
    if not all(callable(getattr(store, m, None)) for m in needed):
        raise TypeError(
            "store must be a MemoryStore, a RedisStore or another Store "
            f"({', '.join(f'{m}()' for m in needed)}"
            f"{'; or pass rate_limit=None' if paced else ''}), got {type(store).__name__}"
        )
    return cast(Store, store)


def _check_clock(clock: object) -> Callable[[], float]:
    if clock is None:
        return time.monotonic
    check_callable("clock", clock, "returning seconds")
    now = clock()  # type: ignore[operator]
    if isinstance(now, bool) or not isinstance(now, (int, float)) or not math.isfinite(now):
        raise TypeError(f"clock must return a finite number of seconds, returned {now!r}")
    return cast(Callable[[], float], clock)


def _check_logger(logger: object) -> Any:
    if logger is not None and not all(
        callable(getattr(logger, level, None)) for level in ("debug", "warning", "error")
    ):
        raise TypeError(
            "logger must be a structlog logger (with debug, warning and error methods) or "
            f"None, got {type(logger).__name__}"
        )
    return logger


def _check_tracer(tracer: object) -> CallTracer:
    if not callable(getattr(tracer, "call_started", None)):
        raise TypeError(
            "tracers must have a call_started(key, model, *, stream, operation) method "
            f"(a CallTracer, e.g. OpenTelemetryTracer), got {type(tracer).__name__}"
        )
    return cast(CallTracer, tracer)


def _function_key(fn: Callable[..., Any]) -> str:
    module = getattr(fn, "__module__", None) or "?"
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)
    return f"{module}.{name}"


class Resilience:
    """One policy set, one breaker registry, one retry budget, one stats collector.

    Use it as a decorator (sync and async functions, generators and async generators),
    call through it (:meth:`call`, :meth:`acall`), or wrap an OpenAI client with it
    (:meth:`wrap`). Every caller that shares a ``Resilience`` shares its breakers, its
    retry budget and its stats.

    Args:
        attempts: total attempts per call (first try included), unless a policy says
            otherwise.
        deadline: seconds across all attempts of a call; a wait that would end past it is
            never slept (the call gives up instead). ``None``: no deadline.
        backoff: the wait between attempts when the server gives no Retry-After.
        policies: :class:`ErrorPolicy` per OpenAI error code, exception class, HTTP status
            or failure kind, merged over the defaults (most specific key wins).
        breaker: circuit breaker settings (per key), or ``None`` for no breaker.
        budget: a :class:`RetryBudget` shared by all calls, or ``None`` for none.
        stream: what broken streams do.
        logger: a structlog logger; ``None`` fetches ``structlog.get_logger(
            "resilient_responses")`` lazily at each event.
        log_successes: also log ``resilient_responses.call_succeeded`` (debug).
        prices: the price table for cost accounting (defaults: the seed's prices).
        cost_budget: a :class:`CostBudget` checked before each request.
        hooks: extra instrumentation hooks called with every engine event.
        tracers: per-call tracers, e.g.
            :class:`~resilient_responses.instrumentation.OpenTelemetryTracer`.
        sleep: replaces ``time.sleep`` / ``asyncio.sleep`` (tests).
        clock: replaces ``time.monotonic`` for deadlines and latencies (tests).
        store: where breaker state, the retry budget and rate-limit state live:
            :class:`MemoryStore` (default, this process) or ``RedisStore`` (the fleet).
        cache: a :class:`ResponseCache` answering repeated requests (drop-in client only).
        rate_limit: client-side pacing per key (:class:`RateLimit`; the default learns
            the quota from the ``x-ratelimit-*`` headers and holds calls back only when
            the server says capacity is used up); ``None`` turns pacing off.
        fallbacks: ``{model: (fallback, ...)}``: where a drop-in client's call goes when
            its model gives up on a retryable failure or its breaker is open.
        context_fallbacks: the same, for ``context_length_exceeded`` only.

    >>> policy = Resilience(attempts=3, policies={429: ErrorPolicy(attempts=8)})
    >>> @policy
    ... def ask(question: str) -> str:
    ...     return question.upper()
    >>> ask("hi")
    'HI'
    """

    def __init__(
        self,
        *,
        attempts: int = 4,
        deadline: float | None = 120.0,
        backoff: Backoff | None = None,
        policies: Mapping[Any, ErrorPolicy] | None = None,
        breaker: BreakerConfig | None = _DEFAULT_BREAKER,
        budget: RetryBudget | None = None,
        stream: StreamPolicy | None = None,
        logger: Any | None = None,
        log_successes: bool = False,
        prices: PriceTable | None = None,
        cost_budget: CostBudget | None = None,
        hooks: Sequence[Hook] = (),
        tracers: Sequence[CallTracer] = (),
        sleep: Callable[[float], Any] | None = None,
        clock: Callable[[], float] | None = None,
        store: Store | None = None,
        cache: ResponseCache | None = None,
        rate_limit: RateLimit | None = _DEFAULT_RATE_LIMIT,
        fallbacks: Mapping[str, Sequence[str]] | None = None,
        context_fallbacks: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self._policies = dict(policies or {})
        config = EngineConfig(
            table=PolicyTable(policies),
            attempts=check_attempts("attempts", attempts),
            deadline=None
            if deadline is None
            else check_seconds("deadline", deadline, allow_zero=False),
            backoff=_instance("backoff", backoff, Backoff) or Backoff(),
            breaker=_instance("breaker", breaker, BreakerConfig),
            budget=_instance("budget", budget, RetryBudget),
            stream=_instance("stream", stream, StreamPolicy) or StreamPolicy(),
            store=_check_store(store, paced=rate_limit is not None),
            log_successes=check_bool("log_successes", log_successes),
            cost_budget=_instance("cost_budget", cost_budget, CostBudget),
            clock=_check_clock(clock),
            sleep=None if sleep is None else check_callable("sleep", sleep, "taking seconds"),
            cache=_instance("cache", cache, ResponseCache),
            rate_limit=_instance("rate_limit", rate_limit, RateLimit),
            fallbacks=check_fallbacks("fallbacks", fallbacks),
            context_fallbacks=check_fallbacks("context_fallbacks", context_fallbacks),
        )
        hooks = tuple(check_callable("hooks[]", h, "taking an event") for h in hooks)
        tracers = tuple(_check_tracer(t) for t in tracers)
        self._engine = Engine(
            config,
            stats=StatsCollector(prices=_instance("prices", prices, PriceTable)),
            # A tracer that is also a hook (OpenTelemetryTracer counts breaker transitions,
            # which belong to no call) gets the engine-wide events too.
            hooks=(
                StructlogHook(_check_logger(logger)),
                *hooks,
                *(t for t in tracers if callable(t) and t not in hooks),
            ),
            tracers=tracers,
        )

    def __repr__(self) -> str:
        config = self._engine.config
        shown = {
            "attempts": config.attempts,
            "deadline": config.deadline,
            "backoff": config.backoff,
            "policies": self._policies or None,
            "breaker": config.breaker,
            "budget": config.budget,
            "stream": config.stream,
            "store": config.store,
            "cache": config.cache,
            "rate_limit": config.rate_limit,
            "fallbacks": dict(config.fallbacks) or None,
            "context_fallbacks": dict(config.context_fallbacks) or None,
        }
        return (
            "Resilience(" + ", ".join(f"{k}={v!r}" for k, v in shown.items() if v is not None) + ")"
        )

    # -- introspection -------------------------------------------------------------------

    @property
    def stream_policy(self) -> StreamPolicy:
        """What broken streams do."""
        return self._engine.config.stream

    @property
    def cost_budget(self) -> CostBudget | None:
        """The cost budget checked before each request, if any."""
        return self._engine.config.cost_budget

    @property
    def store(self) -> Store:
        """Where breaker state and the retry budget live."""
        return self._engine.config.store

    def breaker_state(self, key: str) -> str | None:
        """The state of the breaker for *key* (``None`` when breakers are off)."""
        breakers = self._engine.breakers
        return breakers.state(key) if breakers is not None else None

    def stats(self) -> Stats:
        """A frozen snapshot of everything counted so far, per breaker key and in total.

        With a ``RedisStore`` it reads the fleet's breaker states and retry budget (a few
        round trips, each bounded by the store's timeout): from async code, use
        :meth:`astats`, which never blocks the event loop."""
        engine = self._engine
        states = engine.breakers.states() if engine.breakers is not None else None
        level = engine.budget.level if engine.budget is not None else None
        cache = engine.config.cache
        return engine.stats.snapshot(
            breaker_states=states,
            budget_level=level,
            cache=cache.stats() if cache is not None else None,
        )

    async def astats(self) -> Stats:
        """:meth:`stats` for async code: the store is read on a worker thread."""
        return await asyncio.to_thread(self.stats)

    # -- running calls -------------------------------------------------------------------

    def _key_for(self, fn: Callable[..., Any], args: Any, kwargs: Any) -> str:
        breaker = self._engine.config.breaker
        if breaker is not None and breaker.key is not None:
            return str(breaker.key(*args, **kwargs))
        return _function_key(fn)

    def _state(self, fn: Callable[..., Any], args: Any, kwargs: Any) -> CallState:
        model = kwargs.get("model")
        return CallState(
            self._engine,
            self._key_for(fn, args, kwargs),
            model if isinstance(model, str) else None,
            via_client=False,
        )

    def call(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Call ``fn(*args, **kwargs)`` with retries, breaker and logging.

        >>> Resilience().call(int, "42")
        42
        """
        return run_sync(self._state(fn, args, kwargs), lambda _state: fn(*args, **kwargs))

    async def acall(self, fn: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Await ``fn(*args, **kwargs)`` with retries, breaker and logging."""
        state = self._state(fn, args, kwargs)
        return await run_async(state, lambda _state: fn(*args, **kwargs))

    def __call__(self, fn: Callable[P, T]) -> Callable[P, T]:
        """Decorate a function, coroutine function, generator or async generator."""
        if not callable(fn):
            raise TypeError(f"Resilience decorates callables, got {type(fn).__name__}")

        def key_of(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
            return self._key_for(fn, args, kwargs)

        # An object with `async def __call__` (or a generator one) is what its method is.
        plain = inspect.isroutine(fn) or isinstance(fn, functools.partial)
        kind: Any = fn if plain else getattr(fn, "__call__", fn)  # noqa: B004
        if inspect.isasyncgenfunction(kind):
            agen = cast(Callable[..., AsyncGenerator[Any, Any]], fn)
            return cast(Callable[P, T], decorate_async_generator(self._engine, key_of, agen))
        if inspect.isgeneratorfunction(kind):
            gen = cast(Callable[..., Generator[Any, Any, Any]], fn)
            return cast(Callable[P, T], decorate_generator(self._engine, key_of, gen))
        if inspect.iscoroutinefunction(kind):
            afn = cast(Callable[P, Awaitable[Any]], fn)

            @functools.wraps(fn)
            async def async_wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
                return await self.acall(afn, *args, **kwargs)

            return cast(Callable[P, T], async_wrapper)

        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            return self.call(fn, *args, **kwargs)

        return wrapper

    # -- clients -------------------------------------------------------------------------

    @overload
    def wrap(self, client: openai.AsyncOpenAI) -> AsyncResilientOpenAI: ...

    @overload
    def wrap(self, client: openai.OpenAI) -> ResilientOpenAI: ...

    def wrap(self, client: Any) -> Any:
        """Wrap an ``openai.OpenAI`` (or ``AsyncOpenAI``) client in this engine.

        The SDK's own retries are turned off on the wrapped copy (it shares the original's
        connection pool), so attempts do not multiply.
        """
        # The one lazy import of the package: the client layer sits above this one.
        from ._client import AsyncResilientOpenAI, ResilientOpenAI

        if isinstance(client, openai.AsyncOpenAI):
            return AsyncResilientOpenAI(client, resilience=self)
        if isinstance(client, openai.OpenAI):
            return ResilientOpenAI(client, resilience=self)
        raise TypeError(
            "wrap() takes an openai.OpenAI or openai.AsyncOpenAI client, "
            f"got {type(client).__name__}"
        )


@overload
def resilient(fn: Callable[P, T], /) -> Callable[P, T]: ...


@overload
def resilient(fn: None = None, /, **config: Any) -> Callable[[Callable[P, T]], Callable[P, T]]: ...


def resilient(fn: Callable[P, T] | None = None, /, **config: Any) -> Any:
    """Decorator shorthand: ``@resilient`` or ``@resilient(attempts=3, ...)``.

    Each decorated function gets its own :class:`Resilience` built from *config*; share
    one ``Resilience`` object instead when several functions should share breakers,
    budget and stats.

    >>> @resilient(attempts=2)
    ... def double(x: int) -> int:
    ...     return 2 * x
    >>> double(21)
    42
    """
    if fn is not None:
        if config:
            raise TypeError("use @resilient(**config) or @resilient, not both")
        return Resilience()(fn)
    return Resilience(**config)
