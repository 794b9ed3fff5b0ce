"""A new team's first releases, through the real CLI against the Railway simulator and the GitHub fake: services
named without kars.yml, every read-only check before the first write, no tag left by a release that never went
live, and the version rule for an app that reports no version."""

from __future__ import annotations

import json
from typing import Any

from tests.fakes.railway_sim import Script
from tests.fakes.world import OLD, RAILWAY_JSON, World, stage_status


def drop_kars_yml(world: World) -> None:
    (world.repo.path / "kars.yml").unlink()
    world.head = world.repo.commit("feat: no kars.yml, inputs only")
    world.github.add_commit(world.head)


def release_without_config(world: World, *extra: str, **env: str) -> tuple[int, dict[str, Any], str]:
    """The real command as the action runs it for a team without kars.yml: services and URLs as inputs."""
    run = world.cli("release", "--health-deadline", "20", *world.service_urls(), *extra, **env)
    return run.code, run.report, run.stderr


def test_services_named_without_kars_yml_are_validated_deployed_and_health_checked(world: World) -> None:
    drop_kars_yml(world)
    code, report, err = release_without_config(world, "--service", "backend", "--service", "frontend")
    assert code == 0, err
    assert report["outcome"] == "released"
    status = stage_status(report)
    assert status["preflight"] == "ok" and status["validate"] == "ok" and status["health"] == "ok"
    assert report["validation"]["files"] and len(report["validation"]["files"]) == 2
    checked = sorted(t["url"] for t in report["health"]["targets"])
    assert checked == sorted(f"{app.url}/api/health" for app in world.apps.values())  # railway.json healthcheckPath
    for app in world.apps.values():
        assert app.live_commit() == world.head  # went live and stayed live
    assert world.sim.count("deploymentRollback") == 0
    headings = [line for line in err.splitlines() if line.startswith("▶")]
    assert headings and len(headings) == len(set(headings)), headings  # each stage announced once


def test_an_invalid_railway_json_of_a_service_named_without_kars_yml_stops_before_any_write(world: World) -> None:
    broken = {**RAILWAY_JSON, "deploy": {**RAILWAY_JSON["deploy"], "restartPolicyType": "on_failure"}}
    (world.repo.path / "backend" / "railway.json").write_text(json.dumps(broken, indent=2))
    drop_kars_yml(world)
    code, report, _ = release_without_config(world, "--service", "backend")
    assert code == 1
    assert stage_status(report)["validate"] == "failed"
    assert world.github.write_attempts() == [] and world.sim.mutations == []


def test_the_railway_root_directory_locates_the_service_config(world: World) -> None:
    (world.repo.path / "services" / "api").mkdir(parents=True)
    (world.repo.path / "backend" / "railway.json").rename(world.repo.path / "services" / "api" / "railway.json")
    drop_kars_yml(world)
    world.sim.services[world.ids["backend"]]["rootDirectory"] = "/services/api"
    code, report, err = release_without_config(world, "--service", "backend", "--dry-run")
    assert code == 0, err
    assert report["validation"]["files"][0]["path"].endswith("services/api/railway.json")
    assert "Railway root directory /services/api" in json.dumps(report["stages"])
    assert report["planned_health"][0]["url"] == world.apps["backend"].url + "/api/health"


def test_the_dry_run_without_tokens_says_where_each_check_will_go(world: World) -> None:
    drop_kars_yml(world)
    env = {k: "" for k in ("RAILWAY_TOKEN", "GITHUB_TOKEN", "GITHUB_REPOSITORY")}
    run = world.cli("release", "--dry-run", "--service", "backend", **env)
    assert run.code == 0, run.stderr
    report = run.report
    stages = {s["stage"]: s for s in report["stages"]}
    assert stages["validate"]["status"] == "ok" and "1 file(s) valid" in stages["validate"]["detail"]
    assert "backend: its Railway domain + /api/health" in stages["health"]["detail"]
    assert "folder backend/" in stages["preflight"]["detail"]


def test_a_misspelt_railway_service_stops_before_any_github_write(world: World) -> None:
    kars = (world.repo.path / "kars.yml").read_text()
    (world.repo.path / "kars.yml").write_text(kars.replace("  backend:\n", "  backend:\n    railway_service: backnd\n"))
    world.head = world.repo.commit("feat: rename")
    code, report, _ = world.invoke()
    assert code == 2
    assert "no service 'backnd'" in report["error"]
    assert stage_status(report)["preflight"] == "failed"
    assert world.github.write_attempts() == [] and world.sim.mutations == []
    assert report["production_touched"] is False


def test_a_service_not_connected_to_the_repository_stops_before_any_write(world: World) -> None:
    world.sim.services[world.ids["frontend"]]["repo"] = None
    code, report, _ = world.invoke()
    assert code == 2
    assert "not a GitHub repository" in report["error"] and "Connect Repo" in json.dumps(report)
    assert world.github.write_attempts() == [] and world.sim.mutations == []


def test_a_token_without_deployments_write_stops_before_the_tag(world: World) -> None:
    world.github.permissions["deployments"] = False
    code, report, _ = world.invoke()
    assert code == 3
    assert "deployments: write" in report["error"]
    assert world.github.writes() == [] and world.sim.mutations == []
    assert world.github.tag_commit("v0.1.0") is None


def publish_first_release(world: World) -> None:
    code, _, err = world.invoke()
    assert code == 0, err
    world.repo.git("tag", "v0.1.0")  # a later checkout (fetch-depth: 0) has the published tag


def test_a_fix_after_a_release_that_failed_before_going_live_releases_the_same_version(world: World) -> None:
    publish_first_release(world)
    feature = world.repo.commit("feat: invoices")
    world.github.add_commit(feature)
    world.sim.script_for(world.ids["backend"], Script.build_failure())
    code, report, _ = world.invoke("--service", "backend")
    assert code == 1 and report["outcome"] == "failed-before-live"
    assert world.github.tag_commit("v0.2.0") is None  # no tag left behind
    assert world.github.releases_for("v0.2.0")[0]["draft"] is True
    assert "production was not touched" in report["headline"]

    world.sim.script_for(world.ids["backend"], Script.success())
    fix = world.repo.commit("chore: fix the build script")
    world.github.add_commit(fix)
    code, report, err = world.invoke("--service", "backend")
    assert code == 0, err
    assert report["outputs"]["tag"] == "v0.2.0"
    assert world.github.tag_commit("v0.2.0") == fix
    releases = world.github.releases_for("v0.2.0")
    assert len(releases) == 1 and releases[0]["draft"] is False
    assert "invoices" in releases[0]["body"] and "fix the build script" in releases[0]["body"]


def test_a_fix_after_a_rolled_back_release_carries_its_features_under_the_next_version(world: World) -> None:
    publish_first_release(world)
    feature = world.repo.commit("feat: invoices")
    world.github.add_commit(feature)
    world.apps["backend"].bad_commits.add(feature)
    code, report, _ = world.invoke()
    assert code == 1 and report["outcome"] == "rolled-back"
    assert world.github.tag_commit("v0.2.0") == feature  # it went live: the tag records what ran
    world.repo.git("tag", "v0.2.0", feature)

    fix = world.repo.commit("chore: connect the database again")
    world.github.add_commit(fix)
    code, report, err = world.invoke()
    assert code == 0, err
    assert report["outputs"]["tag"] == "v0.3.0"
    body = world.github.releases_for("v0.3.0")[0]["body"]
    assert "invoices" in body and "v0.2.0" in body and "never published" in body


def test_an_app_that_reports_only_status_ok_is_released(world: World) -> None:
    for app in world.apps.values():
        app.report_version = False
    code, report, err = world.invoke()
    assert code == 0, err
    assert report["outcome"] == "released"


def test_an_old_version_still_answering_is_refused_and_rolled_back(world: World) -> None:
    world.apps["backend"].stuck_on = OLD  # the edge still routes to the old instance
    code, report, _ = world.invoke()
    assert code == 1 and report["outcome"] == "rolled-back"
    assert "another version is answering" in report["failure"]


def test_a_deployment_railway_made_on_its_own_is_called_out(world: World) -> None:
    environment = next(iter(world.sim.environments))
    world.sim.add_deployment(world.ids["backend"], environment, world.head, status="BUILDING", age=5, took=600)
    code, report, err = world.invoke("--dry-run")
    assert code == 0, err
    detail = {s["stage"]: s["detail"] for s in report["stages"]}["record-targets"]
    assert "Railway deployed this commit on its own" in detail and "backend" in detail
