"""What to do with a failure: policies, the default table, and the pure decision function.

Nothing here does I/O or keeps state. :func:`decide` takes a :class:`Failure` and what is
known about the call so far and returns a :class:`Decision` (retry after *wait* seconds, or
give up and why). The sync and async retry loops, and the stream recovery, all call it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, get_args

import tenacity

from ._checks import check_attempts, check_bool, check_seconds, edit_distance
from ._classify import KNOWN_ERROR_CODES, Failure, FailureKind

__all__ = [
    "DEFAULT_POLICIES",
    "GIVE_UP_REASONS",
    "Backoff",
    "Decision",
    "ErrorPolicy",
    "Fallbacks",
    "GiveUpReason",
    "PolicyKey",
    "PolicyTable",
    "Situation",
    "check_fallbacks",
    "choose_fallback",
    "decide",
    "pace",
    "trips",
]

JitterMode = Literal["full", "equal", "none"]
_JITTERS = ("full", "equal", "none")

#: Failure kinds a policy can be keyed on (the other strings are OpenAI error codes).
FAILURE_KINDS = frozenset(get_args(FailureKind)) - {"status"}

#: Error codes the server declares inside a stream, mapped to the HTTP status the same
#: condition has outside a stream, so ``{429: ...}`` governs rate limits in both places.
_STREAM_CODE_STATUS: Mapping[str, int] = MappingProxyType(
    {"rate_limit_exceeded": 429, "server_error": 500}
)

PolicyKey = str | int | type[BaseException]


class _Attempt:
    """The one attribute tenacity's wait strategies read from a ``RetryCallState``."""

    __slots__ = ("attempt_number",)

    def __init__(self, attempt_number: int) -> None:
        self.attempt_number = attempt_number


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff between attempts, built on tenacity's wait strategies.

    The n-th wait (n = 1 after the first failure) is drawn from
    ``initial * multiplier ** (n - 1)``, capped at *maximum*:

    - ``jitter="full"`` (default): uniformly in ``[0, cap]`` (tenacity's
      ``wait_random_exponential``; AWS's "full jitter", best against synchronised retries),
    - ``jitter="equal"``: half fixed, half random, in ``[cap/2, cap]``,
    - ``jitter="none"``: exactly the cap (``wait_exponential``).

    >>> Backoff(initial=1.0, maximum=8.0, jitter="none").compute(4)
    8.0
    """

    initial: float = 0.5
    maximum: float = 30.0
    multiplier: float = 2.0
    jitter: JitterMode = "full"
    _strategy: Any = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        initial = check_seconds("Backoff.initial", self.initial)
        maximum = check_seconds("Backoff.maximum", self.maximum)
        if isinstance(self.multiplier, bool) or not isinstance(self.multiplier, (int, float)):
            raise TypeError("Backoff.multiplier must be a number >= 1")
        if math.isnan(self.multiplier) or self.multiplier < 1 or math.isinf(self.multiplier):
            raise ValueError(
                f"Backoff.multiplier must be a finite number >= 1, got {self.multiplier!r}"
            )
        if self.jitter not in _JITTERS:
            raise ValueError(f"Backoff.jitter must be one of {_JITTERS}, got {self.jitter!r}")
        strategy: tenacity.wait.wait_base
        if self.jitter == "full":
            strategy = tenacity.wait_random_exponential(
                multiplier=initial, max=maximum, exp_base=self.multiplier
            )
        elif self.jitter == "none":
            strategy = tenacity.wait_exponential(
                multiplier=initial, max=maximum, exp_base=self.multiplier
            )
        else:
            half = tenacity.wait_exponential(
                multiplier=initial / 2, max=maximum / 2, exp_base=self.multiplier
            )
            strategy = half + tenacity.wait_random_exponential(
                multiplier=initial / 2, max=maximum / 2, exp_base=self.multiplier
            )
        object.__setattr__(self, "_strategy", strategy)

    def compute(self, attempt_number: int) -> float:
        """The wait after failed attempt *attempt_number* (1-based), in seconds."""
        wait = float(self._strategy(_Attempt(attempt_number)))
        return min(max(wait, 0.0), self.maximum)


@dataclass(frozen=True, slots=True)
class ErrorPolicy:
    """What to do with one kind of failure.

    Attributes:
        retry: retry at all.
        attempts: total attempts allowed when this failure is the last one seen
            (``None``: the ``Resilience``'s ``attempts``).
        backoff: the wait between attempts (``None``: the ``Resilience``'s ``backoff``).
        respect_retry_after: wait what the server's Retry-After asks instead of backing off.
        max_retry_after: a Retry-After above this many seconds means give up now: waiting
            less than the server asked only earns another 429.
        trips_breaker: whether this failure counts against the circuit breaker. A failure
            that does not trip it counts as a success (the server answered).

    >>> never = ErrorPolicy.never()
    >>> never.retry, never.trips_breaker
    (False, False)
    """

    retry: bool = True
    attempts: int | None = None
    backoff: Backoff | None = None
    respect_retry_after: bool = True
    max_retry_after: float = 120.0
    trips_breaker: bool = True

    def __post_init__(self) -> None:
        check_bool("ErrorPolicy.retry", self.retry)
        if self.attempts is not None:
            check_attempts("ErrorPolicy.attempts", self.attempts)
        if self.backoff is not None and not isinstance(self.backoff, Backoff):
            raise TypeError("ErrorPolicy.backoff must be a Backoff or None")
        check_seconds("ErrorPolicy.max_retry_after", self.max_retry_after)
        check_bool("ErrorPolicy.trips_breaker", self.trips_breaker)
        check_bool("ErrorPolicy.respect_retry_after", self.respect_retry_after)

    @classmethod
    def never(cls) -> ErrorPolicy:
        """Fail at once and leave the circuit breaker untouched."""
        return cls(retry=False, trips_breaker=False)


_NEVER = ErrorPolicy.never()
_RETRY_NO_TRIP = ErrorPolicy(trips_breaker=False)
_RETRY = ErrorPolicy()

#: The default table (the README's "What happens to each failure"). User policies are
#: merged over it.
DEFAULT_POLICIES: Mapping[PolicyKey, ErrorPolicy] = MappingProxyType(
    {
        400: _NEVER,
        401: _NEVER,
        403: _NEVER,
        404: _NEVER,
        422: _NEVER,
        "insufficient_quota": _NEVER,
        "context_length_exceeded": _NEVER,
        "invalid_prompt": _NEVER,
        429: _RETRY_NO_TRIP,
        408: _RETRY,
        409: _RETRY,
        "connection": _RETRY,
        "timeout": _RETRY,
        "stream_truncated": _RETRY,
        "stream_stalled": _RETRY,
        "stream_sequence": _RETRY,
        # No free connection in our own pool: retried, but the server did nothing wrong.
        "pool_timeout": _RETRY_NO_TRIP,
        # A failure the server declared in a stream with a code that is not known to be
        # transient: deliver it, do not retry, but count it against the breaker.
        "stream_error": ErrorPolicy(retry=False, trips_breaker=True),
        # Our own breaker refused: fail fast by default. A retrying policy here makes
        # callers wait for the breaker's next probe within their deadline instead.
        "circuit_open": _NEVER,
    }
)
_SERVER_ERROR = _RETRY  # any 5xx not named in the table
_CLIENT_ERROR = _NEVER  # any other 4xx: the caller's request is wrong


def _check_key(key: object) -> PolicyKey:
    if isinstance(key, bool):
        raise TypeError(
            "policies keys must be an error code str, an HTTP status int, an exception class "
            "or a failure kind; got a bool"
        )
    if isinstance(key, int):
        if not 100 <= key <= 599:
            raise ValueError(f"policies key {key!r} is not an HTTP status (100..599)")
        return key
    if isinstance(key, str):
        if not key:
            raise ValueError("policies keys must not be empty strings")
        if key not in FAILURE_KINDS and key not in KNOWN_ERROR_CODES:
            _check_typo(key)
        return key
    if isinstance(key, type) and issubclass(key, BaseException):
        return key
    raise TypeError(
        "policies keys must be an OpenAI error code (str), an HTTP status (int), an exception "
        f"class or a failure kind ({', '.join(sorted(FAILURE_KINDS))}); got {key!r}"
    )


def _check_typo(key: str) -> None:
    """A key that is neither a failure kind nor a known error code but within two edits of
    one is a typo: it would silently never match."""
    known = sorted(FAILURE_KINDS | KNOWN_ERROR_CODES)
    distance, near = min((edit_distance(key, name), name) for name in known)
    if distance <= 2:
        raise ValueError(
            f"policies key {key!r} is neither a failure kind nor a known OpenAI error code; "
            f"did you mean {near!r}? (failure kinds: {', '.join(sorted(FAILURE_KINDS))})"
        )


class PolicyTable:
    """The defaults with the user's policies merged over them, and the lookup by specificity.

    Lookup order, most specific first: the OpenAI error code, the exception class (most
    derived first), the HTTP status (for errors declared inside a stream, the status the
    same code has outside one: ``rate_limit_exceeded`` -> 429, ``server_error`` -> 500),
    then the failure kind; an HTTP status not in the table falls back to "retry and trip
    the breaker" for 5xx and "fail at once" for 4xx.
    """

    __slots__ = ("_by_code", "_by_exc", "_by_kind", "_by_status", "_cache")

    def __init__(self, policies: Mapping[Any, ErrorPolicy] | None = None) -> None:
        if policies is not None and not isinstance(policies, Mapping):
            raise TypeError(f"policies must be a mapping, got {type(policies).__name__}")
        merged: dict[PolicyKey, ErrorPolicy] = dict(DEFAULT_POLICIES)
        for key, policy in (policies or {}).items():
            checked = _check_key(key)
            if not isinstance(policy, ErrorPolicy):
                raise TypeError(
                    f"policies[{key!r}] must be an ErrorPolicy, got {type(policy).__name__}"
                )
            merged[checked] = policy
        self._by_code: dict[str, ErrorPolicy] = {}
        self._by_kind: dict[str, ErrorPolicy] = {}
        self._by_status: dict[int, ErrorPolicy] = {}
        self._by_exc: dict[type[BaseException], ErrorPolicy] = {}
        for key, policy in merged.items():
            if isinstance(key, int):
                self._by_status[key] = policy
            elif isinstance(key, str):
                (self._by_kind if key in FAILURE_KINDS else self._by_code)[key] = policy
            else:
                self._by_exc[key] = policy
        self._cache: dict[type[BaseException], ErrorPolicy | None] = {}

    def _exception_policy(self, exc_type: type[BaseException]) -> ErrorPolicy | None:
        try:
            return self._cache[exc_type]
        except KeyError:
            found = next((self._by_exc[c] for c in exc_type.__mro__ if c in self._by_exc), None)
            self._cache[exc_type] = found
            return found

    def lookup(self, failure: Failure) -> ErrorPolicy:
        """The policy that governs *failure*."""
        if failure.code is not None:
            policy = self._by_code.get(failure.code)
            if policy is not None:
                return policy
        if self._by_exc and failure.exception is not None:
            policy = self._exception_policy(type(failure.exception))
            if policy is not None:
                return policy
        status = failure.status
        if status is None and failure.kind == "stream_error" and failure.code is not None:
            status = _STREAM_CODE_STATUS.get(failure.code)
        if status is not None:
            policy = self._by_status.get(status)
            if policy is not None:
                return policy
            if failure.kind == "status":
                return _SERVER_ERROR if status >= 500 else _CLIENT_ERROR
            return _SERVER_ERROR if status >= 500 else _RETRY_NO_TRIP
        return self._by_kind.get(failure.kind, _RETRY)


#: Why a call stopped retrying; every give-up the library reports carries one of these.
GiveUpReason = Literal[
    "not_retryable",  # the failure's policy never retries it (a 400, insufficient_quota)
    "server_declined",  # the server answered x-should-retry: false
    "request_too_large",  # a 429 for a request above the whole tokens-per-minute limit
    "not_recoverable",  # a stream that may be neither resumed nor restarted (output seen)
    "attempts_exhausted",  # the policy's attempts (or the testing cap) are used up
    "retry_after_too_long",  # the server asked for a wait above max_retry_after
    "deadline",  # the next wait would end past the call's deadline
    "breaker_open",  # the circuit breaker opened while the call was retrying
    "retry_budget",  # the retry budget has no token left: an outage, not a blip
    "rate_limited",  # waiting for rate-limit capacity would pass the deadline
]
GIVE_UP_REASONS: frozenset[str] = frozenset(get_args(GiveUpReason))


@dataclass(frozen=True, slots=True)
class Situation:
    """Everything the engine knows when an attempt has failed: the whole input of
    :func:`decide`, frozen so the decision can be replayed and property-tested.

    Attributes:
        failure: what went wrong.
        policy: the :class:`ErrorPolicy` that governs it (``PolicyTable.lookup``).
        attempt: the number the policy's limit applies to: the attempts of the call so far
            (since a stream's last progress), or the waits for an open breaker.
        attempts: the call's default limit, when the policy sets none.
        backoff: the call's default backoff, when the policy sets none.
        elapsed: seconds since the call began (since a stream's last progress).
        deadline: the call's deadline in seconds, ``None`` for none.
        testing_attempts: the cap of ``set_testing(True, attempts=n)``, if any.
        recoverable: ``False`` for a stream that may be neither resumed nor restarted.
        breaker_open: the call's breaker is open now (and the call does not wait for it).
        budget_left: the retry budget granted a token (``True`` when there is no budget).
    """

    failure: Failure
    policy: ErrorPolicy
    attempt: int
    attempts: int
    backoff: Backoff
    elapsed: float
    deadline: float | None
    testing_attempts: int | None = None
    recoverable: bool = True
    breaker_open: bool = False
    budget_left: bool = True


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of :func:`decide`: retry after :attr:`wait` seconds, or give up and why."""

    retry: bool
    wait: float = 0.0
    reason: GiveUpReason | None = None
    policy: ErrorPolicy = _RETRY


def trips(decision: Decision, progressed: bool) -> bool:
    """Whether the breaker counts the failure: its policy trips it, unless a stream that
    was delivering events is recovered (the fault was on the way, not at the server)."""
    return decision.policy.trips_breaker and not (progressed and decision.retry)


def pace(wait: float, *, elapsed: float, deadline: float | None) -> Decision:
    """Wait *wait* seconds for rate-limit capacity before sending, or give up now.

    Pure. A wait that would end past the *deadline* (seconds since the call began) is
    never slept: the call gives up at once (``"rate_limited"``), without sending.
    """
    if deadline is not None and elapsed + wait > deadline:
        return Decision(False, reason="rate_limited")
    return Decision(True, wait=wait)


def decide(situation: Situation) -> Decision:
    """Retry after a wait, or give up and why: every give-up of the library is decided here.

    Pure (apart from the backoff's jitter). In order: the policy must retry at all, the
    server must not have said ``x-should-retry: false`` nor that the request is larger
    than the whole tokens-per-minute limit (no policy retries that), a stream must still be
    recoverable, attempts must be left (the policy's own limit, else the call's, capped in
    testing mode); the wait is the server's Retry-After when the policy respects it (one
    above ``max_retry_after`` means give up now: waiting less earns another 429), else the
    backoff; a wait that would end past the deadline is never slept; last, an open breaker
    and an empty retry budget veto the retry. The engine looks those two up only when
    everything before them says retry, and decides again with what it found.
    """
    s = situation
    policy = s.policy
    if not policy.retry:
        return Decision(False, reason="not_retryable", policy=policy)
    if s.failure.should_retry is False:
        return Decision(False, reason="server_declined", policy=policy)
    if s.failure.oversized:
        return Decision(False, reason="request_too_large", policy=policy)
    if not s.recoverable:
        return Decision(False, reason="not_recoverable", policy=policy)
    limit = policy.attempts if policy.attempts is not None else s.attempts
    if s.testing_attempts is not None:
        limit = min(limit, s.testing_attempts)
    if s.attempt >= limit:
        return Decision(False, reason="attempts_exhausted", policy=policy)
    retry_after = s.failure.retry_after
    if policy.respect_retry_after and retry_after is not None and retry_after > 0:
        if retry_after > policy.max_retry_after:
            return Decision(False, reason="retry_after_too_long", policy=policy)
        wait = retry_after
    else:
        wait = (policy.backoff or s.backoff).compute(s.attempt)
    if s.deadline is not None and s.elapsed + wait > s.deadline:
        return Decision(False, reason="deadline", policy=policy)
    if s.breaker_open:
        return Decision(False, reason="breaker_open", policy=policy)
    if not s.budget_left:
        return Decision(False, reason="retry_budget", policy=policy)
    return Decision(True, wait=wait, policy=policy)


#: Give-ups after which another model may succeed: the primary kept failing in a way that
#: retrying it could have fixed (load, an outage), or refused a request too large for its
#: own quota; not the caller's own mistake.
_FALLBACK_REASONS = frozenset(
    {
        "attempts_exhausted",
        "deadline",
        "retry_budget",
        "breaker_open",
        "retry_after_too_long",
        "request_too_large",  # another model has a tokens-per-minute limit of its own
    }
)

Fallbacks = Mapping[str, tuple[str, ...]]


def check_fallbacks(name: str, value: object) -> Fallbacks:
    """``{"model": ("fallback", ...)}``, validated and frozen."""
    if value is None:
        return MappingProxyType({})
    if not isinstance(value, Mapping):
        raise TypeError(f"{name} must be a mapping model -> (fallback models), got {value!r}")
    checked: dict[str, tuple[str, ...]] = {}
    for model, chain in value.items():
        if not isinstance(model, str) or not model:
            raise TypeError(f"{name} keys must be model names (non-empty str), got {model!r}")
        models = (chain,) if isinstance(chain, str) else chain
        if not isinstance(models, (tuple, list)) or not all(
            isinstance(m, str) and m for m in models
        ):
            raise TypeError(f"{name}[{model!r}] must be a tuple of model names, got {chain!r}")
        if model in models:
            raise ValueError(f"{name}[{model!r}] names {model!r} itself as its fallback")
        checked[model] = tuple(dict.fromkeys(models))
    return MappingProxyType(checked)


def choose_fallback(
    failure: Failure | None,
    reason: str,
    *,
    retryable: bool,
    model: str,
    fallbacks: Fallbacks,
    context_fallbacks: Fallbacks,
    tried: tuple[str, ...] = (),
) -> str | None:
    """The model a call on *model* goes on with after giving up, or ``None``.

    Pure. A call falls back when its primary refused it with an open breaker
    (*reason* ``"circuit_open"``), or gave up on a failure its policy retries
    (*retryable*) for a reason another model can change (attempts, deadline, retry budget,
    breaker, an overlong Retry-After, a request above the primary's whole tokens-per-minute
    limit): the next model of ``fallbacks[model]`` not *tried*
    yet. ``context_length_exceeded`` goes only to ``context_fallbacks[model]`` (a model with
    a longer context). Never on the caller's own errors (400, 401, 403, 404,
    ``insufficient_quota``): another model would fail the same way.
    """
    code = failure.code if failure is not None else None
    if code == "context_length_exceeded":
        chain = context_fallbacks.get(model, ())
    elif reason == "circuit_open" or (retryable and reason in _FALLBACK_REASONS):
        chain = fallbacks.get(model, ())
    else:
        return None
    return next((m for m in chain if m not in tried and m != model), None)
