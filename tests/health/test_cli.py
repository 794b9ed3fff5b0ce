"""``kars-actions health`` through click's runner and as a real process."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from kars_actions.cli import cli
from tests.fakes.cli_fork import run_kars
from tests.fakes.health_servers import Reply, ScriptedServer, sequence

FAST = ["--interval", "0.01", "--max-interval", "0.02", "--confirm-interval", "0.01"]
HEALTHY = Reply.json({"status": "ok", "version": "1.4.0", "database": "connected"})


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["health", *args], env=env, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_a_healthy_url_exits_0_with_a_table() -> None:
    with ScriptedServer(sequence(HEALTHY)) as server:
        code, out, _ = invoke(
            server.url("/api/health"), "--expect-json", "status=ok", "--expect-version", "v1.4.0", *FAST
        )
    assert code == 0
    assert "healthy" in out and "all 1 target(s) healthy" in out


def test_an_unhealthy_url_exits_1_naming_the_failing_check() -> None:
    with ScriptedServer(sequence(Reply.json({"status": "degraded"}, status=503))) as server:
        code, out, err = invoke(server.url(), "--retries", "2", *FAST)
    assert code == 1
    assert "status: expected 200, got 503" in out
    assert "attempt 1" in err  # live lines while waiting


def test_json_format_prints_one_document_and_masks_header_values() -> None:
    with ScriptedServer(sequence(HEALTHY)) as server:
        code, out, err = invoke(
            server.url(), "--header", "Authorization: Bearer cli-secret-token", "--format", "json", *FAST
        )
        assert server.seen[0].headers["authorization"] == "Bearer cli-secret-token"
    assert code == 0
    document = json.loads(out)
    assert document["healthy"] is True and document["targets"][0]["attempts"] == 2
    assert "cli-secret-token" not in out + err


def test_outputs_and_summary_are_written_inside_actions(tmp_path: Path) -> None:
    outputs, summary = tmp_path / "out", tmp_path / "summary"
    env = {"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(outputs), "GITHUB_STEP_SUMMARY": str(summary)}
    with ScriptedServer(sequence(Reply.json({"version": "1.3.0"}))) as server:
        code, out, _ = invoke(server.url(), "--expect-version", "1.4.0", "--retries", "1", *FAST, env=env)
    assert code == 1
    written = outputs.read_text()
    assert "healthy<<" in written and "\nfalse\n" in written
    assert '"failure":{"check":"version field version"' in written
    assert "### Health: ❌ Not healthy" in summary.read_text()
    assert "::error title=Health check failed::" in out


def test_bad_flags_are_usage_errors_with_exit_2() -> None:
    code, _, err = invoke("http://127.0.0.1:1/", "--expect-status", "abc")
    assert code == 2 and "invalid expected status" in err
    code, _, err = invoke("http://127.0.0.1:1/", "--header", "no-colon-secret-value")
    assert code == 2 and "no-colon-secret-value" not in err
    code, _, err = invoke("ftp://example.com/")
    assert code == 2 and "must start with http:// or https://" in err


def test_services_come_from_kars_yml_with_a_public_url(tmp_path: Path) -> None:
    (tmp_path / "kars.yml").write_text("services:\n  api:\n    health:\n      path: /api/health\n")
    with ScriptedServer(sequence(HEALTHY)) as server:
        code, out, _ = invoke(
            "--config", str(tmp_path / "kars.yml"), "--service", "api", "--service-url", f"api={server.url('')}", *FAST
        )
        assert server.seen[0].path == "/api/health"
    assert code == 0 and "api" in out


@pytest.mark.subprocess
def test_the_real_command_exits_by_health() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_")}
    with ScriptedServer(sequence(HEALTHY)) as server:
        ok = run_kars(
            ["health", server.url(), "--format", "json", *FAST],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["healthy"] is True
    with ScriptedServer(sequence(Reply(500, body=b"down"))) as server:
        bad = run_kars(
            ["health", server.url(), "--retries", "2", *FAST],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
    assert bad.returncode == 1
    assert "Traceback" not in bad.stderr


def run_health(*args: str, fmt: str = "json", **env_extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "KARS_"))} | env_extra
    return run_kars(
        ["health", *args, "--format", fmt, *FAST],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.mark.subprocess
@pytest.mark.parametrize("json_asserted", [[], ["--expect-json", "status=ok"]])
def test_a_plain_status_ok_app_passes_the_version_rule(json_asserted: list[str]) -> None:
    with ScriptedServer(sequence(Reply.json({"status": "ok"}))) as server:
        proc = run_health(
            server.url("/api/health"), "--expect-version", "v1.4.0", "--expect-version", SHA, *json_asserted
        )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.subprocess
@pytest.mark.parametrize("json_asserted", [[], ["--expect-json", "status=ok"]])
def test_an_old_version_still_answering_is_refused(json_asserted: list[str]) -> None:
    old = Reply.json({"status": "ok", "commit": "fedcba9876543210fedcba9876543210fedcba98"})
    with ScriptedServer(sequence(old)) as server:
        proc = run_health(server.url(), "--expect-version", SHA, "--retries", "2", *json_asserted)
    assert proc.returncode == 1
    failure = json.loads(proc.stdout)["targets"][0]["failures"][0]
    assert failure["check"] == "version field commit" and "another version" in failure["actual"]


@pytest.mark.subprocess
def test_version_check_required_refuses_an_app_that_reports_no_version() -> None:
    with ScriptedServer(sequence(Reply.json({"status": "ok"}))) as server:
        proc = run_health(server.url(), "--expect-version", SHA, "--version-check", "required", "--retries", "2")
    assert proc.returncode == 1
    assert json.loads(proc.stdout)["targets"][0]["failures"][0]["actual"] == "(missing)"


def test_every_health_option_says_what_it_does() -> None:
    import click

    from kars_actions.cli.health import command

    silent = [p.name for p in command.params if isinstance(p, click.Option) and not p.help]
    assert silent == []
