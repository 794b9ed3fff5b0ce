"""GitHub deployments: one per commit and environment, even when two runs race, with statuses that tell the truth.

A rerun reuses the deployment of its commit. Two runs that both find none and both create one settle afterwards,
the way releases do: each lists again, all agree on the oldest, and every other one is marked ``inactive`` with a
note saying which deployment it duplicates. ``transient_environment`` is set only for ephemeral environments
(GitHub shows inactive transient deployments as destroyed and skips them when it deactivates older ones).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from kars_actions.core.errors import UsageError
from kars_actions.core.report import Progress, no_progress
from kars_actions.github.api import DEPLOYMENT_STATES, DeploymentRef, GitHubApi, is_production, truncate

EPHEMERAL_NAME = re.compile(r"(^|[-_])(pr|preview)[-_]?\d+$", re.IGNORECASE)


def is_ephemeral(environment: str) -> bool:
    """A pull-request environment (``pr-12``, ``app-pr-12``, ``preview-7``): it lives as long as its PR."""
    return EPHEMERAL_NAME.search(environment.strip()) is not None


class Deployments:
    def __init__(
        self,
        api: GitHubApi | None,
        *,
        run_url: str | None = None,
        dry_run: bool = False,
        progress: Progress = no_progress,
    ) -> None:
        self.api = api
        self.run_url = run_url
        self.dry_run = dry_run
        self.progress = progress

    # Reads ----------------------------------------------------------------------------------------------------
    def of_commit(self, environment: str, sha: str) -> list[dict[str, Any]]:
        """Every deployment of ``sha`` to ``environment``, oldest first."""
        if self.api is None:
            return []
        found = self.api.paginate(
            f"listing deployments to {environment}", "/deployments", {"sha": sha, "environment": environment}
        )
        return sorted((d for d in found if isinstance(d, dict)), key=lambda d: int(d["id"]))

    def find(self, environment: str, sha: str) -> DeploymentRef | None:
        """The deployment of ``sha`` to ``environment`` every run agrees on (the oldest), or None."""
        found = self.of_commit(environment, sha)
        if not found:
            return None
        return _ref(found[0], environment, sha)

    def newest(self, environment: str) -> list[dict[str, Any]]:
        """The first page of ``environment``'s deployments, newest first, as GitHub lists them."""
        if self.api is None:
            return []
        return [
            d
            for d in self.api.first_page(
                f"listing deployments to {environment}", "/deployments", {"environment": environment}
            )
            if isinstance(d, dict)
        ]

    def latest_status(self, deployment_id: int) -> dict[str, Any] | None:
        """The newest status of a deployment (GitHub lists them newest first), or None before any."""
        if self.api is None:
            return None
        answer = self.api.get(
            f"reading deployment {deployment_id}", f"/deployments/{deployment_id}/statuses", {"per_page": 1}
        )
        statuses = answer.data if isinstance(answer.data, list) else []
        return statuses[0] if statuses and isinstance(statuses[0], dict) else None

    def verdict_of(self, deployment_id: int) -> tuple[str | None, bool]:
        """The last verdict on a deployment, and whether it was superseded since: GitHub marks a deployment
        ``inactive`` when a newer one replaces it, which says nothing about how it fared — the status before it
        does. (None, False) before any status."""
        if self.api is None:
            return None, False
        answer = self.api.get(
            f"reading deployment {deployment_id}", f"/deployments/{deployment_id}/statuses", {"per_page": 20}
        )
        statuses = [s for s in answer.data if isinstance(s, dict)] if isinstance(answer.data, list) else []
        superseded = bool(statuses) and statuses[0].get("state") == "inactive"
        for status in statuses:  # newest first
            if status.get("state") != "inactive":
                return str(status.get("state")), superseded
        return ("inactive" if statuses else None), superseded

    def state_of(self, deployment_id: int) -> str | None:
        status = self.latest_status(deployment_id)
        return str(status.get("state")) if status else None

    def superseded_by(self, ref: DeploymentRef) -> int | None:
        """A newer deployment of another commit to the same environment, if one exists: then ``ref`` is no longer
        what the environment runs, and must not be marked successful or have others deactivated for it."""
        for deployment in self.newest(ref.environment):
            if int(deployment["id"]) > ref.id and deployment.get("sha") != ref.sha:
                return int(deployment["id"])
        return None

    def last_failed(self, environment: str) -> bool:
        """Whether the newest deployment to ``environment`` ended in failure; read before this run posts its own
        status, so that a success now is known as a recovery (the first success after a failure)."""
        newest = self.newest(environment)
        if not newest:
            return False
        return self.state_of(int(newest[0]["id"])) in ("failure", "error")

    # Writes ---------------------------------------------------------------------------------------------------
    def start(
        self,
        environment: str,
        sha: str,
        *,
        production: bool | None = None,
        transient: bool = False,
        description: str = "",
        log_url: str | None = None,
        environment_url: str | None = None,
        payload: Mapping[str, Any] | None = None,
    ) -> DeploymentRef:
        """The deployment of ``sha`` to ``environment`` (reused on a rerun, settled to one under a race) with an
        ``in_progress`` status.

        ``payload`` is stored with a new deployment and never changes; a reused one comes back with the payload its
        first run stored (the release keeps its rollback targets there, so that a rerun finds them)."""
        production = is_production(environment) if production is None else production
        existing = self.find(environment, sha)
        if existing is not None:
            self.progress(f"reusing deployment {existing.id} of {sha[:7]} to {environment}")
            ref = replace(existing, dry_run=self.dry_run)
        elif self.dry_run or self.api is None:
            self.progress(f"dry run: would create a deployment of {sha[:7]} to {environment}")
            return DeploymentRef(0, environment, sha, True, "", True)
        else:
            created = self.api.request(
                "POST",
                "/deployments",
                what=f"creating a deployment to {environment}",
                permission="deployments",
                body={
                    "ref": sha,
                    "task": "deploy",
                    "auto_merge": False,
                    "required_contexts": [],
                    "environment": environment,
                    "description": truncate(description or f"kars-actions deploy of {sha[:7]}"),
                    "transient_environment": transient,
                    "production_environment": production,
                    **({"payload": dict(payload)} if payload else {}),
                },
            ).data
            ref = self._settle(replace(_ref(created, environment, sha), created=True))
        self.status(ref, "in_progress", description or "deploying", environment_url, log_url)
        return ref

    def _settle(self, created: DeploymentRef) -> DeploymentRef:
        """List again after creating: when a concurrent run created one for the same commit too, every run keeps
        the oldest and the others are marked inactive, with a note naming the one kept."""
        found = self.of_commit(created.environment, created.sha)
        if not found:
            self.progress(f"created deployment {created.id} of {created.sha[:7]} to {created.environment}")
            return created
        keeper = int(found[0]["id"])
        for duplicate in found[1:]:
            if self.state_of(int(duplicate["id"])) == "inactive":
                continue
            self.status(
                DeploymentRef(int(duplicate["id"]), created.environment, created.sha, False),
                "inactive",
                f"duplicate of deployment {keeper} for the same commit (concurrent runs); {keeper} is kept",
            )
        if keeper == created.id:
            self.progress(f"created deployment {created.id} of {created.sha[:7]} to {created.environment}")
            return created
        self.progress(
            f"a concurrent run created deployment {keeper} of {created.sha[:7]} first; "
            f"marked the duplicate {created.id} inactive"
        )
        return _ref(found[0], created.environment, created.sha)

    def status(
        self,
        ref: DeploymentRef,
        state: str,
        description: str = "",
        environment_url: str | None = None,
        log_url: str | None = None,
    ) -> None:
        """Post a status; ``description`` is cut to GitHub's 140 characters. GitHub is asked not to deactivate
        older deployments itself: ``deactivate_superseded`` does it, for transient environments too."""
        if state not in DEPLOYMENT_STATES:
            raise UsageError(f"unknown deployment state {state!r}; expected one of {', '.join(DEPLOYMENT_STATES)}")
        log_url = log_url or self.run_url
        if self.dry_run or ref.dry_run or self.api is None:
            self.progress(f"dry run: would set deployment {ref.id} to {state}")
            return
        body: dict[str, Any] = {"state": state, "description": truncate(description), "auto_inactive": False}
        if environment_url:
            body["environment_url"] = environment_url
        if log_url:
            body["log_url"] = log_url
        self.api.request(
            "POST",
            f"/deployments/{ref.id}/statuses",
            what=f"setting deployment {ref.id} to {state}",
            permission="deployments",
            body=body,
        )

    def deactivate_superseded(self, environment: str, keep: DeploymentRef) -> list[int]:
        """Mark older deployments of ``environment`` inactive (the first page, newest first, is enough: older
        ones were deactivated by the runs that superseded them). Already inactive or never started: left alone."""
        deactivated: list[int] = []
        for deployment in self.newest(environment):
            deployment_id = int(deployment["id"])
            if deployment_id >= keep.id:
                continue
            state = self.state_of(deployment_id)
            if state is None or state == "inactive":
                continue
            self.status(
                DeploymentRef(deployment_id, environment, str(deployment.get("sha") or ""), False),
                "inactive",
                f"superseded by deployment {keep.id}",
            )
            deactivated.append(deployment_id)
        return deactivated


    def deactivate_all(self, environment: str, description: str) -> list[int]:
        """Mark every deployment of ``environment`` inactive (an environment that went away: a closed pull
        request's preview). Those already inactive are left alone."""
        deactivated: list[int] = []
        if self.api is None:
            return deactivated
        found = self.api.paginate(f"listing deployments to {environment}", "/deployments", {"environment": environment})
        for deployment in [d for d in found if isinstance(d, dict)]:
            deployment_id = int(deployment["id"])
            if self.state_of(deployment_id) == "inactive":
                continue
            ref = DeploymentRef(deployment_id, environment, str(deployment.get("sha") or ""), False)
            self.status(ref, "inactive", description)
            deactivated.append(deployment_id)
        return deactivated


def _ref(deployment: Mapping[str, Any], environment: str, sha: str) -> DeploymentRef:
    payload = deployment.get("payload")
    return DeploymentRef(
        int(deployment["id"]),
        environment,
        sha,
        False,
        str(deployment.get("url") or ""),
        payload=payload if isinstance(payload, dict) else {},
    )
