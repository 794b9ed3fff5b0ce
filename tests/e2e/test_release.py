"""The whole release, end to end: the real CLI against the Railway simulator, the GitHub fake and real health
servers on 127.0.0.1 (the example app's Node backend among them) — the world of ``tests/fakes/world.py``.

The Railway client runs on a virtual clock (``KARS_TEST_VIRTUAL_CLOCK=1``) and the simulator moves its clock 5 s per
request, so multi-minute deploys play out in milliseconds. Health servers read the simulator's state: they answer
with the commit of the deployment that is live right now, exactly as a real app reports its version.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from tests.fakes.github_fake import GitHubFake
from tests.fakes.health_servers import free_port
from tests.fakes.railway_sim import Script
from tests.fakes.world import OLD, RAILWAY_JSON, World, stage_status

REPO = Path(__file__).resolve().parents[2]


def test_happy_path_two_services_deploys_verifies_and_publishes(world: World) -> None:
    code, report, err = world.invoke()
    assert code == 0, err
    assert report["outcome"] == "released"
    assert report["outputs"]["tag"] == "v0.1.0" and report["outputs"]["healthy"] == "true"
    assert all(status == "ok" for status in stage_status(report).values()), report["stages"]
    for service in ("backend", "frontend"):
        assert len(world.deployments_of(service, world.head)) == 1
    releases = world.github.releases_for("v0.1.0")
    assert len(releases) == 1 and releases[0]["draft"] is False
    assert world.github.tag_commit("v0.1.0") == world.head
    assert world.github_state() == "success"
    assert world.alerts.received == []  # success alerts only on request; this is no recovery
    assert "very-secret" not in json.dumps(report) + err


def test_health_failure_after_going_live_rolls_back_and_marks_the_release_failed(world: World) -> None:
    world.apps["backend"].bad_commits.add(world.head)
    code, report, _err = world.invoke()
    assert code == 1
    assert report["outcome"] == "rolled-back" and report["production_touched"] is True
    status = stage_status(report)
    assert status["health"] == "failed" and status["rollback"] == "ok" and status["restored-health"] == "ok"
    assert "backend: status: expected 200, got 503" in report["failure"]
    assert report["outputs"]["rolled-back"] == "true"
    # both services had gone live, so both are back on the old commit, which answers healthy
    for app in world.apps.values():
        assert app.live_commit() == OLD
    release = world.github.releases_for("v0.1.0")[0]
    assert release["draft"] is True and "fail" in (release["name"] + release["body"]).lower()
    assert world.github_state() == "failure"
    assert [a.get("event") for a in world.alerts.received] == ["rollback"]


def test_build_failed_means_no_rollback_and_production_untouched(world: World) -> None:
    world.sim.script_for(world.ids["backend"], Script.build_failure())
    code, report, _ = world.invoke("--service", "backend")
    assert code == 1
    assert report["outcome"] == "failed-before-live" and report["production_touched"] is False
    assert "rollback" not in stage_status(report)
    assert world.sim.count("deploymentRollback") == 0
    assert world.apps["backend"].live_commit() == OLD
    assert world.github_state() == "failure"
    assert [a.get("event") for a in world.alerts.received] == ["failure"]


def test_rerun_after_a_failed_build_resumes_without_duplicates(world: World) -> None:
    world.sim.script_for(world.ids["backend"], Script.build_failure())
    assert world.invoke()[0] == 1
    world.repo.git("tag", "v0.1.0")  # a rerun's checkout (fetch-depth: 0) brings the tag the first run pushed
    world.sim.script_for(world.ids["backend"], Script.success())
    code, report, err = world.invoke()
    assert code == 0, err
    assert report["version"]["existing_tag"] is True
    assert len(world.github.releases_for("v0.1.0")) == 1
    creations = [r for r in world.github.writes() if r.method == "POST" and r.path.endswith("/deployments")]
    assert len(creations) == 1  # the GitHub deployment of this commit was reused
    # first run: backend FAILED; frontend went live and was rolled back. The rerun deploys each once more.
    assert [d.status(world.sim.clock.monotonic())[0] for d in world.deployments_of("backend", world.head)] == [
        "FAILED",
        "SUCCESS",
    ]
    assert len(world.deployments_of("frontend", world.head)) == 2
    assert [a.get("event") for a in world.alerts.received][-1] == "recovery"


def test_rerun_after_a_rollback_resumes_with_the_same_tag_and_release(world: World) -> None:
    world.apps["backend"].bad_commits.add(world.head)
    assert world.invoke()[0] == 1
    world.apps["backend"].bad_commits.clear()
    code, report, err = world.invoke()
    assert code == 0, err
    assert report["outputs"]["tag"] == "v0.1.0"
    releases = world.github.releases_for("v0.1.0")
    assert len(releases) == 1 and releases[0]["draft"] is False
    tag_refs = [r for r in world.github.writes() if r.method == "POST" and r.path.endswith("/git/refs")]
    assert len(tag_refs) == 1


def test_rerun_after_success_does_nothing(world: World) -> None:
    assert world.invoke()[0] == 0
    writes_before = len(world.github.writes())
    mutations_before = len(world.sim.mutations)
    code, report, _ = world.invoke()
    assert code == 0 and report["outcome"] == "already-released"
    assert len(world.github.writes()) == writes_before and len(world.sim.mutations) == mutations_before


def test_dry_run_makes_zero_write_requests_to_either_fake(world: World) -> None:
    code, report, err = world.invoke("--dry-run")
    assert code == 0, err
    assert report["outcome"] == "planned"
    assert world.github.writes() == []
    assert world.sim.mutations == []
    assert world.sim.count("variables") >= 1  # it did resolve read-only with the tokens it had
    assert report["rollback_targets"]["backend"]


def test_a_failed_alert_does_not_change_the_release_result(world: World) -> None:
    world.alerts.fail = True
    world.apps["backend"].bad_commits.add(world.head)
    code, report, _ = world.invoke()
    assert code == 1 and report["outcome"] == "rolled-back"
    assert world.alerts.received  # it tried
    assert stage_status(report)["alert"] == "warning"


def test_a_failed_success_alert_leaves_a_successful_release_green(world: World) -> None:
    world.alerts.fail = True
    code, report, _ = world.invoke("--alert-on-success")
    assert code == 0 and report["outcome"] == "released"
    assert stage_status(report)["alert"] == "warning"


def test_missing_required_variable_stops_before_any_deploy(world: World) -> None:
    world.sim.set_variables(world.ids["backend"], next(iter(world.sim.environments)), {"DATABASE_URL": "x"})
    code, report, _ = world.invoke()
    assert code == 1
    assert "JWT_SECRET" in report["error"] and report["production_touched"] is False
    assert world.sim.count("serviceInstanceDeployV2") == 0


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_release_against_the_example_apps_real_node_backend(world: World) -> None:
    database = socket.socket()
    database.bind(("127.0.0.1", 0))
    database.listen()
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "RAILWAY_GIT_COMMIT_SHA": world.head,
        "DATABASE_URL": f"postgres://app:pw@127.0.0.1:{database.getsockname()[1]}/app",
    }
    node = subprocess.Popen(
        ["node", str(REPO / "examples/kars-app/backend/server.js")], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert node.stdout is not None and "listening" in node.stdout.readline()
        code, report, err = world.invoke("--service", "backend", f"--service-url=backend=http://127.0.0.1:{port}")
        assert code == 0, err
        target = report["health"]["targets"][0]
        assert target["healthy"] is True and report["outputs"]["tag"] == "v0.1.0"
    finally:
        node.terminate()
        node.wait(timeout=10)
        if node.stdout is not None:
            node.stdout.close()
        database.close()


def test_release_as_a_real_process_prints_github_annotations_and_outputs(world: World) -> None:
    world.apps["backend"].bad_commits.add(world.head)
    run = world.release(fmt=None, GITHUB_ACTIONS="true")
    assert run.code == 1, run.stdout + run.stderr
    assert run.stdout.startswith("::add-mask::")
    assert "Traceback" not in run.stdout + run.stderr
    assert re.search(r"^::error title=.*rolled back", run.stdout, re.M)
    text = run.summary
    assert "```mermaid" in text and "### Rollback" in text
    assert "rolled-back<<ghadelimiter_" in world.outputs_file.read_text()
    shown = [line for line in run.stdout.splitlines() if not line.startswith("::add-mask::")]
    assert world.token not in "\n".join(shown) + run.stderr + text


def test_publish_refused_after_a_healthy_deploy_keeps_production_and_says_rerun(world: World) -> None:
    def revoke(fake: GitHubFake) -> None:
        fake.permissions["contents"] = False

    world.github.on("PATCH", r"/releases/\d+$", revoke)
    code, report, _ = world.invoke()
    assert code == 3
    assert report["outcome"] == "github-incomplete" and report["production_touched"] is True
    assert "contents: write" in report["error"]
    assert world.sim.count("deploymentRollback") == 0
    assert all(app.live_commit() == world.head for app in world.apps.values())
    world.github.permissions["contents"] = True
    code, report, _ = world.invoke()
    assert code == 0 and report["outcome"] == "released"
    assert len(world.github.releases_for("v0.1.0")) == 1


def test_extra_health_urls_are_checked_besides_each_service(world: World) -> None:
    extra = world.apps["backend"].url + "/ready"
    code, report, err = world.invoke("--health-url", extra)
    assert code == 0, err
    checked = {t["url"] for t in report["health"]["targets"]}
    assert extra in checked and len(checked) == 3


def test_an_invalid_railway_config_in_a_service_folder_stops_the_release_before_any_write(world: World) -> None:
    kars = (world.repo.path / "kars.yml").read_text().splitlines()
    (world.repo.path / "kars.yml").write_text("\n".join(line for line in kars if "railway_config" not in line))
    broken = {**RAILWAY_JSON, "deploy": {**RAILWAY_JSON["deploy"], "restartPolicyType": "on_failure"}}
    (world.repo.path / "backend" / "railway.json").write_text(json.dumps(broken, indent=2))
    world.repo.commit("fix: restart on failure")
    code, report, _ = world.invoke()
    assert code == 1
    assert stage_status(report)["validate"] == "failed" and report["production_touched"] is False
    assert world.github.writes() == [] and world.sim.mutations == []
