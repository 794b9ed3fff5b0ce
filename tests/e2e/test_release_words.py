"""Every line the release prints is true on the ordinary paths: a dry run speaks in the conditional and exits as the
release would; a failed health check shows its evidence; no ✅ for a step that did not happen; no version claimed
for an app that reports none; an alert's commit is whole or absent.

The real CLI as a process against the same world as ``test_release.py`` (the Railway simulator, the GitHub fake,
health servers that answer for the commit live on the simulator, an alert sink); what it says is compared with
what those hold.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_release_settings import lose_backend_settings
from tests.fakes.cli_fork import run_kars
from tests.fakes.world import OLD, Run, World, process_environment

FOREVER = 10**6


def release(world: World, *args: str, without: tuple[str, ...] = (), **env: str) -> Run:
    return world.release(*args, "--no-color", fmt="text", drop=without, **env)


def no_writes(world: World) -> None:
    assert world.github.writes() == [] and world.sim.mutations == []


# A dry run exits as the release would ----------------------------------------------------------------------------


def drift(world: World) -> None:
    lose_backend_settings(world)


def missing_variable(world: World) -> None:
    world.sim.set_variables(world.ids["backend"], next(iter(world.sim.environments)), {"DATABASE_URL": "x"})


def invalid_railway_json(world: World) -> None:
    (world.repo.path / "backend" / "railway.json").write_text('{"deploy": {"restartPolicyType": "on_failure"}}')


def not_connected(world: World) -> None:
    world.sim.services[world.ids["backend"]].update(repo=None, image="nginx:1.27")


@pytest.mark.parametrize(
    ("refusal", "stage", "code"),
    [
        (drift, "Railway settings", 1),
        (missing_variable, "Preflight (read-only)", 1),
        (invalid_railway_json, "Validate config + health", 1),
        (not_connected, "Preflight (read-only)", 2),
    ],
    ids=["settings drift", "missing variable", "invalid railway.json", "service not connected to a repo"],
)
def test_a_dry_run_exits_with_the_code_the_release_would_and_says_so_on_its_last_line(
    world: World, refusal: Any, stage: str, code: int
) -> None:
    refusal(world)
    dry = release(world, "--dry-run", "--today", "2026-12-01")
    no_writes(world)
    assert dry.code == code, dry.stdout + dry.stderr
    assert dry.last_line == (
        f"Dry run: the release would stop at {stage} and exit {code}; nothing was created or deployed — production"
    )
    assert dry.summary.startswith(f"## ❌ Dry run: the release would stop at {stage} and exit {code}")
    assert dry.outputs["outcome"] == "would-stop" and dry.outputs["production-touched"] == "false"
    assert "Failed before going live" not in dry.stdout + dry.summary  # nothing ran to fail
    real = release(world, "--today", "2026-12-01")
    assert real.code == dry.code, real.stdout
    assert world.deployments_of("backend", world.head) == []


def test_a_dry_run_that_would_go_ahead_speaks_in_the_conditional_and_shows_no_placeholder(
    world: World
) -> None:
    run = release(world, "--dry-run")
    no_writes(world)
    assert run.code == 0, run.stdout
    planned = [line for line in run.stdout.splitlines() if line.startswith("📝 ")]
    assert len(planned) >= 7
    for line in planned:
        assert "would" in line, f"a planned stage that does not speak in the conditional: {line}"
    assert "deployment 0" not in run.stdout + run.summary
    assert not re.search(r"\b(created|reused) draft\b", run.stdout + run.summary)
    tag_line = run.stage_lines["Tag + draft release"]
    planned_tag = f"would create tag v0.1.0 on {world.head[:12]} and a draft release (write permission not checked)"
    assert planned_tag in tag_line
    assert "would open a GitHub deployment of" in run.stage_lines["GitHub deployment"]
    serving = {s: world.sim.deployments_of(world.ids[s], OLD)[0].id for s in ("backend", "frontend")}
    assert f"would record what serves now: backend: {serving['backend']}" in run.stage_lines["Record rollback targets"]
    assert "health checks it would make:" in run.stdout and "### Health checks it would make" in run.summary
    assert run.last_line == (
        "Dry run: nothing in the plan would stop the release; nothing was created or deployed — v0.1.0 to production"
    )


def test_a_dry_run_without_tokens_says_what_it_could_not_read(world: World) -> None:
    run = release(world, "--dry-run", without=("RAILWAY_TOKEN", "GITHUB_TOKEN"))
    assert run.code == 0, run.stdout
    assert run.last_line.startswith(
        "Dry run: nothing in the plan would stop the release as far as it was read (Railway and GitHub not read)"
    )


def test_a_dry_run_of_a_published_commit_says_nothing_would_be_deployed(world: World) -> None:
    assert world.invoke()[0] == 0
    world.repo.git("tag", "v0.1.0")
    writes = len(world.github.writes())
    run = release(world, "--dry-run")
    assert run.code == 0 and len(world.github.writes()) == writes
    assert "Deploy + wait" not in run.stage_lines and "would publish" not in run.stdout
    assert "v0.1.0 is already published: the release would deploy nothing" in run.stage_lines["Publish release"]
    assert run.last_line == "Already released: this commit's release is published — v0.1.0 to production"


def test_a_dry_run_that_would_reuse_a_deployment_links_that_deployment(world: World) -> None:
    world.sim.add_deployment(world.ids["backend"], next(iter(world.sim.environments)), world.head, took=60)
    ours = world.deployments_of("backend", world.head)[0].id
    run = release(world, "--dry-run")
    assert f"would reuse backend's deployment {ours} of this commit" in run.stage_lines["Deploy + wait"]
    row = next(line for line in run.summary.splitlines() if line.startswith("| backend | PLANNED"))
    assert f"[{ours}](" in row and f"&id={ours})" in row


# A failed health check shows its evidence ------------------------------------------------------------------------


def test_a_503_with_a_json_body_is_shown_in_the_console_the_summary_and_the_alert(
    world: World
) -> None:
    world.apps["backend"].bad_commits.add(world.head)
    run = release(world)
    assert run.code == 1
    # What the backend answered while the release's commit was live (the simulator's state says which commit):
    answered = {"status": "degraded", "database": "disconnected", "version": world.head}
    body = json.dumps(answered, separators=(",", ":"))
    evidence = f'status: expected 200, got 503 (status: "degraded", database: "disconnected"); body: {body}'
    assert f"reason: backend: {evidence}" in run.stdout.splitlines()
    assert f"backend: {evidence}" in run.stage_lines["Health (new version)"]
    health_row = next(line for line in run.summary.splitlines() if line.startswith("| backend | http"))
    assert 'status: expected 200, got 503 (status: "degraded", database: "disconnected")' in health_row
    assert f"`{body}`" in health_row
    assert f"**Why:** backend: {evidence}" in run.summary
    [alert] = world.alerts.received
    assert alert["failure"] == f"backend: {evidence}"


# No ✅ for a step that did not happen ---------------------------------------------------------------------------


def test_a_refusal_before_anything_was_written_marks_nothing_failed(world: World) -> None:
    drift(world)
    run = release(world, "--today", "2026-12-01")
    assert run.code == 1
    assert world.github.writes() == []  # nothing on GitHub to mark
    assert "Mark failed" not in run.stdout + run.summary
    assert "GitHub deployment failure" not in run.stdout + run.summary
    assert run.stdout.count("production was not touched — production") == 0
    assert "Failed before going live: production was not touched" in run.stdout.splitlines()


def test_a_refusal_after_the_draft_but_before_the_github_deployment_says_only_what_was_marked(
    world: World
) -> None:
    world.sim.inject("graphql_error", "Deployments", count=FOREVER, message="Problem processing request")
    run = release(world, "--deploy-timeout", "60")
    assert run.code != 0
    assert [d for d in world.github.writes() if d.method == "POST" and d.path.endswith("/deployments")] == []
    draft = world.github.releases_for("v0.1.0")
    assert len(draft) == 1 and draft[0]["draft"] is True and "fail" in (draft[0]["name"] + draft[0]["body"]).lower()
    assert world.github.tag_commit("v0.1.0") is None
    line = run.stage_lines["Mark failed"]
    assert line.startswith("✅ Mark failed")
    assert "release v0.1.0 left as a draft marked failed; tag v0.1.0 removed" in line
    assert "GitHub deployment" not in line


# Healthy says what was proven ------------------------------------------------------------------------------------


def test_an_app_that_reports_no_version_is_not_said_to_be_healthy_at_the_version(world: World) -> None:
    for app in world.apps.values():
        app.report_version = False
    run = release(world)
    assert run.code == 0, run.stdout
    assert "healthy at v0.1.0" not in run.stdout + run.summary
    assert "Healthy — version" not in run.summary
    line = run.stage_lines["Health (new version)"]
    assert "2 target(s) healthy; version not reported: backend, frontend (checked: status 200" in line
    assert "### Health: ✅ Healthy" in run.summary
    rows = [line for line in run.summary.splitlines() if line.startswith(("| backend | http", "| frontend | http"))]
    assert len(rows) == 2 and all("| not reported |" in row for row in rows)
    assert all('json status = "ok"' in row for row in rows)  # the checks made are listed
    assert "health checks made:" in run.stdout


def test_an_app_that_reports_the_commit_is_healthy_at_the_version(world: World) -> None:
    run = release(world)
    assert run.code == 0, run.stdout
    assert "2 target(s) healthy at v0.1.0" in run.stage_lines["Health (new version)"]
    rows = [line for line in run.summary.splitlines() if line.startswith(("| backend | http", "| frontend | http"))]
    assert all(f"| {world.head[:12]} |" in row for row in rows)


# An alert's commit is whole or absent ---------------------------------------------------------------------------


def test_an_alert_sent_before_the_commit_is_known_has_no_commit(world: World) -> None:
    missing_variable(world)
    run = release(world)
    assert run.code == 1
    [alert] = world.alerts.received
    assert alert["commit"] is None and alert["summary"] == "the release did not go live: production was not touched."


def test_the_notify_command_sends_the_whole_commit_or_none(world: World, tmp_path: Path) -> None:
    env = process_environment()
    args = ["notify", "--event", "failure", "--webhook-url", world.alerts.url]

    def notify(cwd: Path, *extra: str) -> subprocess.CompletedProcess[str]:
        return run_kars([*args, *extra], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)

    assert notify(world.repo.path).returncode == 0
    assert world.alerts.received[-1]["commit"] == {
        "sha": world.head,
        "short_sha": world.head[:7],
        "subject": "feat: first release of the app",
    }
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    assert notify(outside).returncode == 0
    assert world.alerts.received[-1]["commit"] is None
    refused = notify(outside, "--commit-subject", "fix: a subject without its commit")
    assert refused.returncode == 2 and "--commit-subject" in refused.stderr
    assert len(world.alerts.received) == 2
