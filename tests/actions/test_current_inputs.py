"""Every workflow we ship or show passes only current input names to our actions.

The deprecated names are read from the action.yml files themselves (their ``deprecationMessage``), so an input
renamed tomorrow is refused in the templates, in what ``kars-actions init`` writes, and in the README and docs
examples without touching this test. A name no action declares is refused too: GitHub only warns about it and
the value is silently dropped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kars_actions.cli import cli
from tests.fakes.actions_files import load_yaml

ROOT = Path(__file__).resolve().parents[2]
REPOSITORY = "kars/deploy-action"
TEMPLATES = sorted((ROOT / "workflows-templates").glob("*.yml"))
SHIPPED = sorted((ROOT / "kars_actions" / "templates").glob("*.yml"))
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCED_YAML = re.compile(r"(?ms)^```ya?ml[^\n]*\n(.*?)^```")


@dataclass(frozen=True)
class ActionInputs:
    declared: frozenset[str]
    deprecated: dict[str, str]  # old name -> its deprecationMessage


def _actions() -> dict[str, ActionInputs]:
    """``uses:`` path (kars/deploy-action, kars/deploy-action/rollback, ...) -> the inputs its action.yml declares."""
    found = {}
    for path in [*sorted(ROOT.glob("*/action.yml")), ROOT / "action.yml"]:
        inputs = load_yaml(path.read_text(encoding="utf-8"))["inputs"]
        folder = path.parent.relative_to(ROOT).as_posix()
        name = REPOSITORY if folder == "." else f"{REPOSITORY}/{folder}"
        deprecated = {key: spec["deprecationMessage"] for key, spec in inputs.items() if "deprecationMessage" in spec}
        found[name] = ActionInputs(frozenset(inputs), deprecated)
    return found


ACTIONS = _actions()


def _steps(node: Any) -> Iterator[dict[str, Any]]:
    """Every mapping with a ``uses:`` of ours, wherever it sits (a whole workflow or a fragment of steps)."""
    if isinstance(node, dict):
        uses = node.get("uses")
        if isinstance(uses, str) and uses.split("@", 1)[0] in ACTIONS:
            yield node
        for value in node.values():
            yield from _steps(value)
    elif isinstance(node, list):
        for item in node:
            yield from _steps(item)


def misused_inputs(text: str) -> list[str]:
    problems = []
    for step in _steps(load_yaml(text)):
        action_name = step["uses"].split("@", 1)[0]
        action = ACTIONS[action_name]
        for name in step.get("with") or {}:
            if name in action.deprecated:
                problems.append(f"{action_name}: input {name!r} is deprecated ({action.deprecated[name]})")
            elif name not in action.declared:
                problems.append(f"{action_name}: input {name!r} is not an input of this action")
    return problems


def doc_examples() -> list[tuple[str, str]]:
    """(where, YAML text) of every fenced YAML block in README and docs that uses one of our actions."""
    found = []
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        for match in FENCED_YAML.finditer(text):
            if REPOSITORY in match[1]:
                line = text.count("\n", 0, match.start()) + 1
                found.append((f"{path.relative_to(ROOT)}:{line}", match[1]))
    return found


def test_the_deprecated_names_come_from_the_action_files() -> None:
    """The renames the actions still accept, as their action.yml files declare them (so the checks below bite)."""
    assert ACTIONS[f"{REPOSITORY}/rollback"].deprecated.keys() == {"to", "timeout"}
    assert ACTIONS[f"{REPOSITORY}/health"].deprecated.keys() == {"urls", "deadline"}
    assert ACTIONS[f"{REPOSITORY}/deploy"].deprecated.keys() == {"timeout"}


def test_a_deprecated_or_unknown_input_is_caught() -> None:
    """The check itself: the rollback template as it used to be, and a name no action has."""
    old = f"steps:\n  - uses: {REPOSITORY}/rollback@{'0' * 40}\n    with:\n      to: d-1\n      service: api\n"
    message = ACTIONS[f"{REPOSITORY}/rollback"].deprecated["to"]
    assert misused_inputs(old) == [f"{REPOSITORY}/rollback: input 'to' is deprecated ({message})"]
    typo = f"- uses: {REPOSITORY}@{'0' * 40}\n  with:\n    enviroment: production\n"
    assert misused_inputs(typo) == [f"{REPOSITORY}: input 'enviroment' is not an input of this action"]


@pytest.mark.parametrize("path", TEMPLATES + SHIPPED, ids=lambda p: str(p.relative_to(ROOT)))
def test_templates_use_only_current_input_names(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert list(_steps(load_yaml(text))), f"{path.name} uses none of our actions: the check would prove nothing"
    assert misused_inputs(text) == []


def test_this_repositorys_own_workflows_use_only_current_input_names() -> None:
    """The self-test runs the actions from the checkout (``uses: $/health``): the same names apply."""
    for path in sorted((ROOT / ".github" / "workflows").glob("*.yml")):
        text = re.sub(r"uses: \$/([a-z-]*)", lambda m: f"uses: {REPOSITORY}/{m[1]}@{'0' * 40}", path.read_text())
        text = text.replace(f"{REPOSITORY}/@", f"{REPOSITORY}@")
        assert misused_inputs(text) == [], path.name


def test_the_workflows_init_writes_use_only_current_input_names(tmp_path: Path) -> None:
    names = [p.stem for p in SHIPPED]
    # A repository init can write working workflows for: a service folder with its railway.json and tests.
    (tmp_path / "backend").mkdir()
    (tmp_path / "backend" / "railway.json").write_text("{}\n")
    (tmp_path / "backend" / "Makefile").write_text("test:\n\t@true\n")
    result = CliRunner().invoke(
        cli, ["init", *names, "--dir", str(tmp_path), "--action-sha", "a" * 40, "--format", "text"]
    )
    assert result.exit_code == 0, result.output
    written = sorted((tmp_path / ".github" / "workflows").glob("*.yml"))
    assert [p.stem for p in written] == sorted(names)
    for path in written:
        assert misused_inputs(path.read_text(encoding="utf-8")) == [], path.name


def test_readme_and_docs_examples_use_only_current_input_names() -> None:
    examples = doc_examples()
    assert len(examples) >= 5, "the README and docs show the actions in YAML examples"
    problems = [f"{where}: {problem}" for where, text in examples for problem in misused_inputs(text)]
    assert problems == []


def test_the_input_tables_in_the_docs_list_exactly_each_actions_inputs() -> None:
    """docs/steps/actions.md has one input table per action; an input added to or dropped from an action.yml
    without its row would leave users guessing."""
    text = (ROOT / "docs" / "steps" / "actions.md").read_text(encoding="utf-8")
    for path in sorted(ROOT.glob("*action.yml")) + sorted(ROOT.glob("*/action.yml")):
        if ".venv" in path.parts or "node_modules" in path.parts:
            continue
        name = "kars/deploy-action" + ("" if path.parent == ROOT else f"/{path.parent.name}")
        heading = f"### `{name}`\n"
        assert heading in text, f"docs/steps/actions.md has no section for {name}"
        section = text.split(heading, 1)[1].split("\n### ", 1)[0]
        table = section.split("| output |", 1)[0]
        documented = set(re.findall(r"^\| `([a-z0-9-]+)` \|", table, re.M))
        declared = set(load_yaml(path.read_text(encoding="utf-8")).get("inputs") or {})
        rows = dict(re.findall(r"^\| `([a-z0-9-]+)` \|[^|]*\| ([^|]*)\|", table, re.M))
        assert documented == declared, f"{name}: docs and action.yml differ on {sorted(documented ^ declared)}"
        for key, spec in (load_yaml(path.read_text(encoding="utf-8")).get("inputs") or {}).items():
            if isinstance(spec, dict) and spec.get("deprecationMessage"):
                assert rows[key].startswith("Deprecated"), f"{name}: the row of {key} must say it is deprecated"


def test_the_actions_table_names_every_step_action_and_counts_them() -> None:
    text = (ROOT / "docs" / "steps" / "actions.md").read_text(encoding="utf-8")
    steps = sorted(p.parent.name for p in ROOT.glob("*/action.yml") if p.parent.name not in (".venv", "node_modules"))
    listed = sorted(re.findall(r"^\| `kars/deploy-action/([a-z-]+)@<sha>`", text, re.M))
    assert listed == steps
    words = {7: "seven", 8: "eight", 9: "nine", 10: "ten", 11: "eleven", 12: "twelve", 13: "thirteen"}
    assert f"and {words[len(steps)]} step actions" in text
