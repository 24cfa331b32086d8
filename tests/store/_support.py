"""Helpers for the fleet store tests: what a backend reported, and moving time by
rewriting the timestamps a breaker keeps (pybreaker's wall clock, Redis's server clock)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import redis

from resilient_responses import RedisStore
from resilient_responses._breaker import MemoryBreakers
from resilient_responses._redis_conn import _digest
from resilient_responses.events import EngineEvent, StoreUnavailable

#: The timeout of stores in tests that are not about timeouts: on a loaded 2-core machine
#: Redis (or this process) can stall past the default 0.05 s, and a fallback to local
#: state would be a different test.
TIMEOUT = 2.0


@dataclass
class Heard:
    """Collects a backend's transitions (``on_change``) and engine events (``emit``)."""

    changes: list[tuple[str, str, str]] = field(default_factory=list)
    events: list[EngineEvent] = field(default_factory=list)

    def on_change(self, key: str, old: str, new: str) -> None:
        self.changes.append((key, old, new))

    def emit(self, event: EngineEvent) -> None:
        self.events.append(event)

    @property
    def unavailable(self) -> list[StoreUnavailable]:
        return [e for e in self.events if isinstance(e, StoreUnavailable)]


def breaker_keys(prefix: str, key: str) -> tuple[str, str]:
    """The Redis keys of breaker *key*: its hash and its probe leases."""
    tag = _digest(key)
    return f"{prefix}:breaker:{{{tag}}}", f"{prefix}:probes:{{{tag}}}"


def store_keys(store: RedisStore, key: str) -> tuple[str, str]:
    return breaker_keys(store.prefix, key)


def server_ms(client: redis.Redis) -> int:
    seconds, micros = client.time()
    return int(seconds) * 1000 + int(micros) // 1000


def rewind_redis(client: redis.Redis, prefix: str, key: str, seconds: float = 3600.0) -> None:
    """Pretend breaker *key* opened *seconds* ago by the server's clock."""
    breaker, _ = breaker_keys(prefix, key)
    assert client.hget(breaker, "s") is not None, "only an open breaker has an opening time"
    client.hset(breaker, "o", server_ms(client) - int(seconds * 1000))


def rewind_memory(breakers: MemoryBreakers, key: str, seconds: float = 3600.0) -> None:
    """Pretend the in-process breaker *key* opened *seconds* ago (pybreaker's wall clock)."""
    breakers.get(key).storage.opened_at = datetime.now(timezone.utc) - timedelta(seconds=seconds)


def expire_leases(client: redis.Redis, prefix: str, key: str) -> int:
    """Pretend every probe lease of *key* has expired (as a crashed prober's would)."""
    _, probes = breaker_keys(prefix, key)
    leases = client.zrange(probes, 0, -1)
    past = server_ms(client) - 1
    for lease in leases:
        client.zadd(probes, {lease: past})
    return len(leases)
