"""Validation of configuration values, shared by every config class: errors at construction.

Each check raises a ``TypeError`` (wrong type) or ``ValueError`` (wrong value) whose message
names the parameter and what it accepts, so a bad value fails where it was written, never
later deep inside a call.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

__all__ = [
    "MAX_SECONDS",
    "check_attempts",
    "check_bool",
    "check_callable",
    "check_seconds",
    "edit_distance",
]

#: The longest duration a setting may name: a week. Longer waits are a mistake (and
#: ``time.sleep`` overflows on absurd ones).
MAX_SECONDS = 7 * 86400.0


def check_seconds(
    name: str, value: object, *, allow_zero: bool = True, allow_inf: bool = False
) -> float:
    """A finite number of seconds (``>= 0``, or ``> 0`` without *allow_zero*)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, got {type(value).__name__}")
    seconds = float(value)
    bound = ">= 0" if allow_zero else "> 0"
    if math.isnan(seconds) or seconds < 0 or (not allow_zero and seconds == 0):
        raise ValueError(f"{name} must be a number of seconds {bound}, got {value!r}")
    if math.isinf(seconds) and not allow_inf:
        raise ValueError(f"{name} must be a finite number of seconds {bound}, got {value!r}")
    if seconds > MAX_SECONDS and not math.isinf(seconds):
        raise ValueError(f"{name} must be at most {MAX_SECONDS:g} seconds (a week), got {value!r}")
    return seconds


def check_attempts(name: str, value: object) -> int:
    """An ``int >= 1`` (attempts, thresholds, probe counts)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int >= 1, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    return value


def check_bool(name: str, value: object) -> bool:
    """``True`` or ``False`` (not a truthy value)."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__}")
    return value


def check_callable(name: str, value: object, takes: str) -> Callable[..., Any]:
    """A callable; *takes* says what it is called with, for the message."""
    if not callable(value):
        raise TypeError(f"{name} must be a callable {takes}, got {type(value).__name__}")
    return value


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance: insertions, deletions and substitutions from *a* to *b*."""
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]
