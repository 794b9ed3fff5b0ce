"""Deploy, wait and roll back through the library against the simulator, sharing one test clock."""

from __future__ import annotations

import pytest

from kars_actions.core.errors import CheckFailed, ConfigError
from kars_actions.core.timing import Deadline
from kars_actions.railway.api import TokenKind
from kars_actions.railway.deploy import (
    PollPolicy,
    deploy_services,
    record_rollback_targets,
    resolve_target,
    snapshot_services,
    start_deployment,
)
from kars_actions.railway.rollback import rollback_service
from kars_actions.railway.steps import (
    DeployRequest,
    RollbackRequest,
    run_deploy,
    run_rollback,
)
from tests.fakes.railway_sim import Script
from tests.railway.conftest import NEW, World


def deploy(world: World, *services: str, **kw: object) -> object:
    lines: list[str] = []
    request = DeployRequest(services=services or ("api", "web"), commit=NEW, **kw)  # type: ignore[arg-type]
    result = run_deploy(request, world.client(), progress=lines.append)
    result.lines = lines  # type: ignore[attr-defined]
    return result


def test_two_services_deploy_at_the_commit_and_replace_the_old_ones(world: World) -> None:
    result = deploy(world)
    outcome = result.outcome  # type: ignore[attr-defined]
    assert outcome.deployed and result.exit_code() == 0  # type: ignore[attr-defined]
    by = {s.service: s for s in outcome.services}
    assert by["api"].previous_deployment_id == world.api_old and by["web"].previous_deployment_id == world.web_old
    assert by["web"].url == "https://www.example.com" and by["api"].url == "https://api-production.up.railway.app"
    for service_id, row in ((world.api, by["api"]), (world.web, by["web"])):
        created = world.sim.deployments_of(service_id, NEW)
        assert [d.id for d in created] == [row.deployment_id]
        assert f"/service/{service_id}?environmentId={world.env}&id={row.deployment_id}" in (row.dashboard_url or "")
    assert world.sim.status_of(world.api_old) == "REMOVED"
    assert any("api: BUILDING" in line for line in result.lines)  # type: ignore[attr-defined]
    outputs = result.outputs()  # type: ignore[attr-defined]
    assert outputs["deployed"] == "true" and world.api_old in outputs["previous-deployment-ids"]


def test_record_rollback_targets_returns_the_live_deployment(world: World) -> None:
    client = world.client()
    target = resolve_target(client, None, None, ["api", "web"])
    recorded = record_rollback_targets(client, target)
    assert {k: v.id if v else None for k, v in recorded.items()} == {"api": world.api_old, "web": world.web_old}


def test_failed_build_reports_the_step_and_log_tail(world: World) -> None:
    world.sim.script_for(world.api, Script.build_failure())
    result = deploy(world, "api")
    row = result.outcome.services[0]  # type: ignore[attr-defined]
    assert result.exit_code() == 1 and row.status == "FAILED"  # type: ignore[attr-defined]
    assert row.reason == "BUILD_IMAGE failed: Docker build failed"
    assert "npm ERR! missing script: build" in row.log_tail
    assert world.sim.status_of(world.api_old) == "SUCCESS", "a failed build leaves the old deployment serving"


def test_failed_healthcheck_says_how_many_attempts(world: World) -> None:
    world.sim.script_for(world.api, Script.healthcheck_failure(attempts=10))
    row = deploy(world, "api").outcome.services[0]  # type: ignore[attr-defined]
    assert row.reason.startswith("HEALTHCHECK failed after 10 attempts")
    assert any("ECONNREFUSED" in line for line in row.log_tail)


def test_crashed_app_is_a_failure_with_the_crash_reason(world: World) -> None:
    world.sim.script_for(world.web, Script.crash())
    result = deploy(world)
    by = {s.service: s for s in result.outcome.services}  # type: ignore[attr-defined]
    assert by["api"].live and by["web"].status == "CRASHED" and not result.outcome.deployed  # type: ignore[attr-defined]
    assert "container exited with code 1" in by["web"].reason


def test_lost_deploy_answer_finds_the_created_deployment_instead_of_retrying(world: World) -> None:
    world.sim.inject("drop", "ServiceInstanceDeployV2", after=True)
    result = deploy(world, "api")
    assert result.exit_code() == 0  # type: ignore[attr-defined]
    assert len(world.sim.deployments_of(world.api, NEW)) == 1
    assert world.sim.count("serviceInstanceDeployV2") == 1


def test_deploy_that_stalls_past_the_client_timeout_creates_exactly_one_deployment(world: World) -> None:
    world.sim.inject("stall", "ServiceInstanceDeployV2", after=True, seconds=3.0)
    client = world.client(timeout=0.3)
    target = resolve_target(client, None, None, ["api"])
    started = start_deployment(client, target, target.services[0], NEW)
    assert len(world.sim.deployments_of(world.api, NEW)) == 1
    assert started.deployment_id == world.sim.deployments_of(world.api, NEW)[0].id


def test_deploy_refused_before_it_ran_is_sent_again_once(world: World) -> None:
    world.sim.inject("http", "ServiceInstanceDeployV2", status=502)
    assert deploy(world, "api").exit_code() == 0  # type: ignore[attr-defined]
    assert world.sim.count("serviceInstanceDeployV2") == 2
    assert len(world.sim.deployments_of(world.api, NEW)) == 1


def test_rerun_reuses_the_running_deployment_of_the_same_commit(world: World) -> None:
    client = world.client()
    target = resolve_target(client, None, None, ["api"])
    first = start_deployment(client, target, target.services[0], NEW)
    second = start_deployment(client, target, target.services[0], NEW)
    assert second.reused and second.deployment_id == first.deployment_id
    assert world.sim.count("serviceInstanceDeployV2") == 1
    fresh = start_deployment(client, target, target.services[0], NEW, reuse_existing=False)
    assert not fresh.reused and world.sim.count("serviceInstanceDeployV2") == 2


def test_unknown_commit_is_reported_per_service_and_nothing_is_created(world: World) -> None:
    world.sim.known_commits = set()
    row = deploy(world, "api").outcome.services[0]  # type: ignore[attr-defined]
    assert row.status == "NOT_STARTED" and "cannot find commit" in row.reason
    assert world.sim.deployments_of(world.api, NEW) == []
    # nothing started, so nothing was reused and nothing failed on Railway's side to roll back
    assert not row.reused and row.failed and not row.may_go_live


def test_waiting_for_ci_is_said_plainly_then_times_out(world: World) -> None:
    world.sim.script_for(world.api, Script.held("WAITING"))
    result = deploy(world, "api", timeout=120)
    row = result.outcome.services[0]  # type: ignore[attr-defined]
    assert row.status == "TIMED_OUT" and "waiting for GitHub checks (Wait for CI)" in row.reason
    assert any("Wait for CI" in line for line in result.lines)  # type: ignore[attr-defined]
    assert world.clock.monotonic() <= 125


def test_needs_approval_is_said_plainly(world: World) -> None:
    world.sim.script_for(world.api, Script.held("NEEDS_APPROVAL"))
    row = deploy(world, "api", timeout=60).outcome.services[0]  # type: ignore[attr-defined]
    assert "needs approval in the Railway dashboard" in row.reason


def test_429_storm_is_waited_out_on_the_clock(world: World) -> None:
    world.sim.inject("rate_limit", None, count=6, retry_after=4)
    assert deploy(world, "api").exit_code() == 0  # type: ignore[attr-defined]
    assert world.clock.sleeps.count(4.0) == 6


def test_rate_limit_past_the_deadline_ends_unknown_naming_the_started_deployment(world: World) -> None:
    client = world.client()
    target = resolve_target(client, None, None, ["api"])
    snapshots = snapshot_services(client, target, commit=NEW)
    world.sim.rate_limit = (3, 3600)  # three more requests this hour, then 429 until the window ends
    outcome = deploy_services(client, target, NEW, deadline=Deadline.after(600, world.clock), snapshots=snapshots)
    row = outcome.services[0]
    assert row.status == "UNKNOWN" and row.possibly_live and not row.live
    assert row.deployment_id == world.sim.deployments_of(world.api, NEW)[0].id
    assert "rate limit" in (row.reason or "") and "may be live" in (row.reason or "")
    assert world.clock.monotonic() <= 600


def test_missing_variables_stop_before_any_mutation_and_never_show_values(world: World) -> None:
    with pytest.raises(CheckFailed) as caught:
        deploy(world, "api", required_variables={"api": ["DATABASE_URL", "JWT_SECRET", "REDIS_URL"]})
    assert "api: JWT_SECRET, REDIS_URL" in caught.value.message
    assert "hunter2" not in caught.value.message and "DATABASE_URL" not in caught.value.message
    assert world.sim.mutations == []


def test_unknown_names_list_the_ones_that_exist(world: World) -> None:
    with pytest.raises(ConfigError) as caught:
        deploy(world, "worker")
    assert "api, web" in caught.value.message
    client = world.client(TokenKind.ACCOUNT)
    with pytest.raises(ConfigError) as env_error:
        resolve_target(client, "kars-app", "prod", ["api"])
    assert "production, staging" in env_error.value.message
    with pytest.raises(ConfigError) as project_error:
        resolve_target(client, "other-app", "production", ["api"])
    assert "kars-app" in project_error.value.message


def test_account_token_resolves_project_and_environment_by_name(world: World) -> None:
    target = resolve_target(world.client(TokenKind.ACCOUNT), "kars-app", "production", ["web"])
    assert (target.project_id, target.environment_id, target.services[0].id) == (world.project, world.env, world.web)


def test_project_token_for_another_environment_is_a_clear_error(world: World) -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_target(world.client(), None, "staging", ["api"])
    assert "project token for environment 'production'" in caught.value.message


def test_dry_run_sends_no_mutation(world: World) -> None:
    result = deploy(world, dry_run=True)
    assert result.exit_code() == 0 and world.sim.mutations == []  # type: ignore[attr-defined]
    assert {s.status for s in result.outcome.services} == {"PLANNED"}  # type: ignore[attr-defined]
    assert result.outputs()["deployed"] == "false"  # type: ignore[attr-defined]


def test_five_minute_deploy_spends_a_quarter_of_the_requests_and_reports_within_5s(world: World) -> None:
    world.sim.script_for(world.api, Script.success(build=210, deploy=90))
    client = world.client()
    target = resolve_target(client, None, None, ["api"])
    before = world.sim.count("Deployment")
    outcome = deploy_services(client, target, NEW, deadline=Deadline.after(900, world.clock))
    polls = world.sim.count("Deployment") - before
    row = outcome.services[0]
    assert row.live and row.duration is not None
    assert polls <= 15, f"{polls} polls (every-5s polling spends 60)"
    assert row.duration - 300 <= PollPolicy().min_interval


# --- rollback ------------------------------------------------------------------------------------------------------


def test_rollback_restores_the_recorded_deployment_and_waits_until_live(world: World) -> None:
    deploy(world, "api")
    assert world.sim.status_of(world.api_old) == "REMOVED"
    client = world.client()
    target = resolve_target(client, None, None, ["api"])
    lines: list[str] = []
    outcome = rollback_service(
        client,
        target,
        target.services[0],
        target_id=world.api_old,
        progress=lines.append,
        deadline=Deadline.after(300, world.clock),
    )
    assert outcome.rolled_back and outcome.live and outcome.target_deployment_id == world.api_old
    restored = world.sim.deployment(outcome.restored_deployment_id or "")
    assert restored.extra_meta == {"rollbackFrom": world.api_old} and world.sim.count("deploymentRollback") == 1


def test_rollback_without_a_target_picks_the_last_successful_one_not_the_current(world: World) -> None:
    current = deploy(world, "api").outcome.services[0].deployment_id  # type: ignore[attr-defined]
    result = run_rollback(RollbackRequest(service="api"), world.client())
    assert result.outcome.target_deployment_id == world.api_old != current
    assert result.outputs()["rolled-back"] == "true" and result.exit_code() == 0


def test_rollback_is_refused_when_the_image_has_expired(world: World) -> None:
    deploy(world, "api")
    world.sim.deployment(world.api_old).can_rollback = False
    with pytest.raises(CheckFailed) as caught:
        run_rollback(RollbackRequest(service="api"), world.client())
    assert "no longer kept" in caught.value.message and "Hobby 72 h" in (caught.value.hint or "")
    assert world.sim.mutations == [m for m in world.sim.mutations if m.operation != "DeploymentRollback"]


def test_failed_new_deployment_means_nothing_to_roll_back(world: World) -> None:
    world.sim.script_for(world.api, Script.build_failure())
    failed = deploy(world, "api").outcome.services[0].deployment_id  # type: ignore[attr-defined]
    client = world.client()
    target = resolve_target(client, None, None, ["api"])
    outcome = rollback_service(
        client,
        target,
        target.services[0],
        target_id=world.api_old,
        failed_deployment_id=failed,
        deadline=Deadline.after(60, world.clock),
    )
    assert outcome.status == "NOTHING_TO_DO" and not outcome.rolled_back
    assert "nothing to roll back" in outcome.message and world.api_old in outcome.message
    cli_view = run_rollback(RollbackRequest(service="api", to=world.api_old), client)
    assert cli_view.outcome.status == "ALREADY_LIVE" and "never served" in cli_view.outcome.message
    assert world.sim.count("deploymentRollback") == 0


def test_rollback_dry_run_sends_no_mutation(world: World) -> None:
    deploy(world, "api")
    before = len(world.sim.mutations)
    result = run_rollback(RollbackRequest(service="api", dry_run=True), world.client())
    assert result.outcome.status == "PLANNED" and len(world.sim.mutations) == before
