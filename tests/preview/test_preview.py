"""``kars-actions preview`` as a real process against the Railway simulator and the GitHub fake: what the pull
request is told (its one comment, its pr-<n> deployment), the step summary and the outputs, each checked against
what the simulators hold."""

from __future__ import annotations

from tests.fakes.github_fake import GitHubFake
from tests.fakes.railway_sim import Script
from tests.preview.conftest import HEADS, PR, World


def push_on_reads(world: World, pushes: dict[int, str]) -> None:
    """A push lands while the preview waits: on the n-th read of the pull request, its head moves on GitHub and
    Railway starts deploying it in the PR environment (as Railway's PR environments do on every push)."""
    reads = {"n": 0}

    def maybe_push(fake: GitHubFake) -> None:
        reads["n"] += 1
        sha = pushes.get(reads["n"])
        if sha is not None:
            fake.push(PR, sha)
            world.sim.push_pull_request(PR, sha)

    world.github.on("GET", rf"/pulls/{PR}$", maybe_push, once=False)


def states(world: World, deployment: dict[str, object]) -> list[str]:
    return [s["state"] for s in world.github.statuses[int(str(deployment["id"]))]]


def test_two_pushes_while_building_end_on_the_last_head_healthy_with_one_comment(world: World) -> None:
    world.sim.open_pull_request(world.project, PR, HEADS[0])
    push_on_reads(world, {2: HEADS[1], 3: HEADS[2]})
    run = world.preview(GITHUB_EVENT_PATH=str(world.event()))
    assert run.code == 0, run.stderr
    assert run.report["outcome"] == "ready" and run.report["commit"] == HEADS[2]
    assert run.report["superseded"] == HEADS[:2]
    # the apps answer with the last head: the health checks proved the version
    assert {app.live_commit() for app in world.apps.values()} == {HEADS[2]}
    comments = world.comments()
    assert len(comments) == 1, "one sticky comment, edited in place"
    body = comments[0]["body"]
    assert f"Commit: `{HEADS[2]}`" in body and "ready: live and healthy" in body
    assert f"`{HEADS[0][:12]}`, `{HEADS[1][:12]}` were superseded" in body
    assert body.count("✅ healthy") == 2 and "[run](https://github.example/kars/app/actions/runs/4242)" in body
    for app in world.apps.values():
        assert app.url in body
    # one GitHub deployment per head followed; the superseded ones inactive, the last one a success with its URL
    deployments = world.preview_deployments()
    assert [d["sha"] for d in deployments] == HEADS
    assert all(d["transient_environment"] is True and d["production_environment"] is False for d in deployments)
    assert [states(world, d)[-1] for d in deployments] == ["inactive", "inactive", "success"]
    last = world.github.statuses[deployments[-1]["id"]][-1]
    assert last["environment_url"] == run.outputs["environment-url"] == world.apps["backend"].url
    assert deployments[-1]["payload"]["kars"]["made_by"] == "kars-actions"
    assert run.outputs["healthy"] == "true" and run.outputs["commit"] == HEADS[2]
    assert run.outputs["comment-url"] == comments[0]["html_url"]
    assert run.outputs["railway-environment"] == f"kars-app-pr-{PR}"
    assert "ready: live and healthy" in run.summary and HEADS[2] in run.summary
    # Railway's own environment: kars deployed nothing itself
    assert world.sim.count("serviceInstanceDeployV2") == 0 and world.sim.count("environmentCreate") == 0


def test_a_preview_whose_build_fails_says_failed_in_the_comment_and_the_deployment(world: World) -> None:
    world.sim.script_for(world.ids["backend"], Script.build_failure(), commit=HEADS[0])
    world.sim.open_pull_request(world.project, PR, HEADS[0])
    run = world.preview(GITHUB_EVENT_PATH=str(world.event()))
    assert run.code == 1
    assert run.report["outcome"] == "failed" and run.outputs["healthy"] == "false"
    statuses = {s["service"]: s["status"] for s in run.report["services"]}
    assert statuses == {"backend": "FAILED", "frontend": "SUCCESS"}
    (comment,) = world.comments()
    assert "failed" in comment["body"] and "BUILD_IMAGE failed" in comment["body"]
    assert "ready" not in comment["body"].split("\n")[1]
    (deployment,) = world.preview_deployments()
    assert states(world, deployment)[-1] == "failure"
    assert "backend" in world.github.statuses[deployment["id"]][-1]["description"]
    assert "BUILD_IMAGE failed" in run.summary
    assert run.outputs["statuses"] == '{"backend": "FAILED", "frontend": "SUCCESS"}'


def test_a_fork_pull_request_without_secrets_gets_a_note_and_no_comment(world: World) -> None:
    world.sim.open_pull_request(world.project, PR, HEADS[0])
    run = world.preview(
        GITHUB_EVENT_PATH=str(world.event(fork=True)), drop=("RAILWAY_API_TOKEN", "RAILWAY_TOKEN")
    )
    assert run.code == 0, run.stderr
    assert run.report["outcome"] == "fork-skipped"
    assert "comes from a fork" in run.summary and "no preview was deployed" in run.summary
    assert world.github.writes() == [] and world.comments() == []
    assert world.sim.requests == []  # not even read: there is no token to read with
    assert run.outputs["healthy"] == "false" and run.outputs["outcome"] == "fork-skipped"


def test_missing_permissions_are_named_and_the_preview_is_still_proven(world: World) -> None:
    world.github.permissions.update({"pull_requests": False, "issues": False, "deployments": False})
    world.sim.open_pull_request(world.project, PR, HEADS[0])
    run = world.preview(GITHUB_EVENT_PATH=str(world.event()))
    assert run.code == 0, run.stderr
    assert run.report["outcome"] == "ready"
    missing = run.outputs["missing-permissions"]
    assert "deployments: write" in missing and "pull-requests: write or issues: write" in missing
    assert "`deployments: write`" in run.summary and "`pull-requests: write or issues: write`" in run.summary
    assert world.comments() == [] and world.preview_deployments() == []
    assert run.outputs["comment-url"] == ""


def test_issues_write_alone_is_enough_for_the_comment(world: World) -> None:
    world.github.permissions.update({"pull_requests": False, "issues": True})
    world.sim.open_pull_request(world.project, PR, HEADS[0])
    run = world.preview(GITHUB_EVENT_PATH=str(world.event()))
    assert run.code == 0 and run.outputs["missing-permissions"] == ""
    assert len(world.comments()) == 1


def test_closing_railways_own_preview_deactivates_and_leaves_the_environment_to_railway(world: World) -> None:
    world.sim.open_pull_request(world.project, PR, HEADS[0])
    assert world.preview(GITHUB_EVENT_PATH=str(world.event())).code == 0
    world.github.close_pull(PR)
    run = world.preview(GITHUB_EVENT_PATH=str(world.event("closed")))
    assert run.code == 0, run.stderr
    assert run.report["outcome"] == "closed"
    assert [states(world, d)[-1] for d in world.preview_deployments()] == ["inactive"]
    assert world.pr_environment() is not None and world.sim.deleted_environments == []
    assert world.sim.count("environmentDelete") == 0
    (comment,) = world.comments()
    assert "Railway removes it when the pull request closes" in comment["body"]


def test_a_created_preview_is_made_from_the_base_deployed_at_the_head_and_deleted_on_close(
    bare_world: World,
) -> None:
    world = bare_world
    run = world.preview("--pr", str(PR))
    assert run.code == 0, run.stderr
    created = world.sim.environment_named(f"pr-{PR}")
    assert created is not None and world.sim.environments[created]["ephemeral"] is True
    assert world.sim.environments[created]["source"] == world.staging
    assert run.report["environment"]["created_by_kars"] is True and run.report["environment"]["created_now"]
    for service in world.ids.values():  # kars deployed the head itself, once per service
        assert [d.commit for d in world.sim.deployments_of(service) if d.environment_id == created] == [HEADS[0]]
    assert "created by kars" in world.comments()[0]["body"]
    # a rerun of the same head finds the environment and the deployments: nothing new on Railway
    again = world.preview("--pr", str(PR))
    assert again.code == 0 and world.sim.count("environmentCreate") == 1
    assert world.sim.count("serviceInstanceDeployV2") == 2
    assert len(world.comments()) == 1
    run = world.preview("--pr", str(PR), "--close")
    assert run.code == 0, run.stderr
    assert [e["name"] for e in world.sim.deleted_environments] == [f"pr-{PR}"]
    assert all(states(world, d)[-1] == "inactive" for d in world.preview_deployments())
    (comment,) = world.comments()
    assert f"pr-{PR}, which kars created, was deleted" in comment["body"]
    # staging and production were never touched
    assert {e["name"] for e in world.sim.environments.values()} == {"production", "staging"}


def test_without_pr_environments_or_previews_create_it_says_what_to_turn_on(world: World) -> None:
    world.sim.set_pr_environments(world.project, False)
    run = world.preview("--pr", str(PR))
    assert run.code == 2
    assert "PR environments off" in run.report["error"] and "previews: {mode: create" in run.report["hint"]
    assert run.report["outcome"] == "not-started" and "PR environments off" in run.summary
    assert world.sim.mutations == [] and world.github.writes() == []


def test_checks_aim_at_the_preview_never_at_the_url_kars_yml_gives_for_another_environment(world: World) -> None:
    world.sim.open_pull_request(world.project, PR, HEADS[0])
    run = world.preview("--pr", str(PR))
    assert run.code == 0, run.stderr
    checked = {t["url"] for t in run.report["health"]["targets"]}
    assert checked == {world.apps["backend"].url + "/api/health", world.apps["frontend"].url + "/healthz"}
    assert "www.example.com" not in run.summary + run.stderr


def test_railway_never_creating_the_pr_environment_ends_in_time_and_says_so(world: World) -> None:
    run = world.preview("--pr", str(PR), "--deploy-timeout", "60")
    assert run.code == 1
    assert run.report["outcome"] == "no-environment"
    assert "did not create the PR environment of #12" in run.report["error"]
    (comment,) = world.comments()
    assert "no environment" in comment["body"] and "ready" not in comment["body"]
    assert world.sim.mutations == []


def test_a_push_to_a_created_preview_makes_kars_deploy_the_new_head(bare_world: World) -> None:
    world = bare_world
    reads = {"n": 0}

    def push_once(fake: GitHubFake) -> None:
        reads["n"] += 1
        if reads["n"] == 2:
            fake.push(PR, HEADS[1])

    world.github.on("GET", rf"/pulls/{PR}$", push_once, once=False)
    run = world.preview("--pr", str(PR))
    assert run.code == 0, run.stderr
    assert run.report["commit"] == HEADS[1] and run.report["superseded"] == [HEADS[0]]
    created = world.sim.environment_named(f"pr-{PR}")
    for service in world.ids.values():
        commits = [d.commit for d in world.sim.deployments_of(service) if d.environment_id == created]
        assert commits == [HEADS[0], HEADS[1]]
    assert {app.live_commit() for app in world.apps.values()} == {HEADS[1]}
    (comment,) = world.comments()
    assert f"Commit: `{HEADS[1]}`" in comment["body"]


def test_without_services_in_kars_yml_the_preview_takes_the_ones_railway_deploys_from_github(world: World) -> None:
    """The release's resolver order: kars.yml names no service and no folder holds a railway config, so the preview
    takes the services Railway deploys from a GitHub repository — a database is not one of them."""
    world.config.write_text("project: kars-app\n")
    world.sim.add_service(world.project, "postgres", repo=None)
    world.sim.open_pull_request(world.project, PR, HEADS[0])
    run = world.preview("--pr", str(PR))
    assert run.code == 0, run.stderr
    assert sorted(s["service"] for s in run.report["services"]) == ["backend", "frontend"]
    assert all(s["healthy"] for s in run.report["services"]), run.report["services"]
    assert "postgres" not in run.summary + run.stderr


def test_a_preview_with_no_service_anywhere_names_where_it_looked(world: World) -> None:
    world.config.write_text("project: kars-app\n")
    for service in world.ids.values():
        world.sim.services[service]["repo"] = None
    run = world.preview("--pr", str(PR))
    assert run.code == 2
    assert "which services?" in run.report["error"] and "Railway lists no service deployed from a GitHub" in (
        run.report["error"]
    )
    assert "--service NAME" in run.report["hint"]
    assert world.sim.mutations == [] and world.github.writes() == []
