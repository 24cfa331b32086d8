"""Imports inside ``resilient_responses.testing`` run one way, and never into the engine.

Read from the source with ``ast``: every import of a kit module, at module level
(``TYPE_CHECKING`` blocks included) or inside a function, must point down the layering
below. No lazy import is needed: ``_http`` imports the optional uvicorn and starlette only
inside the functions that use them, so ``_fake`` imports it at module level."""

from __future__ import annotations

import ast
from pathlib import Path

import resilient_responses.testing as kit

PACKAGE = Path(kit.__file__).parent

#: Each module and the kit modules it may import, bottom layer first.
LAYERS: dict[str, set[str]] = {
    "_clock": set(),
    "_wire": set(),
    "_faults": set(),
    "_quota": set(),
    "_redis_server": set(),
    "_chaos": {"_faults"},
    "_reply": {"_wire"},
    "_exchange": {"_wire", "_faults"},
    "_transport": {"_exchange", "_faults"},
    "_http": {"_exchange"},
    "_fake": {
        "_wire",
        "_chaos",
        "_exchange",
        "_faults",
        "_http",
        "_quota",
        "_reply",
        "_transport",
    },
    "_server": {"_chaos", "_fake", "_http"},
    "strategies": {"_faults", "_quota"},
    "_pytest_plugin": {"_fake"},
    "__init__": {"_chaos", "_clock", "_fake", "_faults", "_quota", "_redis_server", "_reply"},
}
#: Modules outside the kit that the kit may import.
ALLOWED_OUTSIDE = {
    "resilient_responses._config",
    "resilient_responses.exceptions",
    # The token estimate the fake's quota charges is the one the client paces with.
    "resilient_responses._tokens",
}


def _imports(tree: ast.Module) -> set[str]:
    """Every module imported anywhere in *tree*, as absolute names."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = "resilient_responses.testing" + (f".{base}" if base else "")
            if base in ("resilient_responses", "resilient_responses.testing"):
                # "from package import module": the names may be modules.
                found.update(f"{base}.{alias.name}" for alias in node.names)
            else:
                found.add(base)
    return found


def _kit(name: str) -> str | None:
    prefix = "resilient_responses.testing."
    return name[len(prefix) :] if name.startswith(prefix) else None


def test_every_module_is_in_the_layering() -> None:
    assert {p.stem for p in PACKAGE.glob("*.py")} == set(LAYERS)


def test_imports_run_one_way_and_never_into_the_engine() -> None:
    for module, allowed in LAYERS.items():
        for name in _imports(ast.parse((PACKAGE / f"{module}.py").read_text())):
            local = _kit(name)
            if local is not None:
                assert local in allowed, f"{module} imports {local}, against the layering"
            elif name.startswith("resilient_responses"):
                assert name in ALLOWED_OUTSIDE, f"{module} imports the engine: {name}"


def test_the_layering_has_no_cycle() -> None:
    seen: dict[str, int] = {}

    def depth(module: str, path: tuple[str, ...] = ()) -> int:
        assert module not in path, f"cycle: {' -> '.join((*path, module))}"
        if module not in seen:
            seen[module] = 1 + max((depth(m, (*path, module)) for m in LAYERS[module]), default=0)
        return seen[module]

    for module in LAYERS:
        depth(module)
    assert seen["_server"] > seen["_fake"] > seen["_http"] > seen["_exchange"]
    assert seen["_fake"] > seen["_transport"] > seen["_exchange"]
