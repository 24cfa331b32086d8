"""FakeResponsesAPI: a deterministic, fault-injecting fake of ``/v1/responses``.

The fake is split in two layers. :meth:`FakeResponsesAPI._begin` decides everything about one
request under a lock (which fault applies, what the answer is, which state changes) and
returns an :class:`_Exchange`; the transports (in-process httpx2 transports here, the uvicorn
server in :mod:`._server`) only *play* an exchange: sleep, raise, or stream bytes. So the
in-process and over-HTTP fakes cannot disagree about what the API answers.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

import httpx2

from resilient_responses.testing import _wire
from resilient_responses.testing._chaos import Chaos
from resilient_responses.testing._faults import Fault

if TYPE_CHECKING:
    import openai

    from resilient_responses.testing._server import ServerHandle

__all__ = ["FakeResponsesAPI", "RecordedRequest"]

JSON = dict[str, Any]

_BASE_URL = "http://fake.openai.test/v1"
_RATE_LIMIT = 10_000
_MODERATION_CATEGORIES = (
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/instructions",
    "self-harm/intent",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
)


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One HTTP request the fake received, as logged in :attr:`FakeResponsesAPI.requests`.

    Attributes:
        index: position in the log, from 0.
        method: ``"POST"``, ``"GET"``...
        path: the path as sent, e.g. ``"/v1/responses"``.
        query: query parameters (last value wins).
        headers: lower-cased names; ``authorization`` is ``"<redacted>"``.
        json: the parsed JSON body, or ``None``.
        fault: the fault applied (``None`` = clean).
        status: the HTTP status answered, or ``None`` if no response was sent.
        response_id: the response created or addressed, if any.
        stream: whether the answer was (or was going to be) an SSE stream.

    Example::

        assert fake.requests[-1].headers["x-stainless-retry-count"] == "0"
    """

    index: int
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any
    fault: Fault | None
    status: int | None
    response_id: str | None
    stream: bool


@dataclass(slots=True)
class _Stored:
    """A response kept by id (retrieve, cancel, delete, input items, replay)."""

    response_id: str
    body: JSON
    model: str
    created: int
    background: bool
    text: str
    usage: JSON
    message_id: str
    final: JSON
    events: list[JSON]
    input_items: list[JSON]

    def response(
        self,
        status: str,
        *,
        error: JSON | None = None,
        full: bool = False,
        usage: JSON | None = None,
    ) -> JSON:
        output = [_wire.message_item(self.message_id, self.text, status="completed")]
        return _wire.response_object(
            response_id=self.response_id,
            body=self.body,
            model=self.model,
            created=self.created,
            status=status,
            background=self.background,
            output=output if full else [],
            usage_value=self.usage if full else usage,
            error=error,
        )

    def failed_usage(self, cut: int) -> JSON:
        """What a response that failed after *cut* events was billed, like the real API:
        the whole input, and the output tokens generated before the failure."""
        generated = sum(
            1 for event in self.events[:cut] if event["type"] == "response.output_text.delta"
        )
        return _wire.usage(int(self.usage["input_tokens"]), generated)

    def failed_events(self, cut: int, code: str, message: str) -> list[JSON]:
        """The events up to *cut*, then ``response.failed`` in place of the rest."""
        cut = min(cut, len(self.events) - 1)
        failed = self.response(
            "failed", error={"code": code, "message": message}, usage=self.failed_usage(cut)
        )
        return [
            *self.events[:cut],
            {"type": "response.failed", "response": failed, "sequence_number": cut},
        ]


@dataclass(slots=True)
class _Routed:
    """What an endpoint answers, before faults. ``commit`` applies its state change."""

    status: int
    json: Any = None
    events: list[JSON] | None = None
    response_id: str | None = None
    stored: _Stored | None = None  # the response the answer is about (for failed variants)
    commit: Callable[[Fault | None], None] | None = None
    returns_response: bool = False


@dataclass(slots=True)
class _Exchange:
    """Everything a transport needs to play one request."""

    index: int
    fault: Fault | None
    status: int
    headers: dict[str, str]
    latency: float = 0.0
    pre: Fault | None = None  # connect_error / timeout: no response at all
    head_stalls: tuple[float, ...] = ()  # plain answers: stalls before the headers
    body: bytes = b""
    body_cut: Literal["reset", "truncate"] | None = None
    frames: list[bytes] | None = None  # SSE answer
    end: Literal["complete", "reset", "truncate"] = "complete"
    end_after: int = 0
    stalls: dict[int, list[float]] = field(default_factory=dict)


def _json_or_none(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


class FakeResponsesAPI:
    """A faithful, deterministic fake of the OpenAI Responses API that plays faults.

    Serves ``POST /responses`` (plain, ``stream``, ``background``), ``GET /responses/{id}``
    (with ``stream=true&starting_after=n`` replay), ``POST /responses/{id}/cancel``,
    ``DELETE /responses/{id}``, ``GET /responses/{id}/input_items``,
    ``POST /responses/input_tokens``, ``POST /responses/compact`` and ``POST /moderations``
    (with or without the ``/v1`` prefix), in-process through httpx2 transports or over real
    HTTP with :meth:`serve`.

    Output text is deterministic: ``text(body)`` if given, else *output_words* pseudo-random
    words seeded by the request's ``input`` and ``model`` (override per request with
    ``metadata={"fake_output_words": "200"}``); streams deliver it in deltas of
    *chunk_words* words. With ``realtime=False`` stalls cost no time (see
    :meth:`Fault.stall`); latencies are always real.

    Example::

        fake = FakeResponsesAPI()
        fake.plan([Fault.status(429, retry_after=1), None])
        client = fake.client(max_retries=0)
        with pytest.raises(openai.RateLimitError):
            client.responses.create(model="gpt-5-mini", input="hi")
        assert client.responses.create(model="gpt-5-mini", input="hi").output_text
    """

    def __init__(
        self,
        *,
        realtime: bool = False,
        output_words: int = 12,
        text: Callable[[JSON], str] | None = None,
        model_default: str = "gpt-5-mini",
        chunk_words: int = 1,
    ) -> None:
        if not isinstance(realtime, bool):
            raise TypeError(f"realtime must be a bool, got {type(realtime).__name__}")
        for name, value, low in (
            ("output_words", output_words, 0),
            ("chunk_words", chunk_words, 1),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
        if text is not None and not callable(text):
            raise TypeError("text must be a callable body -> str, or None")
        self.realtime = realtime
        self.output_words = output_words
        self.chunk_words = chunk_words
        self.model_default = model_default
        self.flagged_words: set[str] = set()
        """Words that make ``/moderations`` flag an input (case-insensitive)."""
        self._text = text
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._stored: dict[str, _Stored] = {}
        self._plan: deque[Fault | None] = deque()
        self._then: Fault | None = None
        self._chaos: Chaos | None = None
        self._open_streams = 0
        self._transport: _SyncTransport | None = None
        self._async_transport: _AsyncTransport | None = None

    # -- fault plans ----------------------------------------------------------------------

    def plan(self, faults: Iterable[Fault | None], *, then: Fault | None = None) -> None:
        """Set the faults of the next requests, one entry per HTTP request (any endpoint).

        ``None`` entries are clean requests; after the plan, *then* applies to every further
        request (``then=Fault.status(503)`` is an outage). Replaces any earlier plan or chaos.

        Example::

            fake.plan([Fault.status(500), Fault.reset(after_events=3)])
            fake.plan([], then=Fault.status(503))  # down until reset_plan()
        """
        entries = list(faults)
        for entry in [*entries, then]:
            if entry is not None and not isinstance(entry, Fault):
                raise TypeError(f"plan entries must be Fault or None, got {entry!r}")
        with self._lock:
            self._plan = deque(entries)
            self._then = then
            self._chaos = None

    def chaos(self, chaos: Chaos) -> None:
        """Draw each request's fault from *chaos* instead of a plan.

        Example::

            fake.chaos(Chaos.mix("default", seed=1))
        """
        if not isinstance(chaos, Chaos):
            raise TypeError(f"chaos must be a Chaos, got {type(chaos).__name__}")
        with self._lock:
            self._plan = deque()
            self._then = None
            self._chaos = chaos

    def reset_plan(self) -> None:
        """Drop any plan, *then* fault and chaos: every further request is clean."""
        with self._lock:
            self._plan = deque()
            self._then = None
            self._chaos = None

    # -- observation ----------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received, in arrival order."""
        with self._lock:
            return list(self._requests)

    def request_count(self, path_suffix: str | None = None, method: str | None = None) -> int:
        """How many requests matched (path ending with *path_suffix*, *method*).

        Example::

            assert fake.request_count("/responses", method="POST") == 3
        """
        with self._lock:
            return sum(
                1
                for r in self._requests
                if (path_suffix is None or r.path.endswith(path_suffix))
                and (method is None or r.method.upper() == method.upper())
            )

    @property
    def open_streams(self) -> int:
        """SSE bodies opened and not yet closed (0 once every stream is closed)."""
        with self._lock:
            return self._open_streams

    # -- wiring ---------------------------------------------------------------------------

    @property
    def transport(self) -> httpx2.BaseTransport:
        """The in-process httpx2 sync transport (never touches the network)."""
        with self._lock:
            if self._transport is None:
                self._transport = _SyncTransport(self)
            return self._transport

    @property
    def async_transport(self) -> httpx2.AsyncBaseTransport:
        """The in-process httpx2 async transport."""
        with self._lock:
            if self._async_transport is None:
                self._async_transport = _AsyncTransport(self)
            return self._async_transport

    def client(self, **openai_kwargs: Any) -> openai.OpenAI:
        """An ``openai.OpenAI`` wired to the in-process transport.

        SDK retries stay at the SDK default unless you pass ``max_retries``.

        Example::

            client = fake.client(max_retries=0)
        """
        import openai

        kwargs: dict[str, Any] = {"api_key": "sk-fake", "base_url": _BASE_URL}
        kwargs.update(openai_kwargs)
        if "http_client" not in kwargs:
            kwargs["http_client"] = openai.DefaultHttpxClient(transport=self.transport)
        return openai.OpenAI(**kwargs)

    def async_client(self, **openai_kwargs: Any) -> openai.AsyncOpenAI:
        """An ``openai.AsyncOpenAI`` wired to the in-process async transport.

        Example::

            client = fake.async_client(max_retries=0)
            response = await client.responses.create(model="gpt-5-mini", input="hi")
        """
        import openai

        kwargs: dict[str, Any] = {"api_key": "sk-fake", "base_url": _BASE_URL}
        kwargs.update(openai_kwargs)
        if "http_client" not in kwargs:
            kwargs["http_client"] = openai.DefaultAsyncHttpxClient(transport=self.async_transport)
        return openai.AsyncOpenAI(**kwargs)

    def serve(self, *, host: str = "127.0.0.1", port: int = 0) -> ServerHandle:
        """Serve this fake over real HTTP on loopback (uvicorn in a background thread).

        A sync or async context manager yielding the base URL (ending in ``/v1``); *port*
        0 picks a free port. Needs ``pip install "resilient-responses[server]"``.

        Example::

            with fake.serve() as base_url:
                client = openai.OpenAI(api_key="sk-fake", base_url=base_url)
        """
        from resilient_responses.testing._server import ServerHandle

        return ServerHandle(self, host=host, port=port)

    # -- the engine -----------------------------------------------------------------------

    def _next_fault(self, n_events: int) -> Fault | None:
        if self._plan:
            return self._plan.popleft()
        if self._chaos is not None:
            return self._chaos.draw(n_events)
        return self._then

    def _begin(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        headers: dict[str, str],
        raw_body: bytes,
    ) -> _Exchange:
        """Decide one request: fault, answer, state change, log entry (under the lock)."""
        method = method.upper()
        body = _json_or_none(raw_body)
        logged_headers = {
            k.lower(): ("<redacted>" if k.lower() == "authorization" else v)
            for k, v in headers.items()
        }
        with self._lock:
            index = len(self._requests)
            routed = self._route(index, method, path, query, body, raw_body)
            n_events = len(routed.events) if routed.events is not None else 0
            fault = self._next_fault(n_events)
            exchange = self._apply(index, fault, routed)
            self._requests.append(
                RecordedRequest(
                    index=index,
                    method=method,
                    path=path,
                    query=dict(query),
                    headers=logged_headers,
                    json=body,
                    fault=fault,
                    status=None if exchange.pre is not None else exchange.status,
                    response_id=routed.response_id,
                    stream=routed.events is not None,
                )
            )
            return exchange

    def _headers(self, index: int, *, sse: bool, latency: float) -> dict[str, str]:
        return {
            "content-type": "text/event-stream; charset=utf-8" if sse else "application/json",
            "x-request-id": f"req_{index + 1}",
            "openai-processing-ms": str(12 + int(latency * 1000)),
            "openai-version": "2020-10-01",
            "x-ratelimit-limit-requests": str(_RATE_LIMIT),
            "x-ratelimit-remaining-requests": str(_RATE_LIMIT - 1 - index % _RATE_LIMIT),
            "x-ratelimit-reset-requests": "6ms",
        }

    def _apply(self, index: int, fault: Fault | None, routed: _Routed) -> _Exchange:
        latency = fault.latency_seconds if fault is not None else 0.0
        terminal = fault.terminal if fault is not None else None
        stalls = fault.stalls if fault is not None else ()

        if terminal is not None and terminal.kind == "status":
            headers = self._headers(index, sse=False, latency=latency)
            headers.update(terminal.response_headers())
            return _Exchange(
                index=index,
                fault=fault,
                status=terminal.status_code or 500,
                headers=headers,
                latency=latency,
                head_stalls=tuple(s.seconds or 0.0 for s in stalls),
                body=_wire.encode_json(terminal.error_body()),
            )
        if terminal is not None and terminal.kind in ("connect_error", "timeout"):
            return _Exchange(
                index=index, fault=fault, status=0, headers={}, latency=latency, pre=terminal
            )

        ok = routed.status == 200
        if routed.commit is not None:
            routed.commit(terminal if ok else None)

        if routed.events is not None and ok:
            events = routed.events
            end: Literal["complete", "reset", "truncate"] = "complete"
            end_after = 0
            stored = routed.stored
            if terminal is not None and terminal.kind in ("reset", "truncate"):
                end = "reset" if terminal.kind == "reset" else "truncate"
                end_after = terminal.after_events or 0
            elif terminal is not None and stored is not None and events:
                # Cut relative to this connection; sequence numbers stay absolute (replays).
                cut = min(terminal.after_events or 0, len(events) - 1)
                seq = int(events[cut]["sequence_number"])
                code, message = terminal.code or "", terminal.message or ""
                if terminal.kind == "failed":
                    failed = stored.failed_events(seq, code, message)
                    events = [*events[:cut], failed[-1]]
                    if stored.background:
                        # The server declared the run failed: replay and retrieve agree.
                        stored.events = failed
                        stored.final = failed[-1]["response"]
                elif terminal.kind == "error_event":
                    error = {
                        "type": "error",
                        "code": code,
                        "message": message,
                        "param": None,
                        "sequence_number": seq,
                    }
                    events = [*events[:cut], error]
            by_point: dict[int, list[float]] = {}
            for stall in stalls:
                by_point.setdefault(stall.after_events or 0, []).append(stall.seconds or 0.0)
            return _Exchange(
                index=index,
                fault=fault,
                status=200,
                headers=self._headers(index, sse=True, latency=latency),
                latency=latency,
                frames=[_wire.encode_sse(e) for e in events],
                end=end,
                end_after=end_after,
                stalls=by_point,
            )

        answer = routed.json
        body_cut: Literal["reset", "truncate"] | None = None
        if ok and terminal is not None:
            if terminal.kind in ("error_event", "failed") and routed.returns_response:
                stored = routed.stored
                if stored is not None:
                    answer = stored.response(
                        "failed",
                        error={"code": terminal.code, "message": terminal.message},
                        usage=stored.failed_usage(len(stored.events)),
                    )
            elif terminal.kind == "reset":
                body_cut = "reset"
            elif terminal.kind == "truncate":
                body_cut = "truncate"
        return _Exchange(
            index=index,
            fault=fault,
            status=routed.status,
            headers=self._headers(index, sse=False, latency=latency),
            latency=latency,
            head_stalls=tuple(s.seconds or 0.0 for s in stalls),
            body=_wire.encode_json(answer),
            body_cut=body_cut,
        )

    def _mark_no_response(self, index: int) -> None:
        """A stall before the headers timed out: the log says no response was sent."""
        with self._lock:
            self._requests[index] = replace(self._requests[index], status=None)

    def _stream_opened(self) -> None:
        with self._lock:
            self._open_streams += 1

    def _stream_closed(self) -> None:
        with self._lock:
            self._open_streams -= 1

    def _stall_plan(self, read_timeout: float | None, seconds: float) -> tuple[float, bool]:
        """(seconds to really wait, whether the client's read timeout fires)."""
        fires = read_timeout is not None and read_timeout < seconds
        if not self.realtime:
            return 0.0, fires
        return (read_timeout if fires and read_timeout is not None else seconds), fires

    # -- routing (called under the lock) --------------------------------------------------

    def _error(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        response_id: str | None = None,
    ) -> _Routed:
        return _Routed(
            status=status,
            json=_wire.error_body(message, type_=type_, code=code, param=param),
            response_id=response_id,
        )

    def _route(
        self,
        index: int,
        method: str,
        path: str,
        query: dict[str, str],
        body: Any,
        raw_body: bytes,
    ) -> _Routed:
        parts = [p for p in path.split("/") if p]
        if parts[:1] == ["v1"]:
            parts = parts[1:]
        if parts == ["moderations"] and method == "POST":
            return self._moderations(index, body, raw_body)
        if not parts or parts[0] != "responses":
            return self._error(404, f"Invalid URL ({method} {path})")
        rest = parts[1:]
        if not rest and method == "POST":
            return self._create(index, body, raw_body)
        if rest == ["input_tokens"] and method == "POST":
            return self._input_tokens(body, raw_body)
        if rest == ["compact"] and method == "POST":
            return self._compact(index, body, raw_body)
        if len(rest) == 1 and method in ("GET", "DELETE"):
            stored = self._stored.get(rest[0])
            if stored is None:
                return self._not_found(rest[0])
            if method == "DELETE":
                return self._delete(stored)
            return self._retrieve(stored, query)
        if len(rest) == 2 and rest[1] == "cancel" and method == "POST":
            stored = self._stored.get(rest[0])
            return self._not_found(rest[0]) if stored is None else self._cancel(stored)
        if len(rest) == 2 and rest[1] == "input_items" and method == "GET":
            stored = self._stored.get(rest[0])
            if stored is None:
                return self._not_found(rest[0])
            return _Routed(status=200, json=_item_page(stored.input_items), response_id=rest[0])
        return self._error(404, f"Invalid URL ({method} {path})")

    def _not_found(self, response_id: str) -> _Routed:
        return self._error(
            404,
            f"Response with id '{response_id}' not found.",
            param="response_id",
            response_id=response_id,
        )

    def _bad_body(self, body: Any, raw_body: bytes) -> _Routed | None:
        if isinstance(body, dict):
            return None
        if raw_body and body is None:
            return self._error(400, "We could not parse the JSON body of your request.")
        return self._error(
            400,
            "The body of your request must be a JSON object.",
            code="invalid_type" if raw_body else "missing_required_parameter",
        )

    def _words(self, body: JSON) -> int | _Routed:
        metadata = body.get("metadata")
        if isinstance(metadata, dict) and "fake_output_words" in metadata:
            raw = metadata["fake_output_words"]
            try:
                words = int(raw)
            except (TypeError, ValueError):
                words = -1
            if words < 0:
                return self._error(
                    400,
                    f"metadata.fake_output_words must be an int >= 0, got {raw!r}",
                    param="metadata",
                )
            return words
        return self.output_words

    def _create(self, index: int, body: Any, raw_body: bytes) -> _Routed:
        bad = self._bad_body(body, raw_body)
        if bad is not None:
            return bad
        model = body.get("model")
        if model is None:
            return self._error(
                400,
                "Missing required parameter: 'model'.",
                code="missing_required_parameter",
                param="model",
            )
        if not isinstance(model, str):
            return self._error(400, "Invalid type for 'model'.", code="invalid_type", param="model")
        words = self._words(body)
        if isinstance(words, _Routed):
            return words
        stream = body.get("stream") is True
        background = body.get("background") is True
        if background and body.get("store") is False:
            return self._error(
                400,
                "Background responses require store=true.",
                code="invalid_request_error",
                param="background",
            )
        if self._text is not None:
            text = self._text(body)
        else:
            text = _wire.make_text(body.get("input"), model, words)
        stored = _make_stored(
            index=index,
            body=body,
            model=model,
            background=background,
            text=text,
            chunk=self.chunk_words,
        )
        keep = background or body.get("store", True) is not False

        def commit(terminal: Fault | None) -> None:
            if keep:
                self._stored[stored.response_id] = stored
            if background and not stream and terminal is not None and terminal.kind == "failed":
                # Plain background create: the run fails later, as retrieve will show.
                code, message = terminal.code or "", terminal.message or ""
                stored.events = stored.failed_events(terminal.after_events or 0, code, message)
                stored.final = stored.events[-1]["response"]

        if stream:
            return _Routed(
                status=200,
                events=list(stored.events),
                response_id=stored.response_id,
                stored=stored,
                commit=commit,
            )
        answer = stored.response("queued") if background else stored.final
        return _Routed(
            status=200,
            json=answer,
            response_id=stored.response_id,
            stored=stored,
            commit=commit,
            returns_response=not background,
        )

    def _retrieve(self, stored: _Stored, query: dict[str, str]) -> _Routed:
        if query.get("stream", "").lower() not in ("true", "1"):
            return _Routed(
                status=200,
                json=stored.final,
                response_id=stored.response_id,
                stored=stored,
                returns_response=True,
            )
        if not stored.background:
            return self._error(
                400,
                "Streaming is only supported for responses created with background=true.",
                param="stream",
                response_id=stored.response_id,
            )
        after_raw = query.get("starting_after")
        after = -1
        if after_raw is not None:
            try:
                after = int(after_raw)
            except ValueError:
                return self._error(
                    400,
                    f"Invalid 'starting_after': expected an integer, got {after_raw!r}.",
                    param="starting_after",
                    response_id=stored.response_id,
                )
        events = [e for e in stored.events if e["sequence_number"] > after]
        return _Routed(status=200, events=events, response_id=stored.response_id, stored=stored)

    def _cancel(self, stored: _Stored) -> _Routed:
        if not stored.background:
            return self._error(
                400,
                "Only responses created with background=true can be cancelled.",
                response_id=stored.response_id,
            )

        def commit(terminal: Fault | None) -> None:
            # The fake finishes background work instantly; cancel still wins so tests can
            # exercise it. Replay keeps the stored events.
            stored.final = stored.response("cancelled")

        return _Routed(
            status=200,
            json=stored.response("cancelled"),
            response_id=stored.response_id,
            stored=stored,
            commit=commit,
            returns_response=True,
        )

    def _delete(self, stored: _Stored) -> _Routed:
        def commit(terminal: Fault | None) -> None:
            self._stored.pop(stored.response_id, None)

        return _Routed(
            status=200,
            json={"id": stored.response_id, "object": "response", "deleted": True},
            response_id=stored.response_id,
            commit=commit,
        )

    def _input_tokens(self, body: Any, raw_body: bytes) -> _Routed:
        bad = self._bad_body(body, raw_body)
        if bad is not None:
            return bad
        tokens = _wire.count_words(body.get("input")) + _wire.count_words(body.get("instructions"))
        return _Routed(status=200, json={"object": "response.input_tokens", "input_tokens": tokens})

    def _compact(self, index: int, body: Any, raw_body: bytes) -> _Routed:
        bad = self._bad_body(body, raw_body)
        if bad is not None:
            return bad
        model = body.get("model") or self.model_default
        input_value = body.get("input")
        words = _wire.count_words(input_value)
        summary = _wire.make_text(input_value, str(model), max(1, min(words, self.output_words)))
        out_words = len(summary.split())
        return _Routed(
            status=200,
            json={
                "id": _wire.make_id("resp", index),
                "object": "response.compaction",
                "created_at": _wire.created_at(index),
                "output": [
                    _wire.message_item(_wire.make_id("msg", index), summary, status="completed")
                ],
                "usage": _wire.usage(words, out_words),
            },
        )

    def _moderations(self, index: int, body: Any, raw_body: bytes) -> _Routed:
        bad = self._bad_body(body, raw_body)
        if bad is not None:
            return bad
        raw_input = body.get("input")
        if raw_input is None:
            return self._error(
                400,
                "Missing required parameter: 'input'.",
                code="missing_required_parameter",
                param="input",
            )
        inputs = raw_input if isinstance(raw_input, list) else [raw_input]
        flagged_words = {w.lower() for w in self.flagged_words}
        results = []
        for item in inputs:
            text = item if isinstance(item, str) else json.dumps(item)
            flagged = bool(flagged_words & {w.strip(".,!?;:").lower() for w in text.split()})
            results.append(
                {
                    "flagged": flagged,
                    "categories": {
                        c: flagged and c in ("harassment", "violence")
                        for c in _MODERATION_CATEGORIES
                    },
                    "category_applied_input_types": {c: ["text"] for c in _MODERATION_CATEGORIES},
                    "category_scores": {
                        c: (0.97 if flagged and c in ("harassment", "violence") else 0.0001)
                        for c in _MODERATION_CATEGORIES
                    },
                }
            )
        return _Routed(
            status=200,
            json={
                "id": _wire.make_id("modr", index),
                "model": body.get("model") or "omni-moderation-latest",
                "results": results,
            },
        )


def _input_items(body: JSON, response_id: str) -> list[JSON]:
    raw = body.get("input")
    items: list[JSON] = []
    values = [{"role": "user", "content": raw}] if isinstance(raw, str) else raw
    if not isinstance(values, list):
        return items
    for n, value in enumerate(values):
        if not isinstance(value, dict):
            continue
        item = dict(value)
        item.setdefault("id", f"msg_in_{response_id[5:21]}_{n}")
        if "role" in item:
            item.setdefault("type", "message")
            item.setdefault("status", "completed")
            if isinstance(item.get("content"), str):
                item["content"] = [{"type": "input_text", "text": item["content"]}]
        items.append(item)
    # The API lists input items newest first by default.
    return list(reversed(items))


def _item_page(items: list[JSON]) -> JSON:
    return {
        "object": "list",
        "data": items,
        "first_id": items[0]["id"] if items else "",
        "last_id": items[-1]["id"] if items else "",
        "has_more": False,
    }


def _make_stored(
    *, index: int, body: JSON, model: str, background: bool, text: str, chunk: int
) -> _Stored:
    response_id = _wire.make_id("resp", index)
    message_id = _wire.make_id("msg", index)
    usage = _wire.usage(_wire.count_words(body.get("input")), len(text.split()))
    stored = _Stored(
        response_id=response_id,
        body=body,
        model=model,
        created=_wire.created_at(index),
        background=background,
        text=text,
        usage=usage,
        message_id=message_id,
        final={},
        events=[],
        input_items=_input_items(body, response_id),
    )
    stored.final = stored.response("completed", full=True)
    stored.events = _events(stored, chunk)
    return stored


def _events(stored: _Stored, chunk_words: int) -> list[JSON]:
    """The full SSE event sequence of a completed text response, in the real order."""
    item_id = stored.message_id
    text = stored.text
    events: list[JSON] = [
        {
            "type": "response.created",
            "response": stored.response("queued" if stored.background else "in_progress"),
        }
    ]
    if stored.background:
        events.append({"type": "response.queued", "response": stored.response("queued")})
    events.append({"type": "response.in_progress", "response": stored.response("in_progress")})
    where = {"item_id": item_id, "output_index": 0, "content_index": 0}
    events.append(
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": _wire.message_item(item_id, None, status="in_progress"),
        }
    )
    events.append(
        {"type": "response.content_part.added", **where, "part": _wire.output_text_part("")}
    )
    events.extend(
        {"type": "response.output_text.delta", **where, "delta": delta, "logprobs": []}
        for delta in _wire.split_chunks(text, chunk_words)
    )
    events.append({"type": "response.output_text.done", **where, "text": text, "logprobs": []})
    events.append(
        {"type": "response.content_part.done", **where, "part": _wire.output_text_part(text)}
    )
    events.append(
        {
            "type": "response.output_item.done",
            "output_index": 0,
            "item": _wire.message_item(item_id, text, status="completed"),
        }
    )
    events.append({"type": "response.completed", "response": stored.final})
    return [{**event, "sequence_number": n} for n, event in enumerate(events)]


# -- in-process transports ----------------------------------------------------------------


def _read_timeout(request: httpx2.Request) -> float | None:
    # Read at the moment it matters: callers may lower it in place after the first event.
    timeouts = request.extensions.get("timeout")
    if isinstance(timeouts, dict):
        value = timeouts.get("read")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None


def _request_parts(request: httpx2.Request) -> tuple[str, str, dict[str, str], dict[str, str]]:
    query = dict(request.url.params.multi_items())
    headers = {k.lower(): v for k, v in request.headers.items()}
    return request.method, request.url.path, query, headers


def _response(exchange: _Exchange, request: httpx2.Request, stream: Any) -> httpx2.Response:
    return httpx2.Response(
        exchange.status, headers=exchange.headers, stream=stream, request=request
    )


def _cut_point(exchange: _Exchange) -> int | None:
    """Where the body ends early (events delivered first), or ``None``."""
    if exchange.end == "complete":
        return None
    # A reset planned past the last event still fires, after the terminal event.
    return min(exchange.end_after, len(exchange.frames or []))


class _SyncSSEBody(httpx2.SyncByteStream):
    """An SSE body that plays stalls and cuts, and reports its closure to the fake."""

    def __init__(
        self, fake: FakeResponsesAPI, exchange: _Exchange, request: httpx2.Request
    ) -> None:
        self._fake = fake
        self._exchange = exchange
        self._request = request
        self._closed = False
        fake._stream_opened()

    def __iter__(self) -> Iterator[bytes]:
        frames = self._exchange.frames or []
        for n, frame in enumerate(frames):
            if self._point(n):
                return
            yield frame
        self._point(len(frames))

    def _point(self, n: int) -> bool:
        """Play what happens after *n* events; True means the body ends here."""
        ex = self._exchange
        for seconds in ex.stalls.get(n, ()):
            wait, fires = self._fake._stall_plan(_read_timeout(self._request), seconds)
            if wait > 0:
                time.sleep(wait)
            if fires:
                raise httpx2.ReadTimeout(
                    "fake stall outlasted the read timeout", request=self._request
                )
        if n != _cut_point(ex):
            return False
        if ex.end == "reset":
            raise httpx2.ReadError("fake connection reset mid-stream", request=self._request)
        return True

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._fake._stream_closed()


class _AsyncSSEBody(httpx2.AsyncByteStream):
    """The async twin of :class:`_SyncSSEBody`."""

    def __init__(
        self, fake: FakeResponsesAPI, exchange: _Exchange, request: httpx2.Request
    ) -> None:
        self._fake = fake
        self._exchange = exchange
        self._request = request
        self._closed = False
        fake._stream_opened()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        frames = self._exchange.frames or []
        for n, frame in enumerate(frames):
            if await self._point(n):
                return
            yield frame
        await self._point(len(frames))

    async def _point(self, n: int) -> bool:
        ex = self._exchange
        for seconds in ex.stalls.get(n, ()):
            wait, fires = self._fake._stall_plan(_read_timeout(self._request), seconds)
            if wait > 0:
                await asyncio.sleep(wait)
            if fires:
                raise httpx2.ReadTimeout(
                    "fake stall outlasted the read timeout", request=self._request
                )
        if n != _cut_point(ex):
            return False
        if ex.end == "reset":
            raise httpx2.ReadError("fake connection reset mid-stream", request=self._request)
        return True

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            self._fake._stream_closed()


class _CutBody(httpx2.SyncByteStream, httpx2.AsyncByteStream):
    """A plain JSON body cut in half: reset raises, truncate ends cleanly."""

    def __init__(self, data: bytes, mode: Literal["reset", "truncate"], request: httpx2.Request):
        self._data = data[: len(data) // 2]
        self._mode = mode
        self._request = request

    def __iter__(self) -> Iterator[bytes]:
        yield self._data
        if self._mode == "reset":
            raise httpx2.ReadError("fake connection reset mid-body", request=self._request)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self._data
        if self._mode == "reset":
            raise httpx2.ReadError("fake connection reset mid-body", request=self._request)


def _pre_response_error(fault: Fault, request: httpx2.Request) -> httpx2.TransportError:
    if fault.kind == "connect_error":
        return httpx2.ConnectError("fake connect error", request=request)
    return httpx2.ReadTimeout("fake timeout: no response in time", request=request)


class _SyncTransport(httpx2.BaseTransport):
    """Plays exchanges for sync httpx2 clients."""

    def __init__(self, fake: FakeResponsesAPI) -> None:
        self._fake = fake

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        fake = self._fake
        raw = request.read()
        ex = fake._begin(*_request_parts(request), raw)
        if ex.latency > 0:
            time.sleep(ex.latency)
        if ex.pre is not None:
            if ex.pre.kind == "timeout" and fake.realtime:
                time.sleep(_timeout_wait(ex.pre, request))
            raise _pre_response_error(ex.pre, request)
        for seconds in ex.head_stalls:
            wait, fires = fake._stall_plan(_read_timeout(request), seconds)
            if wait > 0:
                time.sleep(wait)
            if fires:
                fake._mark_no_response(ex.index)
                raise httpx2.ReadTimeout("fake stall outlasted the read timeout", request=request)
        if ex.frames is not None:
            return _response(ex, request, _SyncSSEBody(fake, ex, request))
        if ex.body_cut is not None:
            return _response(ex, request, _CutBody(ex.body, ex.body_cut, request))
        return httpx2.Response(ex.status, headers=ex.headers, content=ex.body, request=request)


class _AsyncTransport(httpx2.AsyncBaseTransport):
    """Plays exchanges for async httpx2 clients (sleeps never block the loop)."""

    def __init__(self, fake: FakeResponsesAPI) -> None:
        self._fake = fake

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        fake = self._fake
        raw = await request.aread()
        ex = fake._begin(*_request_parts(request), raw)
        if ex.latency > 0:
            await asyncio.sleep(ex.latency)
        if ex.pre is not None:
            if ex.pre.kind == "timeout" and fake.realtime:
                await asyncio.sleep(_timeout_wait(ex.pre, request))
            raise _pre_response_error(ex.pre, request)
        for seconds in ex.head_stalls:
            wait, fires = fake._stall_plan(_read_timeout(request), seconds)
            if wait > 0:
                await asyncio.sleep(wait)
            if fires:
                fake._mark_no_response(ex.index)
                raise httpx2.ReadTimeout("fake stall outlasted the read timeout", request=request)
        if ex.frames is not None:
            return _response(ex, request, _AsyncSSEBody(fake, ex, request))
        if ex.body_cut is not None:
            return _response(ex, request, _CutBody(ex.body, ex.body_cut, request))
        return httpx2.Response(ex.status, headers=ex.headers, content=ex.body, request=request)


def _timeout_wait(fault: Fault, request: httpx2.Request) -> float:
    seconds = fault.seconds or 0.0
    read = _read_timeout(request)
    return seconds if read is None else min(seconds, read)
