"""The breakers on Redis: every transition one atomic Lua script timed by the server's
clock; half-open probes are fleet-wide leases that expire."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Mapping
from itertools import count
from typing import Any, Final, cast

from ._backends import Admission, BreakerState, Emit, StateListener
from ._breaker import BreakerConfig, MemoryBreakers
from ._redis_conn import (
    _LOCAL,
    _digest,
    _FleetBackend,
    _Shared,
    _text,
)
from .exceptions import CircuitOpenError

__all__ = ["RedisBreakers"]

#: A breaker's keys outlive its last write by the reset timeout plus this (seconds): a key
#: nobody uses for an hour is forgotten (a closed breaker, or failures counted long ago).
STATE_TTL_SLACK: Final = 3600.0
#: Smallest probe lease (seconds) when none is given: the lease is the reset timeout, but
#: never shorter than a slow model's answer is likely to take.
MIN_PROBE_LEASE: Final = 10.0


class RedisBreakers(_FleetBackend[MemoryBreakers]):
    """The fleet :class:`~resilient_responses._backends.BreakerBackend`: one breaker per key,
    in Redis, every transition an atomic script; falls back to in-process breakers."""

    __slots__ = (
        "_config",
        "_keys",
        "_lease_ids",
        "_lease_ms",
        "_lease_prefix",
        "_on_change",
        "_record_tail",
        "_reset_ms",
        "_ttl_ms",
    )

    def __init__(
        self, shared: _Shared, config: BreakerConfig, on_change: StateListener, emit: Emit
    ) -> None:
        super().__init__(shared, emit, lambda: MemoryBreakers(config, on_change))
        self._config = config
        self._on_change = on_change
        lease = shared.probe_lease
        if lease is None:
            lease = max(config.reset_timeout, MIN_PROBE_LEASE)
        self._reset_ms = str(round(config.reset_timeout * 1000))
        self._lease_ms = str(max(1, round(lease * 1000)))
        self._ttl_ms = str(round((config.reset_timeout + STATE_TTL_SLACK) * 1000))
        self._record_tail = (
            str(config.fail_max),
            self._reset_ms,
            str(config.success_threshold),
            self._ttl_ms,
        )
        self._keys: dict[str, tuple[str, str]] = {}
        self._lease_prefix = os.urandom(6).hex()
        self._lease_ids = count(1)

    def _redis_keys(self, key: str) -> tuple[str, str]:
        keys = self._keys.get(key)
        if keys is None:
            tag = _digest(key)
            prefix = self._shared.prefix
            keys = (f"{prefix}:breaker:{{{tag}}}", f"{prefix}:probes:{{{tag}}}")
            self._keys[key] = keys
        return keys

    # -- admission ----------------------------------------------------------------------

    def _admit_fn(self, key: str) -> tuple[str, Callable[[Any, Any], Any]]:
        keys = self._redis_keys(key)
        lease = f"{self._lease_prefix}-{next(self._lease_ids)}"
        args = (
            self._reset_ms,
            str(self._config.half_open_probes),
            lease,
            self._lease_ms,
            self._ttl_ms,
        )
        return lease, lambda client, scripts: scripts.admit(keys, args, client=client)

    def _admitted(self, key: str, lease: str, reply: Any) -> Admission:
        verdict, clean, retry_ms, moved = (int(x) for x in reply)
        if moved:
            self._on_change(key, "open", "half-open")
        if verdict == 1:
            return Admission(key, clean=clean == 1)
        if verdict == 2:
            return Admission(key, probe=True, lease=lease)
        raise CircuitOpenError(key, retry_ms / 1000)

    def admit(self, key: str) -> Admission:
        """Let one attempt through, or raise ``CircuitOpenError`` (one round trip)."""
        lease, fn = self._admit_fn(key)
        reply = self._call("admit", fn)
        if reply is _LOCAL:
            return self._local.admit(key)
        return self._admitted(key, lease, reply)

    async def aadmit(self, key: str) -> Admission:
        """The async form of :meth:`admit`."""
        lease, fn = self._admit_fn(key)
        reply = await self._acall("admit", fn)
        if reply is _LOCAL:
            return self._local.admit(key)
        return self._admitted(key, lease, reply)

    # -- outcomes -----------------------------------------------------------------------

    def _record_fn(self, admission: Admission, tripped: bool | None) -> Any:
        """The script call for an outcome; ``None`` nothing to send; :data:`_LOCAL` an
        admission the in-process breakers made (while Redis was down)."""
        if admission.probe and admission.lease is None:
            return _LOCAL
        if tripped is None:
            if admission.lease is None:
                return None
            outcome = "-1"
        elif not tripped and admission.clean:
            return None  # a success on a clean closed breaker changes nothing
        else:
            outcome = "1" if tripped else "0"
        keys = self._redis_keys(admission.key)
        args = (outcome, admission.lease or "", *self._record_tail)
        return lambda client, scripts: scripts.record(keys, args, client=client)

    def _changed(self, admission: Admission, reply: Any) -> BreakerState:
        """Report the transitions of a record reply; the state after it."""
        moves = [_text(x) for x in reply]
        for i in range(1, len(moves) - 1, 2):
            self._on_change(admission.key, moves[i], moves[i + 1])
        return cast(BreakerState, moves[0])

    @staticmethod
    def _unsent(admission: Admission) -> BreakerState:
        # Nothing was sent (a success on a clean closed breaker): closed, as admitted.
        return "half-open" if admission.probe else "closed"

    def record(self, admission: Admission, tripped: bool | None) -> BreakerState:
        """Account an admitted attempt's outcome (see ``BreakerBackend.record``); the
        breaker's state after it, from the same round trip."""
        fn = self._record_fn(admission, tripped)
        if fn is None:
            return self._unsent(admission)
        reply = _LOCAL if fn is _LOCAL else self._call("record", fn)
        if reply is _LOCAL:
            return self._local.record(admission, tripped)
        return self._changed(admission, reply)

    async def arecord(self, admission: Admission, tripped: bool | None) -> BreakerState:
        """The async form of :meth:`record`."""
        fn = self._record_fn(admission, tripped)
        if fn is None:
            return self._unsent(admission)
        reply = _LOCAL if fn is _LOCAL else await self._acall("record", fn)
        if reply is _LOCAL:
            return self._local.record(admission, tripped)
        return self._changed(admission, reply)

    def release(self, admission: Admission) -> None:
        """Give back a probe lease without waiting: on the running loop when there is one,
        else on a worker thread; if neither can run it, the lease expires by itself."""
        if not admission.probe:
            return
        if admission.lease is None:
            self._local.record(admission, None)
            return
        _, probes = self._redis_keys(admission.key)
        lease = admission.lease
        errors = self._shared.errors
        conn = self._shared.conn

        def drop() -> None:
            with contextlib.suppress(*errors):
                conn.client.zrem(probes, lease)

        async def adrop() -> None:
            target = conn.for_loop()
            with contextlib.suppress(*errors):
                if target is None:
                    await asyncio.to_thread(drop)
                else:
                    await target[0].zrem(probes, lease)

        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        with contextlib.suppress(RuntimeError):  # interpreter shutting down: lease expires
            if loop is not None:
                conn.keep(loop.create_task(adrop()))
            else:
                conn.releaser().submit(drop)

    # -- reading ------------------------------------------------------------------------

    def state(self, key: str) -> BreakerState:
        """*key*'s state now, as Redis says (one round trip)."""
        breaker, _ = self._redis_keys(key)
        reply = self._call("state", lambda client, _: client.hget(breaker, "s"))
        if reply is _LOCAL:
            return self._local.state(key)
        return _breaker_state(reply)

    def retry_in(self, key: str) -> float:
        """Seconds until *key*'s open breaker lets a probe through, by the server's clock."""
        breaker, _ = self._redis_keys(key)
        args = (self._reset_ms,)
        reply = self._call(
            "retry_in", lambda client, scripts: scripts.peek((breaker,), args, client=client)
        )
        if reply is _LOCAL:
            return self._local.retry_in(key)
        return int(reply[1]) / 1000

    def states(self) -> Mapping[str, BreakerState]:
        """The state of every key this process has used (one pipelined round trip)."""
        known = list(self._keys.items())

        def fn(client: Any, _: Any) -> Any:
            pipe = client.pipeline(transaction=False)
            for _, (breaker, _) in known:
                pipe.hget(breaker, "s")
            return pipe.execute()

        reply = self._call("states", fn) if known else []
        if reply is _LOCAL:
            return {key: self._local.state(key) for key, _ in known}
        return {key: _breaker_state(value) for (key, _), value in zip(known, reply, strict=True)}


def _breaker_state(value: object) -> BreakerState:
    if value is None:
        return "closed"
    text = _text(value)
    if text == "open":
        return "open"
    if text == "half-open":
        return "half-open"
    return "closed"
