"""The GitHub side of a release: the tag, the draft release, publishing, the major tag, deployments.

Every write checks first, so a rerun of the same commit reuses what the first run made, and every step of the
success path (publish, deployment success, older deployments inactive, the major tag) can be done again on its
own and finishes what an earlier run left undone. The parts live in their own modules (``tags``, ``releases``,
``deployments``) over one ``api.GitHubApi``; ``GitHubReleases`` puts them together.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from kars_actions.core.errors import AuthError, ExternalError, KarsError, UsageError
from kars_actions.core.report import Progress, no_progress
from kars_actions.core.timing import SYSTEM_CLOCK, Clock, Deadline
from kars_actions.github.access import Access, RepositoryAccess
from kars_actions.github.api import (
    SERVICE,
    DeploymentRef,
    GitHubApi,
    GitHubContext,
    PublishOutcome,
    ReleaseRef,
)
from kars_actions.github.deployments import Deployments
from kars_actions.github.pulls import PullRequests
from kars_actions.github.refusals import MAX_USED_UP, VersionUsedUp
from kars_actions.github.releases import Releases, major_decision
from kars_actions.github.tags import RulesetRefused, Tags
from kars_actions.github.versioning import SemVer

if TYPE_CHECKING:
    from kars_actions.github.versioning import VersionPlan


def _creations_restricted(tags: list[str], last: VersionUsedUp) -> ExternalError:
    return ExternalError(
        f"GitHub refused to create {', '.join(tags)} one after the other ({last.detail or 'used up'}): more likely a "
        "ruleset restricts creating tags than so many versions used up by immutable releases",
        service=SERVICE,
        hint="check the repository's and the organisation's rulesets (Settings → Rules) for a tag rule that "
        "restricts creations, and let this workflow's token bypass it; or pass --version with a free version",
    )


__all__ = ["DeploymentRef", "GitHubContext", "GitHubReleases", "MajorTagOutcome", "PublishOutcome", "ReleaseRef"]


@dataclass(frozen=True)
class MajorTagOutcome:
    """What happened to the major tag (``v1``): moved (in a dry run: would move), already there, or left alone
    and why. ``previous``: the commit it was on; ``ruleset``: a ruleset refused the move."""

    tag: str | None
    moved: bool = False
    kept_reason: str = ""
    previous: str | None = None
    ruleset: bool = False


class GitHubReleases:
    """Tags, releases and deployments for one repository. Build it with ``from_env``."""

    def __init__(
        self,
        context: GitHubContext,
        token: str | None,
        *,
        dry_run: bool = False,
        clock: Clock = SYSTEM_CLOCK,
        deadline: Deadline | None = None,
        progress: Progress = no_progress,
        wall_time: Callable[[], float] = time.time,
        timeout: float = 30.0,
    ) -> None:
        self.context = context
        self.dry_run = dry_run
        self.progress = progress
        self.api: GitHubApi | None = None
        if token:
            self.api = GitHubApi(
                context.api_url,
                context.repository,
                token,
                clock=clock,
                deadline=deadline,
                progress=progress,
                wall_time=wall_time,
                timeout=timeout,
            )
        elif not dry_run:
            raise AuthError(
                "no GitHub token: GITHUB_TOKEN is not set and --github-token was not given",
                service=SERVICE,
                hint="pass github-token (default ${{ github.token }}) with `permissions: contents: write`",
            )
        self.tags = Tags(self.api, dry_run=dry_run, progress=progress)
        self.releases = Releases(
            self.api,
            self.tags,
            repository=context.repository,
            run_url=context.run_url,
            dry_run=dry_run,
            progress=progress,
        )
        self.deployments = Deployments(self.api, run_url=context.run_url, dry_run=dry_run, progress=progress)
        self.access = Access(self.api, self.releases, repository=context.repository, progress=progress)
        self.pulls = PullRequests(self.api) if self.api is not None else None

    @classmethod
    def from_env(
        cls,
        token: str | None = None,
        *,
        repository: str | None = None,
        dry_run: bool = False,
        clock: Clock = SYSTEM_CLOCK,
        deadline: Deadline | None = None,
        progress: Progress = no_progress,
        environ: Mapping[str, str] | None = None,
        wall_time: Callable[[], float] = time.time,
    ) -> GitHubReleases:
        env = os.environ if environ is None else environ
        token = token or env.get("GITHUB_TOKEN") or env.get("GH_TOKEN") or None
        context = GitHubContext.from_env(env, repository)
        return cls(
            context, token, dry_run=dry_run, clock=clock, deadline=deadline, progress=progress, wall_time=wall_time
        )

    @property
    def can_read(self) -> bool:
        return self.api is not None

    def close(self) -> None:
        if self.api is not None:
            self.api.close()

    def __enter__(self) -> GitHubReleases:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # Before the first write ------------------------------------------------------------------------------------
    def read_access(self) -> RepositoryAccess:
        """Read the repository and which versions were published or left as drafts."""
        return self.access.read_access()

    def check_write_access(self) -> None:
        """Prove ``contents: write`` and ``deployments: write`` with requests GitHub can only refuse."""
        self.access.check_write_access()

    def delete_tag(self, tag: str) -> bool:
        """Take back the tag of a release that never went live; False when it was already gone."""
        return self.access.delete_tag(tag)

    # Tag and draft ----------------------------------------------------------------------------------------------
    def tag_commit(self, tag: str) -> str | None:
        """The commit ``refs/tags/<tag>`` ends at on GitHub (annotated tags peeled), or None."""
        return self.tags.commit_of(tag)

    def find_release(self, tag: str) -> ReleaseRef | None:
        return self.releases.find(tag)

    def ensure_tag_and_draft(
        self, plan: VersionPlan, sha: str | None = None, *, draft: bool = True, name: str | None = None
    ) -> ReleaseRef:
        """The annotated tag on exactly ``sha`` and a (draft) release for it; reused when they already exist. The
        tag comes first, so the release never needs to name a commit."""
        if not plan.released or not plan.tag or not plan.version:
            raise UsageError("nothing to release: there is no version to tag")
        sha = sha or plan.target_sha
        tag_created = self.tags.ensure_annotated(plan.tag, sha, plan.notes_markdown)
        return self.releases.ensure_draft(plan, sha, tag_created=tag_created, draft=draft, name=name)

    def ensure_free_tag_and_draft(
        self, plan: VersionPlan, replan: Callable[[frozenset[str]], VersionPlan]
    ) -> tuple[VersionPlan, ReleaseRef]:
        """``ensure_tag_and_draft``, moving past versions GitHub refuses as used up by an immutable release: each
        refusal asks ``replan`` for the plan without the used-up names (it moves to the next patch, or raises when
        the team asked to stop). A run of refusals is a ruleset restricting every tag creation, not used-up names."""
        used: set[str] = set(plan.used_up)
        while True:
            try:
                return plan, self.ensure_tag_and_draft(plan, plan.target_sha)
            except VersionUsedUp as refused:
                if refused.tag in used or len(used) >= MAX_USED_UP:
                    raise _creations_restricted([*sorted(used), refused.tag], refused) from None
                used.add(refused.tag)
                plan = replan(frozenset(used))  # raises, naming the next version, for a team that stops instead
                self.progress(f"{refused.tag} is used up by an immutable release: the next release will be {plan.tag}")

    def release_for_tag(self, tag: str) -> ReleaseRef:
        """The release ``release-status`` acts on: found by tag (drafts included)."""
        return self.releases.for_status(tag)

    # Success steps ------------------------------------------------------------------------------------------------
    def publish_release(self, ref: ReleaseRef) -> PublishOutcome:
        """Draft → published; Latest only when no higher final version is out. Done already: no write."""
        release, now, latest = self.releases.publish(ref)
        return PublishOutcome(release, now, latest=latest.yes, latest_reason=latest.reason)

    def move_major_tag(self, ref: ReleaseRef) -> MajorTagOutcome:
        """Point the major tag (``v1``) at the release, only forward within its line and never to a prerelease.
        The major tag is a bare tag, movable with immutable releases on; a release made for it by hand is locked, and
        a ruleset may protect it: both leave the release itself sound, and say so. A dry run reads, writes nothing."""
        major = ref.major_tag
        parsed = SemVer.parse(ref.version)
        if not major or parsed is None:
            return MajorTagOutcome(None)
        if self.api is None:
            self.progress(f"dry run: would move {major} to {ref.sha[:7]}")
            return MajorTagOutcome(major, True)
        listed = self.releases.listed()
        decision = major_decision(parsed, ref.tag_prefix, listed, ref.tag)
        if not decision.yes:
            self.progress(f"{major} stays where it is: {decision.reason}")
            return MajorTagOutcome(major, False, decision.reason)
        if any(r.get("tag_name") == major and r.get("immutable") and not r.get("draft") for r in listed):
            reason = f"{major} is the tag of a published immutable release, which GitHub keeps in place for good"
            self.progress(f"{major} stays where it is: {reason}")
            return MajorTagOutcome(major, False, reason)
        current = self.tags.commit_of(major)
        try:
            moved = self.tags.point(major, ref.sha, current)
        except RulesetRefused as refused:
            self.progress(refused.message)
            return MajorTagOutcome(major, False, refused.detail, previous=current, ruleset=True)
        return MajorTagOutcome(major, moved, previous=current)

    def publish(self, ref: ReleaseRef, move_major: bool = False) -> PublishOutcome:
        """Publish, then (only then) move the major tag: what ``release-status --success`` and ``tag --no-draft``
        do in one go. Publishing a release marked failed replaces its failure mark: the outcome names it."""
        outcome = self.publish_release(ref)
        overwrote = ref.failed_reason if outcome.published_now else None
        if not move_major or ref.prerelease:
            return replace(outcome, overwrote_failure=overwrote)
        try:
            major = self.move_major_tag(outcome.release)
        except KarsError as error:
            # Published already: an error moving v1 must not read as a release that failed.
            return replace(outcome, major_tag=ref.major_tag, major_error=error.message, overwrote_failure=overwrote)
        return PublishOutcome(
            outcome.release,
            outcome.published_now,
            major.tag,
            major.moved,
            outcome.latest,
            outcome.latest_reason,
            major.kept_reason,
            major.previous,
            major.ruleset,
            overwrote,
        )

    def mark_failed(self, ref: ReleaseRef, reason: str) -> ReleaseRef:
        """Keep the release a draft and say in its title and body what failed, with a link to the run."""
        return self.releases.mark_failed(ref, reason)

    def mark_not_published(self, ref: ReleaseRef, reason: str) -> ReleaseRef:
        """Keep the release a draft and say in its title and body why it was not published (no failure of its own)."""
        return self.releases.mark_not_published(ref, reason)

    # Deployments ----------------------------------------------------------------------------------------------
    def start_deployment(
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
        """A deployment of ``sha`` to ``environment`` (reused on rerun, one even under races), ``in_progress``."""
        return self.deployments.start(
            environment,
            sha,
            production=production,
            transient=transient,
            description=description,
            log_url=log_url,
            environment_url=environment_url,
            payload=payload,
        )

    def find_deployment(self, environment: str, sha: str) -> DeploymentRef | None:
        return self.deployments.find(environment, sha)

    def deployment_status(
        self,
        ref: DeploymentRef,
        state: str,
        description: str = "",
        environment_url: str | None = None,
        log_url: str | None = None,
    ) -> None:
        self.deployments.status(ref, state, description, environment_url, log_url)

    def last_deployment_failed(self, environment: str) -> bool:
        return self.deployments.last_failed(environment)

    def deactivate_superseded(self, environment: str, keep: DeploymentRef) -> list[int]:
        return self.deployments.deactivate_superseded(environment, keep)
