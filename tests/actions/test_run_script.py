"""scripts/run.sh turns KARS_INPUT_* into argv without ever letting an input become shell code."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.cli_fork import warm_python

ROOT = Path(__file__).resolve().parents[2]
RUN = ROOT / "scripts" / "run.sh"
SETUP = ROOT / "scripts" / "setup.sh"

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")

# Stands in for the virtualenv's interpreter: runs the real input module as run.sh asks, but records the
# kars-actions command line (with the environment and folder it would run in) instead of running it. The
# interpreter runs it as `python -I -X utf8 record.py ARGS`, forked from a warm one when ARGS begin with run.sh's
# `-I -X utf8 -m kars_actions.cli.inputs` (tests/fakes/cli_fork.py's warm_python).
RECORDER = """import json, os, sys
from kars_actions.cli import inputs


def record(argv):
    data = {"python": sys.argv[1:], "argv": argv, "cwd": os.getcwd(), "env": {k: v for k, v in os.environ.items()
            if k.startswith(("KARS_", "RAILWAY_", "GITHUB_TOKEN"))}}
    with open(os.environ["RECORD_TO"], "w") as handle:
        json.dump(data, handle)
    sys.exit(int(os.environ.get("RECORD_EXIT", "0")))


assert sys.argv[1:6] == ["-I", "-X", "utf8", "-m", "kars_actions.cli.inputs"], sys.argv
inputs.main(sys.argv[6:], run=record)
"""


@pytest.fixture
def recorder(tmp_path: Path) -> Path:
    script = tmp_path / "record.py"
    script.write_text(RECORDER)
    return warm_python(tmp_path / "python", sys.executable, fresh=["-I", "-X", "utf8", str(script)])


@pytest.fixture
def kars_python(tmp_path: Path) -> Path:
    """The test's interpreter with the package, as KARS_PYTHON: run.sh's start of it forked warm."""
    return warm_python(tmp_path / "kars-python", sys.executable)


def run(recorder: Path, tmp_path: Path, command: str | None, inputs: dict[str, str], **extra: str) -> Any:
    record = tmp_path / "record.json"
    record.unlink(missing_ok=True)
    env = {
        "PATH": os.environ["PATH"],
        "KARS_PYTHON": str(recorder),
        "RECORD_TO": str(record),
        **{f"KARS_INPUT_{k.upper().replace('-', '_')}": v for k, v in inputs.items()},
        **extra,
    }
    argv = ["bash", str(RUN)] + ([command] if command else [])
    completed = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30, check=False)
    data = json.loads(record.read_text()) if record.exists() else None
    return completed, data


def cli_args(data: Any) -> list[str]:
    """The arguments after the command, checking run.sh ran the input module isolated and in UTF-8 mode."""
    assert data["python"][:5] == ["-I", "-X", "utf8", "-m", "kars_actions.cli.inputs"]
    argv: list[str] = data["argv"]
    return argv[1:]


HOSTILE = ['it\'s "quoted"', "$(touch pwned)", "`touch pwned`", "a;b && c | d", "${HOME}", "*", "--format=json"]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_input_reaches_argv_as_one_literal_argument(recorder: Path, tmp_path: Path, value: str) -> None:
    completed, data = run(recorder, tmp_path, "deploy", {"environment": value, "commit": value})
    assert completed.returncode == 0, completed.stderr
    args = cli_args(data)
    assert args[args.index("--environment") + 1] == value
    assert args[args.index("--commit") + 1] == value
    assert not (tmp_path / "pwned").exists()


def test_newline_lists_become_one_flag_per_line_keeping_spaces_inside(recorder: Path, tmp_path: Path) -> None:
    expect_json = 'status=ok\n\n  message=all "good" here  \r\n$(id)=1\n'
    completed, data = run(
        recorder, tmp_path, "health", {"expect-json": expect_json, "urls": "http://a/x\nhttp://b/y\n"}
    )
    assert completed.returncode == 0, completed.stderr
    args = cli_args(data)
    pairs = [args[i + 1] for i, a in enumerate(args) if a == "--expect-json"]
    assert pairs == ["status=ok", 'message=all "good" here', "$(id)=1"]
    assert args[-3:] == ["--", "http://a/x", "http://b/y"]


def test_service_lists_split_on_commas_spaces_and_newlines(recorder: Path, tmp_path: Path) -> None:
    _, data = run(recorder, tmp_path, "deploy", {"services": "api, web\nworker  cron"})
    args = cli_args(data)
    assert [args[i + 1] for i, a in enumerate(args) if a == "--service"] == ["api", "web", "worker", "cron"]


def test_empty_inputs_pass_no_flag_so_cli_defaults_apply(recorder: Path, tmp_path: Path) -> None:
    _, data = run(recorder, tmp_path, "deploy", {"environment": "", "timeout": "  ", "dry-run": "false"})
    assert cli_args(data) == ["--format", "github"]
    assert data["argv"][0] == "deploy"


def test_tokens_travel_as_environment_never_as_arguments(recorder: Path, tmp_path: Path) -> None:
    secret = "rw_$(secret)_token"
    _, data = run(
        recorder,
        tmp_path,
        "release",
        {"railway-token": secret, "github-token": "ghs_x", "slack-webhook": "https://hooks/s", "webhook-secret": "k"},
    )
    assert secret not in data["argv"]
    assert data["env"]["RAILWAY_TOKEN"] == secret
    assert data["env"]["GITHUB_TOKEN"] == "ghs_x"
    assert data["env"]["KARS_SLACK_WEBHOOK"] == "https://hooks/s"
    assert data["env"]["KARS_WEBHOOK_SECRET"] == "k"


def test_health_headers_go_through_the_environment(recorder: Path, tmp_path: Path) -> None:
    _, data = run(recorder, tmp_path, "health", {"headers": "Authorization: Bearer abc\nX-Key: 1"})
    assert "Authorization: Bearer abc" not in " ".join(data["argv"])
    assert data["env"]["KARS_HEALTH_HEADERS"] == "Authorization: Bearer abc\nX-Key: 1"


def test_raw_inputs_are_not_inherited_by_the_cli(recorder: Path, tmp_path: Path) -> None:
    _, data = run(recorder, tmp_path, "deploy", {"railway-token": "tok", "services": "api"})
    assert not [name for name in data["env"] if name.startswith("KARS_INPUT_")]


def test_booleans_accept_true_false_and_reject_anything_else(recorder: Path, tmp_path: Path) -> None:
    _, data = run(recorder, tmp_path, "validate", {"strict": "false", "deprecation-notice": "false"})
    assert cli_args(data)[2:] == ["--lenient", "--no-deprecation-notice"]
    completed, data = run(recorder, tmp_path, "deploy", {"dry-run": "yes please"})
    assert completed.returncode == 2 and data is None
    assert "dry-run must be true or false" in completed.stdout


def test_validate_paths_are_positional_after_a_double_dash(recorder: Path, tmp_path: Path) -> None:
    _, data = run(recorder, tmp_path, "validate", {"paths": "--schema=evil.json\napp/railway.json"})
    assert cli_args(data)[-3:] == ["--", "--schema=evil.json", "app/railway.json"]


def test_root_action_runs_the_command_input_and_defaults_to_release(recorder: Path, tmp_path: Path) -> None:
    _, data = run(recorder, tmp_path, None, {"command": "validate"})
    assert data["argv"][0] == "validate"
    _, data = run(recorder, tmp_path, None, {})
    assert data["argv"][0] == "release"


def test_root_action_maps_its_timeouts_to_each_command(recorder: Path, tmp_path: Path) -> None:
    inputs = {"deploy-timeout": "600", "health-deadline": "120", "total-timeout": "1800"}
    _, data = run(recorder, tmp_path, "release", inputs)
    args = cli_args(data)
    assert args[args.index("--deploy-timeout") + 1] == "600"
    assert args[args.index("--health-deadline") + 1] == "120"
    assert args[args.index("--timeout") + 1] == "1800"
    _, data = run(recorder, tmp_path, "deploy", inputs)
    assert cli_args(data)[-2:] == ["--timeout", "600"]


def test_unknown_command_is_a_usage_error_not_an_execution(recorder: Path, tmp_path: Path) -> None:
    completed, data = run(recorder, tmp_path, None, {"command": "deploy; touch pwned"})
    assert completed.returncode == 2 and data is None
    assert "unknown command" in completed.stdout
    assert not (tmp_path / "pwned").exists()


def test_working_directory_is_entered_and_a_missing_one_is_a_clear_error(recorder: Path, tmp_path: Path) -> None:
    (tmp_path / "app dir").mkdir()
    _, data = run(recorder, tmp_path, "test", {"working-directory": "app dir"})
    assert Path(data["cwd"]).name == "app dir"
    completed, data = run(recorder, tmp_path, "test", {"working-directory": "nope"})
    assert completed.returncode == 2 and data is None
    assert "working-directory 'nope' does not exist" in completed.stdout


def test_the_cli_exit_code_is_the_step_exit_code(recorder: Path, tmp_path: Path) -> None:
    completed, _ = run(recorder, tmp_path, "health", {}, RECORD_EXIT="3")
    assert completed.returncode == 3


def test_real_cli_writes_the_declared_outputs(kars_python: Path, tmp_path: Path) -> None:
    """End to end with the real package: validate writes every output validate/action.yml declares."""
    import yaml

    (tmp_path / "railway.json").write_text('{"build": {"builder": "NIXPACKS"}}\n')
    output = tmp_path / "github_output"
    output.write_text("")
    env = {
        "PATH": os.environ["PATH"],
        "KARS_PYTHON": str(kars_python),
        "KARS_INPUT_PATHS": "railway.json",
        "KARS_INPUT_DEPRECATION_NOTICE": "false",
        "GITHUB_OUTPUT": str(output),
    }
    completed = subprocess.run(
        ["bash", str(RUN), "validate"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    written = {line.split("<<", 1)[0] for line in output.read_text().splitlines() if "<<ghadelimiter_" in line}
    declared = set(yaml.safe_load((ROOT / "validate" / "action.yml").read_text())["outputs"])
    assert declared <= written


def test_setup_refuses_to_run_without_the_python_from_setup_python(tmp_path: Path) -> None:
    env = {"PATH": os.environ["PATH"], "RUNNER_TEMP": str(tmp_path)}
    completed = subprocess.run(["bash", str(SETUP)], env=env, capture_output=True, text=True, timeout=30, check=False)
    assert completed.returncode == 2
    assert "setup-python step must run first" in completed.stdout


def test_release_passes_health_urls_and_service_urls_one_flag_per_line(recorder: Path, tmp_path: Path) -> None:
    _, data = run(recorder, tmp_path, "release", {"health-urls": "https://app/health\nhttps://app/ready"})
    args = cli_args(data)
    assert [args[i + 1] for i, a in enumerate(args) if a == "--health-url"] == [
        "https://app/health",
        "https://app/ready",
    ]
    _, data = run(recorder, tmp_path, "release", {"service-urls": "api=https://api.example\nweb=https://web.example"})
    args = cli_args(data)
    assert [args[i + 1] for i, a in enumerate(args) if a == "--service-url"] == [
        "api=https://api.example",
        "web=https://web.example",
    ]


def test_watch_step_and_the_root_watch_duration_reach_their_flags(recorder: Path, tmp_path: Path) -> None:
    _, data = run(recorder, tmp_path, "watch", {"services": "api, web", "duration": "10m", "health": "false"})
    args = cli_args(data)
    assert args[args.index("--duration") + 1] == "10m" and "--no-health" in args
    assert args.count("--service") == 2
    _, data = run(recorder, tmp_path, None, {"watch-duration": "0"})
    args = cli_args(data)
    assert args[args.index("--watch-duration") + 1] == "0"


def test_allow_failed_version_reaches_the_rollback_only_when_true(recorder: Path, tmp_path: Path) -> None:
    _, data = run(recorder, tmp_path, "rollback", {"service": "api", "allow-failed-version": "true"})
    assert cli_args(data)[-1] == "--allow-failed-version"
    _, data = run(recorder, tmp_path, "rollback", {"service": "api", "allow-failed-version": "false"})
    assert "--allow-failed-version" not in cli_args(data)


def test_the_root_settle_input_reaches_the_release_and_the_deploy_command(recorder: Path, tmp_path: Path) -> None:
    _, data = run(recorder, tmp_path, None, {"settle": "45"})
    args = cli_args(data)
    assert data["argv"][0] == "release" and args[args.index("--settle") + 1] == "45"
    _, data = run(recorder, tmp_path, "deploy", {"services": "api", "settle": "0"})
    args = cli_args(data)
    assert args[args.index("--settle") + 1] == "0"


def test_release_status_through_the_entry_script_publishes_the_draft(kars_python: Path, tmp_path: Path) -> None:
    """The step-by-step path: the release-status action's script runs the real command against GitHub."""
    from tests.fakes.github_fake import GitHubFake

    sha = "a" * 40
    with GitHubFake("kars/app", token="ghs_fake_token") as fake:
        fake.add_commit(sha)
        fake.add_tag("v1.0.0", sha)
        fake.add_release("v1.0.0", draft=True, target=sha)
        env = {
            "PATH": os.environ["PATH"],
            "KARS_PYTHON": str(kars_python),
            "KARS_INPUT_TAG": "v1.0.0",
            "KARS_INPUT_STATUS": "success",
            "KARS_INPUT_GITHUB_TOKEN": "ghs_fake_token",
            "GITHUB_API_URL": fake.url,
            "GITHUB_REPOSITORY": "kars/app",
        }
        completed = subprocess.run(
            ["bash", str(RUN), "release-status"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
        )
        assert completed.returncode == 0, completed.stdout + completed.stderr
        release = fake.releases_for("v1.0.0")[0]
        assert release["draft"] is False
        assert fake.tag_commit("v1") == sha  # 1.0.0 publishes, so @v1 exists
    assert "ghs_fake_token" not in completed.stdout + completed.stderr


def test_release_status_needs_a_status(recorder: Path, tmp_path: Path) -> None:
    completed, data = run(recorder, tmp_path, "release-status", {"tag": "v1.0.0"})
    assert completed.returncode == 2 and data is None
    assert "input status is required" in completed.stdout
    completed, data = run(recorder, tmp_path, "release-status", {"tag": "v1.0.0", "status": "failure", "reason": "x"})
    assert completed.returncode == 0
    assert cli_args(data)[-5:] == ["--tag", "v1.0.0", "--failure", "--reason", "x"]


@pytest.mark.parametrize(
    ("command", "old", "new", "flag"),
    [
        ("health", "deadline", "health-deadline", "--deadline"),
        ("deploy", "timeout", "deploy-timeout", "--timeout"),
        ("rollback", "to", "rollback-to", "--to"),
        ("rollback", "timeout", "deploy-timeout", "--timeout"),
    ],
)
def test_old_input_names_still_work_with_a_deprecation_warning(
    recorder: Path, tmp_path: Path, command: str, old: str, new: str, flag: str
) -> None:
    inputs = {"service": "api"} if command == "rollback" else {}
    completed, data = run(recorder, tmp_path, command, {**inputs, old: "42"})
    assert completed.returncode == 0, completed.stderr
    args = cli_args(data)
    assert args[args.index(flag) + 1] == "42"
    assert f'::warning title=kars-actions::input "{old}" is deprecated' in completed.stdout
    assert f'name it "{new}"' in completed.stdout
    completed, data = run(recorder, tmp_path, command, {**inputs, new: "43", old: "42"})
    args = cli_args(data)
    assert args[args.index(flag) + 1] == "43" and "deprecated" not in completed.stdout


def test_health_urls_is_the_one_name_and_urls_an_alias(recorder: Path, tmp_path: Path) -> None:
    completed, data = run(recorder, tmp_path, "health", {"health-urls": "http://a/x"})
    assert cli_args(data)[-2:] == ["--", "http://a/x"] and "deprecated" not in completed.stdout
    completed, data = run(recorder, tmp_path, "health", {"urls": "http://b/y"})
    assert cli_args(data)[-2:] == ["--", "http://b/y"] and '"urls" is deprecated' in completed.stdout


@pytest.mark.parametrize(
    ("inputs", "command"),
    [
        ({"command": "x\n::warning title=forged::injected%0Abreak\r::notice::x"}, None),
        ({"dry-run": "x\n::warning title=forged::injected 50%"}, "deploy"),
        ({"working-directory": "no\n::warning::injected"}, "test"),
    ],
)
def test_an_error_about_an_input_cannot_start_a_workflow_command(
    recorder: Path, tmp_path: Path, inputs: dict[str, str], command: str | None
) -> None:
    completed, data = run(recorder, tmp_path, command, inputs)
    assert completed.returncode == 2 and data is None
    lines = completed.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("::error title=kars-actions::")
    assert "%0A::warning" in lines[0]
    assert "injected%0Abreak" not in lines[0] or "%250Abreak" in lines[0]


def test_config_puts_plan_or_apply_before_the_options(recorder: Path, tmp_path: Path) -> None:
    _, data = run(recorder, tmp_path, "config", {"check": "true", "environments": "production\nstaging"})
    assert data["argv"] == [
        "config",
        "plan",
        "--format",
        "github",
        "--check",
        "--environment",
        "production",
        "--environment",
        "staging",
    ]
    _, data = run(
        recorder, tmp_path, "config", {"config-command": "apply", "dry-run": "true", "prune": "true", "services": "api"}
    )
    assert data["argv"] == ["config", "apply", "--format", "github", "--dry-run", "--prune", "--service", "api"]
    completed, data = run(recorder, tmp_path, "config", {"config-command": "destroy"})
    assert completed.returncode == 2 and data is None
    assert "input command must be plan or apply" in completed.stdout


def test_the_long_watch_after_a_release_gets_its_tag_and_its_secrets_through_the_environment(
    recorder: Path, tmp_path: Path
) -> None:
    inputs = {
        "after-release": "v1.4.0",
        "memory-limit-ratio": "0.8",
        "github-token": "ghs_watch_token",
        "slack-webhook": "https://hooks.slack.example/T/B/x",
        "railway-token": "rw_watch_token",
    }
    completed, data = run(recorder, tmp_path, "watch", inputs)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert cli_args(data)[-4:] == ["--after-release", "v1.4.0", "--memory-limit-ratio", "0.8"]
    assert data["env"]["GITHUB_TOKEN"] == "ghs_watch_token" and data["env"]["RAILWAY_TOKEN"] == "rw_watch_token"
    assert data["env"]["KARS_SLACK_WEBHOOK"] == "https://hooks.slack.example/T/B/x"
    assert not {"ghs_watch_token", "rw_watch_token"} & set(data["argv"])


def test_a_command_given_as_a_block_scalar_still_runs(recorder: Path, tmp_path: Path) -> None:
    """`command: |` adds a newline; the value is trimmed like every other input."""
    completed, data = run(recorder, tmp_path, None, {"command": "validate\n"})
    assert completed.returncode == 0, completed.stdout
    assert data["argv"][0] == "validate"
