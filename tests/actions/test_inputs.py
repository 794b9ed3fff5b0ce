"""The action input contract (kars_actions.cli.inputs): KARS_INPUT_* read once into typed inputs, checked against
every action.yml, and the process that runs a command from them masks secrets before it prints anything."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from kars_actions.cli.inputs import (
    COMMANDS,
    ConfigInputs,
    DeployInputs,
    HealthInputs,
    InputError,
    Reader,
    ReleaseInputs,
    ReleaseStatusInputs,
    Renamed,
    RollbackInputs,
    ValidateInputs,
    WatchInputs,
    choose_command,
    load,
    variable,
)
from tests.fakes.actions_files import load_yaml
from tests.fakes.cli_fork import warm_python

ROOT = Path(__file__).resolve().parents[2]
RUN = ROOT / "scripts" / "run.sh"
STEP_ACTIONS = sorted(p.parent.name for p in ROOT.glob("*/action.yml"))


def env(**inputs: str) -> dict[str, str]:
    return {variable(name.replace("_", "-")): value for name, value in inputs.items()}


def test_release_inputs_are_typed_and_blank_means_not_given() -> None:
    loaded = load(
        "release",
        env(
            environment="  production \r\n",
            services="api, web\nworker\tcron",
            health_urls="https://a/health\n\n  https://b/ready  \r\n",
            expect_status="200 204",
            move_major="FALSE",
            dry_run="Yes",
            bump="   ",
            railway_token=" rw_tok ",
        ),
    )
    inputs = loaded.inputs
    assert isinstance(inputs, ReleaseInputs)
    assert inputs.environment == "production"
    assert inputs.services == ("api", "web", "worker", "cron")
    assert inputs.health_urls == ("https://a/health", "https://b/ready")
    assert inputs.expect_status == ("200", "204")
    assert inputs.move_major is False and inputs.dry_run is True
    assert inputs.bump is None and inputs.prerelease is None and inputs.settle is None
    assert inputs.secrets == {"RAILWAY_TOKEN": " rw_tok "}, "a credential is passed exactly as given"
    assert loaded.renamed == ()
    assert inputs.argv() == [
        "release",
        "--format",
        "github",
        "--environment",
        "production",
        *["--service", "api", "--service", "web", "--service", "worker", "--service", "cron"],
        *["--health-url", "https://a/health", "--health-url", "https://b/ready"],
        *["--expect-status", "200", "--expect-status", "204"],
        "--no-move-major",
        "--dry-run",
    ]


def test_secrets_stay_out_of_the_repr() -> None:
    inputs = load("release", env(github_token="ghs_very_secret_value", slack_webhook="https://hooks/x")).inputs
    assert inputs.secrets == {"GITHUB_TOKEN": "ghs_very_secret_value", "KARS_SLACK_WEBHOOK": "https://hooks/x"}
    assert "ghs_very_secret_value" not in repr(inputs) and "hooks" not in repr(inputs)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("YES", True), ("1", True), ("No", False), ("0", False), (" false ", False), ("  ", None)],
)
def test_switches_take_true_false_yes_no_one_zero_in_any_case(value: str, expected: bool | None) -> None:
    assert Reader(env(dry_run=value)).switch("dry-run") is expected


def test_a_switch_with_another_value_is_refused_with_the_input_name() -> None:
    with pytest.raises(InputError, match=r"^input dry-run must be true or false, not 'yes please'$") as caught:
        load("deploy", env(dry_run=" yes please "))
    assert caught.value.exit_code == 2


def test_a_switch_is_checked_only_by_the_commands_that_read_it() -> None:
    """test has no dry-run input: a value meant for another step does not stop it."""
    assert load("test", env(dry_run="maybe")).inputs.argv() == ["test", "--format", "github"]
    plan = load("config", env(dry_run="maybe", check="true")).inputs
    assert isinstance(plan, ConfigInputs) and plan.check is True and plan.dry_run is None
    with pytest.raises(InputError, match="input dry-run must be true or false"):
        load("config", env(config_command="apply", dry_run="maybe"))


def test_health_urls_old_name_is_a_list_too() -> None:
    loaded = load("health", env(urls="http://a/x\nhttp://b/y"))
    assert isinstance(loaded.inputs, HealthInputs)
    assert loaded.inputs.health_urls == ("http://a/x", "http://b/y")
    assert loaded.renamed == (Renamed("urls", "health-urls"),)
    assert loaded.inputs.argv()[-3:] == ["--", "http://a/x", "http://b/y"]


def test_inputs_shared_with_the_root_action_reach_the_step_commands() -> None:
    rollback = load("rollback", env(services=" api ")).inputs
    assert isinstance(rollback, RollbackInputs) and rollback.service == "api"
    assert load("rollback", env(service="web", services="api")).inputs.argv()[-2:] == ["--service", "web"]
    watch = load("watch", env(watch_duration="10m")).inputs
    assert isinstance(watch, WatchInputs) and watch.duration == "10m"
    assert load("watch", env(duration="5m", watch_duration="10m")).inputs.argv()[-2:] == ["--duration", "5m"]


def test_release_status_needs_success_or_failure() -> None:
    with pytest.raises(InputError, match=r"^input status is required for release-status: success or failure$"):
        load("release-status", env(tag="v1.0.0"))
    with pytest.raises(InputError, match=r"^input status must be success or failure, not 'published'$"):
        load("release-status", env(status="published"))
    inputs = load("release-status", env(status=" FAILURE ", reason="health failed")).inputs
    assert isinstance(inputs, ReleaseStatusInputs) and inputs.status == "failure"
    assert inputs.argv()[3:] == ["--failure", "--reason", "health failed"]


def test_config_puts_plan_or_apply_first_and_refuses_anything_else() -> None:
    assert load("config", {}).inputs.argv()[:2] == ["config", "plan"]
    apply = load("config", env(config_command="apply", prune="true"))
    assert apply.inputs.argv() == ["config", "apply", "--format", "github", "--prune"]
    with pytest.raises(InputError, match=r"^input command must be plan or apply, not 'Apply'$"):
        load("config", env(config_command="Apply"))


def test_validate_paths_come_after_a_double_dash() -> None:
    inputs = load("validate", env(paths="--schema=evil.json\n app/railway.json ", strict="false")).inputs
    assert isinstance(inputs, ValidateInputs) and inputs.strict is False
    assert inputs.argv()[3:] == ["--lenient", "--", "--schema=evil.json", "app/railway.json"]


def test_the_command_comes_from_run_sh_then_the_command_input_then_release() -> None:
    assert choose_command(["deploy"], env(command="validate")) == "deploy"
    assert choose_command([], env(command=" validate\n")) == "validate"
    assert choose_command([], env(command="")) == "release"
    assert choose_command([""], {}) == "release"
    with pytest.raises(InputError, match=r"^unknown command 'deploy; id': use release, test, .* config or preview$"):
        choose_command([], env(command="deploy; id"))


def test_deploy_inputs_in_order() -> None:
    inputs = load("deploy", env(services="api", commit="abc", settle="0", deploy_timeout="600", config="k.yml")).inputs
    assert isinstance(inputs, DeployInputs)
    assert inputs.argv()[3:] == [
        *["--config", "k.yml", "--service", "api", "--commit", "abc", "--timeout", "600", "--settle", "0"]
    ]


# --- every action.yml against the contract ---------------------------------------------------------------------


def _action(path: Path) -> tuple[dict[str, Any], dict[str, str]]:
    """The action's inputs, and input name -> the KARS_INPUT_* variable its run step passes it in."""
    action = load_yaml(path.read_text(encoding="utf-8"))
    run = next(step for step in action["runs"]["steps"] if step.get("id") == "run")
    passed = {}
    for name, value in run["env"].items():
        if name.startswith("KARS_INPUT_"):
            passed[str(value).removeprefix("${{ inputs.").removesuffix(" }}")] = name
    return action["inputs"], passed


def _invocation(environ: dict[str, str], argv: list[str]) -> tuple[Any, ...] | None:
    try:
        inputs = load(choose_command(argv, environ), environ).inputs
    except InputError:
        return None
    return (inputs.argv(), sorted(inputs.secrets.items()), inputs.working_directory)


# Values that are valid for some input each; an input reaches the CLI when one of them changes what runs.
SAMPLES = ("true", "false", "7", "apply", "failure", *COMMANDS)


@pytest.mark.parametrize("folder", ["", *STEP_ACTIONS], ids=lambda f: f or "root")
def test_every_input_of_every_action_changes_what_runs(folder: str) -> None:
    inputs, passed = _action(ROOT / folder / "action.yml")
    assert set(passed) == set(inputs), "each input is passed to run.sh as exactly one KARS_INPUT_* variable"
    if folder:
        starts = [([folder], {variable("status"): "success"} if folder == "release-status" else {})]
        if folder == "config":
            starts.append(([folder], {variable("config-command"): "apply"}))
    else:  # the root action runs any command its `command` input names
        starts = [([], {variable("command"): c, variable("status"): "success"}) for c in COMMANDS]
    for name, target in passed.items():
        reached = any(
            (changed := _invocation({**start_env, target: value}, argv)) is not None
            and changed != _invocation(start_env, argv)
            for argv, start_env in starts
            for value in SAMPLES
        )
        assert reached, f"{folder or 'root'}/action.yml: input {name!r} ({target}) never changes the command run"


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_reads_only_inputs_its_actions_declare(command: str) -> None:
    """Reading an input no action passes would be a setting nobody can make."""
    declared = set(_action(ROOT / "action.yml")[1].values())
    if (ROOT / command / "action.yml").is_file():
        declared |= set(_action(ROOT / command / "action.yml")[1].values())
    asked: set[str] = set()
    for start in ({variable("status"): "success"}, {variable("config-command"): "apply"}, {}):
        reader = Reader(start)
        with contextlib.suppress(InputError):
            load(command, start, reader)
        asked |= {variable(name) for name in reader.asked}
    assert asked <= declared, f"{command} reads inputs no action passes: {sorted(asked - declared)}"


@pytest.mark.parametrize("folder", STEP_ACTIONS)
def test_each_deprecated_input_warns_with_the_name_its_action_declares(folder: str) -> None:
    inputs, passed = _action(ROOT / folder / "action.yml")
    for name, spec in inputs.items():
        if "deprecationMessage" not in spec:
            continue
        loaded = load(folder, {passed[name]: "42"})
        assert [r.old for r in loaded.renamed] == [name]
        new = loaded.renamed[0].new
        assert new in inputs and new in spec["deprecationMessage"]
        assert loaded.renamed[0].message() == f'input "{name}" is deprecated and will be removed: name it "{new}"'
        assert "42" in loaded.inputs.argv(), "the old name is still honoured"
        both = load(folder, {passed[name]: "42", passed[new]: "43"})
        assert both.renamed == () and "43" in both.inputs.argv() and "42" not in both.inputs.argv()


# --- the process -------------------------------------------------------------------------------------------------


def _run(inputs: dict[str, str], command: str, tmp_path: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    python = warm_python(tmp_path / "kars-python", sys.executable)  # run.sh's start of the interpreter, forked warm
    environ = {"PATH": os.environ["PATH"], "KARS_PYTHON": str(python), **env(**inputs), **extra}
    return subprocess.run(
        ["bash", str(RUN), command], cwd=tmp_path, env=environ, capture_output=True, text=True, timeout=60
    )


def test_a_secret_is_masked_before_an_error_that_would_print_it(tmp_path: Path) -> None:
    """In Actions the token is registered as a mask first; an input error quoting it prints only ***."""
    token = "rw_4f9c2d71a8e5b3c6"
    summary = tmp_path / "summary.md"
    completed = _run(
        {"railway_token": token, "environment": token, "dry_run": token},
        "deploy",
        tmp_path,
        GITHUB_ACTIONS="true",
        GITHUB_STEP_SUMMARY=str(summary),
    )
    assert completed.returncode == 2
    lines = completed.stdout.splitlines()
    assert lines[0] == f"::add-mask::{token}", "the runner is told to mask the token before anything else"
    assert lines[-1] == "::error title=kars-actions::input dry-run must be true or false, not '***'"
    assert token not in completed.stdout.replace(lines[0], "") + completed.stderr
    assert "input dry-run must be true or false" in summary.read_text(), "the step summary says why the step failed"


def test_an_old_name_is_warned_about_even_when_a_later_input_is_refused(tmp_path: Path) -> None:
    completed = _run({"timeout": "600", "dry_run": "maybe"}, "deploy", tmp_path)
    assert completed.returncode == 2
    assert completed.stdout.splitlines() == [
        '::warning title=kars-actions::input "timeout" is deprecated and will be removed: name it "deploy-timeout"',
        "::error title=kars-actions::input dry-run must be true or false, not 'maybe'",
    ]


def test_run_sh_without_the_virtualenv_python_says_what_to_do(tmp_path: Path) -> None:
    completed = subprocess.run(
        ["bash", str(RUN), "deploy"], env={"PATH": os.environ["PATH"]}, capture_output=True, text=True, timeout=30
    )
    assert completed.returncode == 2
    assert completed.stdout == "::error title=kars-actions::KARS_PYTHON is not set: scripts/setup.sh must run first\n"


def test_a_preview_takes_only_the_account_token_and_its_own_flags() -> None:
    """A project token cannot reach a pull request's new environment: the preview passes only the API token."""
    inputs = load(
        "preview",
        env(pr="42", close="true", railway_token="rw_project", railway_api_token="rw_account", total_timeout="900"),
    ).inputs
    assert inputs.secrets == {"RAILWAY_API_TOKEN": "rw_account"}
    assert inputs.argv() == ["preview", "--format", "github", "--pr", "42", "--close", "--timeout", "900"]
