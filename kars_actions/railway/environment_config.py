"""Railway's EnvironmentConfig through the API: read it, resolve what a plan covers, plan, and apply a patch.

The repository's side and the plan itself are pure and live in ``kars_actions.railway_config.settings``; this module
is the half that needs the client: one read per environment, and one narrow ``environmentPatchCommit`` per
environment, guarded by ``configEtag`` and checked by reading the settings back.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kars_actions.core.errors import CheckFailed, ConfigError
from kars_actions.railway.api import (
    DOCUMENTS,
    OutcomeUnknown,
    RailwayAPIError,
    RailwayClient,
    RailwayUnavailable,
)
from kars_actions.railway.deploy import edges, pick, read_project
from kars_actions.railway_config.settings import (
    ApplyOptions,
    EnvironmentApply,
    EnvironmentPlan,
    LiveEnvironment,
    ManagedService,
    ServiceFiles,
    SettingsPlan,
    SettingsScope,
    commit_message,
    live_environment,
    live_value,
    plan_service,
    read_repo_config,
    same,
    shown_value,
)

if TYPE_CHECKING:
    from kars_actions.core.timing import Deadline


def _document(name: str, text: str) -> str:
    """Register a document beside the client's own, so the schema test validates it too."""
    DOCUMENTS[name] = text.strip()
    return name


Q_ENVIRONMENT_SETTINGS = _document(
    "EnvironmentSettings",
    """query EnvironmentSettings($id: String!, $patches: Int) {
  environment(id: $id) {
    id name isEphemeral sourceEnvironment { name } config configEtag
  }
  environmentPatches(environmentId: $id, first: $patches) {
    edges { node { id message createdAt status } }
  }
}""",
)


# The same without the patch history and PR context, for an API that refuses those fields: planning then works,
# only removed-key reports and the IaC-history check have nothing to go on (the repository's IaC file still counts).
Q_ENVIRONMENT_CONFIG = _document(
    "EnvironmentConfig",
    """query EnvironmentConfig($id: String!) {
  environment(id: $id) { id name config configEtag }
}""",
)


Q_ENVIRONMENT_ETAG = _document(
    "EnvironmentEtag", "query EnvironmentEtag($id: String!) { environment(id: $id) { configEtag } }"
)


M_PATCH_COMMIT = _document(
    "EnvironmentPatchCommit",
    """mutation EnvironmentPatchCommit($environmentId: String!, $patch: EnvironmentConfig, $commitMessage: String) {
  environmentPatchCommit(environmentId: $environmentId, patch: $patch, commitMessage: $commitMessage)
}""",
)


# Railway now refuses any non-empty railwayConfigFile; the empty string clears it (null is ignored).
M_CLEAR_CONFIG_FILE = _document(
    "ServiceInstanceClearConfigFile",
    """mutation ServiceInstanceClearConfigFile($serviceId: String!, $environmentId: String!) {
  serviceInstanceUpdate(serviceId: $serviceId, environmentId: $environmentId, input: {railwayConfigFile: ""})
}""",
)


class SettingsConflict(CheckFailed):
    """Someone else changed the environment between the plan and the commit."""

    title = "Railway settings changed meanwhile"


class IacOwned(CheckFailed):
    """The settings belong to Railway's Infrastructure as Code: writing them too would fight it."""

    title = "Railway settings owned by Infrastructure as Code"


class NotApplied(CheckFailed):
    """Railway took the commit but the settings read back differ from what was sent."""

    title = "Railway settings not applied"


def resolve_scope(
    client: RailwayClient,
    project: str | None,
    environments: Sequence[str],
    services: Sequence[ServiceFiles],
    *,
    root: Path | None = None,
    strict: bool = False,
    deadline: Deadline | None = None,
) -> SettingsScope:
    """Find the project, the environments (default: the token's, or every one) and the services by name or id."""
    configs = {s.label: read_repo_config(s.path, root, strict=strict) for s in services if s.path is not None}
    data, token_env = read_project(client, project, deadline)
    name = str(data.get("name") or data["id"])
    where = f"project {name}"
    available_envs = edges(data, "environments")
    if token_env is not None:
        token_pair = next(((i, n) for i, n in available_envs if i == token_env), (token_env, token_env))
        for wanted in environments:
            if wanted not in token_pair:
                raise ConfigError(
                    f"RAILWAY_TOKEN is a project token for environment {token_pair[1]!r}, not {wanted!r}",
                    hint="project tokens are scoped to one environment: plan each environment with its own token, "
                    "or use an account token in RAILWAY_API_TOKEN",
                )
        chosen_envs = [token_pair]
    elif environments:
        chosen_envs = [pick("environment", e, available_envs, where) for e in environments]
    else:
        chosen_envs = list(available_envs)
    available = edges(data, "services")
    managed = []
    for service in services:
        service_id, railway_name = pick("service", service.railway_service, available, where)
        managed.append(ManagedService(service.label, railway_name, service_id, configs.get(service.label)))
    return SettingsScope(str(data["id"]), name, tuple(dict.fromkeys(chosen_envs)), tuple(managed))


def read_environment(client: RailwayClient, environment_id: str, deadline: Deadline | None = None) -> LiveEnvironment:
    """One request: the environment's config and etag, and its recent patches (what kars or IaC committed)."""
    try:
        data = client.query(Q_ENVIRONMENT_SETTINGS, {"id": environment_id, "patches": 50}, deadline)
    except RailwayAPIError:
        data = client.query(Q_ENVIRONMENT_CONFIG, {"id": environment_id}, deadline)
    patches = [e["node"] for e in (data.get("environmentPatches") or {}).get("edges") or []]
    return live_environment(data["environment"], patches)


def plan_settings(
    client: RailwayClient,
    scope: SettingsScope,
    *,
    repo_iac_file: str | None = None,
    deadline: Deadline | None = None,
) -> SettingsPlan:
    """Read-only: one request per environment. Usable from any preflight."""
    environments = []
    for env_id, _name in scope.environments:
        live = read_environment(client, env_id, deadline)
        environments.append(
            EnvironmentPlan(
                id=live.id,
                name=live.name,
                etag=live.etag,
                ephemeral=live.ephemeral,
                services=[plan_service(s, live) for s in scope.services if s.config is not None],
                managed_before=live.managed,
                iac_applied=live.iac_applied,
            )
        )
    return SettingsPlan(
        scope.project_id,
        scope.project_name,
        environments,
        unmanaged=[s.label for s in scope.services if s.config is None],
        iac_file=repo_iac_file,
    )


def apply_settings(
    client: RailwayClient,
    plan: SettingsPlan,
    options: ApplyOptions,
    *,
    deadline: Deadline | None = None,
    done: list[EnvironmentApply] | None = None,
) -> list[EnvironmentApply]:
    """Commit each environment's narrow patch after checking nobody changed it since the plan; read it back.

    Raises IacOwned before any write when Railway's IaC owns the settings, SettingsConflict when the etag moved
    (nothing more is written), NotApplied when a value read back is not the one sent. ``done`` (appended to as it
    goes) tells the caller what was written even when an error stops the rest.
    """
    owner = plan.iac_owner
    if owner:
        raise IacOwned(
            f"not applying: {owner}, so Railway's Infrastructure as Code owns these settings and the next "
            "`railway config apply` would revert what kars writes",
            hint="keep one owner per setting: change .railway/railway.ts instead, or remove it to let kars apply "
            "railway.json (set railway_config: check or off in kars.yml meanwhile)",
        )
    done = [] if done is None else done
    for env in plan.environments:
        patch = env.patch(prune=options.prune)
        clear = [s for s in env.services if s.config_file] if options.clear_config_file else []
        if not patch and not clear:
            continue
        step = EnvironmentApply(env.name, patch, commit_message(env, options))
        done.append(step)
        if options.dry_run:
            continue
        _check_unchanged(client, env, done, deadline)
        lost = False
        if patch:
            step.patch_id, lost = _commit(client, env, patch, step.message, deadline)
            step.committed = True
        for service in clear:
            client.mutate(M_CLEAR_CONFIG_FILE, {"serviceId": service.id, "environmentId": env.id}, deadline)
            step.cleared_config_files.append(service.label)
        try:
            _verify(client, env, options, deadline)
        except NotApplied as error:
            if not lost:
                raise
            step.committed = False
            raise RailwayUnavailable(
                f"the answer to environmentPatchCommit for {env.name} was lost and the settings read back are not "
                f"the file's: it was not applied ({error.message.split(': ', 1)[-1]})",
                hint="rerun `kars-actions config apply` (it plans again first)",
            ) from None
    return done


def _check_unchanged(
    client: RailwayClient, env: EnvironmentPlan, done: list[EnvironmentApply], deadline: Deadline | None
) -> None:
    etag = str(client.query(Q_ENVIRONMENT_ETAG, {"id": env.id}, deadline)["environment"]["configEtag"])
    if etag == env.etag:
        return
    applied = [d.environment for d in done if d.committed]
    raise SettingsConflict(
        f"environment {env.name} changed since the plan (configEtag {env.etag[:12]} → {etag[:12]}): someone edited "
        "its settings meanwhile; nothing was written to it"
        + (f" (already applied: {', '.join(applied)})" if applied else ""),
        hint="run `kars-actions config plan` again, look at the new differences, then apply",
    )


def _commit(
    client: RailwayClient, env: EnvironmentPlan, patch: dict[str, Any], message: str, deadline: Deadline | None
) -> tuple[str | None, bool]:
    """(patch id, whether the answer was lost). A lost answer is not retried: the read-back tells what happened."""
    try:
        data = client.mutate(
            M_PATCH_COMMIT, {"environmentId": env.id, "patch": patch, "commitMessage": message}, deadline
        )
    except OutcomeUnknown:
        return None, True
    value = data.get("environmentPatchCommit")
    return (str(value) if value else None), False


def _verify(client: RailwayClient, env: EnvironmentPlan, options: ApplyOptions, deadline: Deadline | None) -> None:
    """Read the settings back: a value Railway did not take is an error that names it."""
    live = read_environment(client, env.id, deadline)
    missing = []
    for service in env.services:
        settings = live.service(service.id)
        for change in service.changes:
            got = live_value(settings, change.section, change.key)
            if not same(got, change.repo):
                missing.append(
                    f"{service.label} {change.field}: sent {_short(shown_value(change, change.repo))}, "
                    f"Railway holds {_short(shown_value(change, got))}"
                )
        if options.prune:
            for change in service.removed:
                if live_value(settings, change.section, change.key) is not None:
                    missing.append(f"{service.label} {change.field}: reset, Railway still holds a value")
        if options.clear_config_file and service.config_file and settings.get("configFile"):
            missing.append(f"{service.label} railwayConfigFile: still {settings.get('configFile')!r}")
    if missing:
        raise NotApplied(
            f"environment {env.name}: Railway did not take " + "; ".join(missing),
            hint="Railway may not support that setting for this service (plan, region or builder); change it in the "
            "dashboard or drop it from railway.json, then apply again",
        )


def _short(value: Any, limit: int = 80) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"

