"""Each Lua script of the fleet store, every transition, against a real Redis.

The scripts are called raw (no store around them): the arguments are the ones the store
sends, the state is set up and read back with plain Redis commands.
"""

from __future__ import annotations

from typing import Any

import pytest
import redis

from resilient_responses._redis_scripts import (
    BREAKER_ADMIT,
    BREAKER_PEEK,
    BREAKER_RECORD,
    BUDGET,
)

from ._support import server_ms

RESET_MS = 10_000
LEASE_MS = 60_000
TTL_MS = 3_610_000


class Breaker:
    """One breaker's keys and its three scripts, with the store's argument layout."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.client = client
        self.hash = f"{prefix}:breaker:{{t}}"
        self.probes = f"{prefix}:probes:{{t}}"
        self._admit = client.register_script(BREAKER_ADMIT)
        self._record = client.register_script(BREAKER_RECORD)
        self._peek = client.register_script(BREAKER_PEEK)

    def admit(self, lease: str = "L1", *, probes: int = 1, reset_ms: int = RESET_MS) -> list[int]:
        reply = self._admit([self.hash, self.probes], [reset_ms, probes, lease, LEASE_MS, TTL_MS])
        return [int(x) for x in reply]

    def record(
        self,
        outcome: int,
        lease: str = "",
        *,
        fail_max: int = 3,
        threshold: int = 1,
        reset_ms: int = RESET_MS,
    ) -> list[str]:
        reply = self._record(
            [self.hash, self.probes], [outcome, lease, fail_max, reset_ms, threshold, TTL_MS]
        )
        state, *moves = (x.decode() for x in reply)
        # The reply leads with the state after the outcome: what a peek reads now.
        assert state == self.peek()[0]
        return moves

    def peek(self) -> tuple[str, int]:
        state, retry_ms = self._peek([self.hash], [RESET_MS])
        return state.decode(), int(retry_ms)

    def fields(self) -> dict[str, str]:
        return {k.decode(): v.decode() for k, v in self.client.hgetall(self.hash).items()}

    def leases(self) -> list[str]:
        return [x.decode() for x in self.client.zrange(self.probes, 0, -1)]

    def set(self, **fields: Any) -> None:
        self.client.hset(self.hash, mapping=fields)

    def open(self, ago_ms: int = 0, fails: int = 3) -> int:
        opened = server_ms(self.client) - ago_ms
        self.set(s="open", f=fails, k=0, o=opened)
        return opened

    def half_open(self, successes: int = 0) -> None:
        self.set(s="half-open", f=3, k=successes, o=server_ms(self.client) - RESET_MS - 1)


@pytest.fixture
def b(rclient: redis.Redis, prefix: str) -> Breaker:
    return Breaker(rclient, prefix)


# -- admit -------------------------------------------------------------------------------


def test_admit_closed_and_clean_has_no_key_and_writes_nothing(b: Breaker) -> None:
    assert b.admit() == [1, 1, 0, 0]
    assert not b.client.exists(b.hash, b.probes)


def test_admit_closed_with_failures_counted_is_not_clean(b: Breaker) -> None:
    b.set(f=2)
    assert b.admit() == [1, 0, 0, 0]
    assert b.fields() == {"f": "2"}


def test_admit_open_before_reset_timeout_refuses_with_the_time_left(b: Breaker) -> None:
    b.open(ago_ms=4_000)
    verdict, clean, retry_ms, moved = b.admit()
    assert (verdict, clean, moved) == (0, 0, 0)
    assert 5_000 <= retry_ms <= 6_000
    assert b.fields()["s"] == "open"
    assert b.leases() == []


def test_admit_open_after_reset_timeout_moves_to_half_open_and_takes_the_lease(
    b: Breaker,
) -> None:
    b.open(ago_ms=RESET_MS + 1)
    assert b.admit("probe-1") == [2, 0, 0, 1]
    fields = b.fields()
    assert fields["s"] == "half-open"
    assert fields["k"] == "0"
    assert b.leases() == ["probe-1"]
    assert 0 < b.client.pttl(b.hash) <= TTL_MS
    assert 0 < b.client.pttl(b.probes) <= LEASE_MS + 1000
    expiry = b.client.zscore(b.probes, "probe-1")
    assert expiry is not None
    assert abs(expiry - (server_ms(b.client) + LEASE_MS)) < 1_000


def test_admit_half_open_refuses_once_every_probe_slot_is_taken(b: Breaker) -> None:
    b.half_open()
    assert b.admit("a", probes=2) == [2, 0, 0, 0]
    assert b.admit("b", probes=2) == [2, 0, 0, 0]
    assert b.admit("c", probes=2) == [0, 0, 0, 0]
    assert sorted(b.leases()) == ["a", "b"]


def test_admit_half_open_frees_a_slot_whose_lease_expired(b: Breaker) -> None:
    """A prober that crashed never records: its lease expires and another probe goes."""
    b.half_open()
    assert b.admit("crashed")[0] == 2
    assert b.admit("next")[0] == 0
    b.client.zadd(b.probes, {"crashed": server_ms(b.client) - 1})
    assert b.admit("next") == [2, 0, 0, 0]
    assert b.leases() == ["next"]


def test_admit_moving_to_half_open_is_reported_once_even_when_refused(b: Breaker) -> None:
    """A lease still held from an earlier half-open spell fills the slot: the caller that
    moved the breaker is refused, but still told it made the transition."""
    b.client.zadd(b.probes, {"old": server_ms(b.client) + LEASE_MS})
    b.open(ago_ms=RESET_MS + 1)
    assert b.admit("new") == [0, 0, 0, 1]
    assert b.admit("new") == [0, 0, 0, 0]
    assert b.fields()["s"] == "half-open"


# -- record ------------------------------------------------------------------------------


def test_record_success_on_a_clean_closed_breaker_writes_nothing(b: Breaker) -> None:
    assert b.record(0) == []
    assert not b.client.exists(b.hash)


def test_record_success_while_closed_resets_the_failure_count(b: Breaker) -> None:
    b.set(f=2)
    assert b.record(0) == []
    assert not b.client.exists(b.hash)


def test_record_failure_while_closed_counts_below_fail_max(b: Breaker) -> None:
    assert b.record(1, fail_max=3) == []
    assert b.record(1, fail_max=3) == []
    assert b.fields() == {"f": "2"}
    assert 0 < b.client.pttl(b.hash) <= TTL_MS


def test_record_failure_reaching_fail_max_opens_by_the_server_clock(b: Breaker) -> None:
    b.set(f=2)
    before = server_ms(b.client)
    assert b.record(1, fail_max=3) == ["closed", "open"]
    fields = b.fields()
    assert fields["s"] == "open"
    assert fields["f"] == "3"
    assert before <= int(fields["o"]) <= server_ms(b.client)
    assert 0 < b.client.pttl(b.hash) <= TTL_MS


def test_record_while_open_before_reset_timeout_counts_nothing(b: Breaker) -> None:
    opened = b.open(ago_ms=1_000)
    assert b.record(1) == []
    assert b.record(0) == []
    assert b.fields() == {"s": "open", "f": "3", "k": "0", "o": str(opened)}


def test_record_success_while_open_after_reset_timeout_goes_half_open_then_closes(
    b: Breaker,
) -> None:
    """pybreaker's rule: an outcome arriving once the timeout has passed moves the breaker
    to half-open first and counts there."""
    b.open(ago_ms=RESET_MS + 1)
    assert b.record(0) == ["open", "half-open", "half-open", "closed"]
    assert not b.client.exists(b.hash)


def test_record_failure_while_open_after_reset_timeout_reopens_now(b: Breaker) -> None:
    old = b.open(ago_ms=RESET_MS + 1)
    assert b.record(1) == ["open", "half-open", "half-open", "open"]
    fields = b.fields()
    assert fields["s"] == "open"
    assert int(fields["o"]) > old


def test_record_success_while_half_open_counts_toward_the_threshold(b: Breaker) -> None:
    b.half_open()
    assert b.record(0, threshold=2) == []
    fields = b.fields()
    assert (fields["s"], fields["k"], fields["f"]) == ("half-open", "1", "0")
    assert b.record(0, threshold=2) == ["half-open", "closed"]
    assert not b.client.exists(b.hash)


def test_record_failure_while_half_open_reopens(b: Breaker) -> None:
    b.half_open(successes=1)
    before = server_ms(b.client)
    assert b.record(1, threshold=2) == ["half-open", "open"]
    fields = b.fields()
    assert (fields["s"], fields["k"]) == ("open", "0")
    assert int(fields["o"]) >= before


def test_record_releases_the_probe_lease_with_the_outcome(b: Breaker) -> None:
    b.half_open()
    assert b.admit("p")[0] == 2
    assert b.record(0, "p") == ["half-open", "closed"]
    assert b.leases() == []


@pytest.mark.parametrize("state", ["closed", "half-open", "open"])
def test_record_with_no_outcome_only_releases_the_lease(b: Breaker, state: str) -> None:
    if state == "half-open":
        b.half_open()
    elif state == "open":
        b.open(ago_ms=RESET_MS + 1)
    b.client.zadd(b.probes, {"p": server_ms(b.client) + LEASE_MS})
    before = b.fields()
    assert b.record(-1, "p") == []
    assert b.leases() == []
    assert b.fields() == before


# -- peek --------------------------------------------------------------------------------


def test_peek_reads_state_and_time_left_without_changing_anything(b: Breaker) -> None:
    assert b.peek() == ("closed", 0)
    b.set(f=1)
    assert b.peek() == ("closed", 0)
    b.open(ago_ms=2_000)
    state, retry_ms = b.peek()
    assert state == "open"
    assert 7_000 <= retry_ms <= 8_000
    b.open(ago_ms=RESET_MS + 5)
    assert b.peek() == ("open", 0)
    assert b.fields()["s"] == "open"
    b.half_open()
    assert b.peek() == ("half-open", 0)


# -- budget ------------------------------------------------------------------------------


class Budget:
    def __init__(self, client: redis.Redis, prefix: str, size: int = 10) -> None:
        self.client = client
        self.key = f"{prefix}:budget:{{c}}"
        self.size = size
        self._script = client.register_script(BUDGET)

    def __call__(
        self, deposits: int = 0, withdraw: bool = False, *, ratio: float = 0.5, reserve: float = 0
    ) -> tuple[int, float]:
        took, balance = self._script(
            [self.key],
            [deposits, 1 if withdraw else 0, self.size, ratio, reserve, (self.size + 1) * 1000],
        )
        return int(took), float(balance)

    def fields(self) -> dict[str, str]:
        return {k.decode(): v.decode() for k, v in self.client.hgetall(self.key).items()}

    def now(self) -> int:
        return int(self.client.time()[0])


@pytest.fixture
def budget(rclient: redis.Redis, prefix: str) -> Budget:
    return Budget(rclient, prefix)


def test_budget_starts_from_the_reserve(budget: Budget) -> None:
    assert budget(reserve=100.0) == (0, 100.0)
    assert budget.fields()["D"] == "0"
    assert 0 < budget.client.pttl(budget.key) <= 11_000


def test_budget_deposits_earn_ratio_tokens_and_withdrawals_spend_whole_ones(
    budget: Budget,
) -> None:
    assert budget(deposits=3) == (0, 1.5)
    assert budget(withdraw=True) == (1, 0.5)
    assert budget(withdraw=True) == (0, 0.5)  # fewer than one: nothing taken
    fields = budget.fields()
    assert (fields["D"], fields["W"]) == ("3", "1")


def test_budget_deposits_and_withdrawal_in_one_call(budget: Budget) -> None:
    assert budget(deposits=2, withdraw=True) == (1, 0.0)


def test_budget_forgets_buckets_older_than_the_window(budget: Budget) -> None:
    now = budget.now()
    old, recent = now - budget.size - 2, now - 2
    budget.client.hset(
        budget.key,
        mapping={
            "lo": old,
            f"d{old}": 8,
            f"w{old}": 1,
            f"d{recent}": 4,
            f"w{recent}": 1,
            "D": 12,
            "W": 2,
        },
    )
    assert budget() == (0, 4 * 0.5 - 1)
    fields = budget.fields()
    assert f"d{old}" not in fields
    assert f"w{old}" not in fields
    assert (fields["D"], fields["W"]) == ("4", "1")
    assert int(fields["lo"]) == budget.now() - budget.size + 1


def test_budget_starts_afresh_when_the_whole_window_is_stale(budget: Budget) -> None:
    ancient = budget.now() - 10 * budget.size
    budget.client.hset(budget.key, mapping={"lo": ancient, f"d{ancient}": 50, "D": 50, "W": 0})
    assert budget(reserve=2.0) == (0, 2.0)
    assert set(budget.fields()) == {"lo", "D", "W"}


def test_budget_memory_is_bounded_by_the_window(budget: Budget) -> None:
    """However many calls, at most two fields per second of the window (plus three)."""
    now = budget.now()
    mapping: dict[str, int] = {"lo": now - 3 * budget.size, "D": 0, "W": 0}
    for second in range(now - 3 * budget.size, now - budget.size):
        mapping[f"d{second}"] = 1
        mapping["D"] += 1
    budget.client.hset(budget.key, mapping=mapping)
    for _ in range(20):
        budget(deposits=1, withdraw=True)
    assert len(budget.fields()) <= 2 * budget.size + 3
