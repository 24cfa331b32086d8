"""Helpers shared by the reliability scenarios."""

from __future__ import annotations

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
