"""The kit's documentation examples run: every ``python`` block after a
``<!-- docs-example -->`` marker in docs/testing.md and docs/faults.md is executed as is."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
_BLOCK = re.compile(r"<!-- docs-example -->\n```python\n(.*?)\n```", re.S)


def _examples() -> list[tuple[str, str]]:
    found = []
    for name in ("testing.md", "faults.md"):
        blocks = _BLOCK.findall((DOCS / name).read_text(encoding="utf-8"))
        found.extend((f"{name}#{n}", block) for n, block in enumerate(blocks))
    return found


EXAMPLES = _examples()


def test_the_docs_have_examples() -> None:
    assert len(EXAMPLES) >= 4


@pytest.mark.parametrize(("where", "code"), EXAMPLES, ids=[w for w, _ in EXAMPLES])
def test_docs_example_runs(where: str, code: str) -> None:
    exec(compile(code, where, "exec"), {"__name__": f"docs_example_{where}"})
