"""The package keeps the shape ARCHITECTURE.md describes: one subpackage per domain, imports one way, no cycle."""

from __future__ import annotations

import ast
from collections import defaultdict
from functools import cache
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


@cache
def _tree(path: Path) -> ast.Module:
    """A module's syntax tree, parsed once for all the rules (none of them changes a tree)."""
    return ast.parse(path.read_text(encoding="utf-8"))


@cache
def _imports() -> dict[str, set[str]]:
    """Every kars_actions module each module imports, wherever the import sits (lazy imports count too)."""
    modules = _modules()
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        for node in ast.walk(_tree(path)):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("kars_actions"):
                targets = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            graph[name].update(t for t in targets if t in modules and t != name)
    return {name: graph[name] for name in modules}


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
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.Import):
                assert all(a.name.split(".")[0] != "click" for a in node.names), f"{name} imports click"
            if isinstance(node, ast.ImportFrom):
                assert (node.module or "").split(".")[0] != "click", f"{name} imports click"


# Results are data; reporters render them. A command's result (a BaseResult) and every way it is shown — terminal
# lines, the step summary's Markdown and tables, annotations, outputs, Mermaid charts — live in its package's report
# module (report.py, or <topic>_report.py beside the module it reports on); core holds the reporters and the
# primitives they use. Every other module computes and returns data.
RENDERING_METHODS = frozenset(
    {"text_lines", "summary_markdown", "section_markdown", "annotations", "outputs", "mermaid"}
)
RENDERING_NAMES = frozenset({"BaseResult", "Style", "Annotation", "text_table", "md_table", "md_escape"})


def _is_report(name: str) -> bool:
    last = name.rsplit(".", 1)[-1]
    return last == "report" or last.endswith("_report") or name.startswith("kars_actions.core")


def _rendering(tree: ast.AST) -> list[str]:
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in RENDERING_METHODS:
            found.append(f"line {node.lineno}: defines {node.name}()")
        elif isinstance(node, ast.Name) and node.id in RENDERING_NAMES:
            found.append(f"line {node.lineno}: uses {node.id}")
        elif isinstance(node, ast.Attribute) and node.attr in RENDERING_NAMES:
            found.append(f"line {node.lineno}: uses {node.attr}")
        elif isinstance(node, ast.ImportFrom):
            found += [f"line {node.lineno}: imports {a.name}" for a in node.names if a.name in RENDERING_NAMES]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and "```mermaid" in node.value:
            found.append(f"line {node.lineno}: writes a Mermaid chart")
    return found


def test_only_report_modules_render_results() -> None:
    wrong = [
        f"{name} {where}"
        for name, path in sorted(_modules().items())
        if not _is_report(name)
        for where in _rendering(_tree(path))
    ]
    assert not wrong, "rendering outside a report module (move it to the package's report.py): " + "; ".join(wrong)


def test_the_rendering_rule_sees_a_rendering_method_put_back() -> None:
    """The rule above fails on each way a domain module could render again."""
    put_back = {
        "class DeployResult(BaseResult):\n    pass\n": "uses BaseResult",
        "class Outcome:\n    def text_lines(self, style):\n        return []\n": "defines text_lines()",
        "class Outcome:\n    def summary_markdown(self):\n        return ''\n": "defines summary_markdown()",
        "def table(rows):\n    return gha.md_table(['a'], rows)\n": "uses md_table",
        "from kars_actions.core.report import text_table\n": "imports text_table",
        "CHART = '```mermaid\\nxychart-beta\\n```'\n": "writes a Mermaid chart",
    }
    for source, said in put_back.items():
        assert any(said in line for line in _rendering(ast.parse(source))), source
    assert _is_report("kars_actions.railway.report") and _is_report("kars_actions.release.backup_report")
    assert not _is_report("kars_actions.railway.steps") and not _is_report("kars_actions.release.reporting")
