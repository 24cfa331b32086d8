"""RateLimit: validated at construction, frozen, the burst of a limit, and the stores
that build its backends."""

from __future__ import annotations

import dataclasses
import math
import time

import pytest

import resilient_responses as rr
from resilient_responses import MemoryStore, RateLimit
from resilient_responses._memory_limiter import MemoryLimiter
from resilient_responses._ratelimit import burst_for


@pytest.mark.parametrize(
    ("kwargs", "exc", "words"),
    [
        ({"requests_per_minute": 0}, ValueError, "requests_per_minute"),
        ({"requests_per_minute": -5}, ValueError, "requests_per_minute"),
        ({"requests_per_minute": math.inf}, ValueError, "requests_per_minute"),
        ({"requests_per_minute": math.nan}, ValueError, "requests_per_minute"),
        ({"requests_per_minute": 1e11}, ValueError, "requests_per_minute"),
        ({"requests_per_minute": "600"}, TypeError, "requests_per_minute"),
        ({"requests_per_minute": True}, TypeError, "requests_per_minute"),
        ({"tokens_per_minute": 0.0}, ValueError, "tokens_per_minute"),
        ({"tokens_per_minute": [1]}, TypeError, "tokens_per_minute"),
        ({"from_headers": 1}, TypeError, "from_headers"),
        ({"burst_seconds": 0}, ValueError, "burst_seconds"),
        ({"burst_seconds": 61}, ValueError, r"\(0, 60\]"),
        ({"burst_seconds": math.nan}, ValueError, "burst_seconds"),
        ({"burst_seconds": "1"}, TypeError, "burst_seconds"),
        ({"from_headers": False}, ValueError, "rate_limit=None"),
    ],
)
def test_bad_values_fail_at_construction_naming_the_parameter(
    kwargs: dict[str, object], exc: type[Exception], words: str
) -> None:
    with pytest.raises(exc, match=words):
        RateLimit(**kwargs)  # type: ignore[arg-type]


def test_defaults_learn_from_headers_with_nothing_configured() -> None:
    config = RateLimit()
    assert config == RateLimit(None, None, True, 1.0)
    assert config.gated  # nothing configured: the first call of a key goes alone
    assert not RateLimit(requests_per_minute=60).gated
    assert not RateLimit(tokens_per_minute=60, from_headers=False).gated


def test_limits_are_stored_as_floats_and_the_config_is_frozen() -> None:
    config = RateLimit(requests_per_minute=600, burst_seconds=2)
    assert config.requests_per_minute == 600.0
    assert isinstance(config.burst_seconds, float)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.requests_per_minute = 1  # type: ignore[misc]
    assert dataclasses.replace(config, tokens_per_minute=1000).tokens_per_minute == 1000.0
    assert not hasattr(config, "__dict__")  # slotted


@pytest.mark.parametrize(
    ("limit", "seconds", "burst"),
    [(1200, 1.0, 20), (600, 1.0, 10), (30, 1.0, 1), (59, 1.0, 1), (90_000, 0.5, 750), (60, 60, 60)],
)
def test_the_burst_is_burst_seconds_worth_and_at_least_one(
    limit: int, seconds: float, burst: int
) -> None:
    assert burst_for(limit, seconds) == burst


def test_exported_at_the_top_and_built_by_the_memory_store() -> None:
    assert rr.RateLimit is RateLimit
    assert "RateLimit" in rr.__all__
    backend = MemoryStore().limiter_backend(RateLimit(), time.monotonic, lambda event: None)
    assert isinstance(backend, MemoryLimiter)


def test_importing_the_package_does_not_import_pyrate_limiter() -> None:
    import subprocess
    import sys

    code = "import sys, resilient_responses; print('pyrate_limiter' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
