"""The fake served over loopback HTTP: these faults live in the transport (sockets,
timeouts, connection pools), so only real connections show them. A fresh fake per test,
so each test's request log is its own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from resilient_responses.testing import FakeResponsesAPI


@pytest.fixture
def served() -> Iterator[tuple[FakeResponsesAPI, str]]:
    fake = FakeResponsesAPI(realtime=True)
    with fake.serve() as base_url:
        yield fake, base_url


@pytest.fixture
def fake(served: tuple[FakeResponsesAPI, str]) -> FakeResponsesAPI:
    return served[0]


@pytest.fixture
def base_url(served: tuple[FakeResponsesAPI, str]) -> str:
    return served[1]
