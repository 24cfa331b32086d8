"""pytest plugin (registered by entry point): the ``fake_responses_api`` fixture, ``--fault-seed``.

Imports of the kit happen inside the fixtures, so merely having the package installed
costs a pytest run nothing.
"""

from __future__ import annotations

import os
import random
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from ._fake import FakeResponsesAPI

__all__ = ["fake_responses_api", "fault_seed", "pytest_addoption", "pytest_report_header"]

_SEED_ENV = "RESILIENT_RESPONSES_FAULT_SEED"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("resilient_responses", "resilient_responses fault injection")
    group.addoption(
        "--fault-seed",
        action="store",
        type=int,
        default=None,
        help="seed for chaos fault plans (replays a run exactly); default: random, "
        f"or ${_SEED_ENV}",
    )


def _seed(config: pytest.Config) -> int:
    cached = getattr(config, "_rr_fault_seed", None)
    if isinstance(cached, int):
        return cached
    option = config.getoption("--fault-seed", default=None)
    if isinstance(option, int):
        seed = option
    elif os.environ.get(_SEED_ENV, "").isdigit():
        seed = int(os.environ[_SEED_ENV])
    else:
        seed = random.SystemRandom().randrange(2**32)
    config._rr_fault_seed = seed  # type: ignore[attr-defined]
    return seed


def pytest_report_header(config: pytest.Config) -> str:
    seed = _seed(config)
    return f"resilient_responses: fault seed {seed} (replay with --fault-seed={seed})"


@pytest.fixture
def fault_seed(request: pytest.FixtureRequest) -> int:
    """The run's chaos seed: ``--fault-seed N`` replays a run fault for fault."""
    return _seed(request.config)


@pytest.fixture
def fake_responses_api() -> FakeResponsesAPI:
    """A fresh in-process :class:`FakeResponsesAPI` per test.

    ``fake_responses_api.client()`` / ``.async_client()`` give SDK clients wired to it;
    ``fake_responses_api.plan([...])`` sets the faults of the next requests.
    """
    from ._fake import FakeResponsesAPI

    return FakeResponsesAPI()
