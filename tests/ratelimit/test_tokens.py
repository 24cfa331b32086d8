"""What a request is taken to cost before it runs: text by its characters, attachments by
a fixed amount whatever their size (a photo's base64 is not a prompt), opaque data not at
all. The client's pacing and the fake's quota share the function."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from resilient_responses._tokens import ATTACHMENT_TOKENS, estimate_tokens


def _message(*parts: dict[str, object]) -> dict[str, object]:
    return {"input": [{"role": "user", "content": list(parts)}]}


@given(size=st.integers(min_value=0, max_value=2_000_000))
def test_an_image_costs_the_same_whatever_its_size(size: int) -> None:
    image = {"type": "input_image", "image_url": "data:image/png;base64," + "A" * size}
    text = {"type": "input_text", "text": "what is this?"}
    expected = estimate_tokens(_message(text)) + ATTACHMENT_TOKENS
    assert estimate_tokens(_message(text, image)) == expected


def test_files_and_audio_are_attachments_too() -> None:
    file = {"type": "input_file", "file_data": "data:application/pdf;base64," + "B" * 500_000}
    audio = {"type": "input_audio", "input_audio": {"data": "C" * 500_000, "format": "wav"}}
    assert estimate_tokens(_message(file)) == estimate_tokens(_message()) + ATTACHMENT_TOKENS
    assert estimate_tokens(_message(audio)) == estimate_tokens(_message()) + ATTACHMENT_TOKENS


def test_a_reasoning_items_encrypted_content_is_not_text() -> None:
    reasoning = {
        "type": "reasoning",
        "id": "rs_1",
        "summary": [],
        "encrypted_content": "x" * 80_000,
    }
    assert estimate_tokens({"input": [reasoning]}) < 10


@given(text=st.text(max_size=2000), max_output=st.integers(min_value=1, max_value=10_000))
def test_text_counts_a_token_per_four_characters_plus_the_output_allowed(
    text: str, max_output: int
) -> None:
    assert estimate_tokens({"input": text, "max_output_tokens": max_output}) == (
        -(-len(text) // 4) + max_output
    )
