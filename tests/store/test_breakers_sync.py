"""The fleet breaker backend (sync forms) on a real Redis: several stores with one prefix
stand for several processes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pybreaker
import pytest
import redis

import resilient_responses as rr
from resilient_responses import RedisStore
from resilient_responses._redis_breakers import RedisBreakers

from ._support import TIMEOUT, Heard, expire_leases, rewind_redis, store_keys

KEY = "https://api.openai.com/v1|gpt-5-mini"


def breakers(store: RedisStore, heard: Heard, **config: Any) -> RedisBreakers:
    return store.breaker_backend(rr.BreakerConfig(**config), heard.on_change, heard.emit)


@pytest.fixture
def fleet(redis_url: str, prefix: str) -> Iterator[list[RedisStore]]:
    """Three stores on one prefix: three processes of one fleet."""
    stores = [RedisStore.from_url(redis_url, timeout=TIMEOUT, prefix=prefix) for _ in range(3)]
    yield stores
    for s in stores:
        s.close()


def trip(backend: RedisBreakers, key: str, times: int) -> None:
    for _ in range(times):
        backend.record(backend.admit(key), True)


def test_failures_from_several_processes_open_the_breaker_for_all(
    fleet: list[RedisStore],
) -> None:
    heard = [Heard() for _ in fleet]
    backends = [
        breakers(s, h, fail_max=5, reset_timeout=30.0) for s, h in zip(fleet, heard, strict=True)
    ]
    trip(backends[0], KEY, 2)
    trip(backends[1], KEY, 2)
    assert all(b.state(KEY) == "closed" for b in backends)
    trip(backends[2], KEY, 1)
    for b in backends:
        assert b.state(KEY) == "open"
        with pytest.raises(rr.CircuitOpenError) as info:
            b.admit(KEY)
        assert info.value.key == KEY
        assert 29.0 < info.value.retry_in <= 30.0
        assert 29.0 < b.retry_in(KEY) <= 30.0
    # Reported by the process whose failure opened it, and by no other.
    assert [h.changes for h in heard] == [[], [], [(KEY, "closed", "open")]]


def test_a_success_while_closed_resets_the_fleet_count(fleet: list[RedisStore]) -> None:
    a, b = (breakers(s, Heard(), fail_max=3) for s in fleet[:2])
    trip(a, KEY, 2)
    admission = b.admit(KEY)
    assert not admission.clean  # failures are counted: its success must be recorded
    b.record(admission, False)
    trip(a, KEY, 2)
    assert a.state(KEY) == "closed"
    trip(b, KEY, 1)
    assert a.state(KEY) == "open"


def test_a_clean_success_costs_one_round_trip(
    store: RedisStore, heard: Heard, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = breakers(store, heard)
    client = store._shared.conn.client
    sent: list[object] = []
    original = client.execute_command

    def spy(*args: Any, **kwargs: Any) -> Any:
        sent.append(args[0])
        return original(*args, **kwargs)

    monkeypatch.setattr(client, "execute_command", spy)
    for _ in range(10):
        admission = backend.admit(KEY)
        assert admission.clean
        backend.record(admission, False)
    assert sent == ["EVALSHA"] * 10


def test_one_probe_fleet_wide_after_the_reset_timeout_and_its_success_closes_for_all(
    fleet: list[RedisStore], rclient: redis.Redis, prefix: str
) -> None:
    heard = [Heard() for _ in fleet]
    backends = [
        breakers(s, h, fail_max=1, reset_timeout=30.0) for s, h in zip(fleet, heard, strict=True)
    ]
    trip(backends[0], KEY, 1)
    rewind_redis(rclient, prefix, KEY, 31.0)
    probe = backends[1].admit(KEY)
    assert probe.probe
    assert probe.lease
    for b in backends:
        with pytest.raises(rr.CircuitOpenError) as info:
            b.admit(KEY)
        assert info.value.retry_in == 0.0
    backends[1].record(probe, False)
    for b in backends:
        assert b.state(KEY) == "closed"
        assert b.admit(KEY).clean
    assert heard[0].changes == [(KEY, "closed", "open")]
    assert heard[1].changes == [(KEY, "open", "half-open"), (KEY, "half-open", "closed")]
    assert heard[2].changes == []


def test_the_reset_timeout_runs_on_the_servers_clock(store: RedisStore, heard: Heard) -> None:
    """The one test that lets real time pass (the server's TIME cannot be injected): a
    0.2 s reset timeout, polled for at most 5 s."""
    backend = breakers(store, heard, fail_max=1, reset_timeout=0.2)
    trip(backend, KEY, 1)
    with pytest.raises(rr.CircuitOpenError) as info:
        backend.admit(KEY)
    assert 0.0 < info.value.retry_in <= 0.2
    deadline = time.monotonic() + 5.0
    while True:
        try:
            probe = backend.admit(KEY)
            break
        except rr.CircuitOpenError as exc:
            assert time.monotonic() < deadline
            time.sleep(max(exc.retry_in, 0.01))
    assert probe.probe
    assert heard.changes == [(KEY, "closed", "open"), (KEY, "open", "half-open")]


def test_a_failed_probe_reopens_for_all(
    fleet: list[RedisStore], rclient: redis.Redis, prefix: str
) -> None:
    a, b = (breakers(s, Heard(), fail_max=1, reset_timeout=30.0) for s in fleet[:2])
    trip(a, KEY, 1)
    rewind_redis(rclient, prefix, KEY, 31.0)
    probe = b.admit(KEY)
    b.record(probe, True)
    with pytest.raises(rr.CircuitOpenError) as info:
        a.admit(KEY)
    assert 29.0 < info.value.retry_in <= 30.0


def test_half_open_probes_bounds_the_probes_in_flight_across_the_fleet(
    fleet: list[RedisStore], rclient: redis.Redis, prefix: str
) -> None:
    backends = [breakers(s, Heard(), fail_max=1, half_open_probes=2) for s in fleet]
    trip(backends[0], KEY, 1)
    rewind_redis(rclient, prefix, KEY)
    probes = [backends[0].admit(KEY), backends[1].admit(KEY)]
    assert all(p.probe for p in probes)
    assert len({p.lease for p in probes}) == 2
    with pytest.raises(rr.CircuitOpenError):
        backends[2].admit(KEY)
    backends[0].record(probes[0], None)  # cancelled: the slot comes back, nothing counted
    third = backends[2].admit(KEY)
    assert third.probe
    assert backends[2].state(KEY) == "half-open"


def test_success_threshold_needs_that_many_successful_probes(
    store: RedisStore, heard: Heard, rclient: redis.Redis, prefix: str
) -> None:
    backend = breakers(store, heard, fail_max=1, success_threshold=2)
    trip(backend, KEY, 1)
    rewind_redis(rclient, prefix, KEY)
    backend.record(backend.admit(KEY), False)
    assert backend.state(KEY) == "half-open"
    backend.record(backend.admit(KEY), False)
    assert backend.state(KEY) == "closed"


def test_a_crashed_probers_lease_expires_and_frees_the_slot(
    fleet: list[RedisStore], rclient: redis.Redis, prefix: str
) -> None:
    a, b = (breakers(s, Heard(), fail_max=1) for s in fleet[:2])
    trip(a, KEY, 1)
    rewind_redis(rclient, prefix, KEY)
    assert a.admit(KEY).probe  # ... and process `a` dies here, never recording
    with pytest.raises(rr.CircuitOpenError):
        b.admit(KEY)
    assert expire_leases(rclient, prefix, KEY) == 1
    assert b.admit(KEY).probe


def test_the_probe_lease_lasts_the_reset_timeout_or_probe_lease(
    redis_url: str, prefix: str, rclient: redis.Redis
) -> None:
    for probe_lease, reset_timeout, expected_ms in ((None, 45.0, 45_000), (2.5, 45.0, 2_500)):
        s = RedisStore.from_url(redis_url, timeout=TIMEOUT, prefix=prefix, probe_lease=probe_lease)
        backend = breakers(s, Heard(), fail_max=1, reset_timeout=reset_timeout)
        key = f"{KEY}-{probe_lease}"
        trip(backend, key, 1)
        rewind_redis(rclient, prefix, key)
        assert backend.admit(key).probe
        _, probes = store_keys(s, key)
        assert expected_ms - 1_000 < rclient.pttl(probes) <= expected_ms + 1_000
        s.close()


def test_release_gives_the_probe_lease_back_without_a_caller_waiting(
    store: RedisStore, heard: Heard, rclient: redis.Redis, prefix: str
) -> None:
    backend = breakers(store, heard, fail_max=1)
    trip(backend, KEY, 1)
    rewind_redis(rclient, prefix, KEY)
    probe = backend.admit(KEY)
    backend.release(probe)
    releaser = store._shared.conn.releaser()
    releaser.submit(lambda: None).result(timeout=5)  # the worker has run the release
    assert backend.admit(KEY).probe
    assert backend.state(KEY) == "half-open"  # nothing was counted


def test_states_lists_every_key_this_process_used(
    store: RedisStore, heard: Heard, fleet: list[RedisStore]
) -> None:
    backend = breakers(store, heard, fail_max=1)
    assert backend.states() == {}
    backend.admit("a")
    trip(backend, "b", 1)
    assert backend.states() == {"a": "closed", "b": "open"}


def test_breaker_keys_are_hashed_and_expire(
    store: RedisStore, heard: Heard, rclient: redis.Redis, prefix: str
) -> None:
    """No credential in a key (a base URL may carry one) reaches Redis; every key has a
    TTL, so nothing grows without bound."""
    secret_key = "https://user:sk-top-secret@proxy.example/v1|gpt-5"
    backend = breakers(store, heard, fail_max=1)
    trip(backend, secret_key, 1)
    rewind_redis(rclient, prefix, secret_key)
    backend.admit(secret_key)
    keys = list(rclient.scan_iter(match=f"{prefix}:*"))
    assert len(keys) == 2
    for key in keys:
        assert key.startswith(f"{prefix}:".encode())
        dump = (
            key
            + b" "
            + repr(
                rclient.hgetall(key) if b":breaker:" in key else rclient.zrange(key, 0, -1)
            ).encode()
        )
        assert b"top-secret" not in dump
        assert b"proxy.example" not in dump
        assert rclient.pttl(key) > 0


def test_prefixes_keep_fleets_apart(redis_url: str, prefix: str) -> None:
    one = RedisStore.from_url(redis_url, timeout=TIMEOUT, prefix=prefix)
    other = RedisStore.from_url(redis_url, timeout=TIMEOUT, prefix=prefix + "-other")
    a, b = breakers(one, Heard(), fail_max=1), breakers(other, Heard(), fail_max=1)
    trip(a, KEY, 1)
    assert a.state(KEY) == "open"
    assert b.state(KEY) == "closed"
    one.close()
    other.close()


def test_scripts_are_loaded_again_after_the_server_forgot_them(
    store: RedisStore, heard: Heard, rclient: redis.Redis
) -> None:
    """A restarted (or failed-over) Redis answers NOSCRIPT: redis-py's script object
    loads the script again, and the call goes through."""
    backend = breakers(store, heard, fail_max=1)
    backend.admit(KEY)
    rclient.script_flush()
    trip(backend, KEY, 1)
    assert backend.state(KEY) == "open"
    assert heard.unavailable == []


def test_a_client_that_decodes_responses_works_too(
    redis_url: str, prefix: str, rclient: redis.Redis
) -> None:
    client = redis.Redis.from_url(redis_url, decode_responses=True, socket_timeout=TIMEOUT)
    s = RedisStore(client=client, prefix=prefix, timeout=TIMEOUT)
    heard = Heard()
    backend = breakers(s, heard, fail_max=1)
    trip(backend, KEY, 1)
    rewind_redis(rclient, prefix, KEY)
    backend.record(backend.admit(KEY), False)
    assert heard.changes == [
        (KEY, "closed", "open"),
        (KEY, "open", "half-open"),
        (KEY, "half-open", "closed"),
    ]
    assert backend.states() == {KEY: "closed"}
    client.close()


# -- configuration -------------------------------------------------------------------------


def test_a_pybreaker_storage_is_rejected_with_a_redis_store(store: RedisStore) -> None:
    config = rr.BreakerConfig(
        storage=lambda key: pybreaker.CircuitMemoryStorage(pybreaker.STATE_CLOSED)
    )
    with pytest.raises(ValueError, match="storage"):
        rr.Resilience(store=store, breaker=config)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"client": None}, TypeError, "client="),
        ({"client": "redis://x"}, TypeError, "client must be a redis.Redis"),
        ({"async_client": object()}, TypeError, "async_client"),
        ({"prefix": ""}, ValueError, "prefix"),
        ({"prefix": "a{b}"}, ValueError, "prefix"),
        ({"prefix": 3}, TypeError, "prefix"),
        ({"on_error": "ignore"}, ValueError, "'local' or 'raise'"),
        ({"on_error": None}, TypeError, "on_error"),
        ({"timeout": 0}, ValueError, "timeout"),
        ({"timeout": "1"}, TypeError, "timeout"),
        ({"timeout": float("inf")}, ValueError, "timeout"),
        ({"probe_lease": -1.0}, ValueError, "probe_lease"),
        ({"reconnect_after": -1.0}, ValueError, "reconnect_after"),
    ],
)
def test_arguments_are_checked_when_the_store_is_built(
    redis_url: str, kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    client = redis.Redis.from_url(redis_url, socket_timeout=0.05)
    given: dict[str, Any] = {"client": client, **kwargs}
    with pytest.raises(error, match=match):
        RedisStore(**given)
    client.close()


def test_from_url_checks_its_url_and_timeout() -> None:
    with pytest.raises(ValueError, match="scheme"):
        RedisStore.from_url("http://127.0.0.1:6379")
    with pytest.raises(TypeError, match="url"):
        RedisStore.from_url(6379)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timeout"):
        RedisStore.from_url("redis://127.0.0.1:6379", timeout=-1)


def test_a_passed_client_without_a_short_socket_timeout_is_warned_about(
    redis_url: str,
) -> None:
    client = redis.Redis.from_url(redis_url)  # redis-py's default: 5 s
    with pytest.warns(UserWarning, match="socket_timeout"):
        RedisStore(client=client)
    client.close()


def test_repr_never_shows_the_url(redis_server: Any) -> None:
    url = f"redis://user:hunter2@127.0.0.1:{redis_server.port}/0"
    s = RedisStore.from_url(url, prefix="p")
    assert repr(s) == "RedisStore(prefix='p', on_error='local', timeout=0.05)"
    s.close()


def test_without_redis_py_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(__import__("sys").modules, "redis", None)
    with pytest.raises(ImportError, match=r"pip install 'resilient-responses\[redis\]'"):
        RedisStore.from_url("redis://127.0.0.1:6379")
