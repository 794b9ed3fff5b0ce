"""``kars-actions rollback`` knows its history: Railway's own record of each rollback (a deployment of an older
image, with its commit) tells which deployments were rolled away from, so a second rollback never puts the bad
version back; every line names the commits and versions; a target still REMOVING is waited out. The CLI as a real
process, in a git checkout whose tags name the versions, against the simulator on the CLI's virtual clock.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.railway.conftest import World, build_world
from tests.railway.test_truth import FOREVER, Run, cli
from tests.versioning.gitrepo import GitRepo


@dataclass
class Shop:
    """A service with three releases in a checkout: v1.0.0 (replaced long ago), v1.1.0 (serving), v1.2.0 (new)."""

    world: World
    repo: GitRepo
    service: str
    v100: str
    v110: str
    v120: str
    first: str  # the deployment of v1.0.0
    serving: str  # the deployment of v1.1.0

    def run(self, tmp_path: Path, *args: str) -> Run:
        return cli(self.world, tmp_path, *args, cwd=self.repo.path)

    def live_commit(self) -> str | None:
        sim = self.world.sim
        now = sim.clock.monotonic()
        with sim.lock:
            live = [d for d in sim.deployments_of(self.service) if d.status(now)[0] in ("SUCCESS", "SLEEPING")]
        return max(live, key=lambda d: d.created).commit if live else None

    def deployments(self, commit: str) -> list[str]:
        return [d.id for d in self.world.sim.deployments_of(self.service, commit)]


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Shop]:
    world = build_world(follow_client_clock=True)
    repo = GitRepo(tmp_path / "checkout")
    versions = []
    for tag in ("v1.0.0", "v1.1.0", "v1.2.0"):
        versions.append(repo.commit(f"feat: {tag}"))
        repo.tag(tag)
    sim = world.sim
    service = sim.add_service(world.project, "shop", domain="shop-production.up.railway.app")
    first = sim.add_deployment(service, world.env, versions[0], age=7200)
    serving = sim.add_deployment(service, world.env, versions[1], age=3600)
    world.sim.start()
    try:
        yield Shop(world, repo, service, *versions, first=first, serving=serving)
    finally:
        world.close()


def release_bad_version(shop: Shop, tmp_path: Path) -> str:
    run = shop.run(tmp_path, "deploy", "--service", "shop", "--commit", shop.v120, "--settle", "0")
    assert run.code == 0, run.stderr
    return str(run.report["services"][0]["deployment_id"])


def test_a_rollback_right_after_a_deploy_waits_until_railway_allows_it_and_names_the_version(
    shop: Shop, tmp_path: Path
) -> None:
    bad = release_bad_version(shop, tmp_path)
    assert shop.world.sim.status_of(shop.serving) == "REMOVING"  # Railway is still removing it: canRollback false

    run = shop.run(tmp_path, "rollback", "--service", "shop")

    assert run.code == 0, run.stderr
    assert "is still REMOVING" in run.stderr and "waiting" in run.stderr
    assert shop.live_commit() == shop.v110
    report = run.report
    assert report["target_deployment_id"] == shop.serving and report["from_deployment_id"] == bad
    assert (report["target_commit"], report["target_version"]) == (shop.v110, "v1.1.0")
    assert (report["from_commit"], report["from_version"]) == (shop.v120, "v1.2.0")
    assert f"from deployment {bad} (commit {shop.v120[:7]}, v1.2.0)" in report["message"]
    assert f"to deployment {shop.serving} (commit {shop.v110[:7]}, v1.1.0)" in report["message"]
    assert run.outputs["rolled-back"] == "true"
    assert (run.outputs["target-commit"], run.outputs["target-version"]) == (shop.v110, "v1.1.0")
    restored = report["restored_deployment_id"]
    assert shop.world.sim.status_of(restored) == "SUCCESS"
    assert json.loads(run.outputs["serving"]) == {"shop": f"{restored} (commit {shop.v110[:7]}, v1.1.0)"}
    assert f"{shop.serving} (commit {shop.v110[:7]}, v1.1.0)" in run.summary


def test_rolling_back_twice_never_puts_the_version_rolled_away_from_back(shop: Shop, tmp_path: Path) -> None:
    bad = release_bad_version(shop, tmp_path)
    assert shop.run(tmp_path, "rollback", "--service", "shop").code == 0
    assert shop.live_commit() == shop.v110

    again = shop.run(tmp_path, "rollback", "--service", "shop")

    assert again.code == 0, again.stderr
    assert shop.live_commit() == shop.v100, "one more version back — never v1.2.0 again"
    assert all(shop.world.sim.status_of(d) != "SUCCESS" for d in shop.deployments(shop.v120))
    report = again.report
    assert report["target_deployment_id"] == shop.first and report["target_version"] == "v1.0.0"
    rolled_away, same_commit = report["passed_over"]
    assert rolled_away.startswith(f"deployment {bad} (commit {shop.v120[:7]}, v1.2.0): rolled away from")
    assert same_commit.startswith(f"deployment {shop.serving} (commit {shop.v110[:7]}, v1.1.0): the same commit")
    assert "passing over deployment " + bad in again.stderr
    assert "rolled away from" in again.summary and "v1.2.0" in again.summary
    assert again.outputs["target-version"] == "v1.0.0"


def test_restoring_a_version_that_failed_its_release_takes_an_explicit_flag_and_says_so(
    shop: Shop, tmp_path: Path
) -> None:
    bad = release_bad_version(shop, tmp_path)
    assert shop.run(tmp_path, "rollback", "--service", "shop").code == 0
    rollbacks = shop.world.sim.count("deploymentRollback")

    refused = shop.run(tmp_path, "rollback", "--service", "shop", "--to", bad)

    assert refused.code == 1
    error = refused.report["error"]
    assert error["message"].startswith(f"shop: deployment {bad} (commit {shop.v120[:7]}, v1.2.0) was rolled away from")
    assert "a version that failed its release" in error["message"] and "--allow-failed-version" in error["hint"]
    assert shop.world.sim.count("deploymentRollback") == rollbacks and shop.live_commit() == shop.v110
    assert refused.outputs["rolled-back"] == "false" and json.loads(refused.outputs["serving"]) == {"shop": "unchanged"}
    assert "Nothing was rolled back" in refused.summary

    forced = shop.run(tmp_path, "rollback", "--service", "shop", "--to", bad, "--allow-failed-version")

    assert forced.code == 0, forced.stderr
    assert shop.live_commit() == shop.v120
    assert forced.report["failed_version"] is True
    assert "a version that failed its release, restored as asked (--allow-failed-version)" in forced.report["message"]


def test_a_target_railway_still_refuses_at_the_deadline_is_a_rollback_that_did_not_complete(
    shop: Shop, tmp_path: Path
) -> None:
    shop.world.sim.removing_seconds = FOREVER
    bad = release_bad_version(shop, tmp_path)

    run = shop.run(tmp_path, "rollback", "--service", "shop", "--timeout", "60")

    assert run.code == 1
    assert run.report["status"] == "TIMED_OUT" and run.report["rolled_back"] is False
    assert run.report["message"].startswith("the rollback did not complete: Railway still refused to roll back to")
    assert f"deployment {bad} (commit {shop.v120[:7]}, v1.2.0) still serves" in run.report["message"]
    assert shop.live_commit() == shop.v120 and shop.world.sim.count("deploymentRollback") == 0
    assert run.outputs["rolled-back"] == "false"
    assert json.loads(run.outputs["serving"]) == {"shop": f"{bad} (commit {shop.v120[:7]}, v1.2.0)"}
    assert json.loads(run.outputs["statuses"]) == {"shop": "TIMED_OUT"}
    assert "the rollback did not complete" in run.summary


def test_a_dry_run_says_it_would_wait_for_a_removing_target(shop: Shop, tmp_path: Path) -> None:
    release_bad_version(shop, tmp_path)
    mutations = len(shop.world.sim.mutations)
    run = shop.run(tmp_path, "rollback", "--service", "shop", "--dry-run")
    assert run.code == 0, run.stderr
    assert run.report["status"] == "PLANNED"
    assert run.report["message"].startswith(f"would wait until deployment {shop.serving} (commit {shop.v110[:7]}")
    assert len(shop.world.sim.mutations) == mutations
