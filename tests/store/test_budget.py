"""The fleet retry budget on a real Redis: the same arithmetic as the local budget, one
balance for every process, deposits batched, bounded memory (sync and async forms)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st

from resilient_responses import RedisStore, RetryBudget
from resilient_responses._budget import RetryBudgetState
from resilient_responses._redis_store import RedisBudget
from resilient_responses.testing._redis_server import RedisServer

from ._support import TIMEOUT, Heard


def budget(store: RedisStore, config: RetryBudget, heard: Heard | None = None) -> RedisBudget:
    return store.budget_backend(config, time.monotonic, (heard or Heard()).emit)


@pytest.fixture
def pair(redis_url: str, prefix: str) -> Iterator[tuple[RedisStore, RedisStore]]:
    """Two processes of one fleet."""
    a = RedisStore.from_url(redis_url, timeout=TIMEOUT, prefix=prefix)
    b = RedisStore.from_url(redis_url, timeout=TIMEOUT, prefix=prefix)
    yield a, b
    a.close()
    b.close()


OPS = st.lists(st.sampled_from(["deposit", "withdraw", "level"]), max_size=40)
CONFIGS = st.builds(
    RetryBudget,
    ratio=st.sampled_from([0.0, 0.1, 0.2, 0.5, 1.0, 3.0]),
    min_per_second=st.sampled_from([0.0, 0.1, 0.5]),
    # A window of 10 s or more: the test never outlives one, so nothing ages out of it.
    ttl=st.sampled_from([10.0, 60.0]),
)


@settings(max_examples=40)
@given(ops=OPS, config=CONFIGS)
def test_the_fleet_budget_does_the_local_budgets_arithmetic(
    redis_server: RedisServer, ops: list[str], config: RetryBudget
) -> None:
    """Within one window, every withdrawal and every level agrees with RetryBudgetState."""
    store = RedisStore.from_url(
        redis_server.url, timeout=TIMEOUT, prefix=f"rrtest-budget-{time.time_ns()}"
    )
    fleet = budget(store, config)
    local = RetryBudgetState(config, clock=lambda: 0.0)
    try:
        for op in ops:
            if op == "deposit":
                fleet.deposit()
                local.deposit()
            elif op == "withdraw":
                assert fleet.try_withdraw() == local.try_withdraw()
            else:
                assert fleet.level == pytest.approx(local.level)
    finally:
        client = store._shared.conn.client
        client.delete(*fleet._key)
        store.close()


def test_deposits_in_one_process_pay_for_retries_in_another(
    pair: tuple[RedisStore, RedisStore],
) -> None:
    config = RetryBudget(ratio=0.5, min_per_second=0.0)
    a, b = (budget(s, config) for s in pair)
    assert not b.try_withdraw()
    for _ in range(4):
        a.deposit()
    a.level  # noqa: B018 -- reading the level sends the deposits held back
    assert b.level == 2.0
    assert b.try_withdraw()
    assert a.try_withdraw()
    assert not a.try_withdraw()
    assert not b.try_withdraw()
    assert a.level == b.level == 0.0


def test_budgets_with_other_settings_are_kept_apart(pair: tuple[RedisStore, RedisStore]) -> None:
    a = budget(pair[0], RetryBudget(ratio=1.0, min_per_second=0.0))
    b = budget(pair[1], RetryBudget(ratio=0.5, min_per_second=0.0))
    a.deposit()
    assert a.level == 1.0
    assert b.level == 0.0


def test_deposits_are_sent_in_batches_and_a_withdrawal_carries_the_rest(
    store: RedisStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    fleet = budget(store, RetryBudget(ratio=0.5, min_per_second=0.0))
    client = store._shared.conn.client
    sent: list[object] = []
    original = client.execute_command

    def spy(*args: Any, **kwargs: Any) -> Any:
        sent.append(args[0])
        return original(*args, **kwargs)

    monkeypatch.setattr(client, "execute_command", spy)
    for _ in range(100):
        fleet.deposit()
    assert sent == ["EVALSHA"]  # the first one; the other 99 wait for the next flush
    assert fleet.try_withdraw()
    assert sent == ["EVALSHA"] * 2
    assert fleet.level == 100 * 0.5 - 1


def test_the_budget_key_expires(store: RedisStore, rclient: redis.Redis, prefix: str) -> None:
    fleet = budget(store, RetryBudget(ttl=5.0))
    fleet.deposit()
    keys = list(rclient.scan_iter(match=f"{prefix}:budget:*"))
    assert len(keys) == 1
    assert 0 < rclient.pttl(keys[0]) <= 6_000


async def test_async_deposits_and_withdrawals_share_the_fleet_balance(
    astore: RedisStore, redis_url: str, prefix: str
) -> None:
    config = RetryBudget(ratio=0.25, min_per_second=0.0)
    fleet = budget(astore, config)
    other = RedisStore.from_url(redis_url, timeout=TIMEOUT, prefix=prefix)
    try:
        for _ in range(8):
            await fleet.adeposit()
        assert await fleet.atry_withdraw()
        assert budget(other, config).try_withdraw()
        assert not await fleet.atry_withdraw()
        assert fleet.level == 0.0
    finally:
        other.close()
