"""Railway's environments for pull requests, against the simulator: Railway's own PR environment is found by its
PR metadata, kars creates only ephemeral ones, and deletes only those it created — never anything lasting."""

from __future__ import annotations

import pytest

from kars_actions.core.errors import ConfigError, KarsError
from kars_actions.core.timing import Deadline
from kars_actions.railway.api import TokenKind
from kars_actions.railway.previews import (
    create_preview,
    delete_preview,
    find_preview,
    head_deployments,
    read_preview_project,
)
from tests.railway.conftest import NEW, World


def test_railways_own_pr_environment_is_found_by_its_pr_number(world: World) -> None:
    staging = world.sim.environment_named("staging")
    world.sim.set_pr_environments(world.project, True, base=staging)
    env = world.sim.open_pull_request(world.project, 7, NEW)
    client = world.client(TokenKind.ACCOUNT)
    project = read_preview_project(client, "kars-app", Deadline.after(60, world.clock))
    assert project.pr_environments is True and project.base_environment_id == staging
    found = find_preview(project, 7)
    assert found is not None and found.id == env and found.railways_own and found.pr_number == 7
    assert find_preview(project, 8) is None
    deployments = head_deployments(client, project.id, env, [("api", world.api), ("web", world.web)], NEW, None)
    assert {label: d.commit_hash for label, d in deployments.items()} == {"api": NEW, "web": NEW}


def test_a_project_token_is_refused_with_the_token_to_use(world: World) -> None:
    with pytest.raises(ConfigError, match="previews need an account or workspace token"):
        read_preview_project(world.client(), "kars-app", None)


def test_kars_creates_an_ephemeral_fork_and_deletes_only_what_it_created(world: World) -> None:
    client = world.client(TokenKind.ACCOUNT)
    deadline = Deadline.after(60, world.clock)
    project = read_preview_project(client, "kars-app", deadline)
    staging = project.environment("staging")
    created = create_preview(client, project, 9, staging, deadline=deadline)
    assert created.name == "pr-9" and created.ephemeral and created.pr_number is None
    sim_env = world.sim.environments[created.id]
    assert sim_env["ephemeral"] is True and sim_env["source"] == staging.id
    assert world.sim.deployments_of(world.api) and not [
        d for d in world.sim.deployments if d.environment_id == created.id
    ], "skipInitialDeploys: nothing deployed until kars deploys the head"
    project = read_preview_project(client, "kars-app", deadline)
    production = project.environment("production")
    with pytest.raises(KarsError, match="not an ephemeral environment"):
        delete_preview(client, project.id, production, 9, deadline)
    railways = world.sim.open_pull_request(world.project, 9, NEW)
    own = next(e for e in read_preview_project(client, "kars-app", deadline).environments if e.id == railways)
    with pytest.raises(KarsError, match="kars did not create it"):
        delete_preview(client, project.id, own, 9, deadline)
    assert world.sim.count("environmentDelete") == 0
    assert delete_preview(client, project.id, created, 9, deadline) is True
    assert [e["id"] for e in world.sim.deleted_environments] == [created.id]
    with pytest.raises(ConfigError, match="is itself ephemeral"):
        create_preview(client, project, 10, own, deadline=deadline)
