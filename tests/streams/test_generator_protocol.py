"""Decorated generators forward the generator protocol, as ``yield from`` does: values
passed to ``send()`` / ``asend()`` arrive, exceptions passed to ``throw()`` / ``athrow()``
are raised inside (and may be handled there), ``close()`` / ``aclose()`` close the inner
generator. Retries before the first item still apply."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator

import httpx2
import openai
import pytest

import resilient_responses as rr
from resilient_responses.testing import set_testing


def _engine() -> rr.Resilience:
    return rr.Resilience(attempts=3, breaker=None)


class Boom(Exception):
    pass


def test_send_values_reach_the_decorated_generator() -> None:
    received: list[object] = []

    @_engine()
    def echo() -> Generator[str, str, str]:
        value = yield "ready"
        while value != "stop":
            received.append(value)
            value = yield f"got {value}"
        return "done"

    gen = echo()
    assert next(gen) == "ready"
    assert gen.send("A") == "got A"
    assert gen.send("B") == "got B"
    with pytest.raises(StopIteration) as stop:
        gen.send("stop")
    assert stop.value.value == "done"
    assert received == ["A", "B"]


def test_throw_is_raised_inside_and_may_be_handled_there() -> None:
    @_engine()
    def resilient_counter() -> Generator[int, None, None]:
        n = 0
        while True:
            try:
                yield n
            except Boom:
                n = -100  # handled inside: the generator goes on
            n += 1

    gen = resilient_counter()
    assert next(gen) == 0
    assert gen.throw(Boom()) == -99
    assert next(gen) == -98


def test_throw_not_handled_inside_propagates_once() -> None:
    inner_closed: list[bool] = []

    @_engine()
    def gen_fn() -> Generator[int, None, None]:
        try:
            yield 1
            yield 2
        finally:
            inner_closed.append(True)

    gen = gen_fn()
    assert next(gen) == 1
    with pytest.raises(Boom):
        gen.throw(Boom())
    assert inner_closed == [True]


def test_close_closes_the_inner_generator() -> None:
    closed: list[bool] = []

    @_engine()
    def gen_fn() -> Generator[int, None, None]:
        try:
            yield 1
            yield 2
        finally:
            closed.append(True)

    gen = gen_fn()
    assert next(gen) == 1
    gen.close()
    assert closed == [True]


def test_retried_before_the_first_item_then_send_works() -> None:
    calls: list[int] = []
    request = openai.APIConnectionError(request=httpx2.Request("POST", "http://127.0.0.1/v1"))

    @_engine()
    def flaky() -> Generator[str, str, None]:
        calls.append(1)
        if len(calls) < 3:
            raise request
        value = yield "first"
        yield f"sent {value}"

    with set_testing(True):
        gen = flaky()
        assert next(gen) == "first"
        assert gen.send("x") == "sent x"
    assert len(calls) == 3


async def test_asend_values_reach_the_decorated_async_generator() -> None:
    received: list[object] = []

    @_engine()
    async def echo() -> AsyncGenerator[str, str]:
        value = yield "ready"
        while value != "stop":
            received.append(value)
            value = yield f"got {value}"

    gen = echo()
    assert await gen.__anext__() == "ready"
    assert await gen.asend("A") == "got A"
    assert await gen.asend("B") == "got B"
    with pytest.raises(StopAsyncIteration):
        await gen.asend("stop")
    assert received == ["A", "B"]


async def test_athrow_is_raised_inside_and_may_be_handled_there() -> None:
    @_engine()
    async def counter() -> AsyncGenerator[int, None]:
        n = 0
        while True:
            try:
                yield n
            except Boom:
                n = -100
            n += 1

    gen = counter()
    assert await gen.__anext__() == 0
    assert await gen.athrow(Boom()) == -99
    assert await gen.__anext__() == -98
    await gen.aclose()


async def test_aclose_closes_the_inner_async_generator() -> None:
    closed: list[bool] = []

    @_engine()
    async def gen_fn() -> AsyncGenerator[int, None]:
        try:
            yield 1
            yield 2
        finally:
            closed.append(True)

    gen = gen_fn()
    assert await gen.__anext__() == 1
    await gen.aclose()
    assert closed == [True]
