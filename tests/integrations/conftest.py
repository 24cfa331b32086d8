"""Fixtures for the framework integration tests.

Each test gets a fresh :class:`FakeResponsesAPI` served over loopback HTTP, no sleeping
(``set_testing``), dummy credentials, and every framework's telemetry off. A guard refuses
any connection that is not to loopback, so a framework that phones home fails the test
instead of reaching the internet.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from resilient_responses.testing import FakeResponsesAPI, set_testing

from ._support import API_KEY, answer

# Read once by openai-agents' trace provider, before any test can set it: its documented
# switch (also applied with set_tracing_disabled below). By default it exports traces to
# OpenAI's servers.
os.environ["OPENAI_AGENTS_DISABLE_TRACING"] = "1"

_CLEARED = (
    "OPENAI_BASE_URL",
    "OPENAI_ORG_ID",
    "OPENAI_PROJECT_ID",
    "OPENAI_API_BASE",
    "OPENAI_PROXY",
    "LANGSMITH_API_KEY",
    "LANGCHAIN_API_KEY",
    "LANGSMITH_ENDPOINT",
    "LANGCHAIN_ENDPOINT",
    "LOGFIRE_TOKEN",
)


def _loopback(address: Any) -> bool:
    if not isinstance(address, tuple) or not address:
        return True  # AF_UNIX paths and the like: not the network
    host = address[0]
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refuse every outgoing connection that is not to loopback."""
    connect = socket.socket.connect
    connect_ex = socket.socket.connect_ex

    def guarded_connect(self: socket.socket, address: Any) -> None:
        if not _loopback(address):
            raise AssertionError(f"integration test tried to reach {address!r}")
        connect(self, address)

    def guarded_connect_ex(self: socket.socket, address: Any) -> int:
        if not _loopback(address):
            raise AssertionError(f"integration test tried to reach {address!r}")
        return connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect_ex)


@pytest.fixture(autouse=True)
def _quiet_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Dummy credentials, no endpoint overrides, every framework's telemetry off."""
    for name in _CLEARED:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    monkeypatch.setenv("OPENAI_AGENTS_DISABLE_TRACING", "1")
    monkeypatch.setenv("LANGSMITH_TRACING", "false")
    monkeypatch.setenv("LANGCHAIN_TRACING_V2", "false")
    monkeypatch.setenv("LANGCHAIN_TRACING", "false")

    from agents import set_tracing_disabled

    set_tracing_disabled(True)
    with set_testing(True):
        yield


@pytest.fixture
def fake() -> FakeResponsesAPI:
    """The fake API: answers :data:`~._support.ANSWER` (or JSON for structured output)."""
    return FakeResponsesAPI(text=answer)


@pytest.fixture
def base_url(fake: FakeResponsesAPI) -> Iterator[str]:
    """*fake* served over real HTTP on loopback."""
    with fake.serve() as url:
        yield url
