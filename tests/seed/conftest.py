"""Every seed test runs in testing mode: retries do not sleep."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from resilient_responses.testing import set_testing


@pytest.fixture(autouse=True)
def _no_sleeping() -> Iterator[None]:
    with set_testing(True):
        yield
