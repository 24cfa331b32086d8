"""Reproducibility: the same chaos seed gives the same faults, byte for byte, everywhere."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator

import openai
import pytest
from hypothesis import given
from hypothesis import strategies as st

from resilient_responses.testing import Chaos, FakeResponsesAPI

from ._support import MODEL, PROMPT

pytest_plugins = ["pytester"]

mixes = st.sampled_from(Chaos.mixes())
seeds = st.integers(min_value=0, max_value=2**32 - 1)


@given(mix=mixes, seed=seeds, sizes=st.lists(st.integers(min_value=0, max_value=40), max_size=30))
def test_same_seed_draws_the_same_faults(mix: str, seed: int, sizes: list[int]) -> None:
    """Pins: two ``Chaos`` with one seed draw identical faults (compared as their reprs)."""
    first, second = Chaos.mix(mix, seed=seed), Chaos.mix(mix, seed=seed)
    assert [repr(first.draw(n)) for n in sizes] == [repr(second.draw(n)) for n in sizes]


def _drive(client: openai.OpenAI, requests: int) -> None:
    """A fixed sequence of plain and streamed requests; every fault is swallowed."""
    for n in range(requests):
        # JSONDecodeError is a ValueError: what a cleanly cut plain body gives the raw SDK.
        with contextlib.suppress(openai.OpenAIError, ValueError):
            if n % 2:
                for _event in client.responses.create(model=MODEL, input=PROMPT, stream=True):
                    pass
            else:
                client.responses.create(model=MODEL, input=PROMPT)


def _fault_log(fake: FakeResponsesAPI) -> bytes:
    return "\n".join(repr(r.fault) for r in fake.requests).encode()


def _chaos(seed: int) -> Chaos:
    # Stalls shorter than any timeout: over HTTP a stall is real silence.
    return Chaos.mix("default", seed=seed, stall_seconds=0.001)


@given(seed=seeds)
def test_two_fresh_fakes_with_one_seed_log_the_same_faults(seed: int) -> None:
    """Pins: the same seed and the same requests give the same fault log, byte for byte."""
    logs = []
    for _ in range(2):
        fake = FakeResponsesAPI()
        fake.chaos(_chaos(seed))
        _drive(fake.client(max_retries=0), 12)
        logs.append(_fault_log(fake))
    assert logs[0] == logs[1]


@pytest.fixture
def served_fake() -> Iterator[tuple[FakeResponsesAPI, str]]:
    fake = FakeResponsesAPI()
    with fake.serve() as base_url:
        yield fake, base_url


def test_the_served_fake_draws_what_the_in_process_fake_draws(
    served_fake: tuple[FakeResponsesAPI, str],
) -> None:
    """Pins: over real HTTP, the same seed gives the same faults as in-process, byte for
    byte, and another seed gives other faults."""
    seed = 20240611
    local = FakeResponsesAPI()
    local.chaos(_chaos(seed))
    _drive(local.client(max_retries=0), 30)

    fake, base_url = served_fake
    fake.chaos(_chaos(seed))
    with openai.OpenAI(api_key="sk-fake", base_url=base_url, max_retries=0) as client:
        _drive(client, 30)

    assert _fault_log(fake) == _fault_log(local)
    assert any(r.fault is not None for r in local.requests)
    other = FakeResponsesAPI()
    other.chaos(_chaos(seed + 1))
    _drive(other.client(max_retries=0), 30)
    assert _fault_log(other) != _fault_log(local)


_TINY_TEST = """
import json

from resilient_responses.testing import Chaos


def test_draws(fake_responses_api, fault_seed):
    fake_responses_api.chaos(Chaos.mix("default", seed=fault_seed))
    client = fake_responses_api.client(max_retries=0)
    for _ in range(20):
        try:
            client.responses.create(model="gpt-5-mini", input="hi")
        except Exception:
            pass
    print("FAULTS=" + json.dumps([repr(r.fault) for r in fake_responses_api.requests]))
"""


def _run(pytester: pytest.Pytester, *args: str) -> tuple[str, list[str]]:
    result = pytester.runpytest("-s", "-p", "no:cacheprovider", "-p", "no:asyncio", *args)
    result.assert_outcomes(passed=1)
    out = result.stdout.str()
    header = re.search(
        r"resilient_responses: fault seed (\d+) \(replay with --fault-seed=\1\)", out
    )
    assert header is not None, out
    faults = re.search(r"FAULTS=(\[.*\])$", out, re.MULTILINE)
    assert faults is not None, out
    return header.group(1), json.loads(faults.group(1))


def test_fault_seed_option_replays_a_run(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pins the plugin: ``--fault-seed 123`` shows seed 123 in the header and draws the same
    faults on every run; a run without it shows a fresh seed that replays it exactly."""
    monkeypatch.delenv("RESILIENT_RESPONSES_FAULT_SEED", raising=False)
    pytester.makepyfile(test_tiny=_TINY_TEST)

    seed, first = _run(pytester, "--fault-seed", "123")
    assert seed == "123"
    assert _run(pytester, "--fault-seed", "123") == ("123", first)
    assert any(fault != "None" for fault in first)

    random_seed, drawn = _run(pytester)
    assert _run(pytester, f"--fault-seed={random_seed}") == (random_seed, drawn)
