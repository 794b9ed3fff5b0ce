"""The rollback command with names a reader knows: Railway's rollback, each deployment's commit named by its release
version from the repository's tags (where the checkout has them).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from kars_actions.core.errors import KarsError
from kars_actions.core.report import Progress, no_progress

if TYPE_CHECKING:
    from kars_actions.railway.api import RailwayClient
    from kars_actions.railway.report import RollbackResult
    from kars_actions.railway.rollback import Describe
    from kars_actions.railway.steps import RollbackRequest


def version_names(root: Path, prefix: str) -> Describe | None:
    """A commit's release version (the highest ``<prefix>X.Y.Z`` tag on it) from the git checkout at ``root``;
    None when there is no checkout to ask. A commit without a tag has no version: nothing is guessed."""
    from kars_actions.github.gitlog import Git
    from kars_actions.github.versioning import SemVer, parse_tag

    try:
        git = Git(root)
    except KarsError:
        return None
    known: dict[str, str | None] = {}

    def describe(commit: str) -> str | None:
        if commit not in known:
            try:
                tags = git.tags_at(commit)
            except KarsError:  # a commit this clone does not have
                tags = []
            versions: list[tuple[SemVer, str]] = []
            for tag in tags:
                version = parse_tag(tag, prefix)
                if version is not None:
                    versions.append((version, tag))
            known[commit] = max(versions, key=lambda pair: pair[0])[1] if versions else None
        return known[commit]

    return describe


def run_rollback_command(
    request: RollbackRequest,
    client: RailwayClient,
    *,
    root: Path,
    prefix: str,
    progress: Progress = no_progress,
) -> RollbackResult:
    """``kars-actions rollback``: Railway's rollback, with versions named from the checkout's tags."""
    from kars_actions.railway.steps import run_rollback

    return run_rollback(request, client, progress=progress, describe=version_names(root, prefix))
