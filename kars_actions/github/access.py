"""What a release may do on GitHub, found out before it writes anything; and taking back a tag that never went live."""

from __future__ import annotations

from dataclasses import dataclass

from kars_actions.github.api import RepoSession, quote_ref

# No commit has this id, so a write aimed at it can only be refused: 403 without the permission, 422 with it.
_NO_COMMIT = "0" * 40
_PROBE_REF = "refs/tags/kars-permission-check"


@dataclass(frozen=True)
class RepositoryAccess:
    """The repository as the token sees it: each release tag and whether its release is published."""

    repository: str
    published: frozenset[str]  # tags with a published release
    unpublished: frozenset[str]  # tags whose releases are all drafts (a release that failed)


class AccessOps(RepoSession):
    """Read-only checks of the token and the repository, run before a release's first write."""

    def read_access(self) -> RepositoryAccess:
        """Read the repository and its releases; a token that cannot see it is refused here (exit 3)."""
        self._get_json(f"reading {self.context.repository}", "")
        published: set[str] = set()
        drafts: set[str] = set()

        def collect() -> None:
            for release in self._repo.get_releases():
                (drafts if release.draft else published).add(str(release.tag_name))

        # Drafts are listed only to a token that may write contents; a read-only token sees no failed versions.
        self.api.call(f"listing the releases of {self.context.repository}", None, collect)
        return RepositoryAccess(self.context.repository, frozenset(published), frozenset(drafts - published))

    def check_write_access(self) -> None:
        """Prove ``contents: write`` and ``deployments: write`` without creating anything.

        GitHub checks a token's permission before it looks at the request, so a write aimed at a commit that
        cannot exist is refused with 403 ("Resource not accessible by integration") when the permission is missing
        and with 422 when it is there. Either way nothing is created.
        """
        from github import GithubException

        url = self._repo.url
        probes: tuple[tuple[str, str, str, dict[str, object]], ...] = (
            ("contents", "creating a tag", f"{url}/git/refs", {"ref": _PROBE_REF, "sha": _NO_COMMIT}),
            (
                "deployments",
                "creating a deployment",
                f"{url}/deployments",
                {"ref": _NO_COMMIT, "required_contexts": [], "auto_merge": False, "environment": "kars-check"},
            ),
        )
        for permission, what, target, body in probes:

            def send(target: str = target, body: dict[str, object] = body) -> object:
                return self._requester().requestJsonAndCheck("POST", target, input=body)

            try:
                self.api.call(f"checking the permission for {what}", permission, send, passthrough=(422,))
            except GithubException:
                continue  # 422: allowed, and (as intended) nothing was created

    def delete_tag(self, tag: str) -> bool:
        """Remove ``refs/tags/<tag>``; False when it was already gone."""
        from github import GithubException

        url = f"{self._repo.url}/git/refs/tags/{quote_ref(tag)}"
        try:
            self.api.call(
                f"deleting the tag {tag}",
                "contents",
                lambda: self._requester().requestJsonAndCheck("DELETE", url),
                passthrough=(404, 422),
            )
        except GithubException:
            return False
        self.progress(f"deleted the tag {tag}: the release never went live")
        return True
