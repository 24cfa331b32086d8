"""Transports that measure, at the fake, how many requests are in flight."""

from __future__ import annotations

import asyncio
import threading

import httpx2
import openai

from resilient_responses.testing import FakeResponsesAPI

GATE_TIMEOUT_S = 10.0


class InFlight(httpx2.BaseTransport):
    """Wraps the fake's sync transport; counts requests between arrival and answer.

    The first *gate* requests wait at a barrier until *gate* of them are in flight at once
    (a barrier, not a sleep: it proves the runner reaches its bound, and a runner that
    cannot reach it fails with a timeout instead of passing by luck).
    """

    def __init__(self, fake: FakeResponsesAPI, *, gate: int = 0) -> None:
        self._inner = fake.transport
        self._lock = threading.Lock()
        self._barrier = threading.Barrier(gate, timeout=GATE_TIMEOUT_S) if gate else None
        self._gate = gate
        self.started = 0
        self.in_flight = 0
        self.max_in_flight = 0

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        with self._lock:
            self.started += 1
            gated = self.started <= self._gate
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if gated and self._barrier is not None:
                self._barrier.wait()
            return self._inner.handle_request(request)
        finally:
            with self._lock:
                self.in_flight -= 1

    def client(self) -> openai.OpenAI:
        return openai.OpenAI(
            api_key="sk-fake",
            base_url="http://fake.openai.test/v1",
            http_client=openai.DefaultHttpxClient(transport=self),
        )


class AsyncInFlight(httpx2.AsyncBaseTransport):
    """The async twin of :class:`InFlight`. With *block_after*, every request after the
    first *block_after* hangs until cancelled, and :attr:`saturated` is set once
    *saturate_at* of them hang."""

    def __init__(
        self,
        fake: FakeResponsesAPI,
        *,
        gate: int = 0,
        block_after: int | None = None,
        saturate_at: int = 0,
    ) -> None:
        self._inner = fake.async_transport
        self._gate = gate
        self._block_after = block_after
        self._saturate_at = saturate_at
        # Events bind to the running loop on first use, not here.
        self._open = asyncio.Event()
        self.saturated = asyncio.Event()
        self.started = 0
        self.blocked = 0
        self.in_flight = 0
        self.max_in_flight = 0

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        gate_open, saturated = self._open, self.saturated
        self.started += 1
        number = self.started
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if number <= self._gate:
                if self.in_flight >= self._gate:
                    gate_open.set()
                await asyncio.wait_for(gate_open.wait(), GATE_TIMEOUT_S)
            if self._block_after is not None and number > self._block_after:
                self.blocked += 1
                if self.blocked >= self._saturate_at:
                    saturated.set()
                await asyncio.Event().wait()  # until cancelled
            await asyncio.sleep(0)  # let the other calls interleave
            return await self._inner.handle_async_request(request)
        finally:
            self.in_flight -= 1

    def client(self) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(
            api_key="sk-fake",
            base_url="http://fake.openai.test/v1",
            http_client=openai.DefaultAsyncHttpxClient(transport=self),
        )
