"""The package layout holds (README "Layout"): checked on the import statements of every module (AST).

- The runtime library (``flowwatch``) and the services never import the dev and demo tooling
  (``flowwatch_tools``: the CLI, the local stack, engines, samples, evaluation, the poison corpus).
- No service imports another service; every service may import the library.
- The API's routers (modules that define ``router = APIRouter(...)``) never import each other: what they share
  lives in ``deps``, ``paging``, ``params``, ``partitions``, ``query``, ``problems``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SERVICES = Path(__file__).resolve().parents[2] / "services"
RUNTIME = {
    "flowwatch": SERVICES / "lib" / "flowwatch",
    "flowwatch_detector": SERVICES / "detector" / "flowwatch_detector",
    "flowwatch_indexer": SERVICES / "indexer" / "flowwatch_indexer",
    "flowwatch_api": SERVICES / "api" / "flowwatch_api",
    "flowwatch_notifier": SERVICES / "notifier" / "flowwatch_notifier",
}
TOOLS = "flowwatch_tools"


def imported(path: Path) -> set[str]:
    """Top-level-qualified module names imported by ``path`` (absolute imports; relative ones resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                raise AssertionError(f"{path}: relative import (the project uses absolute imports)")
            if node.module:
                names.add(node.module)
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def modules(package: Path) -> list[Path]:
    return sorted(p for p in package.rglob("*.py") if "__pycache__" not in p.parts)


@pytest.mark.parametrize("package", sorted(RUNTIME))
def test_runtime_never_imports_the_tools(package: str) -> None:
    offenders = {str(p.relative_to(SERVICES)): sorted(n for n in imported(p) if n.split(".")[0] == TOOLS)
                 for p in modules(RUNTIME[package])}
    assert not {k: v for k, v in offenders.items() if v}


@pytest.mark.parametrize("package", sorted(set(RUNTIME) - {"flowwatch"}))
def test_services_do_not_import_each_other(package: str) -> None:
    others = set(RUNTIME) - {"flowwatch", package}
    offenders = {str(p.relative_to(SERVICES)): sorted(n for n in imported(p) if n.split(".")[0] in others)
                 for p in modules(RUNTIME[package])}
    assert not {k: v for k, v in offenders.items() if v}


def test_api_routers_do_not_import_each_other() -> None:
    api = RUNTIME["flowwatch_api"]
    routers = {p.stem for p in modules(api) if "router = APIRouter(" in p.read_text(encoding="utf-8")}
    assert {"findings", "alerts", "incidents", "exports"} <= routers  # the check looks at the real routers
    offenders = {}
    for stem in routers:
        names = imported(api / f"{stem}.py")
        hit = sorted(r for r in routers - {stem} if f"flowwatch_api.{r}" in names)
        if hit:
            offenders[stem] = hit
    assert not offenders


def test_the_checks_see_an_offending_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from flowwatch_tools.stack import Stack\nimport flowwatch_api.findings\n", encoding="utf-8")
    assert {"flowwatch_tools.stack", "flowwatch_tools.stack.Stack", "flowwatch_api.findings"} <= imported(bad)


def test_tools_are_a_package_of_their_own() -> None:
    tools = SERVICES / "tools" / TOOLS
    for part in ("cli", "stack.py", "engines.py", "replay.py", "samples", "evaluation", "poison.py"):
        assert (tools / part).exists(), part
        assert not (RUNTIME["flowwatch"] / part).exists(), part
