"""The fake over real HTTP on loopback (uvicorn + starlette): faults hit real sockets."""

from __future__ import annotations

import json
import logging
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx2
import openai
import pytest
from openai.types.responses import ResponseCompletedEvent, ResponseErrorEvent
from openai.types.responses.response_stream_event import ResponseStreamEvent

from resilient_responses.testing import FakeResponsesAPI, Fault

MODEL = "gpt-5-mini"


async def _collect(
    stream: openai.AsyncStream[ResponseStreamEvent], into: list[ResponseStreamEvent]
) -> None:
    # A loop, not extend(comprehension): events seen before a fault must survive it.
    async for event in stream:
        into.append(event)  # noqa: PERF401


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[FakeResponsesAPI, str]]:
    fake = FakeResponsesAPI()
    with fake.serve() as base_url:
        yield fake, base_url


@pytest.fixture
def http(served: tuple[FakeResponsesAPI, str]) -> Iterator[tuple[FakeResponsesAPI, openai.OpenAI]]:
    fake, base_url = served
    fake.reset_plan()
    with openai.OpenAI(api_key="sk-fake", base_url=base_url, max_retries=0) as client:
        yield fake, client
    fake.reset_plan()


def test_serves_the_api(http: tuple[FakeResponsesAPI, openai.OpenAI]) -> None:
    fake, client = http
    assert client.base_url.host == "127.0.0.1"
    response = client.responses.create(model=MODEL, input="hi")
    stream = client.responses.create(model=MODEL, input="hi", stream=True)
    assert stream.response.headers["content-type"].startswith("text/event-stream")
    assert stream.response.headers["transfer-encoding"] == "chunked"
    events = list(stream)
    assert isinstance(events[-1], ResponseCompletedEvent)
    assert events[-1].response.output_text == response.output_text
    bg = client.responses.create(model=MODEL, input="hi", background=True)
    replay = list(client.responses.retrieve(bg.id, stream=True, starting_after=3))
    assert replay[0].sequence_number == 4
    assert client.responses.cancel(bg.id).status == "cancelled"
    assert fake.requests[-1].path == f"/v1/responses/{bg.id}/cancel"


def test_status_and_connection_faults(http: tuple[FakeResponsesAPI, openai.OpenAI]) -> None:
    fake, client = http
    fake.plan([Fault.status(429, retry_after=2), Fault.connect_error(), None])
    with pytest.raises(openai.RateLimitError) as info:
        client.responses.create(model=MODEL, input="x")
    assert info.value.code == "rate_limit_exceeded"
    assert info.value.response.headers["retry-after"] == "2"
    with pytest.raises(openai.APIConnectionError) as conn:
        client.responses.create(model=MODEL, input="x")
    assert not isinstance(conn.value, openai.APITimeoutError)
    # The connection was dropped; the next request gets a fresh one.
    assert client.responses.create(model=MODEL, input="x").status == "completed"


def test_stream_faults(http: tuple[FakeResponsesAPI, openai.OpenAI]) -> None:
    fake, client = http
    fake.plan(
        [
            Fault.reset(after_events=3),
            Fault.truncate(after_events=5),
            Fault.error_event(after_events=2),
        ]
    )
    seen: list[ResponseStreamEvent] = []
    with pytest.raises(openai.APIConnectionError):
        seen.extend(client.responses.create(model=MODEL, input="x", stream=True))
    assert len(seen) == 3
    truncated = list(client.responses.create(model=MODEL, input="x", stream=True))
    assert [e.sequence_number for e in truncated] == list(range(5))
    errored = list(client.responses.create(model=MODEL, input="x", stream=True))
    assert isinstance(errored[-1], ResponseErrorEvent)
    assert fake.open_streams == 0


def test_stall_and_timeout_use_real_time(http: tuple[FakeResponsesAPI, openai.OpenAI]) -> None:
    fake, client = http
    fake.plan([Fault.stall(after_events=2, seconds=3), Fault.timeout(seconds=3)])
    quick = client.with_options(timeout=0.3)
    started = time.monotonic()
    seen: list[ResponseStreamEvent] = []
    with pytest.raises(openai.APITimeoutError):
        seen.extend(quick.responses.create(model=MODEL, input="x", stream=True))
    assert len(seen) == 2
    with pytest.raises(openai.APITimeoutError):
        quick.responses.create(model=MODEL, input="x")
    assert time.monotonic() - started < 2.5


def test_real_httpcore2_reads_the_read_timeout_once_per_body(
    http: tuple[FakeResponsesAPI, openai.OpenAI],
) -> None:
    """Over a real socket, lowering ``extensions["timeout"]["read"]`` after the first event
    has no effect: httpcore2 captures it when the body starts. (The in-process fake reads
    it at the stall, so it is more lenient than the real transport here.)"""
    fake, client = http
    fake.plan([Fault.stall(after_events=2, seconds=0.8)])
    stream = client.responses.create(model=MODEL, input="x", stream=True)
    events = iter(stream)
    next(events)
    stream.response.request.extensions["timeout"]["read"] = 0.1
    rest = list(events)
    assert isinstance(rest[-1], ResponseCompletedEvent)


def test_a_client_that_hangs_up_mid_stream_is_let_go_quietly(
    served: tuple[FakeResponsesAPI, str], caplog: pytest.LogCaptureFixture
) -> None:
    """The server notices the hang-up and ends the response: it does not write the rest of
    a long stream into the dead socket (asyncio logged "socket.send() raised exception."
    for each of ~2,000 writes)."""
    fake, base_url = served
    port = httpx2.URL(base_url).port
    assert port is not None
    body = json.dumps(
        {"model": MODEL, "input": "x", "stream": True, "metadata": {"fake_output_words": "2000"}}
    ).encode()
    head = (
        "POST /v1/responses HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer sk-fake\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    with caplog.at_level(logging.WARNING):
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(head.encode() + body)
            assert b"200 OK" in sock.recv(4096)
            # Closed with a reset, as a process that dies or drops the connection does.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        deadline = time.monotonic() + 10
        while fake.open_streams and time.monotonic() < deadline:
            time.sleep(0.01)
    assert fake.open_streams == 0
    assert [r.getMessage() for r in caplog.records if r.name == "asyncio"] == []


async def test_async_serve() -> None:
    fake = FakeResponsesAPI()
    async with fake.serve() as base_url:
        fake.plan([Fault.reset(after_events=4)])
        async with openai.AsyncOpenAI(
            api_key="sk-fake", base_url=base_url, max_retries=0
        ) as client:
            seen: list[ResponseStreamEvent] = []
            stream = await client.responses.create(model=MODEL, input="x", stream=True)
            with pytest.raises(openai.APIConnectionError):
                await _collect(stream, seen)
            assert len(seen) == 4
            response = await client.responses.create(model=MODEL, input="x")
            assert response.status == "completed"
    assert fake.open_streams == 0
    assert len(fake.requests) == 2


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_on_a_given_port() -> None:
    port = _free_port()
    fake = FakeResponsesAPI()
    with fake.serve(port=port) as base_url:
        assert base_url == f"http://127.0.0.1:{port}/v1"
        assert httpx2.get(f"{base_url}/responses/nope").status_code == 404
    with pytest.raises(ValueError, match="port"):
        fake.serve(port=70000)


def test_missing_server_extra_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    with pytest.raises(ImportError, match=r"resilient-responses\[server\]"):
        FakeResponsesAPI().serve().start()


def test_import_does_not_need_the_server_extra() -> None:
    code = (
        "import sys, resilient_responses.testing as t; "
        "assert 'uvicorn' not in sys.modules and 'starlette' not in sys.modules, sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_run_server_cli_entry() -> None:
    port = _free_port()
    code = (
        "from resilient_responses.testing._server import run_server; "
        f"run_server('127.0.0.1', {port}, 'outage', 1, log_level='warning')"
    )
    proc = subprocess.Popen([sys.executable, "-c", code])
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                answer = httpx2.post(
                    f"http://127.0.0.1:{port}/v1/responses", json={"model": MODEL, "input": "x"}
                )
                break
            except httpx2.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)  # waiting for the child process to bind
        assert answer.status_code == 503
        assert answer.json()["error"]["code"] == "server_error"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
