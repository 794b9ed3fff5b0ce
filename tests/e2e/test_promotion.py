"""The promotion gate, end to end: production gets only a commit (or a git tree) that kars-actions proved live and
healthy in staging — checked in preflight, before anything is written, and recorded when it passes.

Same world as ``test_release.py`` (the real CLI, the Railway simulator, the GitHub fake, health servers), with a
staging environment beside production.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.world import OLD, World, stage_status

STAGING_FIRST = """\
environments:
  production: {branch: main, requires: staging}
  staging: {prerelease: rc}
"""


@pytest.fixture
def gated(world: World) -> World:
    """kars.yml says production requires staging; Railway has a staging environment with its own token."""
    text = (world.repo.path / "kars.yml").read_text()
    gate = text.replace("environments:\n  production: {branch: main}\n", STAGING_FIRST)
    assert gate != text
    (world.repo.path / "kars.yml").write_text(gate)
    project = next(iter(world.sim.projects))
    staging = world.sim.add_environment(project, "staging")
    production = next(iter(world.sim.environments))
    for service_id in world.ids.values():
        world.sim.add_deployment(service_id, staging, OLD, took=120)
        world.sim.set_settings(service_id, staging, world.sim.settings_of(service_id, production))
    world.sim.set_variables(
        world.ids["backend"], staging, {"DATABASE_URL": "postgres://u:pw-very-secret@db/stg", "JWT_SECRET": "x"}
    )
    world.extra_env["STAGING_TOKEN"] = world.sim.add_project_token(project, staging)
    return world


def kars_payload(version: str, sha: str) -> dict[str, Any]:
    return {"kars": {"made_by": "kars-actions", "version": version, "commit": sha, "rollback_targets": {}}}


def release_production(world: World, *extra: str, summary: Path | None = None) -> tuple[int, dict[str, Any], str]:
    env = {"GITHUB_STEP_SUMMARY": str(summary)} if summary else {}
    return world.invoke("--environment", "production", *extra, **env)


def test_the_same_commit_proven_in_staging_goes_to_production_and_the_proof_is_recorded(
    gated: World, tmp_path: Path
) -> None:
    world = gated
    code, report, err = world.invoke("--environment", "staging", RAILWAY_TOKEN=world.extra_env["STAGING_TOKEN"])
    assert code == 0, err
    (staging,) = world.github.deployments_of("staging", world.head)
    assert staging["payload"]["kars"]["made_by"] == "kars-actions"
    assert staging["payload"]["kars"]["version"] == report["outputs"]["tag"] == "v0.1.0-rc.1"
    summary = tmp_path / "summary.md"
    summary.write_text("")
    code, report, err = release_production(world, summary=summary)
    assert code == 0, err
    assert report["promotion"]["proof"]["deployment_id"] == staging["id"]
    assert report["promotion"]["proof"]["same"] == "commit"
    (production,) = world.github.deployments_of("production", world.head)
    proof = production["payload"]["kars"]["promotion"]
    assert proof == {
        "environment": "staging",
        "deployment_id": staging["id"],
        "version": "v0.1.0-rc.1",
        "commit": world.head,
        "same": "commit",
    }
    text = summary.read_text()
    assert f"staging proved it: deployment {staging['id']} of v0.1.0-rc.1" in text
    assert f"staging deployment {staging['id']} proved v0.1.0-rc.1" in stage_detail(report, "preflight")


def stage_detail(report: dict[str, Any], key: str) -> str:
    return next(s["detail"] for s in report["stages"] if s["stage"] == key)


def test_a_merge_commit_with_the_same_tree_counts(gated: World) -> None:
    world = gated
    verified = "f" * 40  # the head of the verified branch, released to staging before the merge
    world.github.add_deployment("staging", verified, payload=kars_payload("v0.1.0-rc.3", verified))
    world.github.set_tree(verified, "7" * 40)
    world.github.set_tree(world.head, "7" * 40)  # the merge records the same files
    code, report, err = release_production(world)
    assert code == 0, err
    proof = report["promotion"]["proof"]
    assert proof["same"] == "tree" and proof["commit"] == verified
    (production,) = world.github.deployments_of("production", world.head)
    assert production["payload"]["kars"]["promotion"]["commit"] == verified
    assert "the same tree" in stage_detail(report, "preflight")


def test_a_different_tree_is_refused_before_any_write_with_what_staging_proved(gated: World, tmp_path: Path) -> None:
    world = gated
    other = "e" * 40
    world.github.add_deployment("staging", other, payload=kars_payload("v0.0.9-rc.2", other))
    world.github.set_tree(other, "1" * 40)
    world.github.set_tree(world.head, "2" * 40)
    summary = tmp_path / "summary.md"
    summary.write_text("")
    code, report, _ = release_production(world, summary=summary)
    assert code == 1
    assert world.github.writes() == [] and world.github.write_attempts() == []
    assert world.sim.mutations == []
    assert report["outcome"] == "failed-before-live" and stage_status(report)["preflight"] == "failed"
    assert "staging never proved it" in report["error"]
    assert f"v0.0.9-rc.2 at {other[:12]}" in report["error"]
    assert f"kars-actions release --environment staging --commit {world.head}" in report["hint"]
    assert report["promotion"]["proven"] is False
    assert "v0.0.9-rc.2" in summary.read_text()
    # the dry run says the same, with the same exit code
    code, report, _ = release_production(world, "--dry-run")
    assert code == 1 and "staging never proved it" in report["error"]


def test_a_commit_staging_proved_still_counts_after_a_newer_staging_release_replaced_it(gated: World) -> None:
    """GitHub marks the replaced staging deployment inactive; its verdict (success) still proves the commit."""
    world = gated
    code, _, err = world.invoke("--environment", "staging", RAILWAY_TOKEN=world.extra_env["STAGING_TOKEN"])
    assert code == 0, err
    (proved,) = world.github.deployments_of("staging", world.head)
    newer = "d" * 40
    world.github.add_deployment("staging", newer, state=None, payload=kars_payload("v0.2.0-rc.1", newer))
    world.github.add_status(world.github.deployments_of("staging", newer)[0]["id"], "success")
    assert world.github.state_of(proved["id"]) == "inactive"  # GitHub's auto_inactive replaced it
    code, report, err = release_production(world)
    assert code == 0, err
    assert report["promotion"]["proof"]["deployment_id"] == proved["id"]
    assert report["promotion"]["proof"]["superseded"] is True


def test_a_staging_deployment_marked_failed_after_its_success_proves_nothing(gated: World) -> None:
    """The long watch marks a deployment failed after the fact: its last verdict is failure, whatever came before."""
    world = gated
    watched = world.github.add_deployment("staging", world.head, payload=kars_payload("v0.1.0-rc.1", world.head))
    world.github.add_status(watched["id"], "failure")
    code, report, _ = release_production(world)
    assert code == 1
    assert f"deployment {watched['id']} (failure)" in report["error"]
    assert world.github.writes() == [] and world.sim.mutations == []


def test_a_staging_deployment_that_failed_proves_nothing(gated: World) -> None:
    world = gated
    failed = world.github.add_deployment(
        "staging", world.head, state="failure", payload=kars_payload("v0.1.0-rc.1", world.head)
    )
    code, report, _ = release_production(world)
    assert code == 1
    assert f"deployment {failed['id']} (failure)" in report["error"]
    assert "staging has proved nothing yet" in report["error"]
    assert world.github.writes() == [] and world.sim.mutations == []


def test_a_success_not_made_by_kars_proves_nothing(gated: World) -> None:
    world = gated
    world.github.add_deployment("staging", world.head, payload={"deployed_by": "someone else"})
    code, report, _ = release_production(world)
    assert code == 1 and "staging never proved it" in report["error"]


def test_the_requires_flag_turns_the_gate_on_without_kars_yml(world: World) -> None:
    code, report, _ = world.invoke("--requires", "staging")
    assert code == 1 and "staging never proved it" in report["error"]
    assert json.dumps(report["promotion"]["last_proven"]) == "[]"
