"""Chaos: seeded, reproducible fault draws."""

from __future__ import annotations

import pytest

from resilient_responses.testing import Chaos, Fault


def _draws(chaos: Chaos, n: int = 300) -> list[str]:
    return [repr(chaos.draw(20)) for _ in range(n)]


def test_same_seed_same_sequence() -> None:
    rates = {"429": 0.1, "500": 0.1, "reset": 0.2, "stall": 0.1, "latency": 0.05}
    assert _draws(Chaos(rates, seed=7)) == _draws(Chaos(rates, seed=7))
    assert _draws(Chaos(rates, seed=7)) != _draws(Chaos(rates, seed=8))


def test_kind_sequence_independent_of_event_counts() -> None:
    a = Chaos.mix("default", seed=3)
    b = Chaos.mix("default", seed=3)
    kinds_a = [getattr(a.draw(5), "kind", None) for _ in range(200)]
    kinds_b = [getattr(b.draw(500), "kind", None) for _ in range(200)]
    assert kinds_a == kinds_b


def test_rates_roughly_respected() -> None:
    chaos = Chaos({"503": 0.25}, seed=1)
    draws = [chaos.draw(0) for _ in range(4000)]
    share = sum(d is not None for d in draws) / len(draws)
    assert 0.2 < share < 0.3
    assert {d for d in draws if d is not None} == {Fault.status(503)}


def test_stream_cut_points_within_event_count() -> None:
    chaos = Chaos({"reset": 1.0}, seed=2)
    cuts = {chaos.draw(10).after_events for _ in range(500)}  # type: ignore[union-attr]
    assert cuts == set(range(10))
    assert Chaos({"truncate": 1.0}, seed=2).draw(0) == Fault.truncate(after_events=0)


def test_every_key_maps_to_a_fault() -> None:
    keys = [
        "429", "500", "502", "503", "504", "insufficient_quota", "connect_error", "timeout",
        "reset", "truncate", "stall", "error_event", "failed", "latency",
    ]  # fmt: skip
    kinds = set()
    for key in keys:
        fault = Chaos({key: 1.0}, seed=0, stall_seconds=9, retry_after=3).draw(4)
        assert fault is not None
        kinds.add(fault.kind)
    assert kinds == {
        "status", "connect_error", "timeout", "reset", "truncate", "stall", "error_event",
        "failed", "latency",
    }  # fmt: skip
    assert Chaos({"429": 1.0}, seed=0, retry_after=3).draw(1) == Fault.status(429, retry_after=3)
    assert Chaos({"stall": 1.0}, seed=0, stall_seconds=9).draw(1) == Fault.stall(
        after_events=0, seconds=9
    )


def test_validation() -> None:
    with pytest.raises(ValueError, match="sum to at most 1"):
        Chaos({"429": 0.6, "500": 0.6}, seed=0)
    with pytest.raises(ValueError, match="unknown chaos key"):
        Chaos({"418": 0.1}, seed=0)
    with pytest.raises(ValueError, match=">= 0"):
        Chaos({"429": -0.1}, seed=0)
    with pytest.raises(TypeError, match="seed"):
        Chaos({"429": 0.1}, seed="x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown chaos mix"):
        Chaos.mix("nope")
    with pytest.raises(ValueError, match="n_events"):
        Chaos({}, seed=0).draw(-1)


def test_mixes() -> None:
    outage = Chaos.mix("outage", seed=0)
    assert all(outage.draw(10) == Fault.status(503) for _ in range(50))
    default = Chaos.mix("default", seed=0)
    assert 0.4 <= 1 - sum(default.rates.values()) <= 0.6
    draws = [default.draw(20) for _ in range(2000)]
    kinds = {d.kind if d is not None else None for d in draws}
    assert kinds == {None, "status", "reset", "truncate", "error_event", "stall"}
    assert any(d is not None and d.retry_after is not None for d in draws)
    assert "default" in Chaos.mixes()


def test_describe() -> None:
    assert Chaos({"429": 0.25}, seed=1).describe() == "Chaos(seed=1): 429 25.0%, clean 75.0%"
    assert "503 100.0%" in Chaos.mix("outage", seed=4).describe()
