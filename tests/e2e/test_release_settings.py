"""The release's Railway settings stage, end to end: railway.json kept in force after Railway stops reading it.

The same world as test_release.py (the real CLI, the Railway simulator, the GitHub fake, live health servers); here
the backend's service settings have lost what its railway.json says, as they do for services whose settings only
ever lived in the file.
"""

from __future__ import annotations

import json
import re

from click.testing import CliRunner

from kars_actions.cli.release import command as release_command
from tests.fakes.world import RAILWAY_JSON, World, stage_status

LOST = {"build": {"builder": "RAILPACK"}, "deploy": {}}


def lose_backend_settings(world: World) -> None:
    env = next(iter(world.sim.environments))
    world.sim.set_settings(world.ids["backend"], env, LOST)


def test_from_the_cutoff_a_drifted_service_is_not_deployed_and_production_is_not_touched(world: World) -> None:
    lose_backend_settings(world)
    code, report, _ = world.invoke("--today", "2026-12-01")
    assert code == 1
    assert report["outcome"] == "failed-before-live"
    assert report["outputs"]["production-touched"] == "false"
    assert stage_status(report)["railway-settings"] == "failed"
    assert "deploy" not in stage_status(report) or stage_status(report)["deploy"] == "pending"
    assert world.deployments_of("backend", world.head) == [] and world.deployments_of("frontend", world.head) == []
    assert "production was not touched" in report["failure"]
    assert "backend (deploy.startCommand, deploy.healthcheckPath, deploy.restartPolicyType)" in report["failure"]
    changes = report["railway_settings"]["plan"]["environments"][0]["services"][0]["changes"]
    assert {"field": "deploy.startCommand", "live": None, "repo": "node server.js"} in changes
    # Refused in the read-only part, before the release wrote anything: no tag, no draft, no GitHub deployment.
    assert world.github.writes() == [] and world.github.releases_for("v0.1.0") == []
    assert world.sim.mutations == []


def test_check_refuses_on_drift_before_the_cutoff_too(world: World) -> None:
    lose_backend_settings(world)
    code, report, _ = world.invoke("--today", "2026-11-30", "--railway-config", "check")
    assert code == 1 and report["outcome"] == "failed-before-live"
    assert world.deployments_of("backend", world.head) == []


def test_before_the_cutoff_the_default_only_warns_and_releases(world: World) -> None:
    lose_backend_settings(world)
    code, report, _ = world.invoke("--today", "2026-11-30")
    assert code == 0, report["stages"]
    assert report["outcome"] == "released"
    assert stage_status(report)["railway-settings"] == "warning"
    detail = next(s["detail"] for s in report["stages"] if s["stage"] == "railway-settings")
    assert "Railway reads the file until 2026-12-01" in detail


def test_apply_writes_the_settings_then_deploys_with_them(world: World) -> None:
    lose_backend_settings(world)
    code, report, err = world.invoke("--today", "2026-12-01", "--railway-config", "apply")
    assert code == 0, err
    assert report["outcome"] == "released"
    assert stage_status(report)["railway-settings"] == "ok"
    env = next(iter(world.sim.environments))
    settings = world.sim.settings_of(world.ids["backend"], env)
    assert settings["deploy"] == RAILWAY_JSON["deploy"]
    operations = [r.operation for r in world.sim.requests]
    assert operations.index("EnvironmentPatchCommit") < operations.index("ServiceInstanceDeployV2")
    assert world.sim.count("environmentPatchCommit") == 1
    assert world.head[:12] in world.sim.patches[env][-1]["message"]
    assert len(world.deployments_of("backend", world.head)) == 1


def test_kars_yml_apply_for_one_service(world: World) -> None:
    lose_backend_settings(world)
    kars = (world.repo.path / "kars.yml").read_text()
    kars = kars.replace(
        "    railway_config: backend/railway.json\n", "    railway_config: {file: backend/railway.json, mode: apply}\n"
    )
    (world.repo.path / "kars.yml").write_text(kars)
    code, report, err = world.invoke("--today", "2026-12-01")
    assert code == 0, err
    assert stage_status(report)["railway-settings"] == "ok"


def test_dry_run_shows_the_plan_and_writes_nothing(world: World) -> None:
    lose_backend_settings(world)
    code, report, _ = world.invoke("--dry-run", "--today", "2026-12-01", "--railway-config", "apply")
    assert code == 0
    assert report["outcome"] == "planned"
    assert stage_status(report)["railway-settings"] == "planned"
    applied = report["railway_settings"]["applied"]
    assert applied[0]["committed"] is False
    assert applied[0]["patch"]["services"][world.ids["backend"]]["deploy"]["startCommand"] == "node server.js"
    assert world.sim.mutations == []


def test_release_validation_failures_carry_file_line_column_and_annotations(world: World) -> None:
    (world.repo.path / "backend" / "railway.json").write_text('{\n  "deploy": {\n    "healthCheckPath": "/x"\n  }\n}\n')
    result = CliRunner().invoke(
        release_command, [*world.args(), "--format", "github"], env=world.env(), catch_exceptions=False
    )
    assert result.exit_code == 1
    assert "backend/railway.json:3:5: error: unknown key 'healthCheckPath' in deploy" in result.stdout
    # Paths are relative to the working directory, as annotations want (the repository root in Actions).
    assert re.search(r"^::error file=\S*backend/railway\.json,line=3,col=5,title=railway config", result.stdout, re.M)


def test_validate_lenient_in_kars_yml_lets_a_lower_case_enum_through(world: World) -> None:
    data = json.loads(json.dumps(RAILWAY_JSON))
    data["deploy"]["restartPolicyType"] = "on_failure"
    (world.repo.path / "backend" / "railway.json").write_text(json.dumps(data))
    strict_code, strict_report, _ = world.invoke("--dry-run")
    assert strict_code == 1 and stage_status(strict_report)["validate"] == "failed"
    kars = (world.repo.path / "kars.yml").read_text()
    (world.repo.path / "kars.yml").write_text("validate: lenient\n" + kars)
    code, report, _ = world.invoke("--dry-run")
    assert code == 0, report["stages"]
    assert stage_status(report)["validate"] == "ok"


def test_a_failure_after_applying_says_the_settings_changed_but_no_deployment_did(world: World) -> None:
    from tests.fakes.railway_sim import Script

    lose_backend_settings(world)
    world.sim.script_for(world.ids["backend"], Script.build_failure())
    code, report, _ = world.invoke("--today", "2026-12-01", "--railway-config", "apply", "--service", "backend")
    assert code == 1
    assert report["outcome"] == "failed-before-live"
    assert report["railway_settings"]["applied"][0]["committed"] is True
    alert = json.dumps(world.alerts.received)
    assert "production was not touched (its service settings were updated from railway.json" in alert


def test_an_edit_between_the_check_and_the_apply_stops_the_release_before_it_deploys(world: World) -> None:
    lose_backend_settings(world)
    env = next(iter(world.sim.environments))
    hotfix = {"services": {world.ids["backend"]: {"deploy": {"startCommand": "node hotfix.js"}}}}
    world.sim.edit_after("EnvironmentSettings", env, hotfix)  # right after the read-only check read the settings
    code, report, _ = world.invoke("--today", "2026-12-01", "--railway-config", "apply")
    assert code == 1
    assert report["outcome"] == "failed-before-live"
    assert "changed since the plan" in report["failure"]
    assert world.sim.count("environmentPatchCommit") == 0
    assert world.deployments_of("backend", world.head) == []
    assert world.sim.settings_of(world.ids["backend"], env)["deploy"] == {"startCommand": "node hotfix.js"}
