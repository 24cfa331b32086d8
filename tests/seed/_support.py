"""Hand-built, realistic Responses API objects for the seed systems' tests."""

from __future__ import annotations

from typing import Any

from openai.types.responses import Response

JSON = dict[str, Any]

MODEL = "gpt-5-mini"


def usage(
    input_tokens: int = 30, output_tokens: int = 12, *, cached: int = 0, reasoning: int = 0
) -> JSON:
    return {
        "input_tokens": input_tokens,
        "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": input_tokens + output_tokens,
    }


def text_part(text: str, annotations: list[JSON] | None = None) -> JSON:
    return {"type": "output_text", "text": text, "annotations": annotations or [], "logprobs": []}


def message(*parts: JSON, item_id: str = "msg_1", status: str = "completed") -> JSON:
    return {
        "id": item_id,
        "type": "message",
        "role": "assistant",
        "status": status,
        "content": list(parts),
    }


def function_call(
    name: str, arguments: str, *, call_id: str = "call_1", item_id: str = "fc_1"
) -> JSON:
    return {
        "id": item_id,
        "type": "function_call",
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": "completed",
    }


def reasoning(*summaries: str, item_id: str = "rs_1") -> JSON:
    return {
        "id": item_id,
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": s} for s in summaries],
    }


def response_dict(
    *output: JSON,
    status: str = "completed",
    usage_value: JSON | None = None,
    incomplete_reason: str | None = None,
    error: JSON | None = None,
    response_id: str = "resp_0123456789abcdef",
    model: str = MODEL,
) -> JSON:
    return {
        "id": response_id,
        "object": "response",
        "created_at": 1_750_000_000,
        "completed_at": 1_750_000_001 if status == "completed" else None,
        "status": status,
        "background": False,
        "error": error,
        "incomplete_details": (
            {"reason": incomplete_reason} if incomplete_reason is not None else None
        ),
        "instructions": None,
        "max_output_tokens": None,
        "model": model,
        "output": list(output),
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "service_tier": "default",
        "store": True,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}, "verbosity": "medium"},
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": usage() if usage_value is None else usage_value,
        "user": None,
        "metadata": {},
    }


def make_response(*output: JSON, **kwargs: Any) -> Response:
    return Response.model_validate(response_dict(*output, **kwargs))
