"""The ``resilient-responses demo``: it runs end to end and the table says what it claims.

Each run serves the fake over real HTTP on 127.0.0.1 and sends the same requests through the
raw SDK, a naive retry loop and the library, under the same seeded chaos.
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from typing import Any

import pytest

from resilient_responses.cli import main
from resilient_responses.cli._demo import (
    DemoConfig,
    OutageChaos,
    expected_text,
    kind_of,
    make_chaos,
    text_for_body,
)
from resilient_responses.testing import Fault

SMALL = ["demo", "--concurrency", "8", "--seed", "1", "--json", "--no-progress"]
#: The faults are drawn in the order requests reach the fake, which concurrency shuffles:
#: with 40 requests about one run in fifty gave no background stream a transport fault (so
#: nothing to resume, and the claims below were untested). With 90, one in ten thousand.
NO_OUTAGE_REQUESTS = 90
WITH_OUTAGE_REQUESTS = 40


@pytest.fixture(scope="module")
def no_outage() -> dict[str, Any]:
    """One small demo run without the 503 outage (shared by the tests below)."""
    return _main_json("--requests", str(NO_OUTAGE_REQUESTS), "--outage-seconds", "0")


@pytest.fixture(scope="module")
def with_outage() -> dict[str, Any]:
    """One small demo run with the default 503 outage half way through."""
    return _main_json("--requests", str(WITH_OUTAGE_REQUESTS))


def _main_json(*extra: str) -> dict[str, Any]:
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert main([*SMALL, *extra]) == 0
    # stdout holds the JSON and nothing else
    report: dict[str, Any] = json.loads(buffer.getvalue())
    return report


def test_demo_json_has_every_contender_and_figure(no_outage: dict[str, Any]) -> None:
    runs = no_outage["runs"]
    assert list(runs) == ["raw_sdk", "naive_retry", "resilient"]
    for row in runs.values():
        assert row["calls"] == NO_OUTAGE_REQUESTS
        for key in (
            "correct_pct",
            "silent_truncations",
            "duplicated_text",
            "explicit_failures",
            "failures_by_type",
            "declared_failures",
            "requests_per_call",
            "latency_p50_s",
            "latency_p95_s",
        ):
            assert key in row
        assert row["requests_per_call"] >= 1.0  # every call reached the fake at least once
    lib = runs["resilient"]
    assert lib["breaker_opens"] is not None
    assert lib["resumes"] > 0  # background streams were cut and resumed


def test_library_leaves_no_silent_truncation_and_no_duplicate(no_outage: dict[str, Any]) -> None:
    """The acceptance of the demo, without the outage: every transport fault on a
    background stream is recovered, and what the library did not complete there was a
    failure the server declared, delivered as such."""
    lib = no_outage["runs"]["resilient"]
    assert lib["silent_truncations"] == 0
    assert lib["duplicated_text"] == 0
    bg = lib["background"]
    assert bg["with_transport_fault"] > 0
    assert bg["transport_fault_recovered"] == bg["with_transport_fault"]
    assert bg["failed_not_declared"] == 0, lib["unrecovered_background"]
    assert no_outage["acceptance"]["passed"]


def test_raw_sdk_truncates_silently_and_naive_loop_duplicates(no_outage: dict[str, Any]) -> None:
    """Seed 1 injects truncations: the raw SDK hands them over silently, and the naive loop
    replays broken streams from the start."""
    runs = no_outage["runs"]
    assert runs["raw_sdk"]["silent_truncations"] > 0
    assert runs["naive_retry"]["duplicated_text"] > 0


def test_demo_with_the_outage(with_outage: dict[str, Any]) -> None:
    """With the 503 outage the library still never truncates silently nor duplicates, and
    its breaker opens."""
    lib = with_outage["runs"]["resilient"]
    assert lib["silent_truncations"] == 0
    assert lib["duplicated_text"] == 0
    assert lib["breaker_opens"] >= 1
    assert lib["outage_requests"] > 0


def test_demo_acceptance_holds_through_the_outage(with_outage: dict[str, Any]) -> None:
    runs = with_outage["runs"]
    assert with_outage["acceptance"]["passed"], runs["resilient"]["unrecovered_background"]


def test_python_dash_m_prints_json_only() -> None:
    """``python -m resilient_responses demo --json`` leaves nothing else on stdout."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "resilient_responses",
            "demo",
            "--requests",
            "6",
            "--concurrency",
            "3",
            "--json",
            "--outage-seconds",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["runs"]["resilient"]["calls"] == 6


def test_table_renders(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--requests", "6", "--concurrency", "3", "--no-progress"]) == 0
    out = capsys.readouterr().out
    for label in ("raw SDK", "naive retry", "this library", "completed correctly", "acceptance"):
        assert label in out


# -- the pieces ---------------------------------------------------------------------------


def test_expected_text_has_unique_words() -> None:
    """A repeated delta can only be a duplicate: no word repeats within a response."""
    words = expected_text(5, 60).split()
    assert len(words) == len(set(words)) == 60


def test_fake_text_follows_the_call_and_the_word_override() -> None:
    text = text_for_body(10)
    assert text({"metadata": {"demo_call": "3"}}) == expected_text(3, 10)
    assert text({"metadata": {"demo_call": "3", "fake_output_words": "4"}}) == expected_text(3, 4)


def test_kinds_round_robin() -> None:
    assert [kind_of(i) for i in range(4)] == ["call", "stream", "background", "call"]


def test_chaos_is_the_same_for_the_same_seed() -> None:
    config = DemoConfig(requests=40, seed=9, outage_seconds=0)
    first, second = make_chaos(config), make_chaos(config)
    assert [repr(first.draw(50)) for _ in range(100)] == [repr(second.draw(50)) for _ in range(100)]


def test_outage_is_a_timed_burst_of_503s() -> None:
    chaos = OutageChaos(
        {}, seed=0, stall_seconds=1, retry_after=0.1, outage_at=2, outage_seconds=60
    )
    draws = [chaos.draw(10) for _ in range(5)]
    assert draws[:2] == [None, None]
    assert all(d == Fault.status(503) for d in draws[2:])
    assert chaos.outage_requests == 3


def test_config_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="requests"):
        DemoConfig(requests=0)
    with pytest.raises(ValueError, match="idle_timeout"):
        DemoConfig(idle_timeout=5.0, stall_seconds=1.0)
