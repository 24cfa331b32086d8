"""``Resilience``, the engine object, and ``resilient``, the decorator shorthand."""

from __future__ import annotations

import functools
import inspect
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast, overload

from typing_extensions import ParamSpec

from ._backends import Store
from ._breaker import BreakerConfig
from ._budget import RetryBudget
from ._classify import Failure
from ._policy import Backoff, ErrorPolicy, PolicyTable, _check_attempts
from ._retry import CallState, Engine, run_async, run_sync
from ._store import MemoryStore
from ._stream import decorate_async_generator, decorate_generator
from ._stream_policy import StreamPolicy
from .events import CallTracer, Hook
from .exceptions import CircuitOpenError
from .instrumentation._stats import Stats, StatsCollector
from .instrumentation._structlog import StructlogHook

if TYPE_CHECKING:
    import openai

    from ._client import AsyncResilientOpenAI, ResilientOpenAI
    from .instrumentation._pricing import CostBudget, PriceTable

__all__ = ["Resilience", "resilient"]

P = ParamSpec("P")
T = TypeVar("T")

_DEFAULT_BREAKER = BreakerConfig()


def _check_deadline(deadline: object) -> float | None:
    if deadline is None:
        return None
    if isinstance(deadline, bool) or not isinstance(deadline, (int, float)):
        raise TypeError(f"deadline must be a number of seconds > 0 or None, got {deadline!r}")
    if math.isnan(deadline) or deadline <= 0:
        raise ValueError(f"deadline must be a number of seconds > 0 or None, got {deadline!r}")
    return float(deadline)


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
        hooks: tuple[Hook, ...] | list[Hook] = (),
        tracers: tuple[CallTracer, ...] | list[CallTracer] = (),
        sleep: Callable[[float], Any] | None = None,
        clock: Callable[[], float] | None = None,
        store: Store | None = None,
    ) -> None:
        _check_attempts("attempts", attempts)
        if backoff is not None and not isinstance(backoff, Backoff):
            raise TypeError(f"backoff must be a Backoff, got {type(backoff).__name__}")
        if breaker is not None and not isinstance(breaker, BreakerConfig):
            raise TypeError(
                f"breaker must be a BreakerConfig or None, got {type(breaker).__name__}"
            )
        if budget is not None and not isinstance(budget, RetryBudget):
            raise TypeError(f"budget must be a RetryBudget or None, got {type(budget).__name__}")
        if stream is not None and not isinstance(stream, StreamPolicy):
            raise TypeError(f"stream must be a StreamPolicy, got {type(stream).__name__}")
        if not isinstance(log_successes, bool):
            raise TypeError("log_successes must be a bool")
        if sleep is not None and not callable(sleep):
            raise TypeError("sleep must be a callable taking seconds")
        if clock is not None and not callable(clock):
            raise TypeError("clock must be a callable returning seconds")
        for hook in hooks:
            if not callable(hook):
                raise TypeError(f"hooks must be callables taking an event, got {hook!r}")
        clock_fn = clock or time.monotonic
        self._breaker_key = breaker.key if breaker is not None else None
        self._config: dict[str, Any] = {
            "attempts": attempts,
            "deadline": deadline,
            "backoff": backoff,
            "policies": dict(policies or {}),
            "breaker": breaker,
            "budget": budget,
            "stream": stream,
            "log_successes": log_successes,
        }
        self.stream_policy = stream or StreamPolicy()
        self.cost_budget = cost_budget
        stats = StatsCollector(prices=prices)
        self._engine = Engine(
            table=PolicyTable(policies),
            attempts=attempts,
            deadline=_check_deadline(deadline),
            backoff=backoff or Backoff(),
            breakers=None,
            budget=None,
            # A tracer that is also a hook (OpenTelemetryTracer counts breaker transitions,
            # which belong to no call) gets the engine-wide events too.
            hooks=(
                StructlogHook(logger),
                *hooks,
                *(t for t in tracers if callable(t) and t not in hooks),
            ),
            stats=stats,
            clock=clock_fn,
            sleep=sleep,
            log_successes=log_successes,
            cost_budget=cost_budget,
            tracers=tuple(tracers),
        )
        store = store if store is not None else MemoryStore()
        self.store = store
        if budget is not None:
            self._engine.budget = store.budget_backend(budget, clock_fn, self._engine.emit)
        if breaker is not None:
            self._engine.breakers = store.breaker_backend(
                breaker, self._engine.on_breaker_change, self._engine.emit
            )
            refused = Failure(kind="circuit_open", exception=CircuitOpenError("?", 0.0))
            self._engine.waits_for_breaker = self._engine.table.lookup(refused).retry

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self._config.items() if v is not None)
        return f"Resilience({shown})"

    # -- introspection -------------------------------------------------------------------

    @property
    def engine(self) -> Engine:
        """The internal engine (for the client proxies and streams)."""
        return self._engine

    def breaker_state(self, key: str) -> str | None:
        """The state of the breaker for *key* (``None`` when breakers are off)."""
        breakers = self._engine.breakers
        return breakers.state(key) if breakers is not None else None

    def stats(self) -> Stats:
        """A frozen snapshot of everything counted so far, per breaker key and in total."""
        engine = self._engine
        states = engine.breakers.states() if engine.breakers is not None else None
        level = engine.budget.level if engine.budget is not None else None
        return engine.stats.snapshot(breaker_states=states, budget_level=level)

    # -- running calls -------------------------------------------------------------------

    def _key_for(self, fn: Callable[..., Any], args: Any, kwargs: Any) -> str:
        key_fn = self._breaker_key
        if key_fn is not None:
            return str(key_fn(*args, **kwargs))
        return _function_key(fn)

    def new_call(
        self,
        key: str,
        model: str | None,
        *,
        via_client: bool = False,
        stream: bool = False,
        operation: str | None = None,
    ) -> CallState:
        """Start the bookkeeping of one call (used by the client proxies and streams)."""
        return CallState(
            self._engine, key, model, via_client=via_client, stream=stream, operation=operation
        )

    def call(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Call ``fn(*args, **kwargs)`` with retries, breaker and logging.

        >>> Resilience().call(int, "42")
        42
        """
        model = kwargs.get("model")
        state = self.new_call(
            self._key_for(fn, args, kwargs), model if isinstance(model, str) else None
        )
        return run_sync(state, lambda _state: fn(*args, **kwargs))

    async def acall(self, fn: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Await ``fn(*args, **kwargs)`` with retries, breaker and logging."""
        model = kwargs.get("model")
        state = self.new_call(
            self._key_for(fn, args, kwargs), model if isinstance(model, str) else None
        )
        return await run_async(state, lambda _state: fn(*args, **kwargs))

    def __call__(self, fn: Callable[P, T]) -> Callable[P, T]:
        """Decorate a function, coroutine function, generator or async generator."""
        if not callable(fn):
            raise TypeError(f"Resilience decorates callables, got {type(fn).__name__}")
        if inspect.isasyncgenfunction(fn):
            return cast(Callable[P, T], decorate_async_generator(self, cast(Any, fn)))
        if inspect.isgeneratorfunction(fn):
            return cast(Callable[P, T], decorate_generator(self, cast(Any, fn)))
        if inspect.iscoroutinefunction(fn):
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
        import openai

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
