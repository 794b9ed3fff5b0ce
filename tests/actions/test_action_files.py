"""The composite actions, templates and workflows follow the security rules in ARCHITECTURE.md."""

from __future__ import annotations

import ast
import functools
import importlib
import importlib.util
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from kars_actions.cli import COMMANDS
from tests.actions.tools import zizmor as zizmor_path
from tests.fakes.actions_files import load_yaml

ROOT = Path(__file__).resolve().parents[2]
STEP_ACTIONS = [
    "test",
    "validate",
    "tag",
    "release-status",
    "deploy",
    "health",
    "watch",
    "rollback",
    "notify",
    "config",
    "preview",
]
ACTION_FILES = [ROOT / "action.yml", *(ROOT / step / "action.yml" for step in STEP_ACTIONS)]
TEMPLATE_FILES = sorted((ROOT / "workflows-templates").glob("*.yml"))
WORKFLOW_FILES = sorted((ROOT / ".github" / "workflows").glob("*.yml"))

EXPRESSION = re.compile(r"\$\{\{.*?\}\}", re.DOTALL)
INPUT_REF = re.compile(r"^\$\{\{\s*inputs\.([A-Za-z0-9_-]+)\s*\}\}$")
STEP_OUTPUT_REF = re.compile(r"^\$\{\{\s*steps\.([A-Za-z0-9_-]+)\.outputs\.([A-Za-z0-9_-]+)\s*\}\}$")
PINNED_USES = re.compile(r"^\s*-?\s*uses:\s*(?P<ref>[^\s#]+)\s*#\s*v\d+(?:\.\d+){0,2}\s*$")


def load(path: Path) -> dict[str, Any]:
    data = load_yaml(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path} is not a YAML mapping"
    return data


def action_steps(path: Path) -> list[dict[str, Any]]:
    runs = load(path)["runs"]
    assert runs["using"] == "composite"
    steps: list[dict[str, Any]] = runs["steps"]
    return steps


def workflow_steps(path: Path) -> list[dict[str, Any]]:
    return [step for job in load(path)["jobs"].values() for step in job.get("steps", [])]


def command_of(path: Path) -> str:
    return "release" if path.parent == ROOT else path.parent.name


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def test_every_step_has_an_action_and_a_command() -> None:
    for step in STEP_ACTIONS:
        assert (ROOT / step / "action.yml").is_file()
        assert step in COMMANDS


@pytest.mark.parametrize("path", ACTION_FILES + TEMPLATE_FILES + WORKFLOW_FILES, ids=rel)
def test_no_expression_inside_run(path: Path) -> None:
    steps = action_steps(path) if path.name == "action.yml" else workflow_steps(path)
    for step in steps:
        if "run" in step:
            assert not EXPRESSION.search(step["run"]), f"{rel(path)}: step {step.get('name')!r} expands ${{{{ }}}}"


@pytest.mark.parametrize("path", ACTION_FILES + TEMPLATE_FILES + WORKFLOW_FILES, ids=rel)
def test_every_uses_is_pinned_to_a_commit_with_a_version_comment(path: Path) -> None:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not re.match(r"^\s*-?\s*uses:", line):
            continue
        ref = line.split("uses:", 1)[1].strip()
        if ref.startswith(("./", "$/")):  # this repository's own actions, at the workflow's commit
            continue
        match = PINNED_USES.match(line)
        assert match, f"{rel(path)}:{number}: uses without a '# vX.Y.Z' comment: {line.strip()}"
        assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", match["ref"]), f"{rel(path)}:{number}: not pinned"


@pytest.mark.parametrize("path", ACTION_FILES, ids=rel)
def test_every_input_reaches_the_cli_through_env(path: Path) -> None:
    """Each input appears as ${{ inputs.<name> }} in the run step's env, as a KARS_INPUT_* variable. That each
    one then changes the command run is proven against kars_actions.cli.inputs in test_inputs.py."""
    action = load(path)
    run_step = next(step for step in action_steps(path) if step.get("id") == "run")
    via_env = {}
    for variable, value in run_step["env"].items():
        match = INPUT_REF.match(str(value))
        if match:
            assert variable.startswith("KARS_INPUT_"), f"{rel(path)}: input {match[1]} goes to {variable}"
            via_env[match[1]] = variable
    for name in action["inputs"]:
        assert name in via_env, f"{rel(path)}: input {name!r} is not passed through env"


@functools.cache
def _module_outputs(name: str) -> tuple[frozenset[str], frozenset[str]]:
    """(the kars_actions modules outside the CLI that ``name`` imports, the string keys of each ``outputs()`` in it);
    parsed once per module, as every command's walk passes through the same core modules."""
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        return frozenset(), frozenset()
    tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    imports: set[str] = set()
    keys: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("kars_actions."):
            if not node.module.startswith("kars_actions.cli"):
                imports.add(node.module)
        elif isinstance(node, ast.FunctionDef) and node.name == "outputs":
            for inner in ast.walk(node):
                if isinstance(inner, ast.Dict):
                    keys.update(k.value for k in inner.keys if isinstance(k, ast.Constant))
    return frozenset(imports), frozenset(keys)


def _output_keys_of(command: str) -> set[str]:
    """Every output name the command can write: the string keys of each ``outputs()`` in the modules it uses."""
    seen: set[str] = set()
    queue = [COMMANDS[command][0]]
    keys: set[str] = set()
    while queue:
        name = queue.pop()
        if name in seen:
            continue
        seen.add(name)
        imports, found = _module_outputs(name)
        queue.extend(imports)
        keys |= found
    return keys


@pytest.mark.parametrize("path", ACTION_FILES, ids=rel)
def test_every_declared_output_comes_from_the_run_step(path: Path) -> None:
    action = load(path)
    ids = {step.get("id") for step in action_steps(path)}
    for name, output in action["outputs"].items():
        match = STEP_OUTPUT_REF.match(str(output["value"]))
        assert match, f"{rel(path)}: output {name} is not a step output"
        assert match[1] in ids and match[1] == "run", f"{rel(path)}: output {name} reads step {match[1]}"
        assert match[2] == name, f"{rel(path)}: output {name} reads {match[2]}"


@pytest.mark.parametrize("path", [p for p in ACTION_FILES if p.parent != ROOT], ids=rel)
def test_step_action_outputs_are_written_by_the_command(path: Path) -> None:
    command = command_of(path)
    # A command module renamed or removed is a broken action, not a test to skip.
    assert importlib.util.find_spec(COMMANDS[command][0]) is not None, f"{rel(path)} runs a command with no module"
    written = _output_keys_of(command)
    declared = set(load(path)["outputs"])
    assert declared <= written, f"{rel(path)} declares outputs the command never writes: {declared - written}"


def test_root_action_declares_the_contract_outputs() -> None:
    outputs = set(load(ROOT / "action.yml")["outputs"])
    contract = {"version", "tag", "release-url", "deployment-ids", "previous-deployment-ids"}
    assert contract | {"environment-url", "healthy", "rolled-back"} <= outputs


def test_root_action_has_marketplace_branding() -> None:
    branding = load(ROOT / "action.yml")["branding"]
    assert branding["icon"] and branding["color"]


@pytest.mark.parametrize("path", ACTION_FILES, ids=rel)
def test_actions_use_a_private_python_and_the_shared_scripts(path: Path) -> None:
    steps = action_steps(path)
    setup_python = next(s for s in steps if str(s.get("uses", "")).startswith("actions/setup-python@"))
    assert str(setup_python["with"]["update-environment"]).lower() == "false"
    prefix = '"$GITHUB_ACTION_PATH/' + ("" if path.parent == ROOT else "../")
    runs = [s["run"] for s in steps if "run" in s]
    assert runs[0] == f'bash {prefix}scripts/setup.sh"'
    assert runs[1].startswith(f'bash {prefix}scripts/run.sh"')
    setup = next(s for s in steps if s.get("id") == "setup")
    assert setup["env"]["KARS_SETUP_PYTHON"] == "${{ steps.python.outputs.python-path }}"


def test_setup_installs_only_hash_locked_binaries() -> None:
    script = (ROOT / "scripts" / "setup.sh").read_text(encoding="utf-8")
    assert "--require-hashes --no-deps --only-binary=:all:" in script
    locked = (ROOT / "requirements" / "action.txt").read_text(encoding="utf-8")
    pins = re.findall(r"(?m)^([A-Za-z0-9_.-]+)==\S+ \\$", locked)
    assert {"click", "httpx", "pyyaml", "jsonschema"} <= {p.lower() for p in pins}
    for block in re.split(r"(?m)^(?=[A-Za-z0-9_.-]+==)", locked)[1:]:
        assert "--hash=sha256:" in block, f"no hash for {block.splitlines()[0]}"


@pytest.mark.parametrize("path", TEMPLATE_FILES + WORKFLOW_FILES, ids=rel)
def test_workflows_drop_all_permissions_then_grant_each_job_the_least(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    workflow = load(path)
    assert workflow["permissions"] == {}, f"{rel(path)}: no 'permissions: {{}}' at the top"
    assert "pull_request_target" not in (workflow.get(True) or workflow.get("on") or {})
    for job_id, job in workflow["jobs"].items():
        assert "timeout-minutes" in job, f"{rel(path)}: job {job_id} has no timeout-minutes"
        assert "permissions" in job, f"{rel(path)}: job {job_id} does not say which permissions it needs"
        for scope in job["permissions"]:
            line = next(ln for ln in text.splitlines() if re.match(rf"^\s+{re.escape(scope)}: (read|write)", ln))
            assert re.search(r"# \S", line), f"{rel(path)}: permission '{scope}' has no comment saying why"


@pytest.mark.parametrize("path", TEMPLATE_FILES + WORKFLOW_FILES, ids=rel)
def test_checkouts_do_not_persist_credentials(path: Path) -> None:
    for step in workflow_steps(path):
        if str(step.get("uses", "")).startswith("actions/checkout@"):
            assert step.get("with", {}).get("persist-credentials") is False, f"{rel(path)}: {step.get('name')}"


@pytest.mark.parametrize("path", TEMPLATE_FILES + WORKFLOW_FILES, ids=rel)
def test_deploy_jobs_have_an_environment_url_and_are_never_cancelled(path: Path) -> None:
    for job_id, job in load(path)["jobs"].items():
        if "environment" not in job:
            continue
        environment = job["environment"]
        assert "url" in environment and "steps." in environment["url"], f"{rel(path)}: {job_id} has no url"
        concurrency = job.get("concurrency") or load(path).get("concurrency")
        assert concurrency and concurrency["cancel-in-progress"] is False, f"{rel(path)}: {job_id} can be cancelled"


@pytest.mark.parametrize("name", ["release", "staging"])
def test_release_templates_tag_and_deploy_in_one_workflow_with_full_history(name: str) -> None:
    workflow = load(ROOT / "workflows-templates" / f"{name}.yml")
    release = workflow["jobs"]["release"]
    needs = [release["needs"]] if isinstance(release["needs"], str) else release["needs"]
    assert "test" in needs
    checkout = next(s for s in release["steps"] if str(s["uses"]).startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0
    assert any(str(s["uses"]).startswith("kars/deploy-action@") for s in release["steps"])


def test_templates_have_properties_files() -> None:
    import json

    for template in TEMPLATE_FILES:
        props = json.loads(template.with_suffix(".properties.json").read_text(encoding="utf-8"))
        assert {"name", "description", "iconName", "categories", "filePatterns"} <= set(props)
        for pattern in props["filePatterns"]:
            re.compile(pattern)


@pytest.mark.skipif(zizmor_path() is None, reason="no zizmor")
def test_zizmor_pedantic_reports_nothing() -> None:
    zizmor = zizmor_path()
    assert zizmor is not None
    files = [str(p) for p in ACTION_FILES + TEMPLATE_FILES + WORKFLOW_FILES]
    completed = subprocess.run(
        [zizmor, "--offline", "--persona=pedantic", "--no-progress", *files],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "No findings to report" in completed.stdout + completed.stderr


def test_root_action_outputs_are_written_by_some_command() -> None:
    written: set[str] = set()
    for command in ["release", *STEP_ACTIONS]:
        assert importlib.util.find_spec(COMMANDS[command][0]) is not None, f"{command}: no module"
        written |= _output_keys_of(command)
    declared = set(load(ROOT / "action.yml")["outputs"])
    assert declared <= written, f"action.yml declares outputs no command writes: {declared - written}"


# GitHub removed Node 20 from its runners in 2026-09: these are the first majors of each action that run on Node 24.
NODE24_MAJOR = {"actions/checkout": 5, "actions/setup-python": 6, "actions/setup-node": 5}
PIN_WITH_VERSION = re.compile(r"uses:\s*(?P<action>[\w.-]+/[\w.-]+)@[0-9a-f]{40}\s*#\s*v(?P<major>\d+)")


@pytest.mark.parametrize(
    "path", [*ACTION_FILES, *TEMPLATE_FILES, *WORKFLOW_FILES, ROOT / "README.md"], ids=lambda p: rel(p)
)
def test_pinned_actions_are_on_their_node24_majors(path: Path) -> None:
    for match in PIN_WITH_VERSION.finditer(path.read_text(encoding="utf-8")):
        wanted = NODE24_MAJOR.get(match["action"])
        if wanted is not None:
            assert int(match["major"]) >= wanted, f"{rel(path)}: {match[0]} runs on a Node removed from the runners"


def test_dependabot_watches_every_action_folder_and_the_lock() -> None:
    config = load(ROOT / ".github" / "dependabot.yml")
    updates = {u["package-ecosystem"]: u for u in config["updates"]}
    folders = {"/" + str(p.parent.relative_to(ROOT)).replace(".", "") for p in ROOT.glob("*/action.yml")} | {"/"}
    watched = set(updates["github-actions"]["directories"])
    assert folders <= watched, f"add {sorted(folders - watched)} to .github/dependabot.yml"
    assert updates["pip"]["directory"] == "/requirements" and (ROOT / "requirements" / "action.txt").is_file()
    for update in updates.values():
        assert update["schedule"]["interval"] == "weekly" and update["groups"], "one grouped pull request a week"


def test_release_template_can_release_to_staging_first_behind_the_promotion_gate() -> None:
    """Opt-in (a repository variable): staging, then production only after staging passed, with requires: staging;
    unset, the staging job is skipped and production still runs after the tests."""
    jobs = load(ROOT / "workflows-templates" / "release.yml")["jobs"]
    staging, production = jobs["staging"], jobs["release"]
    assert staging["if"] == "vars.KARS_STAGING_FIRST == 'true'" and staging["needs"] == "test"
    assert staging["environment"]["name"] == "staging" and production["environment"]["name"] == "production"
    assert production["needs"] == ["test", "staging"]
    condition = production["if"]
    assert "!cancelled()" in condition and "needs.test.result == 'success'" in condition
    assert '["success", "skipped"]' in condition and "needs.staging.result" in condition
    step = next(s for s in production["steps"] if str(s.get("uses", "")).startswith("kars/deploy-action@"))
    assert step["with"]["requires"] == "${{ needs.staging.result == 'success' && 'staging' || '' }}"


def test_preview_template_runs_on_pull_request_events_with_the_least_permissions() -> None:
    workflow = load(ROOT / "workflows-templates" / "preview.yml")
    on = workflow.get(True) or workflow.get("on")
    assert set(on) == {"pull_request"}
    assert on["pull_request"]["types"] == ["opened", "synchronize", "reopened", "closed"]
    job = workflow["jobs"]["preview"]
    assert job["permissions"] == {"contents": "read", "deployments": "write", "pull-requests": "write"}
    assert job["concurrency"]["cancel-in-progress"] is False
    step = next(s for s in job["steps"] if str(s.get("uses", "")).startswith("kars/deploy-action/preview@"))
    assert step["with"]["railway-api-token"] == "${{ secrets.RAILWAY_API_TOKEN }}"


NUMBER_WORDS = {8: "eight", 9: "nine", 10: "ten", 11: "eleven", 12: "twelve"}


def root_commands() -> list[str]:
    """The commands the root action's ``command`` input lists: "release …, or one step: a, b, …, z."."""
    description = " ".join(str(load(ROOT / "action.yml")["inputs"]["command"]["description"]).split())
    steps = description.split("one step:", 1)[1].rstrip(".")
    return ["release", *(name.strip() for name in steps.split(","))]


def test_the_unknown_command_row_of_the_docs_lists_what_the_root_action_takes() -> None:
    """docs/steps/actions.md names the root action's commands as action.yml lists them, and they are exactly the
    commands run.sh takes."""
    from kars_actions.cli.inputs import COMMANDS as TAKEN

    commands = root_commands()
    row = next(
        line
        for line in (ROOT / "docs" / "steps" / "actions.md").read_text(encoding="utf-8").splitlines()
        if line.startswith("| `unknown command '…'`")
    )
    _, _message, cause, fix, _ = (cell.strip() for cell in row.split("|"))
    assert f"one of the {NUMBER_WORDS[len(commands)]} " in cause, cause
    listed = re.split(r", | or ", fix.removeprefix("use "))
    assert listed == commands, f"docs list {listed}, action.yml {commands}"
    assert sorted(commands) == sorted(TAKEN), f"action.yml lists {commands}, run.sh takes {TAKEN}"
