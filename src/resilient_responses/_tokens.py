"""A request's token cost as the API counts it against the quota, before running it.

One function, shared by the client's pacing (``RateLimit``) and the testing kit's fake
quota (``testing.Quota``), so the two can never disagree about what a request costs.
Pure, and at the bottom of the layering: it imports nothing of the library.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

__all__ = ["estimate_tokens"]

#: The fields whose text the API counts as the request's input.
_COUNTED = ("input", "instructions")


def _characters(value: object) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, Mapping):
        return sum(_characters(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(_characters(v) for v in value)
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        # An SDK model passed back as input (``input=previous.output + [...]``): count the
        # JSON the SDK sends for it.
        return _characters(dump(mode="json", exclude_unset=True))
    return 0


def estimate_tokens(body: object) -> int:
    """Tokens a request costs against a tokens-per-minute quota, counted before it runs.

    The characters of every string in ``input`` (a plain string, or the string values of
    its items) and ``instructions``, divided by 4 and rounded up, plus ``max_output_tokens``
    when given. *body* is the request's JSON body or the ``responses.create`` keyword
    arguments; anything else costs 0.

    >>> estimate_tokens({"input": "hello world", "max_output_tokens": 100})
    103
    >>> estimate_tokens({"input": "abcd", "instructions": "Be brief."})
    4
    """
    if not isinstance(body, Mapping):
        return 0
    tokens = math.ceil(sum(_characters(body.get(name)) for name in _COUNTED) / 4)
    max_output = body.get("max_output_tokens")
    if isinstance(max_output, int) and not isinstance(max_output, bool) and max_output > 0:
        tokens += max_output
    return tokens
