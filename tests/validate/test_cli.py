"""``kars-actions validate`` end to end: through click's runner and as a real process, every exit code, every
format, the Actions side channels, and junk input that must never produce a traceback."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from kars_actions.cli import cli
from tests.fakes.cli_fork import run_kars

FILES = Path(__file__).parent / "files"
REPO = Path(__file__).resolve().parents[2]
BAD_JSON = FILES / "invalid" / "lowercase-enums.json"
GOOD_TOML = FILES / "valid" / "dockerfile.toml"


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["validate", *args], env=env)
    return result.exit_code, result.output


def run_process(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "KARS_"))}
    full_env.update(env or {})
    return run_kars(
        ["validate", *args],
        capture_output=True,
        text=True,
        cwd=cwd or REPO,
        env=full_env,
        timeout=60,
    )


def test_valid_file_exits_0_and_says_ok() -> None:
    code, out = invoke(str(GOOD_TOML), "--format", "text", "--today", "2026-03-01")
    assert code == 0
    assert "dockerfile.toml: ok" in out
    assert "will stop being read on 2026-12-01" in out


def test_after_the_cutoff_an_invalid_file_still_fails_and_the_notice_says_railway_no_longer_reads_it() -> None:
    code, out = invoke(str(BAD_JSON), "--format", "text", "--today", "2026-12-02")
    assert code == 1
    assert "lowercase-enums.json:6:26: error: restartPolicyType" in out
    assert "are no longer read since 2026-12-01" in out and "kars-actions config apply" in out


def test_invalid_file_exits_1_with_file_line_col() -> None:
    code, out = invoke(str(BAD_JSON), "--format", "text", "--no-deprecation-notice")
    assert code == 1
    assert "lowercase-enums.json:6:26: error: restartPolicyType" in out
    assert "notice" not in out


def test_lenient_makes_case_only_problems_warnings_and_exits_0() -> None:
    code, out = invoke(str(BAD_JSON), "--lenient", "--format", "text", "--no-deprecation-notice")
    assert code == 0
    assert "0 errors, 5 warnings" in out


def test_after_the_date_the_notice_says_no_longer_read() -> None:
    code, out = invoke(str(GOOD_TOML), "--format", "text", "--today", "2026-12-01")
    assert code == 0 and "are no longer read since 2026-12-01" in out


def test_bad_today_is_a_usage_error() -> None:
    code, _ = invoke(str(GOOD_TOML), "--today", "tomorrow")
    assert code == 2


def test_json_format_is_one_document() -> None:
    code, out = invoke(str(BAD_JSON), str(GOOD_TOML), "--format", "json", "--no-deprecation-notice")
    body = json.loads(out)
    assert code == 1 and body["exit_code"] == 1
    assert body["valid"] is False and body["errors"] == 5
    assert [f["valid"] for f in body["files"]] == [False, True]


def test_missing_path_exits_2_with_one_line(tmp_path: Path) -> None:
    code, out = invoke(str(tmp_path / "missing.json"), "--format", "text")
    assert code == 2
    assert "no such file or folder" in out and "Traceback" not in out


def test_bad_schema_exits_2_naming_it(tmp_path: Path) -> None:
    schema = tmp_path / "broken.schema.json"
    schema.write_text("{")
    code, out = invoke(str(GOOD_TOML), "--schema", str(schema), "--format", "text")
    assert code == 2 and str(schema) in out


def test_github_format_writes_annotations_outputs_and_summary(tmp_path: Path) -> None:
    output, summary = tmp_path / "output", tmp_path / "summary"
    output.touch()
    summary.touch()
    env = {"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(summary)}
    proc = run_process(str(BAD_JSON.relative_to(REPO)), "--format", "github", "--today", "2026-03-01", env=env)
    assert proc.returncode == 1, proc.stderr
    annotations = [line for line in proc.stdout.splitlines() if line.startswith("::error ")]
    assert len(annotations) == 5
    # properties are escaped: ':' and ',' in the title become %3A and %2C
    assert annotations[0].startswith(
        "::error file=tests/validate/files/invalid/lowercase-enums.json,line=3,col=16,title=railway config%3A enum::"
    )
    assert any(line.startswith("::notice title=Railway Config as Code::") for line in proc.stdout.splitlines())
    outputs = output.read_text()
    for name, value in (("valid", "false"), ("files", "1"), ("errors", "5"), ("warnings", "0")):
        assert f"{name}<<" in outputs and f"\n{value}\n" in outputs.split(f"{name}<<", 1)[1]
    text = summary.read_text()
    assert "### Railway config: ❌ invalid" in text and "`$.deploy.restartPolicyType`" in text


def test_github_format_caps_annotations_and_puts_the_rest_in_the_summary(tmp_path: Path) -> None:
    config = tmp_path / "railway.json"
    config.write_text(json.dumps({f"key{i}": i for i in range(14)}, indent=1))
    summary = tmp_path / "summary"
    summary.touch()
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    proc = run_process(str(config), "--format", "github", "--no-deprecation-notice", env=env)
    assert proc.returncode == 1
    assert sum(line.startswith("::error ") for line in proc.stdout.splitlines()) == 10
    assert "::error title=5 more error(s) not shown::" in proc.stdout
    assert "Annotations not shown (5: " in summary.read_text()


@pytest.mark.subprocess
def test_real_process_exit_codes(tmp_path: Path) -> None:
    assert run_process(str(GOOD_TOML), "--format", "text").returncode == 0
    assert run_process(str(BAD_JSON), "--format", "text").returncode == 1
    assert run_process(str(tmp_path), "--format", "text").returncode == 2


@pytest.mark.subprocess
def test_real_process_without_paths_finds_the_repo_files(tmp_path: Path) -> None:
    (tmp_path / "api").mkdir()
    (tmp_path / "api" / "railway.toml").write_text('[deploy]\nrestartPolicyType = "always"\n')
    proc = run_process("--format", "text", "--no-deprecation-notice", cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stdout.startswith("api: api/railway.toml (folder api/)\napi/railway.toml:2:21: error:")


@pytest.mark.subprocess
@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("railway.json", bytes(range(256)) * 64, "binary"),
        ("railway.json", b"\xff\xfe\x00junk", "UTF-16"),
        ("railway.toml", b"\xc3\x28 = 1", "not UTF-8"),
        ("railway.json", b"[" * 200_000, "nested too deeply"),
        ("railway.toml", b"a = " + b"{b = " * 50_000, "invalid TOML"),
        ("railway.json", b"", "file is empty"),
    ],
)
def test_junk_input_gets_one_clear_line_and_exit_1(tmp_path: Path, name: str, content: bytes, words: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    proc = run_process(str(path), "--format", "text", "--no-deprecation-notice")
    assert proc.returncode == 1
    assert "Traceback" not in proc.stdout + proc.stderr
    assert words in proc.stdout
    assert proc.stdout.count("error:") == 1


@pytest.mark.subprocess
def test_a_50_mb_file_is_refused_fast(tmp_path: Path) -> None:
    path = tmp_path / "railway.json"
    with path.open("wb") as handle:
        handle.write(b'{"a": "' + b"x" * (50 * 1024 * 1024) + b'"}')
    proc = run_process(str(path), "--format", "text", "--no-deprecation-notice")
    assert proc.returncode == 1
    assert "file is 50.0 MB" in proc.stdout and "Traceback" not in proc.stderr


@pytest.mark.subprocess
def test_a_folder_with_no_config_and_a_missing_path_exit_2(tmp_path: Path) -> None:
    for target in (tmp_path, tmp_path / "missing"):
        proc = run_process(str(target), "--format", "text")
        assert proc.returncode == 2
        assert "Traceback" not in proc.stderr and proc.stderr.count("error:") == 1


def test_pre_commit_hook_entry_matches_config_files_only() -> None:
    import re

    import yaml

    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    hook = next(h for h in hooks if h["id"] == "validate-railway-config")
    assert hook["entry"] == "kars-actions validate" and hook["language"] == "python"
    pattern = re.compile(hook["files"])
    assert pattern.search("railway.json") and pattern.search("backend/railway.toml")
    assert not pattern.search("myrailway.json") and not pattern.search("railway.json.bak")
