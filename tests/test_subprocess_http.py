"""The fake served over real HTTP, used from another process by a plain ``openai.OpenAI``.

The parent plans the faults and reads the fake's log; the child only knows a base URL, like
code under test in another process (or another language) would. The only waiting in this
module is on the real server and the child process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest

from resilient_responses.testing import FakeResponsesAPI, Fault

MODEL = "gpt-5-mini"
PROMPT = "Write a short story about a lighthouse"

# The child streams a background response and reports what its consumer saw, as JSON.
_CHILD = textwrap.dedent(
    """
    import json, sys
    import openai

    base_url, mode, model, prompt = sys.argv[1:5]
    client = openai.OpenAI(api_key="sk-fake", base_url=base_url)
    if mode == "resilient":
        from resilient_responses import ResilientOpenAI
        from resilient_responses.testing import set_testing

        set_testing(True)  # no sleeping between attempts
        client = ResilientOpenAI(client)
    seqs, parts, error = [], [], None
    try:
        for event in client.responses.create(
            model=model, input=prompt, stream=True, background=True
        ):
            seqs.append(event.sequence_number)
            if event.type == "response.output_text.delta":
                parts.append(event.delta)
    except openai.OpenAIError as exc:
        error = type(exc).__name__
    print(json.dumps({"text": "".join(parts), "seqs": seqs, "error": error}))
    """
)


def _child_env() -> dict[str, str]:
    # Loopback only: no proxy may catch the child's requests.
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env.pop("OPENAI_BASE_URL", None)
    return env


def _run_child(base_url: str, mode: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, base_url, mode, MODEL, PROMPT],
        capture_output=True,
        text=True,
        timeout=120,
        env=_child_env(),
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[FakeResponsesAPI, str]]:
    fake = FakeResponsesAPI()
    with fake.serve() as base_url:
        yield fake, base_url


@pytest.fixture
def http_fake(served: tuple[FakeResponsesAPI, str]) -> Iterator[tuple[FakeResponsesAPI, str]]:
    fake, base_url = served
    fake.reset_plan()
    yield fake, base_url
    fake.reset_plan()


@pytest.fixture(scope="module")
def full_text() -> str:
    return FakeResponsesAPI().client().responses.create(model=MODEL, input=PROMPT).output_text


@pytest.mark.parametrize("cut", [1, 7, 15])
def test_child_process_resumes_a_reset_background_stream_over_http(
    http_fake: tuple[FakeResponsesAPI, str], full_text: str, cut: int
) -> None:
    """Pins: a plain ``openai.OpenAI(base_url=...)`` in another process, wrapped in
    ``ResilientOpenAI``, gets the whole text of a background stream whose TCP connection
    is aborted after *cut* events, each sequence number exactly once, by one resume with
    ``starting_after``."""
    fake, base_url = http_fake
    start = len(fake.requests)
    fake.plan([Fault.reset(after_events=cut)])

    seen = _run_child(base_url, "resilient")

    assert seen["error"] is None
    assert seen["text"] == full_text
    n_events = 21  # background: created, queued, in_progress, ..., completed
    assert seen["seqs"] == list(range(n_events))
    create, resume = fake.requests[start:]
    assert (create.method, create.path, create.fault) == (
        "POST",
        "/v1/responses",
        Fault.reset(after_events=cut),
    )
    assert create.json["background"] is True
    assert (resume.method, resume.path) == ("GET", f"/v1/responses/{create.response_id}")
    assert resume.query == {"stream": "true", "starting_after": str(cut - 1)}
    assert resume.fault is None
    assert fake.open_streams == 0


def test_plain_sdk_in_a_child_process_fails_on_the_same_plan(
    http_fake: tuple[FakeResponsesAPI, str], full_text: str
) -> None:
    """Pins the baseline: the raw SDK on the same plan raises ``APIConnectionError`` from
    the iteration (it does not retry a started stream) with part of the text delivered."""
    fake, base_url = http_fake
    start = len(fake.requests)
    fake.plan([Fault.reset(after_events=7)])

    seen = _run_child(base_url, "plain")

    assert seen["error"] == "APIConnectionError"
    assert seen["seqs"] == list(range(7))
    assert full_text.startswith(seen["text"])
    assert seen["text"] != full_text
    assert len(fake.requests) - start == 1
