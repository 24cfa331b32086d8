"""The drop-in client: SDK retries off, every responses method retried, per-attempt headers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import openai
import pytest

import resilient_responses as rr
from resilient_responses.testing import FakeResponsesAPI, Fault

from ._support import MODEL, outage

ATTEMPTS = 3


def _resilience(vtime, **config: Any) -> rr.Resilience:
    config.setdefault("breaker", None)
    return rr.Resilience(attempts=ATTEMPTS, sleep=vtime.sleep, clock=vtime.clock, **config)


@pytest.mark.parametrize("how", ["ResilientOpenAI", "wrap"])
def test_wrapping_a_default_client_sends_exactly_attempts_requests(how: str, vtime) -> None:
    """openai.OpenAI() keeps max_retries=2; wrapped, a failing call sends `attempts`
    requests (3), not SDK 3 x ours 3 = 9."""
    fake = outage(Fault.status(503))
    raw = fake.client()
    assert raw.max_retries == 2
    resilience = _resilience(vtime)
    if how == "wrap":
        client = resilience.wrap(raw)
    else:
        client = rr.ResilientOpenAI(raw, resilience=resilience)
    assert isinstance(client, rr.ResilientOpenAI)
    assert isinstance(client, openai.OpenAI)
    assert client.max_retries == 0
    assert raw.max_retries == 2  # the user's client is left as it was
    with pytest.raises(openai.InternalServerError):
        client.responses.create(model=MODEL, input="hi")
    assert len(fake.requests) == ATTEMPTS
    assert [r.headers["x-stainless-retry-count"] for r in fake.requests] == ["0", "1", "2"]


@pytest.mark.parametrize("options", [{}, {"timeout": 5.0}, {"max_retries": 5}])
def test_with_options_returns_a_wrapped_client_with_the_same_resilience(
    options: dict[str, Any], vtime
) -> None:
    """with_options() keeps the engine and keeps SDK retries off (even if asked for)."""
    fake = outage(Fault.status(503))
    resilience = _resilience(vtime)
    client = rr.ResilientOpenAI(fake.client(), resilience=resilience)
    copy = client.with_options(**options)
    assert isinstance(copy, rr.ResilientOpenAI)
    assert copy.resilience is resilience
    assert copy.max_retries == 0
    with pytest.raises(openai.InternalServerError):
        copy.responses.create(model=MODEL, input="hi")
    assert len(fake.requests) == ATTEMPTS


def test_resilient_openai_from_kwargs_turns_sdk_retries_off(vtime) -> None:
    """ResilientOpenAI(**openai_kwargs) builds its own client, max_retries forced to 0."""
    fake = outage(Fault.status(503))
    client = rr.ResilientOpenAI(
        api_key="sk-test",
        base_url="http://fake.openai.test/v1",
        http_client=openai.DefaultHttpxClient(transport=fake.transport),
        max_retries=4,
        resilience=_resilience(vtime),
    )
    assert client.max_retries == 0
    with pytest.raises(openai.InternalServerError):
        client.responses.create(model=MODEL, input="hi")
    assert len(fake.requests) == ATTEMPTS


Method = Callable[[rr.ResilientOpenAI, str], Any]

METHODS: dict[str, tuple[Method, str, str]] = {
    # name: (call, HTTP method, path suffix)
    "create": (lambda c, rid: c.responses.create(model=MODEL, input="hi"), "POST", "/responses"),
    "retrieve": (lambda c, rid: c.responses.retrieve(rid), "GET", "/responses/{rid}"),
    "parse": (lambda c, rid: c.responses.parse(model=MODEL, input="hi"), "POST", "/responses"),
    "cancel": (lambda c, rid: c.responses.cancel(rid), "POST", "/responses/{rid}/cancel"),
    "delete": (lambda c, rid: c.responses.delete(rid), "DELETE", "/responses/{rid}"),
    "compact": (
        lambda c, rid: c.responses.compact(model=MODEL, input="a b c"),
        "POST",
        "/responses/compact",
    ),
    "input_items.list": (
        lambda c, rid: c.responses.input_items.list(rid),
        "GET",
        "/responses/{rid}/input_items",
    ),
    "input_tokens.count": (
        lambda c, rid: c.responses.input_tokens.count(model=MODEL, input="a b c"),
        "POST",
        "/responses/input_tokens",
    ),
}


@pytest.mark.parametrize("name", list(METHODS))
def test_every_non_streaming_responses_method_is_retried_on_503(name: str, vtime) -> None:
    """Each method survives one 503: two requests to its endpoint, same Idempotency-Key,
    retry counts 0 then 1, and the SDK's result."""
    call, method, path = METHODS[name]
    fake = FakeResponsesAPI()
    client = rr.ResilientOpenAI(fake.client(), resilience=_resilience(vtime))
    # A stored background response for the methods that address one by id.
    rid = fake.client(max_retries=0).responses.create(model=MODEL, input="hi", background=True).id
    fake.plan([Fault.status(503), None])
    before = len(fake.requests)

    result = call(client, rid)

    sent = fake.requests[before:]
    assert [(r.method, r.path) for r in sent] == [(method, "/v1" + path.format(rid=rid))] * 2
    assert [r.status for r in sent] == [503, 200]
    assert [r.headers["x-stainless-retry-count"] for r in sent] == ["0", "1"]
    keys = {r.headers["idempotency-key"] for r in sent}
    assert len(keys) == 1
    assert len(vtime.sleeps) == 1
    if name != "delete":
        assert result is not None


def test_idempotency_key_is_shared_by_attempts_and_differs_across_calls(vtime) -> None:
    """All attempts of one call carry one Idempotency-Key; the next call gets a new one."""
    fake = FakeResponsesAPI()
    fake.plan([Fault.status(500), Fault.connect_error(), None, Fault.status(502), None])
    client = rr.ResilientOpenAI(fake.client(), resilience=_resilience(vtime))
    client.responses.create(model=MODEL, input="one")
    client.responses.create(model=MODEL, input="two")
    keys = [r.headers.get("idempotency-key") for r in fake.requests]
    assert len(keys) == 5
    assert all(keys)
    assert keys[0] == keys[1] == keys[2]
    assert keys[3] == keys[4]
    assert keys[0] != keys[3]
    counts = [r.headers["x-stainless-retry-count"] for r in fake.requests]
    assert counts == ["0", "1", "2", "0", "1"]


@pytest.mark.parametrize("header", ["Idempotency-Key", "idempotency-key"])
def test_user_given_idempotency_key_is_kept_on_every_attempt(header: str, vtime) -> None:
    """extra_headers={"Idempotency-Key": ...} wins over the generated key, on all attempts,
    and other extra headers still reach the server."""
    fake = FakeResponsesAPI()
    fake.plan([Fault.status(503), Fault.status(503), None])
    client = rr.ResilientOpenAI(fake.client(), resilience=_resilience(vtime))
    client.responses.create(
        model=MODEL, input="hi", extra_headers={header: "mine-123", "X-Trace": "t"}
    )
    assert [r.headers["idempotency-key"] for r in fake.requests] == ["mine-123"] * 3
    assert [r.headers["x-trace"] for r in fake.requests] == ["t"] * 3
    assert [r.headers["x-stainless-retry-count"] for r in fake.requests] == ["0", "1", "2"]


def test_decorator_sends_no_idempotency_key_it_cannot_see_the_request(vtime) -> None:
    """Only the drop-in client adds headers; a decorated raw call goes out as the SDK built
    it (the decorator cannot reach inside user code)."""
    fake = FakeResponsesAPI()
    fake.plan([Fault.status(503), None])
    raw = fake.client(max_retries=0)
    _resilience(vtime).call(raw.responses.create, model=MODEL, input="hi")
    assert len(fake.requests) == 2
    assert all("idempotency-key" not in r.headers for r in fake.requests)


def test_idempotency_keys_are_unique_across_threads_and_forked_processes() -> None:
    """Keys are a per-process random prefix and a counter: unique across threads, and a
    forked worker (gunicorn, Celery) draws a prefix of its own."""
    import os
    import threading

    from resilient_responses._call import _KEYS

    keys: list[str] = []

    def take() -> None:
        keys.extend(_KEYS.next() for _ in range(500))

    threads = [threading.Thread(target=take) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(keys)) == len(keys) == 4000
    assert all(len(key) == 35 and key.startswith("rr-") for key in keys)
    int(keys[0][3:], 16)  # 32 hex digits, as a uuid4 has

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report one key and leave without running anything else
        os.write(write, _KEYS.next().encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 64).decode()
    os.close(read)
    os.waitpid(pid, 0)
    parent = _KEYS.next()
    assert len(child) == 35
    assert child[:19] != parent[:19]  # another process, another random prefix
