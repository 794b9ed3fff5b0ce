"""GitHub Deployments against the fake: create, statuses, reuse on rerun, superseded ones inactive."""

from __future__ import annotations

import pytest

from kars_actions.core.errors import AuthError
from kars_actions.github.client import GitHubReleases
from kars_actions.github.deployments import is_ephemeral
from tests.fakes.github_fake import GitHubFake
from tests.github.conftest import TOKEN, FakeClock, deadline
from tests.versioning.gitrepo import GitRepo


def gh(clock: FakeClock) -> GitHubReleases:
    return GitHubReleases.from_env(TOKEN, clock=clock, deadline=deadline(clock))  # type: ignore[arg-type]


def test_deployment_lifecycle(repo: GitRepo, fake: GitHubFake, clock: FakeClock) -> None:
    old = fake.add_deployment("production", repo.git("rev-parse", "HEAD~1"), state="success")
    with gh(clock) as client:
        ref = client.start_deployment("production", repo.head())
        deployment = fake.deployments[ref.id]
        assert deployment["production_environment"] and not deployment["transient_environment"]
        assert deployment["required_contexts"] == [] and deployment["auto_merge"] is False
        assert fake.state_of(ref.id) == "in_progress"
        client.deployment_status(ref, "success", "live", environment_url="https://app.example", log_url=None)
        assert fake.statuses[ref.id][-1]["environment_url"] == "https://app.example"
        assert fake.statuses[ref.id][-1]["log_url"] == "https://github.example/kars/app/actions/runs/4242"
        assert fake.state_of(old["id"]) == "success"  # we asked GitHub not to auto-deactivate
        assert client.deactivate_superseded("production", ref) == [old["id"]]
    assert fake.state_of(old["id"]) == "inactive"


def test_staging_is_not_transient(repo: GitRepo, fake: GitHubFake, clock: FakeClock) -> None:
    # Transient is for environments that go away (PR previews): GitHub shows an inactive transient deployment as
    # destroyed, and its auto_inactive skips them.
    with gh(clock) as client:
        ref = client.start_deployment("staging", repo.head())
    assert fake.deployments[ref.id]["transient_environment"] is False
    assert fake.deployments[ref.id]["production_environment"] is False


def test_a_pull_request_environment_is_transient(repo: GitRepo, fake: GitHubFake, clock: FakeClock) -> None:
    with gh(clock) as client:
        ref = client.start_deployment("app-pr-12", repo.head(), transient=is_ephemeral("app-pr-12"))
    assert fake.deployments[ref.id]["transient_environment"] is True
    assert not is_ephemeral("staging") and not is_ephemeral("production") and is_ephemeral("pr-7")


def test_failure_description_is_cut_to_140(repo: GitRepo, fake: GitHubFake, clock: FakeClock) -> None:
    with gh(clock) as client:
        ref = client.start_deployment("production", repo.head())
        client.deployment_status(ref, "failure", "health check failed: " + "x" * 300)
    status = fake.statuses[ref.id][-1]
    assert status["state"] == "failure" and len(status["description"]) == 140
    assert status["description"].startswith("health check failed")


def test_rerun_reuses_the_deployment(repo: GitRepo, fake: GitHubFake, clock: FakeClock) -> None:
    with gh(clock) as client:
        first = client.start_deployment("production", repo.head())
    with gh(clock) as client:
        second = client.start_deployment("production", repo.head())
    assert second.id == first.id and not second.created and len(fake.deployments) == 1


def test_missing_deployments_permission_names_the_line(repo: GitRepo, fake: GitHubFake, clock: FakeClock) -> None:
    fake.permissions["deployments"] = False
    with gh(clock) as client, pytest.raises(AuthError) as caught:
        client.start_deployment("production", repo.head())
    assert "deployments: write" in caught.value.message
