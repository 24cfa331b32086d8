"""Pacing through the drop-in client: every attempt waits for rate-limit capacity within
its deadline; a wait past the deadline gives up at once without sending and says why; the
default RateLimit() learns the fake's quota from its headers and stays under it."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx2
import openai
import pytest
import structlog

import resilient_responses as rr
from resilient_responses._breaker import MemoryBreakers
from resilient_responses.events import CallReport, observe_calls
from resilient_responses.testing import FakeResponsesAPI, Fault, Quota, VirtualClock

MODEL = "gpt-5-mini"


def _stamped(fake: FakeResponsesAPI, clock: VirtualClock, sent: list[float]) -> openai.OpenAI:
    """The fake's client, noting the virtual time of every request it sends."""

    def stamp(request: httpx2.Request) -> None:
        sent.append(clock.now)

    http = openai.DefaultHttpxClient(transport=fake.transport, event_hooks={"request": [stamp]})
    return openai.OpenAI(api_key="sk-fake", base_url="http://fake.openai.test/v1", http_client=http)


def test_a_configured_rate_bounds_every_ten_second_window() -> None:
    """RateLimit(requests_per_minute=600): over any 10-second window at most 101 requests
    reach the server (600 a minute, plus one second's burst counted once)."""
    clock = VirtualClock()
    fake = FakeResponsesAPI()
    sent: list[float] = []
    policy = rr.Resilience(
        rate_limit=rr.RateLimit(requests_per_minute=600), clock=clock, sleep=clock.sleep
    )
    client = rr.ResilientOpenAI(_stamped(fake, clock, sent), resilience=policy)
    for _ in range(300):
        client.responses.create(model=MODEL, input="hi")
    assert len(sent) == 300
    worst = max(sum(1 for t in sent if start <= t < start + 10.0) for start in sent)
    assert worst <= 101
    assert sent[-1] - sent[0] >= 29.0  # paced: 300 at 10 a second, not all at once
    stats = policy.stats().total
    assert stats.rate_limited > 0
    assert stats.rate_limited_s == pytest.approx(sum(clock.sleeps), rel=1e-6)


def test_a_wait_past_the_deadline_gives_up_at_once_without_sending() -> None:
    clock = VirtualClock()
    fake = FakeResponsesAPI()
    policy = rr.Resilience(
        rate_limit=rr.RateLimit(requests_per_minute=6),  # one every 10 s
        deadline=2.0,
        clock=clock,
        sleep=clock.sleep,
    )
    client = rr.ResilientOpenAI(fake.client(), resilience=policy)
    client.responses.create(model=MODEL, input="first")
    with (
        structlog.testing.capture_logs() as logs,
        pytest.raises(rr.DeadlineExceededError) as raised,
    ):
        client.responses.create(model=MODEL, input="second")
    assert len(fake.requests) == 1  # nothing was sent for the second call
    assert clock.sleeps == []  # and nothing was slept: the wait could not fit
    assert "rate-limit capacity" in str(raised.value)
    assert isinstance(raised.value, openai.APITimeoutError)
    [gave_up] = [e for e in logs if e["event"] == "resilient_responses.gave_up"]
    assert gave_up["reason"] == "rate_limited"


def _paced_every_two_seconds(fake: FakeResponsesAPI, clock: VirtualClock) -> rr.ResilientOpenAI:
    """A client paced at one request every 2 s, 3 attempts 0.5 s apart, on *clock*."""
    policy = rr.Resilience(
        rate_limit=rr.RateLimit(requests_per_minute=30),
        attempts=3,
        backoff=rr.Backoff(initial=0.5, maximum=0.5, jitter="none"),
        clock=clock,
        sleep=clock.sleep,
    )
    return rr.ResilientOpenAI(fake.client(), resilience=policy)


def test_the_give_up_note_says_how_long_the_call_waited_for_capacity() -> None:
    """The note on the re-raised error lists the backoff waits per attempt; the time spent
    waiting for rate-limit capacity between them is part of the total and is said too."""
    clock = VirtualClock()
    fake = FakeResponsesAPI()
    fake.plan([Fault.status(503)] * 3)
    client = _paced_every_two_seconds(fake, clock)
    with (
        structlog.testing.capture_logs() as logs,
        pytest.raises(openai.InternalServerError) as raised,
    ):
        client.responses.create(model=MODEL, input="hi")
    paced = sum(e["wait_s"] for e in logs if e["event"] == "resilient_responses.rate_limited")
    assert paced > 2.0  # two waits of ~1.5 s (2 s apart, 0.5 s of backoff each)
    [note] = raised.value.__notes__
    assert f"(attempts_exhausted; {paced:.3f}s of it waiting for rate-limit capacity)" in note
    assert note.count("waited 0.500s") == 2


def test_a_streams_give_up_note_counts_only_the_waits_since_its_last_event() -> None:
    """A stream's total restarts at its last event: capacity waited for before the stream
    began is not "of it" any more."""
    clock = VirtualClock()
    fake = FakeResponsesAPI()
    client = _paced_every_two_seconds(fake, clock)
    client.responses.create(model=MODEL, input="first")  # the next call waits ~2 s
    fake.plan([Fault.reset(after_events=6)], then=Fault.status(503))
    with pytest.raises(rr.StreamInterruptedError) as raised:
        for _ in client.responses.create(
            model=MODEL,
            input="hi",
            stream=True,
            background=True,
            metadata={"fake_output_words": "50"},
        ):
            pass
    cause = raised.value.__cause__
    assert cause is not None
    [note] = cause.__notes__
    total, paced = re.search(r"in ([\d.]+)s \(attempts_exhausted; ([\d.]+)s of it", note).groups()
    assert float(paced) <= float(total)


async def test_a_burst_of_60_learns_the_quota_and_earns_no_429() -> None:
    """The default RateLimit(): nothing configured. The first call goes alone and teaches
    the quota (1,200 a minute, enforced per second); the other 59 are paced under it."""
    fake = FakeResponsesAPI(quota=Quota(requests_per_minute=1200))
    client = rr.AsyncResilientOpenAI(fake.async_client(), resilience=rr.Resilience())
    start = time.monotonic()

    async def one(index: int) -> str:
        response = await client.responses.create(model=MODEL, input=f"q{index}")
        return response.status

    statuses = await asyncio.gather(*(one(i) for i in range(60)))
    elapsed = time.monotonic() - start
    assert statuses == ["completed"] * 60
    assert [r.status for r in fake.requests].count(429) == 0
    assert len(fake.requests) == 60
    # 20 a second is the quota: 60 calls need about 3 s; at least 90% of that rate.
    assert elapsed <= 60 / (20 * 0.9) + 0.5


def test_rate_limit_none_turns_pacing_off() -> None:
    clock = VirtualClock()
    fake = FakeResponsesAPI(quota=Quota(requests_per_minute=60), clock=clock)
    client = rr.ResilientOpenAI(
        fake.client(max_retries=0),
        resilience=rr.Resilience(rate_limit=None, attempts=1, clock=clock, sleep=clock.sleep),
    )

    def status() -> Any:
        try:
            return client.responses.create(model=MODEL, input="x").status
        except openai.RateLimitError:
            return 429

    statuses = [status() for _ in range(5)]
    assert 429 in statuses  # nobody held the calls back
    assert clock.sleeps == []


class _Scripted:
    """A limiter answering acquire with scripted waits (then 0.0); learns nothing."""

    def __init__(self, waits: list[float]) -> None:
        self.waits = list(waits)

    def free(self, key: str) -> bool:
        return False

    def acquire(self, key: str, tokens: int) -> float:
        return self.waits.pop(0) if self.waits else 0.0

    async def aacquire(self, key: str, tokens: int) -> float:
        return self.acquire(key, tokens)

    def observe(self, key: str, headers: Any, status: int | None) -> None:
        return None

    async def aobserve(self, key: str, headers: Any, status: int | None) -> None:
        return None

    def reconcile(self, key: str, estimated: int, actual: int) -> None:
        return None

    async def areconcile(self, key: str, estimated: int, actual: int) -> None:
        return None

    def refund(self, key: str, tokens: int, *, oversized_only: bool = False) -> None:
        return None

    async def arefund(self, key: str, tokens: int, *, oversized_only: bool = False) -> None:
        return None


class _ScriptedStore(rr.MemoryStore):
    def __init__(self, waits: list[float]) -> None:
        self.limiter = _Scripted(waits)

    def limiter_backend(self, config: Any, clock: Any, emit: Any) -> Any:
        return self.limiter


def test_an_attempt_that_asks_many_times_is_counted_and_logged_once() -> None:
    """Polls (the first-call gate asks every 50 ms) are one wait of the attempt: one
    rate_limited event with the total, one count in stats."""
    clock = VirtualClock()
    events: list[Any] = []
    policy = rr.Resilience(
        store=_ScriptedStore([0.05] * 8),
        rate_limit=rr.RateLimit(requests_per_minute=600),
        hooks=[events.append],
        clock=clock,
        sleep=clock.sleep,
    )
    client = rr.ResilientOpenAI(FakeResponsesAPI().client(), resilience=policy)
    client.responses.create(model=MODEL, input="hi")
    [paced] = [e for e in events if isinstance(e, rr.events.RateLimited)]
    assert paced.wait_s == pytest.approx(0.4)
    total = policy.stats().total
    assert (total.rate_limited, total.rate_limited_s) == (1, pytest.approx(0.4))


def _rewind(policy: rr.Resilience) -> None:
    """Past the reset timeout: pybreaker times an open breaker by the wall clock."""
    breakers = policy._engine.breakers
    assert isinstance(breakers, MemoryBreakers)
    [key] = policy.stats().by_key
    storage = breakers.get(key).storage
    storage.opened_at = datetime.now(timezone.utc) - timedelta(hours=1)


@pytest.mark.parametrize("asynchronous", [False, True])
async def test_a_probe_waiting_for_capacity_holds_no_probe_slot(asynchronous: bool) -> None:
    """While the half-open probe waits for rate-limit capacity its slot is free for others
    (it asks for one again after the wait): a probe slot never waits on the quota."""
    clock = VirtualClock()
    fake = FakeResponsesAPI()
    fake.plan([Fault.status(503)])
    free_while_waiting: list[bool] = []
    store = _ScriptedStore([])

    def sleep(seconds: float) -> None:
        breakers = policy._engine.breakers
        assert breakers is not None
        [key] = policy.stats().by_key
        try:
            admission = breakers.admit(key)
        except rr.CircuitOpenError:
            free_while_waiting.append(False)
        else:
            free_while_waiting.append(True)
            breakers.release(admission)
        clock.sleep(seconds)

    async def asleep(seconds: float) -> None:
        sleep(seconds)

    policy = rr.Resilience(
        store=store,
        rate_limit=rr.RateLimit(requests_per_minute=600),
        breaker=rr.BreakerConfig(fail_max=1, reset_timeout=5.0),
        attempts=1,
        clock=clock,
        sleep=asleep if asynchronous else sleep,
    )
    if asynchronous:
        aclient = rr.AsyncResilientOpenAI(fake.async_client(), resilience=policy)
        with pytest.raises(openai.InternalServerError):
            await aclient.responses.create(model=MODEL, input="opens the breaker")
        _rewind(policy)
        store.limiter.waits = [1.0]
        assert (await aclient.responses.create(model=MODEL, input="probe")).status == "completed"
    else:
        client = rr.ResilientOpenAI(fake.client(), resilience=policy)
        with pytest.raises(openai.InternalServerError):
            client.responses.create(model=MODEL, input="opens the breaker")
        _rewind(policy)
        store.limiter.waits = [1.0]
        assert client.responses.create(model=MODEL, input="probe").status == "completed"
    assert free_while_waiting == [True]
    assert policy._engine.breakers is not None
    [key] = policy.stats().by_key
    assert policy._engine.breakers.state(key) == "closed"


def test_a_store_without_a_limiter_is_refused_at_construction_unless_pacing_is_off() -> None:
    class Old:
        def breaker_backend(self, *a: Any) -> Any: ...
        def budget_backend(self, *a: Any) -> Any: ...

    with pytest.raises(TypeError, match=r"limiter_backend\(\).*rate_limit=None"):
        rr.Resilience(store=Old())
    rr.Resilience(store=Old(), rate_limit=None)  # type: ignore[arg-type]


def test_a_decorated_function_is_charged_the_tokens_its_responses_report() -> None:
    """A decorated function's request is not seen, so nothing is estimated: the tokens its
    responses report are charged after each call, and the next calls wait for them."""
    clock = VirtualClock()
    fake = FakeResponsesAPI(output_words=500)
    raw = fake.client(max_retries=0)
    policy = rr.Resilience(
        rate_limit=rr.RateLimit(tokens_per_minute=6000), clock=clock, sleep=clock.sleep
    )

    @policy
    def ask(prompt: str) -> Any:
        return raw.responses.create(model=MODEL, input=prompt)

    used = []
    for _ in range(4):
        response = ask("hi")
        used.append(response.usage.total_tokens)
    assert min(used) > 100  # one second's burst of 6,000 a minute
    # Each call's tokens are owed before the next goes: at 100 tokens a second.
    assert sum(clock.sleeps) >= (sum(used[:-1]) - 100) / 100 - 0.01
    assert policy.stats().total.rate_limited == 3


def test_an_error_while_learning_from_an_answer_never_costs_the_call_its_answer() -> None:
    class Broken(_Scripted):
        def observe(self, key: str, headers: Any, status: int | None) -> None:
            raise RuntimeError("a header the reader trips on")

    store = _ScriptedStore([])
    store.limiter = Broken([])
    fake = FakeResponsesAPI()
    client = rr.ResilientOpenAI(fake.client(), resilience=rr.Resilience(store=store))
    with structlog.testing.capture_logs() as logs:
        statuses = [client.responses.create(model=MODEL, input="hi").status for _ in range(3)]
    assert statuses == ["completed"] * 3
    assert len(fake.requests) == 3
    failed = [e for e in logs if e["event"] == "resilient_responses.instrumentation_failed"]
    assert [(e["component"], e["error"]) for e in failed] == [("Broken", "RuntimeError")]


async def test_an_error_while_learning_async_never_costs_the_call_its_answer() -> None:
    class Broken(_Scripted):
        async def aobserve(self, key: str, headers: Any, status: int | None) -> None:
            raise RuntimeError("a fleet store that raises")

    store = _ScriptedStore([])
    store.limiter = Broken([])
    fake = FakeResponsesAPI()
    client = rr.AsyncResilientOpenAI(fake.async_client(), resilience=rr.Resilience(store=store))
    response = await client.responses.create(model=MODEL, input="hi")
    assert response.status == "completed"
    assert len(fake.requests) == 1


def test_each_account_is_paced_on_its_own_quota() -> None:
    """Quotas belong to an account: clients of two API keys sharing a Resilience do not
    wait for each other; two clients of one key share one quota."""
    clock = VirtualClock()
    fake = FakeResponsesAPI()
    policy = rr.Resilience(
        rate_limit=rr.RateLimit(requests_per_minute=60), clock=clock, sleep=clock.sleep
    )
    a = rr.ResilientOpenAI(fake.client(api_key="sk-a"), resilience=policy)
    also_a = rr.ResilientOpenAI(fake.client(api_key="sk-a"), resilience=policy)
    b = rr.ResilientOpenAI(fake.client(api_key="sk-b"), resilience=policy)
    a.responses.create(model=MODEL, input="hi")
    b.responses.create(model=MODEL, input="hi")
    assert clock.sleeps == []  # b has a quota of its own
    also_a.responses.create(model=MODEL, input="hi")
    assert sum(clock.sleeps) == pytest.approx(1.0, abs=0.01)  # one a second, shared by a's


@pytest.mark.parametrize("asynchronous", [False, True])
async def test_a_request_the_server_refuses_as_too_large_leaves_no_debt(
    asynchronous: bool,
) -> None:
    """A request larger than the whole token quota is refused (429, nothing consumed): its
    estimate is given back, and the calls after it go at once instead of failing their
    deadline waiting for minutes of debt."""
    clock = VirtualClock()
    fake = FakeResponsesAPI(quota=Quota(tokens_per_minute=10_000), clock=clock)
    policy = rr.Resilience(deadline=20.0, attempts=1, clock=clock, sleep=clock.sleep)
    if asynchronous:
        aclient = rr.AsyncResilientOpenAI(fake.async_client(), resilience=policy)

        async def create(**kw: Any) -> Any:
            return await aclient.responses.create(model=MODEL, **kw)
    else:
        client = rr.ResilientOpenAI(fake.client(), resilience=policy)

        async def create(**kw: Any) -> Any:
            return client.responses.create(model=MODEL, **kw)

    for i in range(3):  # the limit is learned from the answers
        await create(input=f"warm {i}", max_output_tokens=100)
    with pytest.raises(openai.RateLimitError):
        await create(input="huge", max_output_tokens=60_000)
    before = sum(clock.sleeps)
    for i in range(5):
        assert (await create(input=f"small {i}", max_output_tokens=100)).status == "completed"
    assert sum(clock.sleeps) - before < 5.0  # paced at the quota's rate, no minutes of debt


@pytest.mark.parametrize("asynchronous", [False, True])
async def test_a_request_too_large_for_the_quota_gives_up_at_once(asynchronous: bool) -> None:
    """No wait lets a request larger than the whole tokens-per-minute limit through: the
    429 "Request too large" is not retried (it was, 4 times over ~12 s), whatever the 429
    policy says, and the call says why; a fallback model (a quota of its own) gets it."""
    clock = VirtualClock()
    fake = FakeResponsesAPI(quota=Quota(tokens_per_minute=10_000), clock=clock)
    reports: list[CallReport] = []
    policy = rr.Resilience(
        clock=clock,
        sleep=clock.sleep,
        policies={429: rr.ErrorPolicy(attempts=10)},
        fallbacks={MODEL: ("gpt-5-nano",)},
    )
    huge = {"input": "x" * 80_000, "max_output_tokens": 100}
    with observe_calls(reports.append):
        if asynchronous:
            aclient = rr.AsyncResilientOpenAI(fake.async_client(), resilience=policy)
            with pytest.raises(openai.RateLimitError, match="Request too large"):
                await aclient.responses.create(model=MODEL, **huge)
        else:
            client = rr.ResilientOpenAI(fake.client(), resilience=policy)
            with pytest.raises(openai.RateLimitError, match="Request too large"):
                client.responses.create(model=MODEL, **huge)
    # One request to the primary, one to the fallback (the fake's quota is shared by both).
    assert [(r.json or {}).get("model") for r in fake.requests] == [MODEL, "gpt-5-nano"]
    assert clock.sleeps == []
    assert [(r.model, r.reason, r.attempts) for r in reports] == [
        (MODEL, "request_too_large", 1),
        ("gpt-5-nano", "request_too_large", 1),
    ]


async def test_cancelled_waiters_give_their_places_back() -> None:
    """40 callers line up behind a used-up burst, 37 are cancelled while they wait: the
    callers after them wait for the capacity, not for the places of the gone."""
    fake = FakeResponsesAPI()
    policy = rr.Resilience(rate_limit=rr.RateLimit(requests_per_minute=600))  # 10 a second
    client = rr.AsyncResilientOpenAI(fake.async_client(), resilience=policy)
    for _ in range(10):  # the burst
        await client.responses.create(model=MODEL, input="burst")
    crowd = [
        asyncio.create_task(client.responses.create(model=MODEL, input="x")) for _ in range(40)
    ]
    for _ in range(10):  # every caller asks (in memory: no I/O) and is lined up
        await asyncio.sleep(0)
    for task in crowd[3:]:
        task.cancel()
    await asyncio.gather(*crowd, return_exceptions=True)
    start = time.monotonic()
    await asyncio.gather(*(client.responses.create(model=MODEL, input="y") for _ in range(3)))
    # Capacity for three is back within about 0.3 s; the 37 gone would have held 3.7 s.
    assert time.monotonic() - start < 1.5


async def test_a_limiter_failing_to_take_a_place_back_never_replaces_a_cancellation() -> None:
    class Failing(_Scripted):
        def leave(self, key: str, tokens: int) -> None:
            raise RuntimeError("redis down")

        async def aleave(self, key: str, tokens: int) -> None:
            raise RuntimeError("redis down")

    store = _ScriptedStore([])
    store.limiter = Failing([10.0])
    fake = FakeResponsesAPI()
    policy = rr.Resilience(store=store, rate_limit=rr.RateLimit(requests_per_minute=60))
    client = rr.AsyncResilientOpenAI(fake.async_client(), resilience=policy)
    task = asyncio.create_task(client.responses.create(model=MODEL, input="hi"))
    for _ in range(5):
        await asyncio.sleep(0)
    task.cancel()
    with structlog.testing.capture_logs() as logs, pytest.raises(asyncio.CancelledError):
        await task
    assert fake.requests == []
    assert [e["component"] for e in logs if "instrumentation_failed" in e["event"]] == ["Failing"]


@pytest.mark.parametrize("asynchronous", [False, True])
async def test_a_first_call_that_leaves_without_an_answer_opens_the_gate(
    asynchronous: bool,
) -> None:
    """The first call of a key goes alone until an answer; one that leaves without any
    (cancelled, or the caller's own error in a request hook) opens the gate as a
    connection error does. Found by an unscripted run: the next caller waited the gate
    out (about 1.8 s)."""
    clock = VirtualClock()
    fake = FakeResponsesAPI()
    left = asyncio.CancelledError if asynchronous else RuntimeError
    sent: list[int] = []

    def leave_once(request: httpx2.Request) -> None:
        sent.append(1)
        if len(sent) == 1:
            raise left("the caller left")

    async def aleave_once(request: httpx2.Request) -> None:
        leave_once(request)

    if asynchronous:
        ahttp = openai.DefaultAsyncHttpxClient(
            transport=fake.async_transport, event_hooks={"request": [aleave_once]}
        )
        aclient = rr.AsyncResilientOpenAI(
            api_key="sk-fake",
            base_url="http://fake.openai.test/v1",
            http_client=ahttp,
            resilience=rr.Resilience(rate_limit=rr.RateLimit(), clock=clock, sleep=clock.asleep),
        )
        with pytest.raises(asyncio.CancelledError):
            await aclient.responses.create(model=MODEL, input="first")
        before = clock.clock()
        await aclient.responses.create(model=MODEL, input="second")
    else:
        http = openai.DefaultHttpxClient(
            transport=fake.transport, event_hooks={"request": [leave_once]}
        )
        client = rr.ResilientOpenAI(
            api_key="sk-fake",
            base_url="http://fake.openai.test/v1",
            http_client=http,
            resilience=rr.Resilience(rate_limit=rr.RateLimit(), clock=clock, sleep=clock.sleep),
        )
        with pytest.raises(RuntimeError):
            client.responses.create(model=MODEL, input="first")
        before = clock.clock()
        client.responses.create(model=MODEL, input="second")
    assert clock.clock() == before  # no wait for the gate
    assert len(sent) == 2
