"""The package keeps the shape ARCHITECTURE.md describes: one subpackage per domain, imports one way, no cycle."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "kars_actions"
DOMAINS = ("railway", "github", "health", "testrun", "notify", "railway_config")
# A layer may import only layers below it: cli -> release -> domains (and templates) -> railway_config -> core.
# railway_config (railway.json / railway.toml and their settings plan) never talks to Railway; of the domains only
# railway, the client that applies the plan, builds on it.
RANK = {
    "cli": 4,
    "release": 3,
    **{d: 2 for d in (*DOMAINS, "templates") if d != "railway_config"},
    "railway_config": 1,
    "core": 0,
}
BUILDS_ON_RAILWAY_CONFIG = {"cli", "release", "railway"}


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _imports() -> dict[str, set[str]]:
    """Every kars_actions module each module imports, wherever the import sits (lazy imports count too)."""
    modules = _modules()
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("kars_actions"):
                targets = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            graph[name].update(t for t in targets if t in modules and t != name)
    return graph


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in RANK else None


def test_every_subpackage_says_what_it_owns() -> None:
    for name in ("core", "release", "cli", *DOMAINS):
        doc = ast.get_docstring(ast.parse((PACKAGE / name / "__init__.py").read_text(encoding="utf-8")))
        assert doc and len(doc.split()) >= 5, f"kars_actions/{name}/__init__.py needs a docstring saying what it owns"


def test_the_import_graph_has_no_cycle() -> None:
    graph = _imports()
    state: dict[str, int] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                pytest.fail("import cycle: " + " -> ".join([*path[path.index(target) :], target]))
            if target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])


def test_imports_go_one_way_and_domains_do_not_import_each_other() -> None:
    wrong = []
    for module, targets in _imports().items():
        for target in targets:
            here, there = _layer(module), _layer(target)
            if here is None or there is None or here == there:
                continue
            below = RANK[there] < RANK[here]
            if not below or (there == "railway_config" and here not in BUILDS_ON_RAILWAY_CONFIG):
                wrong.append(f"{module} -> {target}")
    layering = "cli -> release -> domains -> railway_config -> core"
    assert not wrong, f"imports against the layering ({layering}): " + ", ".join(sorted(wrong))


def test_only_the_cli_imports_click() -> None:
    for name, path in _modules().items():
        if name.startswith("kars_actions.cli"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                assert all(a.name.split(".")[0] != "click" for a in node.names), f"{name} imports click"
            if isinstance(node, ast.ImportFrom):
                assert (node.module or "").split(".")[0] != "click", f"{name} imports click"
