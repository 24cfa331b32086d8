"""The stall watch inside the SDK's SSE decoder: network silence without an event past
the limit is a stall (``httpx2.ReadTimeout``); the time the consumer spends on an event
never counts, so a slow consumer is not a stalled server.

Both ways the watch reads a stream are held to one model: the decoder subclass the
installed SDK gets, and the wrapper any other decoder gets.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx2
import pytest
from hypothesis import given
from hypothesis import strategies as st
from openai._streaming import SSEDecoder

from resilient_responses import StreamPolicy
from resilient_responses._stream_call import StallWatch
from resilient_responses._stream_open import _WatchedDecoder, _WatchedSSEDecoder

LIMIT = 2.0
EVENT = b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta"}\n\n'
KEEPALIVE = b": keepalive\n\n"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _subclass(watch: StallWatch) -> Any:
    assert _WatchedSSEDecoder is not None  # the installed SDK has the per-chunk step
    return _WatchedSSEDecoder(watch, LIMIT)


def _wrapper(watch: StallWatch) -> Any:
    return _WatchedDecoder(SSEDecoder(), watch, LIMIT)


DECODERS: dict[str, Callable[[StallWatch], Any]] = {"subclass": _subclass, "wrapper": _wrapper}

# One chunk: (carries an event, seconds the network took to deliver it, seconds the
# consumer then spends on its event).
Chunk = tuple[bool, float, float]


def _play(make: Callable[[StallWatch], Any], chunks: list[Chunk]) -> tuple[int, bool]:
    """Read *chunks* through a watched decoder; (events delivered, stalled)."""
    clock = Clock()
    watch = StallWatch(StreamPolicy(idle_timeout=LIMIT), None, clock)

    def body() -> Iterator[bytes]:
        for carries, network, _ in chunks:
            clock.now += network
            yield EVENT if carries else KEEPALIVE

    consumer = iter([consumer for carries, _, consumer in chunks if carries])
    delivered = 0
    try:
        for _ in make(watch).iter_bytes(body()):
            delivered += 1
            clock.now += next(consumer)
    except httpx2.ReadTimeout:
        return delivered, True
    return delivered, False


def _expected(chunks: list[Chunk]) -> tuple[int, bool]:
    """The rule: network time since the last event (consumer time excluded) above the
    limit at a chunk without an event is a stall."""
    silence = 0.0
    delivered = 0
    for carries, network, _ in chunks:
        silence += network
        if carries:
            delivered += 1
            silence = 0.0
        elif silence > LIMIT:
            return delivered, True
    return delivered, False


@pytest.mark.parametrize("kind", DECODERS)
def test_a_slow_consumer_is_not_a_stall(kind: str) -> None:
    chunks: list[Chunk] = [(True, 0.1, 5.0), (False, 0.5, 0.0), (True, 0.5, 9.0), (False, 1.0, 0.0)]
    assert _play(DECODERS[kind], chunks) == (2, False)


@pytest.mark.parametrize("kind", DECODERS)
def test_keepalives_past_the_limit_are_a_stall(kind: str) -> None:
    chunks: list[Chunk] = [(True, 0.1, 0.0), *[(False, 0.7, 0.0)] * 5, (True, 0.1, 0.0)]
    assert _play(DECODERS[kind], chunks) == (1, True)


@pytest.mark.parametrize("kind", DECODERS)
@given(
    chunks=st.lists(
        st.tuples(
            st.booleans(),
            st.sampled_from([0.0, 0.25, 0.5, 1.0, 1.75, 2.5]),
            st.sampled_from([0.0, 1.0, 3.0]),
        ),
        max_size=30,
    )
)
def test_the_watch_follows_the_rule(kind: str, chunks: list[Chunk]) -> None:
    assert _play(DECODERS[kind], chunks) == _expected(chunks)


def test_the_decoder_subclass_is_checked_against_the_installed_sdk() -> None:
    """The subclass leans on a private step of the SDK's decoder: it is used only if a
    keepalive past the limit raises through it; else the wrapper is."""
    from resilient_responses._stream_open import _stalls_on_a_keepalive

    class Blind(SSEDecoder):  # an SDK whose iter_bytes no longer calls the step
        def __init__(self, watch: StallWatch, limit: float) -> None:
            super().__init__()

    class Unfit(SSEDecoder):  # an SDK whose decoder cannot be built this way
        def __init__(self, watch: StallWatch, limit: float) -> None:
            raise TypeError("SSEDecoder() takes a required argument")

    assert _WatchedSSEDecoder is not None
    assert _stalls_on_a_keepalive(_WatchedSSEDecoder)
    assert not _stalls_on_a_keepalive(Blind)
    assert not _stalls_on_a_keepalive(Unfit)
