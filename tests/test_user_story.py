"""The user story: prove your own code survives faults, with the public API only.

Written as a user of the library would write it. The first test is, verbatim, the code block
of the README section in ``docs/testing.md`` (between ``readme:start`` and ``readme:end``);
``test_readme_snippet_is_this_files_first_test_and_passes`` checks that the two have not
drifted apart and runs the snippet on its own as a test file, so the docs cannot rot.
"""

# ruff: noqa: E402
# --8<-- [readme snippet: start]
import openai
from hypothesis import HealthCheck, given, settings

from resilient_responses import resilient
from resilient_responses.testing import FakeResponsesAPI, Fault, set_testing, strategies

PROMPT = "Summarize: the quarterly report"


def summarize(client: openai.OpenAI, text: str) -> str:
    """Your code: an ordinary function that calls the SDK."""
    return client.responses.create(model="gpt-5-mini", input=text).output_text


FULL_TEXT = summarize(FakeResponsesAPI().client(), PROMPT)  # what a fault-free call returns


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=strategies.fault_plans(kinds=["status", "connect_error", "timeout", "reset", "stall"]))
def test_summarize_survives_faults(fake_responses_api: FakeResponsesAPI, plan: list[Fault | None]):
    """Your invariant: the full text or a documented SDK error, within the attempts."""
    fake_responses_api.plan(plan)  # one fault per request; replaces the last example's plan
    sent = len(fake_responses_api.requests)
    guarded = resilient(attempts=4)(summarize)  # fresh per example: breakers remember
    with set_testing(True):  # no sleeping between attempts
        try:
            text = guarded(fake_responses_api.client(max_retries=0), PROMPT)
        except (openai.APIStatusError, openai.APIConnectionError):
            text = None  # a documented SDK error: the caller handles it
    assert text in (FULL_TEXT, None)  # never a truncated or empty text
    assert len(fake_responses_api.requests) - sent <= 4  # never more requests than attempts


# --8<-- [readme snippet: end]

import re
from pathlib import Path

import pytest

from resilient_responses import Resilience, ResilientOpenAI

pytest_plugins = ["pytester"]

DOCS = Path(__file__).resolve().parent.parent / "docs" / "testing.md"


def stream_summary(client: openai.OpenAI, text: str) -> str:
    """A user's streaming function: a background stream, its text deltas joined."""
    stream = client.responses.create(model="gpt-5-mini", input=text, stream=True, background=True)
    return "".join(e.delta for e in stream if e.type == "response.output_text.delta")


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    plan=strategies.fault_plans(
        max_size=4,
        of=strategies.transport_faults() | strategies.status_faults(insufficient_quota=False),
    )
)
def test_background_stream_always_returns_the_full_text(
    fake_responses_api: FakeResponsesAPI, plan: list[Fault | None]
) -> None:
    """Pins: a background stream through ``ResilientOpenAI`` survives any plan of network
    faults and retryable statuses with the complete text, resumed without a duplicated or
    missing delta, and leaves no HTTP response open.

    At most 4 faults, and 5 attempts: the default breaker (``fail_max=5``) counts every
    attempt, so five failures in a row open it and end the call, by design.
    """
    fake_responses_api.plan(plan)
    client = ResilientOpenAI(fake_responses_api.client(), resilience=Resilience(attempts=5))
    with set_testing(True):
        text = stream_summary(client, PROMPT)
    assert text == FULL_TEXT
    assert fake_responses_api.open_streams == 0


def test_readme_snippet_is_this_files_first_test_and_passes(pytester: pytest.Pytester) -> None:
    """Pins: the README section of docs/testing.md is the first test of this file, verbatim,
    and runs green as a test file of its own (with only the entry-point plugin)."""
    doc = DOCS.read_text(encoding="utf-8")
    section = re.search(r"<!-- readme:start -->(.*?)<!-- readme:end -->", doc, re.DOTALL)
    assert section is not None, "docs/testing.md lost its readme markers"
    block = re.search(r"```python\n(.*?)```", section.group(1), re.DOTALL)
    assert block is not None, "the README section has no python block"
    snippet = block.group(1)
    source = Path(__file__).read_text(encoding="utf-8")
    mine = re.search(
        r"# --8<-- \[readme snippet: start\]\n(.*?)# --8<-- \[readme snippet: end\]",
        source,
        re.DOTALL,
    )
    assert mine is not None
    assert snippet.strip() == mine.group(1).strip(), (
        "docs/testing.md and tests/test_user_story.py differ"
    )

    pytester.makepyfile(test_readme_snippet=snippet)
    result = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:asyncio", "-q")
    result.assert_outcomes(passed=1)


# -- the drop-in client also makes the two faults a decorator cannot see safe -------------


def test_plain_call_with_a_cleanly_cut_body_is_retried(fake_responses_api: FakeResponsesAPI):
    """A truncated plain body is a transport fault like a reset: retried."""
    fake_responses_api.plan([Fault.truncate(after_events=0)])
    client = ResilientOpenAI(fake_responses_api.client())
    with set_testing(True):
        assert client.responses.create(model="gpt-5-mini", input=PROMPT).output_text == FULL_TEXT
    assert len(fake_responses_api.requests) == 2


def test_plain_call_answered_with_a_failed_response_is_retried(
    fake_responses_api: FakeResponsesAPI,
) -> None:
    """``status="failed"`` with ``server_error`` is retried like a 500."""
    fake_responses_api.plan([Fault.failed(code="server_error")])
    client = ResilientOpenAI(fake_responses_api.client())
    with set_testing(True):
        response = client.responses.create(model="gpt-5-mini", input=PROMPT)
    assert response.status == "completed"
    assert response.output_text == FULL_TEXT


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=strategies.fault_plans())
def test_drop_in_client_survives_every_fault_kind(
    fake_responses_api: FakeResponsesAPI, plan: list[Fault | None]
) -> None:
    """Through ResilientOpenAI every kind is safe for a plain call, including the two a
    decorator around raw SDK calls cannot see (a cleanly cut body, a declared failure):
    the full text, a documented SDK error, or a response the server declared failed."""
    fake_responses_api.plan(plan)
    sent = len(fake_responses_api.requests)
    client = ResilientOpenAI(fake_responses_api.client(), resilience=Resilience(attempts=4))
    with set_testing(True):
        try:
            response = client.responses.create(model="gpt-5-mini", input=PROMPT)
        except (openai.APIStatusError, openai.APIConnectionError):
            response = None
    if response is not None and response.status != "failed":
        assert response.output_text == FULL_TEXT
    assert len(fake_responses_api.requests) - sent <= 4
