"""Planning and applying railway.json to Railway's service settings, against the simulator's EnvironmentConfig."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from kars_actions.core.config import Config, load_config
from kars_actions.core.errors import ConfigError
from kars_actions.railway.api import Credentials, RailwayClient, TokenKind
from kars_actions.railway.environment_config import (
    IacOwned,
    NotApplied,
    SettingsConflict,
    apply_settings,
    plan_settings,
    resolve_scope,
)
from kars_actions.railway.settings import SettingsRequest
from kars_actions.railway_config.settings import ApplyOptions, ServiceFiles, SettingsPlan, iac_file, read_repo_config
from kars_actions.release.repository import run_config
from kars_actions.release.services import locate
from tests.fakes.railway_sim import RailwaySim, SimClock

KARS_YML = """\
project: kars-app
services:
  api:
    directory: api
  web:
    directory: web
environments:
  production: {branch: main}
  staging: {branch: develop}
"""

API_JSON: dict[str, Any] = {
    "$schema": "https://railway.com/railway.schema.json",
    "build": {"builder": "dockerfile", "dockerfilePath": "Dockerfile", "watchPatterns": ["api/**"]},
    "deploy": {
        "startCommand": "node dist/main.js",
        "preDeployCommand": "npm run migrate",
        "healthcheckPath": "/api/health",
        "healthcheckTimeout": 120.0,
        "restartPolicyType": "on_failure",
        "restartPolicyMaxRetries": 5,
        "numReplicas": 2,
    },
    "environments": {"staging": {"deploy": {"numReplicas": 1, "sleepApplication": True}}},
}
WEB_TOML = """\
[build]
builder = "RAILPACK"
buildCommand = "npm run build"

[deploy]
startCommand = "npx serve dist"
healthcheckPath = "/"
"""

API_LIVE = {  # what Railway holds when the settings already match api/railway.json in production
    "build": {"builder": "DOCKERFILE", "dockerfilePath": "Dockerfile", "watchPatterns": ["api/**"]},
    "deploy": {
        "startCommand": "node dist/main.js",
        "preDeployCommand": ["npm run migrate"],
        "healthcheckPath": "/api/health",
        "healthcheckTimeout": 120,
        "restartPolicyType": "ON_FAILURE",
        "restartPolicyMaxRetries": 5,
        "numReplicas": 2,
    },
}
WEB_LIVE = {
    "build": {"builder": "RAILPACK", "buildCommand": "npm run build"},
    "deploy": {"startCommand": "npx serve dist", "healthcheckPath": "/"},
}


@dataclass
class Repo:
    sim: RailwaySim
    root: Path
    project: str
    production: str
    staging: str
    api: str
    web: str
    token: str
    clients: list[RailwayClient] = field(default_factory=list)

    def client(self) -> RailwayClient:
        client = RailwayClient(Credentials(TokenKind.ACCOUNT, self.token), self.sim.url, clock=self.sim.clock)
        self.clients.append(client)
        return client

    def config(self) -> Config:
        return load_config(None, self.root)

    def write_api(self, data: dict[str, Any]) -> None:
        (self.root / "api" / "railway.json").write_text(json.dumps(data, indent=2))

    def plan(self, client: RailwayClient | None = None, environments: tuple[str, ...] = ()) -> SettingsPlan:
        client = client or self.client()
        config = self.config()
        scope = resolve_scope(client, config.project, environments, service_files(config), root=self.root)
        return plan_settings(client, scope, repo_iac_file=iac_file(self.root))


def service_files(config: Config) -> list[ServiceFiles]:
    """kars.yml's services, each with the railway config the resolver finds for it."""
    found = locate(config, list(config.services))
    return [ServiceFiles(s.name, s.service.railway_service, found.path(s.name)) for s in found.services]


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Repo]:
    root = tmp_path / "app"
    (root / "api").mkdir(parents=True)
    (root / "web").mkdir()
    (root / "kars.yml").write_text(KARS_YML)
    (root / "api" / "railway.json").write_text(json.dumps(API_JSON, indent=2))
    (root / "web" / "railway.toml").write_text(WEB_TOML)
    sim = RailwaySim(SimClock())
    project = sim.add_project("kars-app")
    production = sim.add_environment(project, "production")
    staging = sim.add_environment(project, "staging")
    api = sim.add_service(project, "api")
    web = sim.add_service(project, "web")
    for env in (production, staging):
        sim.set_settings(api, env, API_LIVE)
        sim.set_settings(web, env, WEB_LIVE)
    sim.set_settings(api, staging, {**API_LIVE, "deploy": {**API_LIVE["deploy"], "numReplicas": 1}})
    sim.start()
    world = Repo(sim, root, project, production, staging, api, web, sim.add_account_token())
    yield world
    for client in world.clients:
        client.close()
    sim.stop()


def changes(plan: SettingsPlan) -> dict[tuple[str, str], dict[str, tuple[Any, Any]]]:
    return {
        (env.name, service.label): {c.field: (c.live, c.repo) for c in service.changes}
        for env in plan.environments
        for service in env.services
        if service.changes
    }


def test_plan_on_clean_services_reports_no_drift(repo: Repo) -> None:
    repo.sim.set_settings(repo.api, repo.staging, {**API_LIVE, "deploy": {**API_LIVE["deploy"], "numReplicas": 1}})
    repo.sim.edit_settings(repo.staging, {"services": {repo.api: {"deploy": {"sleepApplication": True}}}})
    plan = repo.plan()
    assert changes(plan) == {}
    assert plan.drift is False
    assert [[s.in_sync for s in e.services] for e in plan.environments] == [[10, 4], [11, 4]]


def test_plan_on_a_drifted_service_names_each_field_with_live_and_repo_values(repo: Repo) -> None:
    # After the cutoff a dashboard edit, or settings that only ever lived in the file, show up as drift.
    repo.sim.set_settings(repo.api, repo.production, {"build": {"builder": "RAILPACK"}, "deploy": {}})
    plan = repo.plan(environments=("production",))
    assert plan.drift is True
    api = changes(plan)[("production", "api")]
    assert api["build.builder"] == ("RAILPACK", "DOCKERFILE")
    assert api["deploy.startCommand"] == (None, "node dist/main.js")
    assert api["deploy.preDeployCommand"] == (None, ["npm run migrate"])
    assert api["deploy.healthcheckTimeout"] == (None, 120)
    assert api["deploy.restartPolicyType"] == (None, "ON_FAILURE")
    assert ("production", "web") not in changes(plan)


def test_only_keys_the_file_sets_are_compared(repo: Repo) -> None:
    repo.sim.edit_settings(
        repo.production, {"services": {repo.web: {"deploy": {"cronSchedule": "0 * * * *", "numReplicas": 3}}}}
    )
    assert changes(repo.plan(environments=("production",))) == {}


def test_environment_overrides_apply_per_environment(repo: Repo) -> None:
    repo.sim.set_settings(repo.api, repo.staging, API_LIVE)  # staging runs production's replica count
    plan = repo.plan()
    assert changes(plan) == {
        ("staging", "api"): {"deploy.numReplicas": (2, 1), "deploy.sleepApplication": (None, True)},
    }


def test_pr_environment_takes_its_base_then_pr_then_its_own_name(repo: Repo) -> None:
    data = json.loads(json.dumps(API_JSON))
    data["environments"]["pr"] = {"deploy": {"numReplicas": 1, "sleepApplication": False, "cronSchedule": None}}
    data["deploy"]["cronSchedule"] = "*/5 * * * *"
    repo.write_api(data)
    pr_env = repo.sim.add_environment(repo.project, "kars-app-pr-7", ephemeral=True, source=repo.staging, pr=7)
    live = repo.plan(environments=("kars-app-pr-7",)).environments[0]
    api = next(s for s in live.services if s.label == "api")
    # staging's override (sleep on) is beaten by pr's (sleep off); pr unsets the base cron schedule.
    assert api.desired["deploy"]["sleepApplication"] is False
    assert api.desired["deploy"]["numReplicas"] == 1
    assert "cronSchedule" not in api.desired["deploy"]
    assert pr_env


def test_apply_then_plan_again_is_clean(repo: Repo) -> None:
    repo.sim.set_settings(repo.api, repo.production, {"build": {"builder": "RAILPACK"}, "deploy": {}})
    repo.sim.set_settings(repo.web, repo.staging, {"build": {"builder": "NIXPACKS"}, "deploy": {}})
    client = repo.client()
    plan = repo.plan(client)
    applied = apply_settings(client, plan, ApplyOptions(commit="c0ffee" * 6 + "abcd", repository="kars/app"))
    assert [a.environment for a in applied if a.committed] == ["production", "staging"]
    assert repo.sim.count("environmentPatchCommit") == 2
    assert changes(repo.plan()) == {}
    settings = repo.sim.settings_of(repo.api, repo.production)
    assert settings["deploy"]["preDeployCommand"] == ["npm run migrate"]
    assert settings["build"]["builder"] == "DOCKERFILE"
    patch = repo.sim.patches[repo.production][-1]
    assert "kars/app@c0ffeec0ffee" in patch["message"]
    # Narrow: only the changed keys of the services kars manages.
    assert set(patch["patch"]["services"]) == {repo.api}
    assert set(patch["patch"]["services"][repo.api]["deploy"]) == {
        "startCommand",
        "preDeployCommand",
        "healthcheckPath",
        "healthcheckTimeout",
        "restartPolicyType",
        "restartPolicyMaxRetries",
        "numReplicas",
    }


def test_nothing_to_change_sends_no_commit(repo: Repo) -> None:
    repo.sim.edit_settings(repo.staging, {"services": {repo.api: {"deploy": {"sleepApplication": True}}}})
    client = repo.client()
    assert apply_settings(client, repo.plan(client), ApplyOptions()) == []
    assert repo.sim.mutations == []


def test_dry_run_builds_the_patch_and_sends_nothing(repo: Repo) -> None:
    repo.sim.set_settings(repo.api, repo.production, {"build": {"builder": "RAILPACK"}, "deploy": {}})
    client = repo.client()
    applied = apply_settings(client, repo.plan(client), ApplyOptions(dry_run=True))
    assert [a.environment for a in applied] == ["production", "staging"]
    assert applied[0].patch["services"][repo.api]["build"] == API_LIVE["build"]
    assert not any(a.committed for a in applied)
    assert repo.sim.mutations == []
    assert repo.sim.settings_of(repo.api, repo.production)["deploy"] == {}


def test_an_edit_between_plan_and_apply_stops_the_apply_and_writes_nothing(repo: Repo) -> None:
    repo.sim.set_settings(repo.api, repo.production, {"build": {"builder": "RAILPACK"}, "deploy": {}})
    client = repo.client()
    plan = repo.plan(client)
    repo.sim.edit_settings(repo.production, {"services": {repo.api: {"deploy": {"startCommand": "node hotfix.js"}}}})
    with pytest.raises(SettingsConflict, match="production changed since the plan"):
        apply_settings(client, plan, ApplyOptions())
    assert repo.sim.count("environmentPatchCommit") == 0
    assert repo.sim.settings_of(repo.api, repo.production)["deploy"] == {"startCommand": "node hotfix.js"}


def test_etag_is_read_again_right_before_the_commit(repo: Repo) -> None:
    repo.sim.set_settings(repo.api, repo.production, {"build": {"builder": "RAILPACK"}, "deploy": {}})
    repo.sim.set_settings(repo.web, repo.staging, {"build": {}, "deploy": {}})
    client = repo.client()
    plan = repo.plan(client)
    # Someone edits staging while production is being applied: production goes through, staging is refused.
    repo.sim.edit_after(
        "EnvironmentPatchCommit", repo.staging, {"services": {repo.web: {"deploy": {"healthcheckPath": "/x"}}}}
    )
    done: list[Any] = []
    with pytest.raises(SettingsConflict, match=r"staging changed since the plan.*already applied: production"):
        apply_settings(client, plan, ApplyOptions(), done=done)
    assert [(d.environment, d.committed) for d in done] == [("production", True), ("staging", False)]
    assert repo.sim.settings_of(repo.web, repo.staging)["deploy"] == {"healthcheckPath": "/x"}


def test_a_value_railway_did_not_take_is_named(repo: Repo) -> None:
    repo.sim.set_settings(repo.api, repo.staging, {"build": {}, "deploy": {}})
    repo.sim.dropped_settings.add(("deploy", "sleepApplication"))
    client = repo.client()
    with pytest.raises(NotApplied, match=r"api deploy\.sleepApplication: sent true, Railway holds null"):
        apply_settings(client, repo.plan(client, ("staging",)), ApplyOptions())


def test_repo_iac_file_refuses_apply_before_any_write(repo: Repo) -> None:
    repo.sim.set_settings(repo.api, repo.production, {"build": {}, "deploy": {}})
    (repo.root / ".railway").mkdir()
    (repo.root / ".railway" / "railway.ts").write_text("export default {}\n")
    client = repo.client()
    with pytest.raises(IacOwned, match=r"the repository has \.railway/railway\.ts"):
        apply_settings(client, repo.plan(client), ApplyOptions())
    assert repo.sim.mutations == []


def test_environment_applied_by_railway_iac_refuses_apply(repo: Repo) -> None:
    repo.sim.set_settings(repo.api, repo.production, {"build": {}, "deploy": {}})
    repo.sim.edit_settings(repo.production, {"services": {}}, message="Apply Railway configuration")
    client = repo.client()
    with pytest.raises(IacOwned, match=r"`railway config apply` has committed to production"):
        apply_settings(client, repo.plan(client), ApplyOptions())
    assert repo.sim.mutations == []


def test_a_key_removed_from_the_file_is_reported_and_reset_only_with_prune(repo: Repo) -> None:
    repo.sim.set_settings(repo.api, repo.production, {"build": {}, "deploy": {}})
    client = repo.client()
    apply_settings(client, repo.plan(client), ApplyOptions())
    data = json.loads(json.dumps(API_JSON))
    del data["deploy"]["preDeployCommand"]
    repo.write_api(data)
    plan = repo.plan(client)
    assert plan.drift is False
    assert [(env, label, c.field, c.live) for env, label, c in plan.removed] == [
        ("production", "api", "deploy.preDeployCommand", ["npm run migrate"]),
        ("staging", "api", "deploy.preDeployCommand", ["npm run migrate"]),
    ]
    apply_settings(client, plan, ApplyOptions())  # not pruned: nothing to write, still reported next time
    assert repo.sim.settings_of(repo.api, repo.production)["deploy"]["preDeployCommand"] == ["npm run migrate"]
    assert len(repo.plan(client).removed) == 2
    apply_settings(client, repo.plan(client), ApplyOptions(prune=True))
    assert "preDeployCommand" not in repo.sim.settings_of(repo.api, repo.production)["deploy"]
    assert repo.plan(client).removed == []


def test_a_leftover_config_file_is_reported_and_cleared_on_request(repo: Repo) -> None:
    repo.sim.set_settings(repo.api, repo.production, {**API_LIVE, "configFile": "api/railway.json"})
    client = repo.client()
    plan = repo.plan(client, ("production",))
    assert plan.config_files == [("production", "api", "api/railway.json")]
    applied = apply_settings(client, plan, ApplyOptions(clear_config_file=True))
    assert applied[0].cleared_config_files == ["api"]
    assert "configFile" not in repo.sim.settings_of(repo.api, repo.production)


def test_values_are_normalised_as_railway_stores_them(tmp_path: Path) -> None:
    path = tmp_path / "railway.json"
    path.write_text(json.dumps(API_JSON))
    settings = read_repo_config(path).resolve("production")
    assert settings["build"]["builder"] == "DOCKERFILE"
    assert settings["deploy"]["restartPolicyType"] == "ON_FAILURE"
    assert settings["deploy"]["healthcheckTimeout"] == 120
    assert settings["deploy"]["preDeployCommand"] == ["npm run migrate"]


def test_fractional_seconds_are_refused_with_file_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "railway.json"
    path.write_text('{\n  "deploy": {\n    "overlapSeconds": 2.5\n  }\n}\n')
    with pytest.raises(ConfigError) as caught:
        read_repo_config(path).resolve("production")
    assert caught.value.location is not None
    assert (caught.value.location.line, caught.value.location.column) == (3, 23)
    assert "whole number" in caught.value.message


def test_an_invalid_file_is_refused_with_its_findings(repo: Repo) -> None:
    (repo.root / "api" / "railway.json").write_text('{"deploy": {"startCommand": 42}}')
    with pytest.raises(ConfigError) as caught:
        repo.plan()
    assert caught.value.location is not None and caught.value.location.line == 1


def test_one_request_per_environment_to_plan(repo: Repo) -> None:
    client = repo.client()
    repo.plan(client)
    reads = {op: n for op, n in client.requests_by_operation.items()}
    assert reads == {"Projects": 1, "Project": 1, "EnvironmentSettings": 2}


def test_run_settings_keeps_what_was_applied_when_it_stops(repo: Repo) -> None:
    repo.sim.set_settings(repo.api, repo.production, {"build": {}, "deploy": {}})
    repo.sim.set_settings(repo.api, repo.staging, {"build": {}, "deploy": {}})
    repo.sim.edit_after(
        "EnvironmentPatchCommit", repo.staging, {"services": {repo.web: {"deploy": {"healthcheckPath": "/x"}}}}
    )
    result = run_config(SettingsRequest("apply"), repo.config(), repo.client())
    assert result.exit_code() == 1
    assert result.outputs()["applied"] == "true"
    assert result.outputs()["drift"] == "true"  # staging still differs
    assert "already applied: production" in result.summary_markdown()


def test_an_api_without_the_patch_history_still_plans(repo: Repo) -> None:
    repo.sim.set_settings(repo.api, repo.production, {"build": {}, "deploy": {}})
    repo.sim.inject(
        "graphql_error", "EnvironmentSettings", count=2, message='Cannot query field "environmentPatches" on "Query"'
    )
    client = repo.client()
    plan = repo.plan(client)
    assert ("production", "api") in changes(plan)
    assert client.requests_by_operation["EnvironmentConfig"] == 2


def test_a_lost_commit_answer_is_checked_by_reading_back_not_retried(repo: Repo) -> None:
    repo.sim.set_settings(repo.api, repo.production, {"build": {}, "deploy": {}})
    repo.sim.inject("drop", "EnvironmentPatchCommit", after=True)  # it ran; the answer never arrives
    client = repo.client()
    applied = apply_settings(client, repo.plan(client, ("production",)), ApplyOptions())
    assert applied[0].committed is True
    assert repo.sim.count("environmentPatchCommit") == 1
    assert changes(repo.plan(client, ("production",))) == {}


def test_a_lost_commit_that_did_not_happen_is_an_unreachable_railway_not_a_silent_success(repo: Repo) -> None:
    from kars_actions.railway.api import RailwayUnavailable

    repo.sim.set_settings(repo.api, repo.production, {"build": {}, "deploy": {}})
    repo.sim.inject("drop", "EnvironmentPatchCommit")  # dropped before it ran
    client = repo.client()
    with pytest.raises(RailwayUnavailable, match=r"was lost .* it was not applied"):
        apply_settings(client, repo.plan(client, ("production",)), ApplyOptions())
    assert repo.sim.count("environmentPatchCommit") == 1
