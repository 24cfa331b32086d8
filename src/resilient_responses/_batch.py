"""Run many ``responses.create`` calls with bounded concurrency; one outcome per request.

:func:`run_batch` (threads) and :func:`arun_batch` (asyncio) send each request through a
resilient client, so every item gets the engine's retries, breaker and rate limiting.
One item's failure is that item's :class:`Outcome`; it never stops the batch.

Concurrency is a bulkhead of *concurrency* slots: the runner keeps at most that many
calls started and not finished, and starts the next request only when one ends (a bounded
thread pool for the sync runner; a window of tasks for the async one, which is a
semaphore whose holders are the tasks themselves). The input is read and every request
validated before the first is sent (a malformed one, or a parameter ``responses.create``
does not take, fails the whole batch up front, never half-way); each outcome is handed to
*on_outcome* as soon as it exists.

Interruption: ``KeyboardInterrupt``, task cancellation and any error raised by a callback
propagate unchanged (never converted, never swallowed). Before they leave, the runner
starts nothing new; the async runner cancels the calls in flight (a cancelled call has no
outcome), the sync runner lets its running calls end (a thread cannot be interrupted)
and reports them. Every outcome that exists by then has gone to *on_outcome*: that
callback is how a caller keeps the partial results::

    finished: list[Outcome] = []
    try:
        outcomes = run_batch(client, requests, on_outcome=finished.append)
    except KeyboardInterrupt:
        save(finished)  # everything that completed, in completion order
        raise
"""

from __future__ import annotations

import asyncio
import contextvars
import difflib
import inspect
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import openai
from openai.resources.responses import Responses
from openai.types.responses import Response

from ._chat import async_resilient_client, resilient_client
from .events import CallReport, observe_calls
from .exceptions import add_note

__all__ = ["Outcome", "arun_batch", "run_batch"]

ProgressCallback = Callable[[int, int], None]
OutcomeCallback = Callable[["Outcome"], None]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one request of a batch.

    Attributes:
        index: the request's position in the input, from 0.
        request: the ``responses.create`` keyword arguments sent (read-only; without
            ``custom_id``).
        response: the SDK's ``Response`` when the call returned one (its ``status`` may
            be ``"incomplete"``: a normal outcome, as for the SDK).
        error: the exception the call raised (the SDK's own after the engine gave up,
            ``CircuitOpenError``, ...), when it raised.
        attempts: HTTP requests the call sent (0 when nothing was sent).
        custom_id: the request's ``custom_id``, if it had one.
        elapsed_s: seconds the call took.

    >>> Outcome(index=0, request={"model": "m", "input": "hi"}, error=ValueError("x")).ok
    False
    """

    index: int
    request: Mapping[str, Any]
    response: Response | None = None
    error: Exception | None = None
    attempts: int = 0
    custom_id: str | None = None
    elapsed_s: float = 0.0

    def __post_init__(self) -> None:
        if (self.response is None) == (self.error is None):
            raise ValueError("an Outcome has exactly one of response and error")

    @property
    def ok(self) -> bool:
        """The call returned a response (it did not raise)."""
        return self.error is None


@dataclass(frozen=True, slots=True)
class _Item:
    index: int
    body: Mapping[str, Any]
    custom_id: str | None


#: What ``responses.create`` takes (``custom_id`` is the batch's own, removed before).
_CREATE_PARAMETERS = frozenset(
    name for name in inspect.signature(Responses.create).parameters if name != "self"
)


def _items(requests: Iterable[Mapping[str, Any]]) -> list[_Item]:
    """Validate every request before anything is sent."""
    if isinstance(requests, (str, bytes, Mapping)) or not isinstance(requests, Iterable):
        raise TypeError(
            f"requests must be an iterable of keyword dicts, got {type(requests).__name__}"
        )
    items = []
    for index, request in enumerate(requests):
        if not isinstance(request, Mapping):
            raise TypeError(f"requests[{index}] must be a dict, got {type(request).__name__}")
        body = dict(request)
        custom_id = body.pop("custom_id", None)
        if custom_id is not None and not isinstance(custom_id, str):
            raise TypeError(f"requests[{index}].custom_id must be a str, got {custom_id!r}")
        if body.get("stream"):
            raise ValueError(f"requests[{index}]: stream=True is not supported in a batch")
        unknown = unknown_parameter(body)
        if unknown:
            raise TypeError(f"requests[{index}]: {unknown}")
        items.append(_Item(index, MappingProxyType(body), custom_id))
    return items


def unknown_parameter(body: Mapping[str, Any]) -> str | None:
    """What is wrong with the first name in *body* that ``responses.create`` does not
    take (with the nearest one it does), or ``None``."""
    unknown = sorted(name for name in body if name not in _CREATE_PARAMETERS)
    if not unknown:
        return None
    near = difflib.get_close_matches(unknown[0], _CREATE_PARAMETERS, n=1)
    hint = f" (did you mean {near[0]!r}?)" if near else ""
    return f"{unknown[0]!r} is not a responses.create parameter{hint}"


def _check(concurrency: int, on_progress: object, on_outcome: object) -> None:
    if isinstance(concurrency, bool) or not isinstance(concurrency, int):
        raise TypeError(f"concurrency must be an int, got {type(concurrency).__name__}")
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}")
    for name, callback in (("on_progress", on_progress), ("on_outcome", on_outcome)):
        if callback is not None and not callable(callback):
            raise TypeError(f"{name} must be callable or None")


def _outcome(
    item: _Item,
    reports: list[CallReport],
    started: float,
    response: Response | None = None,
    error: Exception | None = None,
) -> Outcome:
    return Outcome(
        index=item.index,
        request=item.body,
        response=response,
        error=error,
        attempts=sum(report.attempts for report in reports),
        custom_id=item.custom_id,
        elapsed_s=time.perf_counter() - started,
    )


class _Results:
    """Outcomes in input order, and the callbacks (always called from the runner)."""

    __slots__ = ("done", "on_outcome", "on_progress", "outcomes")

    def __init__(
        self,
        total: int,
        on_progress: ProgressCallback | None,
        on_outcome: OutcomeCallback | None,
    ) -> None:
        self.outcomes: list[Outcome | None] = [None] * total
        self.done = 0
        self.on_progress = on_progress
        self.on_outcome = on_outcome

    def record(self, outcome: Outcome) -> None:
        self.outcomes[outcome.index] = outcome
        self.done += 1
        if self.on_outcome is not None:
            self.on_outcome(outcome)
        if self.on_progress is not None:
            self.on_progress(self.done, len(self.outcomes))

    def salvage(self, outcomes: Iterable[Outcome]) -> None:
        """Record the outcomes of calls that ended while the batch was being stopped: each
        goes to *on_outcome* (progress is over). An *on_outcome* that raises again is not
        called again, and its error is noted on the interruption instead of replacing it."""
        interruption = sys.exc_info()[1]
        for outcome in outcomes:
            self.outcomes[outcome.index] = outcome
            self.done += 1
            if self.on_outcome is None:
                continue
            try:
                self.on_outcome(outcome)
            except Exception as exc:
                if interruption is None:
                    raise
                add_note(
                    interruption,
                    f"on_outcome raised {type(exc).__name__} again while the batch stopped; "
                    "the outcomes after it were not passed to it",
                )
                self.on_outcome = None

    def finished(self) -> list[Outcome]:
        missing = [n for n, outcome in enumerate(self.outcomes) if outcome is None]
        if missing:  # pragma: no cover - the loops record every item before returning
            raise RuntimeError(f"batch ended without outcomes for {missing[:5]}")
        return [outcome for outcome in self.outcomes if outcome is not None]


# -- sync ------------------------------------------------------------------------------


def _call(client: openai.OpenAI, item: _Item) -> Outcome:
    reports: list[CallReport] = []
    started = time.perf_counter()
    with observe_calls(reports.append):
        try:
            response = client.responses.create(**item.body)
        except Exception as exc:  # noqa: BLE001 - an item's failure is its outcome, not the batch's
            return _outcome(item, reports, started, error=exc)
    return _outcome(item, reports, started, response=response)


def run_batch(
    client: openai.OpenAI,
    requests: Iterable[Mapping[str, Any]],
    *,
    concurrency: int = 5,
    on_progress: ProgressCallback | None = None,
    on_outcome: OutcomeCallback | None = None,
) -> list[Outcome]:
    """Send every request (``responses.create`` keyword dicts) with at most *concurrency*
    in flight; return one :class:`Outcome` per request, in input order.

    *client* is a :class:`~resilient_responses.ResilientOpenAI` (a plain ``openai.OpenAI``
    is wrapped). A ``custom_id`` key is removed before sending and kept on the outcome.
    ``on_progress(done, total)`` and ``on_outcome(outcome)`` are called from the calling
    thread after each item. Calls run on worker threads, each in a copy of the caller's
    ``contextvars`` context (so ``observe_calls`` and bound log context see them).

    >>> from resilient_responses.testing import FakeResponsesAPI
    >>> outcomes = run_batch(FakeResponsesAPI().client(),
    ...                      [{"model": "gpt-5-mini", "input": "hi", "custom_id": "a"}])
    >>> [(o.custom_id, o.ok, o.attempts, o.response.status) for o in outcomes]
    [('a', True, 1, 'completed')]
    """
    _check(concurrency, on_progress, on_outcome)
    resilient = resilient_client(client, who="run_batch")
    items = _items(requests)
    results = _Results(len(items), on_progress, on_outcome)
    pending = iter(items)
    running: set[Future[Outcome]] = set()
    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="rr-batch")
    try:
        while True:
            for item in pending:
                context = contextvars.copy_context()
                running.add(pool.submit(context.run, _call, resilient, item))
                if len(running) >= concurrency:
                    break
            if not running:
                return results.finished()
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in sorted(finished, key=_index_of):
                # Out of `running` only once recorded: if a callback raises, the rest are
                # still reported on the way out.
                running.discard(future)
                results.record(future.result())
    finally:
        # Normally empty. Interrupted: start nothing new, let the running calls end (a
        # thread cannot be interrupted), and report them before the interruption leaves.
        pool.shutdown(wait=True, cancel_futures=True)
        results.salvage(_ended(running))


# -- async -----------------------------------------------------------------------------


async def _acall(client: openai.AsyncOpenAI, item: _Item) -> Outcome:
    reports: list[CallReport] = []
    started = time.perf_counter()
    with observe_calls(reports.append):
        try:
            response = await client.responses.create(**item.body)
        except Exception as exc:  # noqa: BLE001 - an item's failure is its outcome, not the batch's
            return _outcome(item, reports, started, error=exc)
    return _outcome(item, reports, started, response=response)


async def arun_batch(
    client: openai.AsyncOpenAI,
    requests: Iterable[Mapping[str, Any]],
    *,
    concurrency: int = 5,
    on_progress: ProgressCallback | None = None,
    on_outcome: OutcomeCallback | None = None,
) -> list[Outcome]:
    """The async twin of :func:`run_batch`, over an
    :class:`~resilient_responses.AsyncResilientOpenAI` (a plain ``openai.AsyncOpenAI`` is
    wrapped).

    Each call runs in its own task. Cancelling ``arun_batch`` cancels the calls in flight,
    waits for them to unwind, and re-raises the ``CancelledError``; the outcomes that
    finished before went to *on_outcome*.

    Example::

        outcomes = await arun_batch(client, requests, concurrency=20)
        failed = [o for o in outcomes if not o.ok]
    """
    _check(concurrency, on_progress, on_outcome)
    resilient = async_resilient_client(client, who="arun_batch")
    items = _items(requests)
    results = _Results(len(items), on_progress, on_outcome)
    pending = iter(items)
    running: set[asyncio.Task[Outcome]] = set()
    try:
        while True:
            for item in pending:
                running.add(asyncio.create_task(_acall(resilient, item)))
                if len(running) >= concurrency:
                    break
            if not running:
                return results.finished()
            finished, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            for task in sorted(finished, key=_index_of):
                running.discard(task)
                results.record(task.result())
    finally:
        # Normally empty. Cancelled or interrupted: cancel what runs and wait for it to
        # unwind, so no call outlives the batch; what had finished is still reported; the
        # interruption then goes on unchanged.
        for task in running:
            task.cancel()
        if running:
            await asyncio.wait(running)
        results.salvage(_ended(running))


def _index_of(done: Future[Outcome] | asyncio.Task[Outcome]) -> int:
    # Calls that finish together are recorded in input order: deterministic callbacks.
    return done.result().index


def _ended(
    calls: Iterable[Future[Outcome]] | Iterable[asyncio.Task[Outcome]],
) -> list[Outcome]:
    """The outcomes of the calls that ended with one (not cancelled), in input order."""
    ended = [c.result() for c in calls if not c.cancelled() and c.exception() is None]
    return sorted(ended, key=lambda outcome: outcome.index)
