"""GitHub deployments of a release: in_progress while it goes out, then success or failure, older ones inactive."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kars_actions.core.errors import UsageError

if TYPE_CHECKING:
    pass
from kars_actions.github.api import DEPLOYMENT_STATES, DeploymentRef, RepoSession, is_production, truncate


class DeploymentOps(RepoSession):
    """Deployments of one repository."""

    def start_deployment(
        self,
        environment: str,
        sha: str,
        *,
        production: bool | None = None,
        description: str = "",
        log_url: str | None = None,
        environment_url: str | None = None,
    ) -> DeploymentRef:
        """A deployment of ``sha`` to ``environment`` (reused on rerun) with an ``in_progress`` status."""
        production = is_production(environment) if production is None else production
        existing = self._find_deployment(environment, sha)
        if existing is not None:
            self.progress(f"reusing deployment {existing.id} of {sha[:7]} to {environment}")
            ref = DeploymentRef(int(existing.id), environment, sha, False, str(existing.url), self.dry_run)
        elif self.dry_run:
            self.progress(f"dry run: would create a deployment of {sha[:7]} to {environment}")
            return DeploymentRef(0, environment, sha, True, "", True)
        else:
            created = self.api.call(
                f"creating a deployment to {environment}",
                "deployments",
                lambda: self._repo.create_deployment(
                    ref=sha,
                    task="deploy",
                    auto_merge=False,
                    required_contexts=[],
                    environment=environment,
                    description=truncate(description or f"kars-actions deploy of {sha[:7]}"),
                    transient_environment=not production,
                    production_environment=production,
                ),
            )
            ref = DeploymentRef(int(created.id), environment, sha, True, str(created.url))
            self.progress(f"created deployment {ref.id} of {sha[:7]} to {environment}")
        self.deployment_status(ref, "in_progress", description or "deploying", environment_url, log_url)
        return ref

    def _find_deployment(self, environment: str, sha: str) -> Any:
        if self._repo is None:
            return None

        def first() -> Any:
            for deployment in self._repo.get_deployments(sha=sha, environment=environment):
                return deployment
            return None

        return self.api.call(f"listing deployments to {environment}", None, first)

    def deployment_status(
        self,
        ref: DeploymentRef,
        state: str,
        description: str = "",
        environment_url: str | None = None,
        log_url: str | None = None,
    ) -> None:
        """Post a status; ``description`` is cut to GitHub's 140 characters."""
        if state not in DEPLOYMENT_STATES:
            raise UsageError(f"unknown deployment state {state!r}; expected one of {', '.join(DEPLOYMENT_STATES)}")
        log_url = log_url or self.context.run_url
        if self.dry_run or ref.dry_run or self._repo is None:
            self.progress(f"dry run: would set deployment {ref.id} to {state}")
            return
        payload: dict[str, Any] = {"state": state, "description": truncate(description), "auto_inactive": False}
        if environment_url:
            payload["environment_url"] = environment_url
        if log_url:
            payload["log_url"] = log_url
            payload["target_url"] = log_url  # older GHES releases read target_url only
        url = f"{self._repo.url}/deployments/{ref.id}/statuses"
        self.api.call(
            f"setting deployment {ref.id} to {state}",
            "deployments",
            lambda: self._requester().requestJsonAndCheck(
                "POST", url, input=payload, headers={"Accept": "application/vnd.github+json"}
            ),
        )

    def last_deployment_failed(self, environment: str) -> bool:
        """Whether the newest deployment to ``environment`` ended in failure; read before this run posts its own
        status, so that a success now is known as a recovery (the first success after a failure)."""
        if self._repo is None:
            return False

        def newest() -> Any:
            for deployment in self._repo.get_deployments(environment=environment).get_page(0):
                return deployment
            return None

        last = self.api.call(f"listing deployments to {environment}", None, newest)
        if last is None:
            return False
        statuses = self._get_json(f"reading deployment {last.id}", f"/deployments/{last.id}/statuses", {"per_page": 1})
        return bool(statuses) and statuses[0].get("state") in ("failure", "error")

    def deactivate_superseded(self, environment: str, keep: DeploymentRef) -> list[int]:
        """Mark older deployments of ``environment`` inactive (the first page, newest first, is enough: older
        ones were deactivated by the runs that superseded them)."""
        if self._repo is None:
            return []

        def older() -> list[Any]:
            result = []
            for deployment in self._repo.get_deployments(environment=environment).get_page(0):
                if deployment.id != keep.id and deployment.id < keep.id:
                    result.append(deployment)
            return result

        deactivated: list[int] = []
        for deployment in self.api.call(f"listing deployments to {environment}", None, older):
            statuses = self._get_json(
                f"reading deployment {deployment.id}", f"/deployments/{deployment.id}/statuses", {"per_page": 1}
            )
            if statuses and statuses[0].get("state") == "inactive":
                continue
            if not statuses:
                continue  # never started: nothing is live there to supersede
            self.deployment_status(
                DeploymentRef(int(deployment.id), environment, str(deployment.sha), False),
                "inactive",
                f"superseded by deployment {keep.id}",
            )
            deactivated.append(int(deployment.id))
        return deactivated
