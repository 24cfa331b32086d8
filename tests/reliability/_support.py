"""Helpers shared by the reliability scenarios."""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable
from typing import Any

import resilient_responses as rr

MODEL = "gpt-5-mini"
KEY = "sk-reliability"


class QuietLogger:
    """Keeps the scenarios' expected retries out of the test output."""

    def _log(self, event: str, **fields: Any) -> None:
        return None

    debug = info = warning = error = _log


def resilience(**config: Any) -> rr.Resilience:
    config.setdefault("logger", QuietLogger())
    return rr.Resilience(**config)


def read_into(stream: Iterable[Any], into: list[Any]) -> None:
    """Read *stream* to its end, keeping what arrived before a fault in *into*."""
    for event in stream:
        into.append(event)  # noqa: PERF402 - a loop: events before the fault must survive


async def aread_into(stream: AsyncIterable[Any], into: list[Any]) -> None:
    """The async twin of :func:`read_into`."""
    async for event in stream:
        into.append(event)  # noqa: PERF401
