"""Every ``python`` block in the README runs, against the fake API served on loopback."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from resilient_responses.testing import FakeResponsesAPI, RedisServer

README = Path(__file__).resolve().parents[1] / "README.md"
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def python_blocks() -> list[str]:
    return _BLOCK.findall(README.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def served_fake() -> Iterator[str]:
    fake = FakeResponsesAPI()
    with fake.serve() as base_url:
        yield base_url


def test_readme_has_python_examples() -> None:
    """The README shows the three ways in, streams, observability and the testing kit."""
    assert len(python_blocks()) >= 5


@pytest.mark.parametrize("index", range(len(python_blocks())))
def test_readme_block_runs(
    index: int,
    served_fake: str,
    redis_server: RedisServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Each block runs as a user would paste it, with the API key, the base URL and the
    Redis URL from the environment pointing at the fake and a real Redis; blocks that print
    must print something."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-readme")
    monkeypatch.setenv("OPENAI_BASE_URL", served_fake)
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    code = python_blocks()[index]
    namespace: dict[str, object] = {"__name__": f"readme_block_{index}"}
    exec(compile(code, f"README.md[python block {index}]", "exec"), namespace)
    if "print(" in code:
        assert capsys.readouterr().out.strip()


def test_readme_testing_section_is_the_one_in_docs() -> None:
    """The README's "Prove your code survives" is docs/testing.md's section, verbatim (and
    that one is tests/test_user_story.py's first test, run by that file)."""
    docs = (README.parent / "docs" / "testing.md").read_text(encoding="utf-8")
    start, end = "<!-- readme:start -->", "<!-- readme:end -->"
    section = docs[docs.index(start) : docs.index(end) + len(end)]
    assert section in README.read_text(encoding="utf-8")


def test_quick_start_is_two_commands_and_ci_runs_the_same_test_command() -> None:
    """The Quick start's two commands: the demo (a console script this package declares)
    and the tests, whose command `.ci/run` runs verbatim."""
    text = README.read_text(encoding="utf-8")
    quick = text[text.index("## Quick start") : text.index("## Three ways in")]
    commands = re.findall(r"^```bash\n(.*?)\n```", quick, re.DOTALL | re.MULTILINE)
    assert len(commands) == 2
    demo, tests = commands
    assert demo.endswith(".venv/bin/resilient-responses demo")
    assert 'resilient-responses = "resilient_responses.cli:main"' in (
        README.parent / "pyproject.toml"
    ).read_text(encoding="utf-8")
    test_command = tests.rsplit("&& .venv/bin/", 1)[1]
    assert test_command == "python -m pytest -q"
    ci = (README.parent / ".ci" / "run").read_text(encoding="utf-8")
    assert f"\n{test_command}\n" in ci


def test_api_section_lists_exactly_all() -> None:
    """The README's API table names every export, and nothing else, in `__all__`'s order."""
    import resilient_responses

    text = README.read_text(encoding="utf-8")
    section = text[text.index("## API") : text.index("## Numbers")]
    names = re.findall(r"^\| `([A-Za-z_]+)` \|", section, re.MULTILINE)
    assert names == resilient_responses.__all__
