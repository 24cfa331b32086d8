"""A Hypothesis state machine: several processes' admissions and outcomes in random
interleavings, on Redis and on the in-process breakers (pybreaker) in lockstep.

Every step, both stores must agree (who is admitted, as a probe or not, clean or not; the
state; each transition, reported once), and the invariants hold on both: never more than
``half_open_probes`` probes in flight, only valid transitions chaining from ``closed``,
counters never negative. Time moves by rewriting when the breaker opened (the server's
clock cannot be moved); a prober crashing is its lease expiring.
"""

from __future__ import annotations

import uuid
from typing import Literal

import redis
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

import resilient_responses as rr
from resilient_responses import RedisStore
from resilient_responses._backends import Admission
from resilient_responses._breaker import MemoryBreakers
from resilient_responses._redis_breakers import RedisBreakers
from resilient_responses.testing._redis_server import RedisServer

from ._support import TIMEOUT, breaker_keys, rewind_memory, rewind_redis, server_ms

KEY = "https://api.openai.com/v1|gpt-5-mini"
PROCESSES = 3
EDGES = {("closed", "open"), ("open", "half-open"), ("half-open", "closed"), ("half-open", "open")}

Verdict = Literal["refused", "clean", "counted", "probe"]


def _verdict(admission: Admission | None) -> Verdict:
    if admission is None:
        return "refused"
    if admission.probe:
        return "probe"
    return "clean" if admission.clean else "counted"


class FleetBreakerMachine(RuleBasedStateMachine):
    def __init__(self, url: str) -> None:
        super().__init__()
        self.prefix = f"rrtest-sm-{uuid.uuid4().hex[:12]}"
        self.client = redis.Redis.from_url(url)
        self.stores = [
            RedisStore.from_url(url, timeout=TIMEOUT, prefix=self.prefix) for _ in range(PROCESSES)
        ]
        self.hash, self.probes = breaker_keys(self.prefix, KEY)
        self.fleet: list[RedisBreakers] = []
        self.memory: MemoryBreakers | None = None
        self.config = rr.BreakerConfig()
        # (process, fleet admission, in-process admission) of attempts still in flight
        self.inflight: list[tuple[int, Admission, Admission]] = []
        self.fleet_changes: list[tuple[str, str]] = []
        self.memory_changes: list[tuple[str, str]] = []

    def _fleet_change(self, key: str, old: str, new: str) -> None:
        assert key == KEY
        self.fleet_changes.append((old, new))

    def _memory_change(self, key: str, old: str, new: str) -> None:
        self.memory_changes.append((old, new))

    @initialize(
        fail_max=st.integers(1, 3),
        success_threshold=st.integers(1, 2),
        half_open_probes=st.integers(1, 2),
    )
    def configure(self, fail_max: int, success_threshold: int, half_open_probes: int) -> None:
        self.config = rr.BreakerConfig(
            fail_max=fail_max,
            reset_timeout=60.0,
            success_threshold=success_threshold,
            half_open_probes=half_open_probes,
        )
        self.fleet = [
            s.breaker_backend(self.config, self._fleet_change, lambda event: None)
            for s in self.stores
        ]
        self.memory = MemoryBreakers(self.config, self._memory_change)

    @property
    def mem(self) -> MemoryBreakers:
        assert self.memory is not None
        return self.memory

    @rule(process=st.integers(0, PROCESSES - 1))
    def admit(self, process: int) -> None:
        fleet: Admission | None
        memory: Admission | None
        try:
            fleet = self.fleet[process].admit(KEY)
        except rr.CircuitOpenError:
            fleet = None
        try:
            memory = self.mem.admit(KEY)
        except rr.CircuitOpenError:
            memory = None
        assert _verdict(fleet) == _verdict(memory)
        if fleet is not None and memory is not None:
            self.inflight.append((process, fleet, memory))

    @precondition(lambda self: bool(self.inflight))
    @rule(data=st.data(), tripped=st.sampled_from([True, False, None]))
    def record(self, data: st.DataObject, tripped: bool | None) -> None:
        index = data.draw(st.integers(0, len(self.inflight) - 1))
        process, fleet, memory = self.inflight.pop(index)
        self.fleet[process].record(fleet, tripped)
        self.mem.record(memory, tripped)

    @precondition(lambda self: any(f.probe for _, f, _ in self.inflight))
    @rule(data=st.data())
    def prober_crashes(self, data: st.DataObject) -> None:
        """A probe's process dies: it never records; its lease expires."""
        probes = [i for i, (_, f, _) in enumerate(self.inflight) if f.probe]
        index = data.draw(st.sampled_from(probes))
        _, fleet, memory = self.inflight.pop(index)
        self.client.zadd(self.probes, {str(fleet.lease): server_ms(self.client) - 1})
        self.mem.record(memory, None)  # pybreaker's slot has no lease: give it back

    @rule()
    def reset_timeout_passes(self) -> None:
        if self.mem.state(KEY) == "open":
            rewind_redis(self.client, self.prefix, KEY, 3600.0)
            rewind_memory(self.mem, KEY, 3600.0)

    @invariant()
    def both_stores_agree(self) -> None:
        if self.memory is None:
            return
        state = self.mem.state(KEY)
        assert all(b.state(KEY) == state for b in self.fleet)
        assert self.fleet_changes == self.memory_changes

    @invariant()
    def transitions_are_valid_and_chain_from_closed(self) -> None:
        current = "closed"
        for old, new in self.fleet_changes:
            assert (old, new) in EDGES
            assert old == current
            current = new
        if self.memory is not None:
            assert current == self.mem.state(KEY)

    @invariant()
    def probes_in_flight_never_exceed_the_limit(self) -> None:
        if self.memory is None:
            return
        live = self.client.zcount(self.probes, f"({server_ms(self.client)}", "+inf")
        in_flight = sum(1 for _, f, _ in self.inflight if f.probe)
        assert live == in_flight == self.mem.get(KEY)._probes
        assert live <= self.config.half_open_probes

    @invariant()
    def counters_are_never_negative(self) -> None:
        fields = self.client.hgetall(self.hash)
        for name in (b"f", b"k"):
            assert int(fields.get(name, 0)) >= 0
        if self.memory is not None:
            storage = self.mem.get(KEY).storage
            assert storage.counter >= 0
            assert storage.success_counter >= 0

    def teardown(self) -> None:
        keys = list(self.client.scan_iter(match=f"{self.prefix}:*"))
        if keys:
            self.client.delete(*keys)
        for s in self.stores:
            s.close()
        self.client.close()


def test_fleet_and_in_process_breakers_agree_under_random_interleavings(
    redis_server: RedisServer,
) -> None:
    if not redis_server.running:
        redis_server.start()
    url = redis_server.url
    run_state_machine_as_test(
        lambda: FleetBreakerMachine(url),
        settings=settings(max_examples=100, stateful_step_count=40, deadline=None),
    )
