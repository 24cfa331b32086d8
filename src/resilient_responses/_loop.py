"""The retry loops: tenacity drives them, ``CallState`` and ``decide`` rule them.

Each loop only does I/O: run an attempt, sleep the decided wait. :class:`CallState` is
plugged into tenacity as the ``retry`` predicate and the ``wait`` strategy, so the sync
loop (``tenacity.Retrying``) and the async loop (``tenacity.AsyncRetrying``) share every
decision and differ only in ``await``.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx2
import openai
import tenacity

from ._call import CallState, DeclaredFailure

__all__ = ["run_async", "run_sync"]

T = TypeVar("T")

#: What an attempt can raise with a retry decided: every exception `classify` knows (SDK
#: and httpx errors, our CircuitOpenError while waiting for the breaker) and a declared
#: failure. Anything else passes through untouched.
_MAY_RETRY = (openai.OpenAIError, httpx2.HTTPError, DeclaredFailure)


def _retry(state: CallState) -> Callable[[Any], bool]:
    def retry(_: Any) -> bool:
        return state.decision is not None and state.decision.retry

    return retry


def _wait(state: CallState) -> Callable[[Any], float]:
    def wait(_: Any) -> float:
        return state.decision.wait if state.decision is not None else 0.0

    return wait


def _retrying(state: CallState) -> dict[str, Any]:
    return {"retry": _retry(state), "wait": _wait(state), "stop": tenacity.stop_never}


def _once(state: CallState, fn: Callable[[CallState], T]) -> T:
    state.begin()
    done = False
    try:
        result = fn(state)
        done = True
    finally:
        # Not `except`: cancellation and the caller's own errors pass through untouched,
        # only their outcome is recorded (`failed` ignores what it cannot classify).
        if not done:
            state.failed(sys.exc_info()[1])
    state.settle(result)
    return result


async def _aonce(state: CallState, fn: Callable[[CallState], Awaitable[T]]) -> T:
    await state.abegin()
    done = False
    try:
        result = await fn(state)
        done = True
    finally:
        if not done:
            await state.afailed(sys.exc_info()[1])
    await state.asettle(result)
    return result


def run_sync(state: CallState, fn: Callable[[CallState], T]) -> T:
    """Call ``fn(state)`` until it succeeds or :func:`decide` gives up.

    The first attempt runs before tenacity's machinery is built: most calls succeed at
    once and should not pay for a retry loop they do not use. From the first retry on,
    tenacity drives the loop, with the call's decisions as its ``retry`` and ``wait``.
    """
    try:
        try:
            return _once(state, fn)
        except _MAY_RETRY:
            if state.decision is None or not state.decision.retry:
                raise
        state.engine.sleep(state.decision.wait)
        for attempt in tenacity.Retrying(
            sleep=state.engine.sleep, reraise=True, **_retrying(state)
        ):
            with attempt:
                return _once(state, fn)
        raise AssertionError("unreachable")  # pragma: no cover
    finally:
        if not state.finished:  # left while waiting between attempts (cancelled)
            state.abandon(sys.exc_info()[1])


async def run_async(state: CallState, fn: Callable[[CallState], Awaitable[T]]) -> T:
    """The async twin of :func:`run_sync`."""
    try:
        try:
            return await _aonce(state, fn)
        except _MAY_RETRY:
            if state.decision is None or not state.decision.retry:
                raise
        await state.engine.asleep(state.decision.wait)
        async for attempt in tenacity.AsyncRetrying(
            sleep=state.engine.asleep, reraise=True, **_retrying(state)
        ):
            with attempt:
                return await _aonce(state, fn)
        raise AssertionError("unreachable")  # pragma: no cover
    finally:
        if not state.finished:
            state.abandon(sys.exc_info()[1])
