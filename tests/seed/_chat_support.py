"""The acceptance conversation of the Chat Completions adapter, shared by the sync and
async tests."""

from __future__ import annotations

from typing import Any

MODEL = "gpt-5-mini"

WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}

#: A system message, two user turns, an assistant tool call and its result, and a tool.
CONVERSATION: list[dict[str, Any]] = [
    {"role": "system", "content": "You are a terse weather assistant."},
    {"role": "user", "content": "What's the weather in Paris?"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_paris",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
            }
        ],
    },
    {"role": "tool", "tool_call_id": "call_paris", "content": '{"sky": "clear", "c": 21}'},
    {"role": "assistant", "content": "Clear and 21 degrees."},
    {"role": "user", "content": [{"type": "text", "text": "And should I bring a coat?"}]},
]

#: What the fake must receive as `input` for CONVERSATION.
EXPECTED_INPUT: list[dict[str, Any]] = [
    {"role": "system", "content": "You are a terse weather assistant."},
    {"role": "user", "content": "What's the weather in Paris?"},
    {
        "type": "function_call",
        "call_id": "call_paris",
        "name": "get_weather",
        "arguments": '{"city": "Paris"}',
    },
    {
        "type": "function_call_output",
        "call_id": "call_paris",
        "output": '{"sky": "clear", "c": 21}',
    },
    {"role": "assistant", "content": "Clear and 21 degrees."},
    {
        "role": "user",
        "content": [{"type": "input_text", "text": "And should I bring a coat?"}],
    },
]

EXPECTED_TOOLS = [
    {
        "type": "function",
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": WEATHER_TOOL["function"]["parameters"],
        "strict": False,
    }
]
