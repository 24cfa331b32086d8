"""The fake served over loopback HTTP: these faults live in the transport (sockets,
timeouts, connection pools), so only real connections show them. A fresh fake per test,
so each test's request log and connection count are its own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from resilient_responses.testing import FakeResponsesAPI
from resilient_responses.testing._http import ServerHandle


@pytest.fixture
def served() -> Iterator[tuple[FakeResponsesAPI, str, ServerHandle]]:
    fake = FakeResponsesAPI(realtime=True)
    handle = fake.serve()
    with handle as base_url:
        yield fake, base_url, handle


@pytest.fixture
def fake(served: tuple[FakeResponsesAPI, str, ServerHandle]) -> FakeResponsesAPI:
    return served[0]


@pytest.fixture
def base_url(served: tuple[FakeResponsesAPI, str, ServerHandle]) -> str:
    return served[1]


@pytest.fixture
def server(served: tuple[FakeResponsesAPI, str, ServerHandle]) -> ServerHandle:
    return served[2]
