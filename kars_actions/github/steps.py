"""The `tag` and `release-status` steps: plain requests in, result objects out."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from kars_actions.core import gha
from kars_actions.core.errors import UsageError
from kars_actions.core.report import Progress, no_progress
from kars_actions.core.timing import SYSTEM_CLOCK, Clock

if TYPE_CHECKING:
    from kars_actions.github.versioning import VersionPlan
from kars_actions.github.api import PublishOutcome, ReleaseRef
from kars_actions.github.client import GitHubReleases
from kars_actions.github.report import ReleaseStatusResult, TagResult

# The `tag` and `release-status` steps ----------------------------------------------------------------------------


@dataclass
class TagRequest:
    """Everything ``kars-actions tag`` was asked, already merged with kars.yml by the caller."""

    repo_dir: str = "."
    target: str | None = None
    bump: str = "auto"
    version: str | None = None
    prerelease: str | None = None
    tag_prefix: str = "v"
    initial_version: str = "0.1.0"
    draft: bool = True
    force: bool = False
    move_major: bool = True
    github_token: str | None = None
    dry_run: bool = False
    skip_used_up: bool = True  # a version used up by an immutable release: release the next patch instead
    folder: str | None = None  # an app in a folder of a larger repository: commits touching it decide


def _github_for(token: str | None, dry_run: bool, progress: Progress, clock: Clock) -> GitHubReleases | None:
    env_token = token or os.environ.get("GITHUB_TOKEN") or os.environ.get("GH_TOKEN")
    if dry_run and (not env_token or not os.environ.get("GITHUB_REPOSITORY")):
        return None  # local git only: nothing to read from and nothing may be written
    return GitHubReleases.from_env(env_token, dry_run=dry_run, progress=progress, clock=clock)


def run_tag(request: TagRequest, progress: Progress = no_progress, clock: Clock = SYSTEM_CLOCK) -> TagResult:
    """The tag step: plan the version from git, then make (or reuse) the tag and the draft release."""
    from kars_actions.github.versioning import DefaultReleaseSettings, plan_version

    if request.github_token:
        gha.SECRETS.register(request.github_token)
    token = request.github_token or os.environ.get("GITHUB_TOKEN") or os.environ.get("GH_TOKEN")
    github = _github_for(request.github_token, request.dry_run, progress, clock) if token else None
    # GitHub's tags decide the version, whatever the clone holds; a version whose release failed and was never
    # published is no base: its changes go into the next notes.
    access = github.read_access() if github is not None else None

    def replan(used_up: frozenset[str] = frozenset()) -> VersionPlan:
        return plan_version(
            request.repo_dir,
            request.target,
            DefaultReleaseSettings(request.tag_prefix, request.initial_version),
            request.bump,
            request.version,
            request.prerelease,
            request.force,
            unpublished=access.unpublished if access else (),
            github_tags=access.tags if access else None,
            used_up=used_up,
            skip_used_up=request.skip_used_up,
            folder=request.folder,
        )

    plan = replan()
    if not plan.released:
        if github is not None:
            github.close()
        return TagResult(plan, None)
    github = github or _github_for(request.github_token, request.dry_run, progress, clock)
    if github is None:
        ref = ReleaseRef(
            plan.tag or "",
            plan.version or "",
            plan.target_sha,
            0,
            "",
            request.draft,
            plan.prerelease,
            not plan.existing_tag,
            True,
            True,
            plan.tag or "",
            plan.notes_markdown,
            plan.major_tag,
        )
        return TagResult(plan, ref, note="dry run without GITHUB_TOKEN/GITHUB_REPOSITORY: local git only")
    with github:
        plan, ref = github.ensure_free_tag_and_draft(plan, replan)
        published = None
        if not request.draft:
            published = github.publish(ref, move_major=request.move_major)
        return TagResult(plan, ref, published)


@dataclass
class ReleaseStatusRequest:
    tag: str
    success: bool
    reason: str = ""
    move_major: bool = True
    github_token: str | None = None
    dry_run: bool = False
    publish_failed: bool = False  # publish a release marked failed: its failure mark is replaced


def run_release_status(
    request: ReleaseStatusRequest, progress: Progress = no_progress, clock: Clock = SYSTEM_CLOCK
) -> ReleaseStatusResult:
    """Publish the release of ``tag`` (and move the major tag), or mark it failed and keep it a draft."""
    if request.github_token:
        gha.SECRETS.register(request.github_token)
    if not request.success and not request.reason.strip():
        raise UsageError("--failure needs --reason saying what failed", hint='e.g. --reason "health check failed"')
    github = _github_for(request.github_token, request.dry_run, progress, clock)
    if github is None:
        ref = ReleaseRef(request.tag, request.tag, "", 0, "", True, False, False, False, True)
        if request.success:
            return ReleaseStatusResult(ref, True, "", PublishOutcome(ref, True, None, False))
        return ReleaseStatusResult(ref, False, request.reason, None)
    with github:
        ref = github.release_for_tag(request.tag)
        if request.dry_run:
            ref = ReleaseRef(**{**asdict(ref), "dry_run": True})
        if request.success:
            failed = ref.failed_reason
            if failed is not None and not request.publish_failed:
                raise UsageError(
                    f"{ref.tag} is marked failed ({failed}): "
                    f"{'a dry run of ' if request.dry_run else ''}publishing it needs --publish-failed",
                    hint="make sure what failed is fixed on this commit, then pass --publish-failed to publish it "
                    "and replace its failure mark; or run the tag step again, which resets the draft",
                )
            return ReleaseStatusResult(ref, True, "", github.publish(ref, move_major=request.move_major))
        return ReleaseStatusResult(github.mark_failed(ref, request.reason), False, request.reason, None)
