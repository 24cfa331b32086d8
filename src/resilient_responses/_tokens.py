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
#: Tokens taken for one image or file part before the response reports the real count:
#: its bytes (base64 data, a URL, a file id) say nothing of its tokens, and counting them
#: as text would take hundreds of thousands of tokens for one photo. The usage the
#: response reports reconciles the difference.
ATTACHMENT_TOKENS = 1000
#: Content parts counted as attachments, whatever they carry.
_ATTACHMENTS = frozenset({"input_image", "input_file", "input_audio"})
#: Fields that carry data, not text the model reads as tokens: never counted.
_OPAQUE = frozenset({"encrypted_content", "file_data", "image_url", "file_url", "file_id"})


def _characters(value: object) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, Mapping):
        if value.get("type") in _ATTACHMENTS:
            return ATTACHMENT_TOKENS * 4
        return sum(_characters(v) for k, v in value.items() if k not in _OPAQUE)
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
    when given. An image, file or audio part counts ``ATTACHMENT_TOKENS`` (1,000) whatever
    its size, and opaque data (``encrypted_content`` of reasoning items) is not counted: the
    usage the response reports settles the difference. *body* is the request's JSON body
    or the ``responses.create`` keyword arguments; anything else costs 0.

    >>> estimate_tokens({"input": "hello world", "max_output_tokens": 100})
    103
    >>> estimate_tokens({"input": "abcd", "instructions": "Be brief."})
    4
    >>> photo = {"type": "input_image", "image_url": "data:image/png;base64," + "A" * 10**6}
    >>> estimate_tokens({"input": [{"role": "user", "content": [photo]}]})
    1001
    """
    if not isinstance(body, Mapping):
        return 0
    tokens = math.ceil(sum(_characters(body.get(name)) for name in _COUNTED) / 4)
    max_output = body.get("max_output_tokens")
    if isinstance(max_output, int) and not isinstance(max_output, bool) and max_output > 0:
        tokens += max_output
    return tokens
