"""What each attempt sends and how a call is named: breaker keys and per-attempt headers.

Shared by the drop-in client's plain calls and the stream openers, so both send the same
headers and key their breakers the same way.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any

import httpx2
import openai

if TYPE_CHECKING:
    from ._call import CallState

__all__ = [
    "attempt_headers",
    "attempt_timeout",
    "breaker_key",
    "call_keys",
    "credentials_tag",
    "install_answer_hooks",
    "redact_url",
    "sending",
    "sent",
    "truncated_body",
]

_IDEMPOTENCY_HEADER = "Idempotency-Key"
_RETRY_COUNT_HEADER = "x-stainless-retry-count"


def redact_url(url: httpx2.URL | str) -> str:
    """*url* without credentials: no user info, no query string (``?token=...``), no
    fragment. What the library ever renders of a base URL (keys, logs, errors, spans)."""
    parsed = url if isinstance(url, httpx2.URL) else httpx2.URL(url)
    if parsed.userinfo or parsed.query or parsed.fragment:
        parsed = parsed.copy_with(username=None, password=None, query=None, fragment=None)
    return str(parsed)


def breaker_key(client: Any, model: object) -> str:
    """The drop-in clients' breaker key: base URL (redacted) + model (base URL alone
    without one)."""
    url = client.base_url
    # Rendering the URL costs more than the rest of the key: keep the last rendering per
    # client, and render again only when the base URL object is replaced.
    cached = client.__dict__.get("_rr_base_url")
    if cached is None or cached[0] is not url:
        cached = client.__dict__["_rr_base_url"] = (url, redact_url(url))
    base: str = cached[1]
    return f"{base} {model}" if isinstance(model, str) else base


def call_keys(client: Any, model: object) -> tuple[str, str]:
    """A drop-in call's breaker key (:func:`breaker_key`) and rate-limit key (the breaker
    key plus :func:`credentials_tag`), remembered per client and model (work paid per
    call otherwise) and worked out again when the base URL or the credentials change."""
    url = client.base_url
    given = _credentials(client)
    memo = client.__dict__.get("_rr_keys")
    if memo is None or memo[0] is not url or memo[1] != given:
        memo = client.__dict__["_rr_keys"] = (url, given, {})
    by_model: dict[object, tuple[str, str]] = memo[2]
    kept = model is None or isinstance(model, str)  # anything else is not a model name
    keys = by_model.get(model) if kept else None
    if keys is None:
        key = breaker_key(client, model)
        keys = (key, f"{key} #{credentials_tag(client)}")
        if kept and len(by_model) < 256:
            by_model[model] = keys
    return keys


def _credentials(client: Any) -> tuple[object, object, object]:
    """The client's API key, organization and project, as given."""
    return (
        getattr(client, "api_key", None),
        getattr(client, "organization", None),
        getattr(client, "project", None),
    )


def credentials_tag(client: Any) -> str:
    """A short digest of the client's credentials (API key, organization, project): keeps
    the cache entries and rate-limit state of clients that share a ``Resilience`` but not
    an account apart. One-way; the key itself is never kept in a name or sent anywhere."""
    given = _credentials(client)
    cached = client.__dict__.get("_rr_credentials")
    if cached is None or cached[0] != given:
        text = "\0".join(part if isinstance(part, str) else "" for part in given)
        digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        cached = client.__dict__["_rr_credentials"] = (given, digest)
    tag: str = cached[1]
    return tag


def attempt_headers(state: CallState, extra_headers: Mapping[str, str] | None) -> dict[str, str]:
    """The caller's headers plus one Idempotency-Key per call and the attempt's retry count."""
    if extra_headers:
        headers = dict(extra_headers)
        if not any(name.lower() == "idempotency-key" for name in headers):
            headers[_IDEMPOTENCY_HEADER] = state.idempotency_key
    else:
        headers = {_IDEMPOTENCY_HEADER: state.idempotency_key}
    headers[_RETRY_COUNT_HEADER] = str(state.attempt - 1)
    return headers


def truncated_body(client: Any) -> openai.APIConnectionError:
    """The transport fault behind a ``json.JSONDecodeError`` from the SDK: a body that ended
    cleanly half-way (a proxy, a dropped chunked transfer), not the caller's bug."""
    return openai.APIConnectionError(
        message="the response body ended before its JSON was complete",
        request=httpx2.Request("POST", redact_url(client.base_url)),
    )


def attempt_timeout(client: Any, given: Any, *, read: float | None, left: float | None) -> Any:
    """The timeout of one request: the caller's (or the client's), with the read timeout
    replaced by *read* when given, and every part capped at *left* seconds, the time the
    deadline leaves (so no attempt outlives its call).

    With ten seconds or more left, the cap is rounded down to a whole second and the
    ``Timeout`` reused (kept on the client): building one per request is a cost paid per
    call, and a cap a second short changes nothing at that scale.
    """
    if read is None and left is None:
        return given
    if left is not None and left >= 10.0:
        left = float(int(left))
        cache: dict[tuple[int, float | None, float], Any] = client.__dict__.setdefault(
            "_rr_timeouts", {}
        )
        slot = (id(given), read, left)
        found = cache.get(slot)
        if found is not None and found[0] is given:
            return found[1]
        timeout = _capped(client, given, read, left)
        if len(cache) > 64:
            cache.clear()
        cache[slot] = (given, timeout)
        return timeout
    return _capped(client, given, read, left)


def _capped(client: Any, given: Any, read: float | None, left: float | None) -> httpx2.Timeout:
    base = client.timeout if isinstance(given, (openai.NotGiven, openai.Omit)) else given
    if not isinstance(base, httpx2.Timeout):
        base = httpx2.Timeout(base if isinstance(base, (int, float)) else None)
    parts = {
        "connect": base.connect,
        "read": base.read if read is None else read,
        "write": base.write,
        "pool": base.pool,
    }
    if left is not None:
        left = max(left, 0.001)
        parts = {k: left if v is None else min(v, left) for k, v in parts.items()}
    return httpx2.Timeout(**parts)


# -- every answer's headers, for the rate limit ------------------------------------------------

#: The call whose attempt is sending a request in this context (thread or task): the
#: httpx response hook hands it the answer's headers (the SDK keeps no headers on a parsed
#: Response, and a 429's are gone once it raised).
_ANSWERING: ContextVar[CallState | None] = ContextVar("resilient_responses_answering", default=None)


#: ``sending(state)`` marks *state* as the call sending the next request here and returns
#: the token ``sent(token)`` takes to undo it (the context variable's own methods: they run
#: around every attempt, and a Python function around each would cost more than they do).
sending: Callable[[CallState], Token[CallState | None]] = _ANSWERING.set
sent: Callable[[Token[CallState | None]], None] = _ANSWERING.reset


# Learning from an answer is advisory: an error while learning (a fleet store raising, a
# header the reader trips on) is logged once and never costs the call its answer, which
# the caller has paid for. `on_error="raise"` raises where a call waits, before sending.


def _observe(response: httpx2.Response) -> None:
    state = _ANSWERING.get()
    if state is not None:
        try:
            state.observe(response.headers, response.status_code)
        except Exception as exc:  # noqa: BLE001 - see above; cancellation is not Exception
            state.engine.instrumentation_failed(state.engine.limiter, exc)


async def _aobserve(response: httpx2.Response) -> None:
    state = _ANSWERING.get()
    if state is not None:
        try:
            await state.aobserve(response.headers, response.status_code)
        except Exception as exc:  # noqa: BLE001 - see above; cancellation is not Exception
            state.engine.instrumentation_failed(state.engine.limiter, exc)


def install_answer_hooks(client: Any, *, asynchronous: bool) -> None:
    """Add the answer hook to the client's httpx client (once; a shared connection pool
    keeps one hook, which does nothing for requests no call is sending)."""
    http = getattr(client, "_client", None)
    if http is None:
        return
    hook = _aobserve if asynchronous else _observe
    hooks = http.event_hooks
    if hook not in hooks["response"]:
        hooks["response"] = [*hooks["response"], hook]
        http.event_hooks = hooks
