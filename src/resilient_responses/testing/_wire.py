"""The wire format of the fake: response objects, SSE events, error bodies.

Pure functions that build exactly the JSON the OpenAI SDK parses (see
``openai/types/responses``). Everything is deterministic given its arguments.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from typing import Any

__all__ = [
    "count_words",
    "encode_sse",
    "error_body",
    "make_text",
    "split_chunks",
]

JSON = dict[str, Any]

_WORD_TEXT = (
    "the quick brown fox jumps over lazy dog river mountain signal packet stream "
    "token model answer resilient network server client retry backoff circuit budget "
    "cloud storm quiet bright silver window garden harbor lantern meadow orbit pixel "
    "rhythm saddle timber velvet wander yellow zephyr amber beacon canyon delta ember "
    "falcon glacier horizon island jasmine kernel lattice marble nectar oasis prism"
)
_WORDS = tuple(_WORD_TEXT.split())

# Fixed epoch so created_at is deterministic; offset by a counter per response.
_EPOCH = 1_750_000_000


def stable_hash(*parts: object) -> int:
    """A process-independent hash (``hash()`` of str is salted per process)."""
    blob = json.dumps(parts, sort_keys=True, default=repr, separators=(",", ":"))
    return int.from_bytes(hashlib.sha256(blob.encode()).digest()[:8], "big")


def make_id(prefix: str, counter: int | str) -> str:
    """``resp_<48 hex>``-shaped ids like the real API, deterministic per counter."""
    return f"{prefix}_{hashlib.sha256(f'{prefix}:{counter}'.encode()).hexdigest()[:48]}"


def created_at(counter: int) -> int:
    return _EPOCH + counter


def make_text(input_value: object, model: str, words: int) -> str:
    """A pseudo-random sentence of *words* words seeded by (*input_value*, *model*)."""
    if words <= 0:
        return ""
    rng = random.Random(stable_hash(input_value, model))
    chosen = [rng.choice(_WORDS) for _ in range(words)]
    chosen[0] = chosen[0].capitalize()
    return " ".join(chosen) + "."


def split_chunks(text: str, chunk_words: int) -> list[str]:
    """Split *text* into deltas of *chunk_words* words that concatenate back exactly."""
    pieces = re.findall(r"\S+\s*|\s+", text)
    return ["".join(pieces[i : i + chunk_words]) for i in range(0, len(pieces), chunk_words)]


def count_words(value: object) -> int:
    """Words in every string inside a JSON value (the fake's notion of a token)."""
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, dict):
        return sum(count_words(v) for v in value.values())
    if isinstance(value, list):
        return sum(count_words(v) for v in value)
    return 0


def usage(input_tokens: int, output_tokens: int, reasoning_tokens: int = 0) -> JSON:
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": reasoning_tokens},
        "total_tokens": input_tokens + output_tokens,
    }


def output_text_part(text: str) -> JSON:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def message_item(item_id: str, text: str | None, *, status: str) -> JSON:
    return {
        "id": item_id,
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": [] if text is None else [output_text_part(text)],
    }


def _object(value: object) -> JSON:
    return value if isinstance(value, dict) else {}


def response_object(
    *,
    response_id: str,
    body: JSON,
    model: str,
    created: int,
    status: str,
    background: bool,
    output: list[JSON],
    usage_value: JSON | None,
    error: JSON | None = None,
) -> JSON:
    """A full ``Response`` object as the API returns it (request settings echoed back)."""
    metadata = body.get("metadata")
    text = _object(body.get("text"))
    reasoning = _object(body.get("reasoning"))
    return {
        "id": response_id,
        "object": "response",
        "created_at": created,
        "status": status,
        "background": background,
        "completed_at": created + 1 if status == "completed" else None,
        "error": error,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "max_tool_calls": None,
        "model": model,
        "output": output,
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": body.get("previous_response_id"),
        "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
        "service_tier": "default",
        "store": body.get("store", True),
        "temperature": body.get("temperature", 1.0),
        "text": {
            "format": text.get("format") or {"type": "text"},
            "verbosity": text.get("verbosity") or "medium",
        },
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": echo_tools(body.get("tools")),
        "top_p": body.get("top_p", 1.0),
        "truncation": "disabled",
        "usage": usage_value,
        "user": None,
        "metadata": metadata if isinstance(metadata, dict) else {},
    }


def echo_tools(tools: object) -> list[JSON]:
    """The request's ``tools`` as the API echoes them: function tools get the defaults the
    API fills in (``description`` null, ``strict`` true); other tools come back as sent."""
    if not isinstance(tools, list):
        return []
    echoed: list[JSON] = []
    for tool in tools:
        if not isinstance(tool, dict):
            continue
        if tool.get("type") == "function":
            echoed.append({"description": None, "strict": True, **tool})
        else:
            echoed.append(dict(tool))
    return echoed


def tools_problem(tools: object) -> tuple[str, str] | None:
    """(message, param) when ``tools`` is not what the API accepts, else ``None``."""
    if tools is None:
        return None
    if not isinstance(tools, list):
        return "Invalid type for 'tools': expected an array.", "tools"
    for n, tool in enumerate(tools):
        if not isinstance(tool, dict) or not isinstance(tool.get("type"), str):
            return (
                f"Invalid type for 'tools[{n}]': expected an object with a 'type'.",
                f"tools[{n}]",
            )
        if tool["type"] == "function" and not (isinstance(tool.get("name"), str) and tool["name"]):
            return f"Missing required parameter: 'tools[{n}].name'.", f"tools[{n}].name"
    return None


def error_body(
    message: str, *, type_: str, code: str | None = None, param: str | None = None
) -> JSON:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def encode_sse(event: JSON) -> bytes:
    """One SSE frame: ``event: <type>`` and ``data: <json>``, blank-line terminated."""
    data = json.dumps(event, separators=(",", ":"))
    return f"event: {event['type']}\ndata: {data}\n\n".encode()


def encode_json(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()
