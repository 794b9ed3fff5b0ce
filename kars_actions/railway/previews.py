"""Railway environments for pull requests: the PR environment Railway made itself (``isEphemeral`` with
``meta.prNumber``), or an ephemeral ``pr-<n>`` kars creates from a base environment and deletes when the pull
request closes; and the deployment of a pull request's head commit in it.

Only an ephemeral environment is ever created or deleted here, and only one kars created (ephemeral, named
``pr-<n>``, without Railway's pull-request metadata) is ever deleted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kars_actions.core.errors import ConfigError, ExternalError, KarsError
from kars_actions.core.report import Progress, no_progress
from kars_actions.core.timing import Deadline
from kars_actions.railway.api import (
    Deployment,
    OutcomeUnknown,
    RailwayClient,
    TokenKind,
    _document,  # the client's registry of documents: the schema test validates these too
)
from kars_actions.railway.deploy import _UUID, pick

Q_PREVIEW_PROJECT = _document(
    "PreviewProject",
    """query PreviewProject($id: String!) {
  project(id: $id) {
    id name prDeploys baseEnvironmentId
    services { edges { node { id name } } }
    environments {
      edges { node { id name isEphemeral meta { prNumber branch } sourceEnvironment { id name } } }
    }
  }
}""",
)
M_ENVIRONMENT_CREATE = _document(
    "EnvironmentCreate",
    """mutation EnvironmentCreate($input: EnvironmentCreateInput!) {
  environmentCreate(input: $input) { id name isEphemeral }
}""",
)
M_ENVIRONMENT_DELETE = _document(
    "EnvironmentDelete", "mutation EnvironmentDelete($id: String!) { environmentDelete(id: $id) }"
)

# How often to look again while Railway has not yet made the PR environment, or a deployment of the head.
LOOK_EVERY = 10.0
LOOK_TIMEOUT = 60.0  # the most one of those looks may take (retries of a passing fault included)


@dataclass(frozen=True)
class RailwayEnvironment:
    id: str
    name: str
    ephemeral: bool
    pr_number: int | None = None  # Railway's pull-request metadata: set only on the PR environments it makes
    source_id: str | None = None
    source_name: str | None = None

    @property
    def railways_own(self) -> bool:
        """A PR environment Railway made (and will delete itself when the pull request closes)."""
        return self.ephemeral and self.pr_number is not None


@dataclass(frozen=True)
class PreviewProject:
    id: str
    name: str
    pr_environments: bool  # Railway's PR environments are on for the project
    base_environment_id: str | None
    services: tuple[tuple[str, str], ...]  # (id, name)
    environments: tuple[RailwayEnvironment, ...]

    def environment(self, wanted: str) -> RailwayEnvironment:
        """An environment by id or name (the base a preview is forked from)."""
        env_id, _ = pick("environment", wanted, [(e.id, e.name) for e in self.environments], f"project {self.name}")
        return next(e for e in self.environments if e.id == env_id)


def created_name(pr: int) -> str:
    """The name of the environment kars creates for pull request ``pr`` (and the GitHub environment's name)."""
    return f"pr-{pr}"


def is_created_preview(environment: RailwayEnvironment, pr: int) -> bool:
    """An environment kars created for ``pr``: ephemeral, named ``pr-<n>``, without Railway's PR metadata."""
    return environment.ephemeral and environment.pr_number is None and environment.name == created_name(pr)


def find_preview(project: PreviewProject, pr: int) -> RailwayEnvironment | None:
    """Railway's own PR environment for ``pr``, else the one kars created for it, else None."""
    own = [e for e in project.environments if e.ephemeral and e.pr_number == pr]
    if own:
        return own[0]
    return next((e for e in project.environments if is_created_preview(e, pr)), None)


def _environment(node: Mapping[str, Any]) -> RailwayEnvironment:
    meta = node.get("meta") if isinstance(node.get("meta"), Mapping) else {}
    source = node.get("sourceEnvironment") if isinstance(node.get("sourceEnvironment"), Mapping) else {}
    number = meta.get("prNumber") if meta else None
    return RailwayEnvironment(
        id=str(node["id"]),
        name=str(node.get("name") or node["id"]),
        ephemeral=bool(node.get("isEphemeral")),
        pr_number=int(number) if isinstance(number, int) else None,
        source_id=str(source["id"]) if source and source.get("id") else None,
        source_name=str(source["name"]) if source and source.get("name") else None,
    )


def _project_id(client: RailwayClient, project: str | None, deadline: Deadline | None) -> str:
    if client.credentials.kind is TokenKind.PROJECT:
        raise ConfigError(
            "previews need an account or workspace token: a project token (RAILWAY_TOKEN) reaches one environment, "
            "and every pull request has its own",
            hint="create a workspace token (railway.com/account/tokens) and pass it as RAILWAY_API_TOKEN "
            "(the preview action's railway-api-token input)",
        )
    if not project:
        raise ConfigError(
            "which Railway project? Name it with --project or `project:` in kars.yml",
            hint="previews use RAILWAY_API_TOKEN, which can see several projects",
        )
    if _UUID.match(project):
        return project
    project_id, _ = pick("project", project, client.projects(deadline), "the projects this token can see")
    return project_id


def read_preview_project(client: RailwayClient, project: str | None, deadline: Deadline | None) -> PreviewProject:
    """The project with its services, its environments (PR ones included) and whether PR environments are on."""
    project_id = _project_id(client, project, deadline)
    return _read(client, project_id, deadline)


def _read(client: RailwayClient, project_id: str, deadline: Deadline | None) -> PreviewProject:
    data = client.query(Q_PREVIEW_PROJECT, {"id": project_id}, deadline)["project"]
    services = data.get("services", {}).get("edges", [])
    environments = data.get("environments", {}).get("edges", [])
    return PreviewProject(
        id=str(data["id"]),
        name=str(data.get("name") or data["id"]),
        pr_environments=bool(data.get("prDeploys")),
        base_environment_id=data.get("baseEnvironmentId") or None,
        services=tuple((str(e["node"]["id"]), str(e["node"]["name"])) for e in services),
        environments=tuple(_environment(e["node"]) for e in environments),
    )


def _one_look(client: RailwayClient) -> Deadline:
    """Each look gets its own bound: the last one, after the wait's deadline passed, is still a real answer."""
    return Deadline.after(LOOK_TIMEOUT, client.clock)


def wait_for_railways_preview(
    client: RailwayClient,
    project: PreviewProject,
    pr: int,
    *,
    deadline: Deadline,
    progress: Progress = no_progress,
    stop: Callable[[], bool] | None = None,
) -> RailwayEnvironment | None:
    """Railway makes its PR environment when it hears of the pull request, which may be after this job starts:
    look again every ``LOOK_EVERY`` seconds until it is there. None when the deadline (or ``stop``) comes first."""
    clock = client.clock
    said = False
    while True:
        found = find_preview(project, pr)
        if found is not None:
            return found
        if deadline.remaining() <= 0 or (stop is not None and stop()):
            return None
        if not said:
            progress(f"waiting for Railway to create the PR environment of #{pr}")
            said = True
        clock.sleep(min(LOOK_EVERY, deadline.remaining()))
        project = _read(client, project.id, _one_look(client))


def create_preview(
    client: RailwayClient,
    project: PreviewProject,
    pr: int,
    base: RailwayEnvironment,
    *,
    deadline: Deadline,
) -> RailwayEnvironment:
    """An ephemeral ``pr-<n>`` forked from ``base`` (its services, variables and settings), with no deployment
    of its own: kars deploys the pull request's head into it. A lost answer is checked before anything else."""
    if base.ephemeral:
        raise ConfigError(
            f"the base environment {base.name!r} is itself ephemeral (a preview)",
            hint="set previews.base in kars.yml to a lasting environment such as staging",
        )
    variables = {
        "input": {
            "projectId": project.id,
            "name": created_name(pr),
            "sourceEnvironmentId": base.id,
            "ephemeral": True,
            "skipInitialDeploys": True,
        }
    }
    try:
        node = client.mutate(M_ENVIRONMENT_CREATE, variables, deadline)["environmentCreate"]
    except OutcomeUnknown:
        again = find_preview(_read(client, project.id, deadline), pr)
        if again is not None:
            return again
        raise
    created = _environment({**node, "sourceEnvironment": {"id": base.id, "name": base.name}})
    if not created.ephemeral:
        # Railway made a lasting environment: say so rather than treat it as a preview that will go away.
        raise ExternalError(
            f"Railway created environment {created.name} ({created.id}) but not as an ephemeral one",
            service="Railway",
            hint="delete it in the Railway dashboard; kars never deletes an environment that is not ephemeral",
        )
    return created


def delete_preview(
    client: RailwayClient, project_id: str, environment: RailwayEnvironment, pr: int, deadline: Deadline
) -> bool:
    """Delete the environment kars created for ``pr``. Anything else (Railway's own PR environment, a lasting
    environment) is refused here, whatever the caller asks. A lost answer is settled by looking again."""
    if not environment.ephemeral:
        raise KarsError(f"refusing to delete {environment.name}: it is not an ephemeral environment")
    if not is_created_preview(environment, pr):
        raise KarsError(f"refusing to delete {environment.name}: kars did not create it")
    try:
        return bool(client.mutate(M_ENVIRONMENT_DELETE, {"id": environment.id}, deadline)["environmentDelete"])
    except OutcomeUnknown:
        left = _read(client, project_id, deadline)
        if all(e.id != environment.id for e in left.environments):
            return True
        raise


def head_deployments(
    client: RailwayClient,
    project_id: str,
    environment_id: str,
    services: Sequence[tuple[str, str]],
    commit: str,
    deadline: Deadline | None,
) -> dict[str, Deployment]:
    """The newest deployment of ``commit`` for each (label, service id), when there is one; deployments of any
    other commit (an older head) are not looked at."""
    found: dict[str, Deployment] = {}
    for label, service_id in services:
        for deployment in client.deployments(project_id, environment_id, service_id, first=20, deadline=deadline):
            if deployment.commit_hash == commit:
                found[label] = deployment
                break
    return found


def wait_for_head_deployments(
    client: RailwayClient,
    project_id: str,
    environment_id: str,
    services: Sequence[tuple[str, str]],
    commit: str,
    *,
    deadline: Deadline,
    progress: Progress = no_progress,
    stop: Callable[[], bool] | None = None,
) -> dict[str, Deployment]:
    """Railway deploys a pull request's push by itself: look every ``LOOK_EVERY`` seconds until each service has
    a deployment of ``commit``. Returns what was found by the deadline (or when ``stop`` says so)."""
    clock = client.clock
    found: dict[str, Deployment] = {}
    started = clock.monotonic()
    said = False
    while True:
        missing = [(label, sid) for label, sid in services if label not in found]
        try:
            found.update(head_deployments(client, project_id, environment_id, missing, commit, _one_look(client)))
        except ExternalError as error:
            progress(f"cannot list the preview's deployments, will look again ({error.message})")
        if len(found) == len(services) or deadline.remaining() <= 0 or (stop is not None and stop()):
            return found
        if not said:
            names = ", ".join(label for label, _ in services if label not in found)
            progress(f"waiting for Railway to start deploying {commit[:12]} ({names})")
            said = True
        clock.sleep(min(LOOK_EVERY, deadline.remaining()))
        if clock.monotonic() - started >= 60 and said:
            said = False  # say again once a minute that it is still waiting
            started = clock.monotonic()
