"""The GitHub side of a release never misreports it: every success step is finished by a rerun, concurrent runs
end with one deployment, Latest and the major tag follow semver, and a read-only token is told what to grant.

Each test runs the real CLI as a process against the Railway simulator, the GitHub fake and live health servers.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from tests.fakes.actions_files import read_outputs
from tests.fakes.github_fake import GitHubFake
from tests.fakes.world import OLD, World, process_environment

MARK_SUCCESS = "mark the GitHub deployment successful"
PUBLISH = "publish the release"
OLDER_INACTIVE = "mark older deployments inactive"
MOVE_V1 = "move v1"


def run(world: World, *args: str, **env: str) -> tuple[int, dict[str, Any], str]:
    said = world.cli(*args, **env)
    return said.code, said.report, said.stderr


def release(world: World, *extra: str) -> tuple[int, dict[str, Any], str]:
    return run(world, "release", *world.args(*extra))


def state(fake: GitHubFake, deployment_id: int) -> tuple[str | None, str]:
    statuses = fake.statuses[deployment_id]
    return (statuses[-1]["state"], statuses[-1]["environment_url"]) if statuses else (None, "")


def head_deployment(world: World) -> dict[str, Any]:
    [deployment] = world.github.deployments_of("production", world.head)
    return deployment


FAILURES = {
    MARK_SUCCESS: ("POST", r"/deployments/\d+/statuses$", lambda body: body.get("state") == "success"),
    PUBLISH: ("PATCH", r"/releases/\d+$", lambda body: body.get("draft") is False),
    OLDER_INACTIVE: ("POST", r"/deployments/\d+/statuses$", lambda body: body.get("state") == "inactive"),
    MOVE_V1: ("POST", r"/git/refs$", lambda body: body.get("ref") == "refs/tags/v1"),
}
# What each failure leaves undone: the step itself, and the step that needs it.
LEFT_UNDONE = {
    MARK_SUCCESS: [MARK_SUCCESS, OLDER_INACTIVE],
    PUBLISH: [PUBLISH, MOVE_V1],
    OLDER_INACTIVE: [OLDER_INACTIVE],
    MOVE_V1: [MOVE_V1],
}


@pytest.mark.subprocess
@pytest.mark.parametrize("step", list(FAILURES))
def test_a_rerun_finishes_every_success_step_an_earlier_run_left_undone(world: World, step: str) -> None:
    older = world.github.add_deployment("production", OLD, state="success")
    method, path, when = FAILURES[step]
    world.github.fail(method, path, status=502, message="Server Error", when=when)

    code, report, err = release(world, "--version", "1.0.0")
    assert code == 3, err
    assert report["outcome"] == "github-incomplete" and report["production_touched"] is True
    assert report["unfinished"] == LEFT_UNDONE[step]
    assert report["headline"].startswith(
        f"Live and healthy, but not finished on GitHub: {', '.join(LEFT_UNDONE[step])} did not complete"
    )
    assert "rerun" in report["headline"]
    assert report["outputs"]["outcome"] == "github-incomplete" and report["outputs"]["released"] == "false"
    assert world.sim.count("deploymentRollback") == 0
    deploys = world.sim.count("serviceInstanceDeployV2")

    code, report, err = release(world, "--version", "1.0.0")
    assert code == 0, err
    assert report["outcome"] == "released" and report["unfinished"] == []
    assert world.sim.count("serviceInstanceDeployV2") == deploys  # nothing deployed again
    deployment = head_deployment(world)
    assert state(world.github, deployment["id"])[0] == "success"
    assert state(world.github, deployment["id"])[1].startswith("http://127.0.0.1:")
    assert state(world.github, older["id"])[0] == "inactive"
    [published] = world.github.releases_for("v1.0.0")
    assert published["draft"] is False and published["latest"] is True
    assert world.github.tag_commit("v1") == world.head

    writes = len(world.github.writes())
    code, report, err = release(world, "--version", "1.0.0")
    assert code == 0 and report["outcome"] == "already-released", err
    assert len(world.github.writes()) == writes


@pytest.mark.subprocess
def test_two_pipelines_at_once_end_with_one_github_deployment(world: World) -> None:
    # Both runs list the commit's deployments, find none, and only then create theirs: forced interleaving.
    world.github.gate("POST", r"/deployments$", parties=2, when=lambda body: body.get("environment") == "production")
    args = [sys.executable, "-m", "kars_actions", "release", *world.args("--format", "json")]
    env = process_environment(**world.env())
    first = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    second = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    outs = [proc.communicate(timeout=240) for proc in (first, second)]
    reports = [json.loads(out) for out, _ in outs]
    deployments = sorted(world.github.deployments_of("production", world.head), key=lambda d: d["id"])
    assert len(deployments) == 2, "the gate forced both runs to create one"
    kept, duplicate = deployments
    # Both runs settled on the oldest: the duplicate only ever got its inactive note, the kept one both runs' news.
    assert {s["state"] for s in world.github.statuses[duplicate["id"]]} == {"inactive"}
    note = world.github.statuses[duplicate["id"]][-1]["description"]
    assert f"duplicate of deployment {kept['id']}" in note
    assert [s["state"] for s in world.github.statuses[kept["id"]]].count("in_progress") == 2, reports
    assert len(world.github.releases_for("v0.1.0")) == 1
    assert world.github.tag_commit("v0.1.0") == world.head


def seed_line(world: World) -> tuple[str, str]:
    """v1.3.0 published and Latest with v1 on it; a hotfix commit tagged v1.2.1 with a draft release."""
    newer = world.head
    hotfix = world.repo.commit("fix: hotfix on the 1.2 line")
    world.github.add_commit(hotfix)
    world.github.add_tag("v1.3.0", newer)
    world.github.add_release("v1.3.0", draft=False)
    world.github.add_tag("v1", newer, annotated=False)
    world.github.add_tag("v1.2.1", hotfix)
    world.github.add_release("v1.2.1", draft=True)
    return newer, hotfix


@pytest.mark.subprocess
def test_a_hotfix_on_an_older_line_is_published_without_taking_latest_or_v1(world: World) -> None:
    newer, _ = seed_line(world)
    code, report, err = run(world, "release-status", "--success", "--tag", "v1.2.1")
    assert code == 0, err
    written = read_outputs(world.outputs_file)
    assert written["published"] == "true" and written["latest"] == "false" and written["major-tag"] == ""
    [hotfix] = world.github.releases_for("v1.2.1")
    assert hotfix["draft"] is False and hotfix["latest"] is False and hotfix["make_latest"] == "false"
    assert world.github.latest_release()["tag_name"] == "v1.3.0"  # type: ignore[index]
    assert world.github.tag_commit("v1") == newer
    assert report["published"]["latest"] is False and "v1.3.0 is higher" in report["published"]["latest_reason"]


@pytest.mark.subprocess
def test_a_patch_on_the_newest_line_becomes_latest_and_moves_v1(world: World) -> None:
    seed_line(world)
    patch = world.repo.commit("fix: patch on the 1.3 line")
    world.github.add_commit(patch)
    world.github.add_tag("v1.3.1", patch)
    world.github.add_release("v1.3.1", draft=True)
    code, _, err = run(world, "release-status", "--success", "--tag", "v1.3.1")
    assert code == 0, err
    assert world.github.latest_release()["tag_name"] == "v1.3.1"  # type: ignore[index]
    assert world.github.tag_commit("v1") == patch


@pytest.mark.subprocess
def test_release_status_with_a_read_only_token_says_to_grant_contents_write(world: World) -> None:
    world.github.add_tag("v0.1.0", world.head)
    world.github.add_release("v0.1.0", draft=True)
    world.github.permissions["contents"] = False  # contents: read — drafts are not listed to this token
    code, report, err = run(world, "release-status", "--success", "--tag", "v0.1.0")
    assert code == 3, report
    assert "contents: write" in json.dumps(report) + err
    assert "run `kars-actions tag` first" not in json.dumps(report) + err


@pytest.mark.subprocess
def test_in_actions_the_annotation_summary_and_outputs_name_the_unfinished_steps(world: World) -> None:
    method, path, when = FAILURES[PUBLISH]
    world.github.fail(method, path, status=502, message="Server Error", when=when)
    run = world.release("--version", "1.0.0", fmt=None, GITHUB_ACTIONS="true")
    assert run.code == 3, run.stdout + run.stderr
    unfinished = f"{PUBLISH}, {MOVE_V1} did not complete"
    assert any(line.startswith("::error") and unfinished in line for line in run.stdout.splitlines()), run.stdout
    assert unfinished in run.summary
    assert "github-incomplete" in world.outputs_file.read_text()
