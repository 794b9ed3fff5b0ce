"""A failed health check shows its evidence: the body (one line, capped, redacted) and the JSON fields that say what
is wrong, in the console, the step summary and the outputs; the failing-check column says what actually failed."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kars_actions.core import gha
from kars_actions.health.assertions import HealthCheck, JsonExpectation, Observation
from kars_actions.health.evidence import BODY_LIMIT, FIELD_LIMIT, body_line, gather
from tests.fakes.actions_files import read_outputs
from tests.fakes.health_servers import Reply, ScriptedServer, sequence
from tests.health.test_cli import run_health as run_cli_health

SECRET = "s3cr3t-header-token-0123456789"
DOWN = {"status": "error", "database": "disconnected", "cache": {"ok": True}, "echo": f"Bearer {SECRET}"}


@pytest.fixture
def actions(tmp_path: Path) -> Iterator[dict[str, Path]]:
    files = {"output": tmp_path / "out", "summary": tmp_path / "summary.md"}
    for path in files.values():
        path.write_text("")
    yield files


def run_health(files: dict[str, Path], *args: str) -> subprocess.CompletedProcess[str]:
    written = {"GITHUB_OUTPUT": str(files["output"]), "GITHUB_STEP_SUMMARY": str(files["summary"])}
    return run_cli_health(*args, fmt="text", **written)


def results(files: dict[str, Path]) -> list[dict[str, Any]]:
    return list(json.loads(read_outputs(files["output"])["results"]))


@pytest.mark.subprocess
def test_a_503_with_a_json_body_shows_the_body_and_quotes_the_failing_fields(actions: dict[str, Path]) -> None:
    with ScriptedServer(sequence(Reply.json(DOWN, status=503))) as server:
        header = f"Authorization: Bearer {SECRET}"
        proc = run_health(actions, server.url("/api/health"), "--header", header, "--retries", "2")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    fields = 'status: "error", database: "disconnected"'
    body = '{"status":"error","database":"disconnected","cache":{"ok":true},"echo":"***"}'
    lines = proc.stdout.splitlines()
    row = next(line for line in lines if "unhealthy" in line)
    assert row.rstrip().endswith(f"status: expected 200, got 503 ({fields})")
    assert f"{server.url('/api/health')} answered: {body}" in lines
    summary = actions["summary"].read_text()
    table_row = next(line for line in summary.splitlines() if line.startswith(f"| {server.url('/api/health')}"))
    assert f"status: expected 200, got 503 ({fields})" in table_row and f"`{body}`" in table_row
    assert "| last body | checks made |" in summary and "| status 200 |" in table_row
    evidence = results(actions)[0]["evidence"]
    assert evidence == {"fields": ['status: "error"', 'database: "disconnected"'], "body": body}
    everything = proc.stdout + proc.stderr + summary + actions["output"].read_text()
    assert SECRET not in everything


@pytest.mark.subprocess
def test_an_answer_that_passed_but_ran_out_of_attempts_says_so(actions: dict[str, Path]) -> None:
    replies = sequence(Reply.json({"status": "starting"}, status=503), Reply.json({"status": "ok"}))
    with ScriptedServer(replies) as server:
        proc = run_health(actions, server.url(), "--retries", "2", "--stable", "2")
    assert proc.returncode == 1
    said = "confirmation: expected 2 passes in a row, got 1 pass in a row, then the attempts ran out"
    assert said in proc.stdout
    assert "no attempt before the deadline" not in proc.stdout + actions["summary"].read_text()
    assert results(actions)[0]["failure"] == {
        "check": "confirmation",
        "expected": "2 passes in a row",
        "actual": "1 pass in a row, then the attempts ran out",
    }


@pytest.mark.subprocess
def test_the_summary_says_which_version_each_target_reported_and_which_checks_were_made(
    actions: dict[str, Path],
) -> None:
    sha = "0123456789abcdef0123456789abcdef01234567"
    with (
        ScriptedServer(sequence(Reply.json({"status": "ok"}))) as silent,
        ScriptedServer(sequence(Reply.json({"status": "ok", "commit": sha}))) as telling,
    ):
        proc = run_health(
            actions, silent.url("/a"), telling.url("/b"), "--expect-version", sha, "--expect-json", "status=ok"
        )
    assert proc.returncode == 0, proc.stdout
    summary = actions["summary"].read_text().splitlines()
    assert "### Health: ✅ Healthy" in summary
    assert not any("Healthy — version" in line for line in summary)  # no version claimed for every target
    silent_row = next(line for line in summary if line.startswith(f"| {silent.url('/a')}"))
    telling_row = next(line for line in summary if line.startswith(f"| {telling.url('/b')}"))
    assert "| not reported |" in silent_row and "| 0123456789ab |" in telling_row
    assert 'status 200; version field version or field commit' in silent_row and 'json status = "ok"' in silent_row
    reported = {r["url"]: r["version"] for r in results(actions)}
    assert reported == {silent.url("/a"): None, telling.url("/b"): sha}


# The evidence itself --------------------------------------------------------------------------------------------


def answer(body: bytes, status: int = 503, truncated: bool = False) -> Observation:
    return Observation(status=status, body=body, truncated=truncated)


def test_the_body_is_one_line_with_control_characters_made_visible() -> None:
    line = body_line(answer(b"<html>\n  <body>\x1b[31mDown\x1b[0m\r\n</body>\t</html>"))
    assert line == "<html> <body>\\x1b[31mDown\\x1b[0m </body> </html>"


def test_a_long_body_is_cut_to_the_limit_and_says_when_the_poller_cut_it() -> None:
    line = body_line(answer(b"x" * 5000))
    assert line is not None and len(line) == BODY_LIMIT and line.endswith("…")
    cut = body_line(answer(b"y" * 100, truncated=True))
    assert cut == "y" * 100 + " (cut at 100 bytes)"


def test_a_secret_straddling_the_cut_leaves_none_of_itself() -> None:
    secret = "straddling-secret-value-0123456789"
    gha.SECRETS.register(secret)
    body = ("a" * (BODY_LIMIT - 10) + secret + "b" * 50).encode()
    line = body_line(answer(body))
    assert line is not None
    assert "straddling" not in line and "***" in line


def test_pretty_json_is_written_compactly() -> None:
    assert body_line(answer(b'{\n  "status": "down",\n  "n": [1, 2]\n}\n')) == '{"status":"down","n":[1,2]}'


def test_the_failing_fields_are_the_asserted_ones_first_then_the_ones_that_read_unwell() -> None:
    check = HealthCheck(json=(JsonExpectation.parse("queue.depth=0"),))
    document = {
        "status": "UP",
        "queue": {"depth": 12},
        "components": {"db": {"status": "DOWN"}, "disk.space": {"ok": False}, "mail": {"status": "up"}},
        "checks": [{"name": "redis", "status": "fail"}],
    }
    evidence = gather(check, answer(json.dumps(document).encode()))
    assert evidence.fields == (
        "queue.depth: 12",
        'components.db.status: "DOWN"',
        "components.disk\\.space.ok: false",
        'checks.0.status: "fail"',
    )


def test_a_field_a_failure_already_names_is_not_quoted_twice_and_the_list_is_capped() -> None:
    document = {f"part{i}": "down" for i in range(FIELD_LIMIT + 3)}
    evidence = gather(HealthCheck(), answer(json.dumps(document).encode()), named=frozenset({"part0"}))
    assert len(evidence.fields) == FIELD_LIMIT and evidence.fields[0] == 'part1: "down"'


def test_a_transport_error_or_an_empty_body_has_no_evidence() -> None:
    assert not gather(HealthCheck(), Observation(error="connection refused"))
    assert not gather(HealthCheck(), answer(b""))
