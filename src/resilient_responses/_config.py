"""The one global switch: testing mode (no sleeping, optionally capped attempts).

Like stamina's ``set_testing``: a lock-guarded module state, changed through a function
whose return value can also be used as a context manager that restores the previous state.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from types import TracebackType

__all__ = ["TestingState", "get_testing", "set_testing"]


@dataclass(frozen=True, slots=True)
class TestingState:
    """Snapshot of the testing switch."""

    __test__ = False  # not a pytest test class

    enabled: bool = False
    attempts: int | None = None


_lock = threading.Lock()
_state = TestingState()


def get_testing() -> TestingState:
    """Return the current testing state (cheap: one attribute read)."""
    return _state


class _RestoreTesting:
    """Returned by :func:`set_testing`; restores the previous state on ``__exit__``."""

    __slots__ = ("_previous",)

    def __init__(self, previous: TestingState) -> None:
        self._previous = previous

    def __enter__(self) -> TestingState:
        return _state

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        global _state
        with _lock:
            _state = self._previous


def set_testing(testing: bool, *, attempts: int | None = None) -> _RestoreTesting:
    """Turn testing mode on or off for the whole process.

    In testing mode no :class:`~resilient_responses.Resilience` ever sleeps between attempts
    (waits are still computed and logged, so tests can assert on them), and when *attempts*
    is given every call makes at most that many attempts.

    Use it directly, or as a context manager that restores the previous state::

        with set_testing(True, attempts=2):
            ...

    Raises:
        TypeError: *testing* is not a bool.
        ValueError: *attempts* is given and is below 1.
    """
    global _state
    if not isinstance(testing, bool):
        raise TypeError(f"testing must be a bool, got {type(testing).__name__}")
    if attempts is not None and (
        isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1
    ):
        raise ValueError(f"attempts must be None or an int >= 1, got {attempts!r}")
    with _lock:
        previous = _state
        _state = TestingState(enabled=testing, attempts=attempts)
    return _RestoreTesting(previous)
