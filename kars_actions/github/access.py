"""What a release may do on GitHub, found out before it writes anything; and taking back a tag that never went live."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from kars_actions.core.report import Progress, no_progress
from kars_actions.github.api import GitHubApi, quote_ref
from kars_actions.github.releases import Releases

# No commit has this id, so a write aimed at it can only be refused: 403 without the permission, 422 with it.
_NO_COMMIT = "0" * 40
_PROBE_REF = "refs/tags/kars-permission-check"


@dataclass(frozen=True)
class RepositoryAccess:
    """The repository as the token sees it: its tags, each release tag and whether its release is published."""

    repository: str
    published: frozenset[str]  # tags with a published release
    unpublished: frozenset[str]  # tags whose releases are all drafts (a release that failed)
    immutable: frozenset[str] = frozenset()  # tags of published immutable releases: locked for good
    tags: Mapping[str, str] | None = None  # every tag on GitHub and its commit; None when GitHub was not read


class Access:
    """Read-only checks of the token and the repository, run before a release's first write."""

    def __init__(
        self, api: GitHubApi | None, releases: Releases, *, repository: str, progress: Progress = no_progress
    ) -> None:
        self.api = api
        self.releases = releases
        self.repository = repository
        self.progress = progress

    def read_access(self) -> RepositoryAccess:
        """Read the repository and its releases; a token that cannot see it is refused here (exit 3)."""
        if self.api is None:
            return RepositoryAccess(self.repository, frozenset(), frozenset())
        self.api.get(f"reading {self.repository}", "")
        published: set[str] = set()
        drafts: set[str] = set()
        immutable: set[str] = set()
        # Drafts are listed only to a token that may write contents; a read-only token sees no failed versions.
        for release in self.releases.listed():
            tag = str(release.get("tag_name"))
            (drafts if release.get("draft") else published).add(tag)
            if release.get("immutable") and not release.get("draft"):
                immutable.add(tag)
        return RepositoryAccess(
            self.repository,
            frozenset(published),
            frozenset(drafts - published),
            frozenset(immutable),
            self.releases.tags.listed(),
        )

    def check_write_access(self) -> None:
        """Prove ``contents: write`` and ``deployments: write`` without creating anything.

        GitHub checks a token's permission before it looks at the request, so a write aimed at a commit that
        cannot exist is refused with 403 ("Resource not accessible by integration") when the permission is missing
        and with 422 when it is there. Either way nothing is created.
        """
        if self.api is None:
            return
        probes: tuple[tuple[str, str, str, dict[str, object]], ...] = (
            ("contents", "creating a tag", "/git/refs", {"ref": _PROBE_REF, "sha": _NO_COMMIT}),
            (
                "deployments",
                "creating a deployment",
                "/deployments",
                {"ref": _NO_COMMIT, "required_contexts": [], "auto_merge": False, "environment": "kars-check"},
            ),
        )
        for permission, what, path, body in probes:
            # 422: allowed, and (as intended) nothing was created; 403 becomes an error naming the permission.
            self.api.request(
                "POST",
                path,
                what=f"checking the permission for {what}",
                permission=permission,
                body=body,
                expect=(422,),
            )

    def delete_tag(self, tag: str) -> bool:
        """Remove ``refs/tags/<tag>`` of a release that never went live; False when it was already gone, or when a
        published release has it: only a draft's tag is ever taken back (a published immutable release's tag is
        locked for good, and any published release's tag is what users pin)."""
        if self.api is None:
            return False
        if any(not release.get("draft") for release in self.releases.for_tag(tag)):
            self.progress(f"kept the tag {tag}: a published release has it")
            return False
        answer = self.api.request(
            "DELETE",
            f"/git/refs/tags/{quote_ref(tag)}",
            what=f"deleting the tag {tag}",
            permission="contents",
            expect=(404, 422),
        )
        if answer.status >= 400:
            return False
        self.progress(f"deleted the tag {tag}: the release never went live")
        return True
