"""Play exchanges over real HTTP on loopback (Starlette under uvicorn): ``fake.serve()``.

uvicorn and starlette are imported inside the functions that need them, so importing this
module (and ``resilient_responses.testing``) works without the ``server`` extra. The server
knows the fake only as an :class:`~._exchange.Source`: it asks it to decide each request
and plays the :class:`~._exchange.Exchange` it gets, like the in-process transports.

Faults need things ASGI cannot express: "close the connection without answering" and
"reset mid-body". An ASGI app that raises before answering gets a 500 from uvicorn, and one
that raises mid-body gets an error log. So the outermost layer finds the connection's asyncio
transport (uvicorn's ``send`` is a bound method of the request cycle, which holds it) and
``abort()``s it: the client sees the socket die, exactly like a real network fault.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

from resilient_responses.testing._exchange import Exchange, Silence, Source

if TYPE_CHECKING:
    import uvicorn
    from starlette.requests import Request
    from starlette.responses import Response

__all__ = ["ServerHandle", "build_app", "require_server_extra"]

_ABORT_KEY = "resilient_responses.abort"
_INSTALL_HINT = (
    "serving the fake over HTTP needs uvicorn and starlette: "
    'pip install "resilient-responses[server]"'
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Abort = Callable[[], Awaitable[None]]


def require_server_extra() -> None:
    """Raise an ``ImportError`` naming the extra to install when uvicorn or starlette is missing."""
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise ImportError(_INSTALL_HINT) from exc


async def _sleep(seconds: float, stopping: threading.Event) -> None:
    """Sleep *seconds* without blocking the loop; cut short when the server stops."""
    deadline = time.monotonic() + seconds
    while not stopping.is_set():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        # Slices keep shutdown fast when a fault sleeps for long.
        await asyncio.sleep(min(remaining, 0.05))


class _TransportCapture:
    """Outermost ASGI layer: exposes ``abort()`` of the raw connection in the scope, and
    notes each client address (one per TCP connection) to count the connections."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app
        self.clients: set[tuple[str, int]] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            cycle = getattr(send, "__self__", None)
            transport = getattr(cycle, "transport", None)
            scope[_ABORT_KEY] = _aborter(transport)
            client = scope.get("client")
            if client is not None:
                self.clients.add((str(client[0]), int(client[1])))
        await self._app(scope, receive, send)


class _Aborted(Exception):
    """Raised to make uvicorn drop the connection when no transport could be found."""


def _aborter(transport: object) -> Abort:
    async def abort() -> None:
        if not isinstance(transport, asyncio.WriteTransport):
            raise _Aborted("fake connection fault")
        transport.abort()
        # Let connection_lost run, so uvicorn knows the client is gone and stays quiet.
        await asyncio.sleep(0)
        await asyncio.sleep(0)

    return abort


def build_app(fake: Source, stopping: threading.Event | None = None) -> _TransportCapture:
    """The ASGI app serving *fake* (a Starlette app wrapped by the transport capture)."""
    require_server_extra()
    from starlette.applications import Starlette
    from starlette.responses import Response, StreamingResponse
    from starlette.routing import Route

    stop = stopping if stopping is not None else threading.Event()

    class _NoResponse(Response):
        """The connection was aborted: send nothing."""

        def __init__(self) -> None:
            super().__init__()

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            return None

    async def endpoint(request: Request) -> Response:
        raw = await request.body()
        ex = fake._begin(
            request.method,
            request.url.path,
            dict(request.query_params),
            dict(request.headers),
            raw,
        )
        abort: Abort = request.scope[_ABORT_KEY]
        if ex.latency > 0:
            await _sleep(ex.latency, stop)
        if ex.pre is not None:
            if ex.pre.kind == "timeout":
                await _sleep(ex.pre.seconds or 0.0, stop)
            await abort()
            return _NoResponse()
        for seconds in ex.head_stalls:
            await _sleep(seconds, stop)
        if ex.steps is not None:
            return StreamingResponse(_sse(fake, ex, abort, stop), headers=ex.headers)
        if ex.body_cut is not None:
            return StreamingResponse(_cut(ex, abort), status_code=ex.status, headers=ex.headers)
        return Response(ex.body, status_code=ex.status, headers=ex.headers)

    methods = ["GET", "POST", "DELETE", "PUT", "PATCH"]
    app = Starlette(routes=[Route("/{path:path}", endpoint, methods=methods)])
    return _TransportCapture(app)


async def _sse(
    fake: Source, ex: Exchange, abort: Abort, stopping: threading.Event
) -> AsyncIterator[bytes]:
    fake._stream_opened()
    try:
        for step in ex.steps or ():
            if isinstance(step, Silence):
                # Over HTTP a silence is real; the client's own read timeout decides.
                await _sleep(step.seconds, stopping)
            else:
                yield step
                # A turn of the loop per event: a client that hung up is noticed here (the
                # response ends) instead of every later write failing on a dead socket.
                await asyncio.sleep(0)
        if ex.end == "reset":
            await abort()
    finally:
        fake._stream_closed()


async def _cut(ex: Exchange, abort: Abort) -> AsyncIterator[bytes]:
    yield ex.body[: len(ex.body) // 2]
    if ex.body_cut == "reset":
        await abort()


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


class ServerHandle:
    """A running (or ready to run) HTTP server for a fake; use it as a context manager.

    Both ``with`` and ``async with`` yield the base URL (``http://127.0.0.1:<port>/v1``).

    Example::

        async with fake.serve() as base_url:
            client = openai.AsyncOpenAI(api_key="sk-fake", base_url=base_url)
    """

    def __init__(self, fake: Source, *, host: str = "127.0.0.1", port: int = 0) -> None:
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ValueError(f"port must be an int in 0..65535, got {port!r}")
        self._fake = fake
        self._host = host
        self._port = port
        self._stopping = threading.Event()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._bound_port: int | None = None
        self._app: _TransportCapture | None = None

    @property
    def connections(self) -> int:
        """TCP connections the server accepted that carried a request so far (client
        keep-alive reuses one; a client that closes after each response opens one per
        request). Example: ``assert handle.connections <= 2``."""
        return len(self._app.clients) if self._app is not None else 0

    @property
    def port(self) -> int:
        """The bound port (after start)."""
        if self._bound_port is None:
            raise RuntimeError("the server is not running")
        return self._bound_port

    @property
    def base_url(self) -> str:
        """``http://<host>:<port>/v1``, what ``openai.OpenAI(base_url=...)`` wants."""
        return f"http://{_url_host(self._host)}:{self.port}/v1"

    def start(self) -> str:
        """Bind, start serving in a daemon thread, and return the base URL."""
        if self._thread is not None:
            raise RuntimeError("the server is already running")
        require_server_extra()
        import uvicorn

        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        # IPPROTO_TCP spelled out: asyncio only turns Nagle off (TCP_NODELAY) on accepted
        # sockets whose listener says it is TCP; with protocol 0 every response after the
        # first on a keep-alive connection waited ~40 ms for a delayed ACK.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self._host, self._port))
            # Listening before uvicorn starts means early clients queue instead of failing.
            sock.listen(128)
        except OSError:
            sock.close()
            raise
        self._bound_port = int(sock.getsockname()[1])
        self._app = build_app(self._fake, self._stopping)
        config = uvicorn.Config(
            self._app,
            http="h11",
            ws="none",
            lifespan="off",
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=2,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run,
            kwargs={"sockets": [sock]},
            name=f"resilient-responses-fake:{self._bound_port}",
            daemon=True,
        )
        self._server, self._thread = server, thread
        thread.start()
        deadline = time.monotonic() + 10.0
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the fake HTTP server failed to start")
            time.sleep(0.005)
        return self.base_url

    def stop(self) -> None:
        """Stop serving and wait for the thread (idempotent)."""
        self._stopping.set()
        server, thread = self._server, self._thread
        if server is not None:
            server.should_exit = True
        if thread is not None:
            thread.join(timeout=10.0)
        self._server = self._thread = None

    def __enter__(self) -> str:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> str:
        return await asyncio.to_thread(self.start)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)
