"""FakeResponsesAPI: a deterministic, fault-injecting fake of ``/v1/responses``.

The fake is split in two layers. :meth:`FakeResponsesAPI._begin` decides everything about one
request under a lock (which fault applies, what the answer is, which state changes) and
returns an :class:`~._exchange.Exchange`; the transports (in-process httpx2 transports in
:mod:`._transport`, the uvicorn server in :mod:`._http`) only *play* an exchange: sleep,
raise, or stream bytes. So the in-process and over-HTTP fakes cannot disagree about what the
API answers. Imports run one way: ``_faults`` <- ``_exchange`` <- ``_transport`` / ``_http``
<- ``_fake`` <- ``_server`` (``run_server``); no lazy import is needed, because ``_http``
imports the optional uvicorn and starlette only inside the functions that use them.
"""

from __future__ import annotations

import copy
import json
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

import httpx2

from resilient_responses.testing import _wire
from resilient_responses.testing._chaos import Chaos
from resilient_responses.testing._exchange import Exchange, malformed_json, sse_steps
from resilient_responses.testing._faults import Fault
from resilient_responses.testing._http import ServerHandle
from resilient_responses.testing._quota import Admission, Quota, QuotaState, retry_after_headers
from resilient_responses.testing._reply import DELTA_TYPES, Reply, render
from resilient_responses.testing._transport import AsyncTransport, SyncTransport

if TYPE_CHECKING:
    import openai

__all__ = ["FakeResponsesAPI", "RecordedRequest"]

JSON = dict[str, Any]

_BASE_URL = "http://fake.openai.test/v1"
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
        rate_limited: the fake's :class:`Quota` answered it ``429`` (no fault was played).

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
    rate_limited: bool = False


@dataclass(slots=True)
class _Stored:
    """A response kept by id (retrieve, cancel, delete, input items, replay)."""

    response_id: str
    body: JSON
    model: str
    created: int
    background: bool
    output: list[JSON]
    usage: JSON
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
        return _wire.response_object(
            response_id=self.response_id,
            body=self.body,
            model=self.model,
            created=self.created,
            status=status,
            background=self.background,
            output=list(self.output) if full else [],
            usage_value=self.usage if full else usage,
            error=error,
        )

    def failed_usage(self, cut: int) -> JSON:
        """What a response that failed after *cut* events was billed, like the real API:
        the whole input, and the output tokens generated before the failure."""
        generated = sum(1 for event in self.events[:cut] if event["type"] in DELTA_TYPES)
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


# Request keys that change how an answer travels, not what the model answers.
_TRANSPORT_KEYS = frozenset({"stream", "background", "store", "stream_options"})


def _turn_key(body: JSON) -> str:
    """What makes two create requests "the same turn" (a retry, a restart)."""
    content = {k: v for k, v in body.items() if k not in _TRANSPORT_KEYS}
    return json.dumps(content, sort_keys=True, separators=(",", ":"), default=repr)


def _path_parts(path: str) -> list[str]:
    parts = [p for p in path.split("/") if p]
    return parts[1:] if parts[:1] == ["v1"] else parts


def _is_create(method: str, path: str) -> bool:
    return method == "POST" and _path_parts(path) == ["responses"]


def _has_model(body: Any) -> bool:
    return isinstance(body, dict) and isinstance(body.get("model"), str)


def _as_reply(value: object) -> Reply:
    if isinstance(value, Reply):
        return value
    if isinstance(value, str):
        return Reply.text(value)
    raise TypeError(f"the responder must return a Reply or a str, got {type(value).__name__}")


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

    Output is deterministic. By default each response is one assistant message:
    ``text(body)`` if given, else *output_words* pseudo-random words seeded by the request's
    ``input`` and ``model`` (override per request with
    ``metadata={"fake_output_words": "200"}``). To script agent turns (function calls,
    reasoning, several items), give *turns*, a list of :class:`Reply` served one per
    distinct request, or *responder*, a callable that receives the request body and returns
    a :class:`Reply` (or a str, for one message). Streams deliver text, arguments and
    reasoning in deltas of *chunk_words* words. With ``realtime=False`` stalls cost no time
    (see :meth:`Fault.stall`); latencies are always real.

    *turns* are matched to requests by content: the first request gets ``turns[0]``, the
    next request with a *different* body ``turns[1]``, and so on; a request whose body
    equals an earlier one (ignoring ``stream``, ``background``, ``store`` and
    ``stream_options``) gets the same turn again, so retries and restarts see the answer
    they would have seen. Once every turn is used, a new request is answered ``400``.
    *responder* is called for every create request the fake receives (retries included),
    outside the fake's lock and before faults are applied; an exception it raises reaches
    the caller as it is in-process (the SDK does not wrap it), and is a 500 over HTTP; such
    a request is not recorded.

    Example::

        fake = FakeResponsesAPI()
        fake.plan([Fault.status(429, retry_after=1), None])
        client = fake.client(max_retries=0)
        with pytest.raises(openai.RateLimitError):
            client.responses.create(model="gpt-5-mini", input="hi")
        assert client.responses.create(model="gpt-5-mini", input="hi").output_text

        agent = FakeResponsesAPI(turns=[
            Reply.function_call("get_weather", {"city": "Paris"}),
            Reply.text("It is sunny in Paris."),
        ])
    """

    def __init__(
        self,
        *,
        realtime: bool = False,
        output_words: int = 12,
        text: Callable[[JSON], str] | None = None,
        model_default: str = "gpt-5-mini",
        chunk_words: int = 1,
        turns: Iterable[Reply] | None = None,
        responder: Callable[[JSON], Reply | str] | None = None,
        quota: Quota | None = None,
        clock: Callable[[], float] | None = None,
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
        if responder is not None and not callable(responder):
            raise TypeError("responder must be a callable body -> Reply | str, or None")
        scripted_turns: tuple[Reply, ...] | None = None
        if turns is not None:
            if isinstance(turns, (str, Reply)):
                raise TypeError("turns must be an iterable of Reply (a list of turns)")
            scripted_turns = tuple(turns)
            for turn in scripted_turns:
                if not isinstance(turn, Reply):
                    raise TypeError(f"turns must hold Reply values, got {turn!r}")
        given = [
            name
            for name, value in (("text", text), ("turns", turns), ("responder", responder))
            if value is not None
        ]
        if len(given) > 1:
            raise ValueError(f"give at most one of text, turns, responder; got {', '.join(given)}")
        if quota is not None and not isinstance(quota, Quota):
            raise TypeError(f"quota must be a Quota or None, got {type(quota).__name__}")
        if clock is not None and not callable(clock):
            raise TypeError("clock must be a callable returning seconds (float), or None")
        self._clock: Callable[[], float] = clock if clock is not None else time.monotonic
        self._quota = None if quota is None else QuotaState(quota, self._now())
        self.quota = quota
        """The :class:`Quota` the fake enforces, or ``None``."""
        self.realtime = realtime
        self.output_words = output_words
        self.chunk_words = chunk_words
        self.model_default = model_default
        self.flagged_words: set[str] = set()
        """Words that make ``/moderations`` flag an input (case-insensitive)."""
        self._text = text
        self._responder = responder
        self._turns = scripted_turns
        self._turn_of: dict[str, int] = {}
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._stored: dict[str, _Stored] = {}
        self._plan: deque[Fault | None] = deque()
        self._then: Fault | None = None
        self._chaos: Chaos | None = None
        self._open_streams = 0
        self._transport: SyncTransport | None = None
        self._async_transport: AsyncTransport | None = None

    def _now(self) -> float:
        now = self._clock()
        if isinstance(now, bool) or not isinstance(now, (int, float)) or math.isnan(now):
            raise TypeError(f"clock must return seconds as a float, got {now!r}")
        return float(now)

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
    def turns_left(self) -> int | None:
        """How many scripted *turns* no request has used yet (``None`` without turns)."""
        with self._lock:
            if self._turns is None:
                return None
            return len(self._turns) - len(set(self._turn_of.values()))

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
                self._transport = SyncTransport(self)
            return self._transport

    @property
    def async_transport(self) -> httpx2.AsyncBaseTransport:
        """The in-process httpx2 async transport."""
        with self._lock:
            if self._async_transport is None:
                self._async_transport = AsyncTransport(self)
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
    ) -> Exchange:
        """Decide one request: fault, answer, state change, log entry (under the lock)."""
        method = method.upper()
        body = _json_or_none(raw_body)
        logged_headers = {
            k.lower(): ("<redacted>" if k.lower() == "authorization" else v)
            for k, v in headers.items()
        }
        scripted: Reply | None = None
        if self._responder is not None and _is_create(method, path) and _has_model(body):
            # User code: called outside the lock (it may read fake.requests).
            scripted = _as_reply(self._responder(copy.deepcopy(body)))
        with self._lock:
            index = len(self._requests)
            admission = self._admission(method, path, body)
            if admission is not None and admission.error is not None:
                return self._rate_limited(
                    index, method, path, query, logged_headers, body, admission
                )
            routed = self._route(index, method, path, query, body, raw_body, scripted)
            n_events = len(routed.events) if routed.events is not None else 0
            fault = self._next_fault(n_events)
            limits = admission.headers if admission is not None else None
            exchange = self._apply(index, fault, routed, limits)
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

    def _admission(self, method: str, path: str, body: Any) -> Admission | None:
        """The quota's verdict (``None`` without a quota); counted requests are charged."""
        if self._quota is None:
            return None
        now = self._now()
        if method == "POST" and _path_parts(path) in (["responses"], ["responses", "compact"]):
            return self._quota.admit(body, now)
        return self._quota.report(now)

    def _rate_limited(
        self,
        index: int,
        method: str,
        path: str,
        query: dict[str, str],
        logged_headers: dict[str, str],
        body: Any,
        admission: Admission,
    ) -> Exchange:
        """A request the quota rejects: 429, nothing charged, no plan entry used."""
        headers = self._headers(index, sse=False, latency=0.0, limits=admission.headers)
        if admission.retry_after is not None:
            headers.update(retry_after_headers(admission.retry_after))
        self._requests.append(
            RecordedRequest(
                index=index,
                method=method,
                path=path,
                query=dict(query),
                headers=logged_headers,
                json=body,
                fault=None,
                status=429,
                response_id=None,
                stream=isinstance(body, dict) and body.get("stream") is True,
                rate_limited=True,
            )
        )
        return Exchange(
            index=index,
            fault=None,
            status=429,
            headers=headers,
            body=_wire.encode_json(admission.error),
        )

    def _headers(
        self, index: int, *, sse: bool, latency: float, limits: dict[str, str] | None = None
    ) -> dict[str, str]:
        headers = {
            "content-type": "text/event-stream; charset=utf-8" if sse else "application/json",
            "x-request-id": f"req_{index + 1}",
            "openai-processing-ms": str(12 + int(latency * 1000)),
            "openai-version": "2020-10-01",
        }
        if limits is not None:
            # Only a fake with a Quota has one to report: without, no x-ratelimit-*
            # headers (a client pacing on made-up numbers would measure the fake).
            headers.update(limits)
        return headers

    def _apply(
        self,
        index: int,
        fault: Fault | None,
        routed: _Routed,
        limits: dict[str, str] | None = None,
    ) -> Exchange:
        latency = fault.latency_seconds if fault is not None else 0.0
        terminal = fault.terminal if fault is not None else None
        stalls = fault.stalls if fault is not None else ()

        if terminal is not None and terminal.kind == "status":
            headers = self._headers(index, sse=False, latency=latency, limits=limits)
            headers.update(terminal.response_headers())
            return Exchange(
                index=index,
                fault=fault,
                status=terminal.status_code or 500,
                headers=headers,
                latency=latency,
                head_stalls=tuple(s.seconds or 0.0 for s in stalls),
                body=_wire.encode_json(terminal.error_body()),
            )
        if terminal is not None and terminal.kind in ("connect_error", "timeout"):
            return Exchange(
                index=index, fault=fault, status=0, headers={}, latency=latency, pre=terminal
            )

        ok = routed.status == 200
        if routed.commit is not None:
            routed.commit(terminal if ok else None)

        if routed.events is not None and ok:
            events = routed.events
            stored = routed.stored
            declared = terminal is not None and terminal.kind in ("error_event", "failed")
            if declared and terminal is not None and stored is not None and events:
                events = self._declared_failure(events, stored, terminal)
            steps, end = sse_steps(events, fault)
            return Exchange(
                index=index,
                fault=fault,
                status=200,
                headers=self._headers(index, sse=True, latency=latency, limits=limits),
                latency=latency,
                steps=steps,
                end=end,
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
        body = _wire.encode_json(answer)
        if ok and terminal is not None and terminal.kind == "malformed":
            body = malformed_json(body)
        return Exchange(
            index=index,
            fault=fault,
            status=routed.status,
            headers=self._headers(index, sse=False, latency=latency, limits=limits),
            latency=latency,
            head_stalls=tuple(s.seconds or 0.0 for s in stalls),
            body=body,
            body_cut=body_cut,
        )

    @staticmethod
    def _declared_failure(events: list[JSON], stored: _Stored, terminal: Fault) -> list[JSON]:
        """The events of a stream whose server declares a failure (``error`` event or
        ``response.failed``) after ``terminal.after_events`` events of this connection."""
        # Cut relative to this connection; sequence numbers stay absolute (replays).
        cut = min(terminal.after_events or 0, len(events) - 1)
        seq = int(events[cut]["sequence_number"])
        code, message = terminal.code or "", terminal.message or ""
        if terminal.kind == "failed":
            failed = stored.failed_events(seq, code, message)
            if stored.background:
                # The server declared the run failed: replay and retrieve agree.
                stored.events = failed
                stored.final = failed[-1]["response"]
            return [*events[:cut], failed[-1]]
        error = {
            "type": "error",
            "code": code,
            "message": message,
            "param": None,
            "sequence_number": seq,
        }
        return [*events[:cut], error]

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
        scripted: Reply | None = None,
    ) -> _Routed:
        parts = _path_parts(path)
        if parts == ["moderations"] and method == "POST":
            return self._moderations(index, body, raw_body)
        if not parts or parts[0] != "responses":
            return self._error(404, f"Invalid URL ({method} {path})")
        rest = parts[1:]
        if not rest and method == "POST":
            return self._create(index, body, raw_body, scripted)
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

    def _create(self, index: int, body: Any, raw_body: bytes, scripted: Reply | None) -> _Routed:
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
        tools_problem = _wire.tools_problem(body.get("tools"))
        if tools_problem is not None:
            message, param = tools_problem
            return self._error(400, message, code="invalid_type", param=param)
        stream = body.get("stream") is True
        background = body.get("background") is True
        if background and body.get("store") is False:
            return self._error(
                400,
                "Background responses require store=true.",
                code="invalid_request_error",
                param="background",
            )
        reply = scripted if scripted is not None else self._reply(index, body, model)
        if isinstance(reply, _Routed):
            return reply
        stored = _make_stored(
            index=index,
            body=body,
            model=model,
            background=background,
            reply=reply,
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

    def _reply(self, index: int, body: JSON, model: str) -> Reply | _Routed:
        """The scripted turn for *body*, or the default one-message answer."""
        if self._turns is not None:
            key = _turn_key(body)
            turn = self._turn_of.get(key)
            if turn is None:
                turn = len(set(self._turn_of.values()))
                if turn >= len(self._turns):
                    return self._error(
                        400,
                        f"FakeResponsesAPI: no scripted turn left for request {index} "
                        f"(all {len(self._turns)} turns were used by other requests).",
                    )
                self._turn_of[key] = turn
            return self._turns[turn]
        words = self._words(body)
        if isinstance(words, _Routed):
            return words
        if self._text is not None:
            return Reply.text(self._text(body))
        return Reply.text(_wire.make_text(body.get("input"), model, words))

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
    *, index: int, body: JSON, model: str, background: bool, reply: Reply, chunk: int
) -> _Stored:
    response_id = _wire.make_id("resp", index)
    include = body.get("include")
    rendered = render(
        reply,
        index=index,
        chunk_words=chunk,
        encrypted_reasoning=isinstance(include, list) and "reasoning.encrypted_content" in include,
    )
    usage = _wire.usage(
        _wire.count_words(body.get("input")), rendered.output_tokens, rendered.reasoning_tokens
    )
    stored = _Stored(
        response_id=response_id,
        body=body,
        model=model,
        created=_wire.created_at(index),
        background=background,
        output=rendered.output,
        usage=usage,
        final={},
        events=[],
        input_items=_input_items(body, response_id),
    )
    stored.final = stored.response("completed", full=True)
    lifecycle: list[JSON] = [
        {
            "type": "response.created",
            "response": stored.response("queued" if background else "in_progress"),
        }
    ]
    if background:
        lifecycle.append({"type": "response.queued", "response": stored.response("queued")})
    lifecycle.append({"type": "response.in_progress", "response": stored.response("in_progress")})
    events = [
        *lifecycle,
        *rendered.events,
        {"type": "response.completed", "response": stored.final},
    ]
    stored.events = [{**event, "sequence_number": n} for n, event in enumerate(events)]
    return stored
