"""Every ``python`` block of docs/integrations.md runs, against the fake API on loopback."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "integrations.md"
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def python_blocks() -> list[str]:
    return _BLOCK.findall(DOC.read_text(encoding="utf-8"))


def test_one_snippet_per_framework() -> None:
    """openai-agents, pydantic-ai and LangChain each get one snippet."""
    blocks = python_blocks()
    assert len(blocks) == 3
    for framework in ("from agents import", "from pydantic_ai import", "from langchain_openai"):
        assert sum(framework in block for block in blocks) == 1


def test_readme_works_with_shows_the_same_snippets() -> None:
    """The README's "Works with" shows this page's snippets verbatim (tests/test_readme.py
    runs them there too), and says which SDK path is not covered."""
    readme = (DOC.parents[1] / "README.md").read_text(encoding="utf-8")
    start = readme.index("## Works with")
    section = readme[start : readme.index("\n## ", start + 1)]
    for block in python_blocks():
        assert f"```python\n{block}```" in section
    assert "`responses.connect()`" in section


@pytest.mark.parametrize("index", range(len(python_blocks())), ids=["agents", "pydantic", "lc"])
def test_snippet_runs(
    index: int,
    base_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Each snippet runs as a user would paste it, key and base URL from the environment
    pointing at the fake, and prints the framework's answer."""
    monkeypatch.setenv("OPENAI_BASE_URL", base_url)
    code = python_blocks()[index]
    namespace: dict[str, object] = {"__name__": f"integrations_block_{index}"}
    exec(compile(code, f"docs/integrations.md[python block {index}]", "exec"), namespace)
    assert capsys.readouterr().out.strip()
