"""The version tag and the moving major tag (v1): created on the exact commit, checked before every write."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kars_actions.core.errors import CheckFailed, ExternalError

if TYPE_CHECKING:
    pass
from kars_actions.github.api import SERVICE, RepoSession, _message, quote_ref


class TagOps(RepoSession):
    """Tags of one repository."""

    def tag_commit(self, tag: str) -> str | None:
        """The commit ``refs/tags/<tag>`` ends at on GitHub (annotated tags peeled), or None."""
        if self._repo is None:
            return None
        from github import GithubException

        try:
            ref = self._get_json(f"reading tag {tag}", f"/git/ref/tags/{quote_ref(tag)}", passthrough=(404,))
        except GithubException as error:
            if error.status == 404:
                return None
            raise
        return self._peel(tag, ref)

    def _peel(self, tag: str, ref: dict[str, Any]) -> str:
        obj = ref.get("object") or {}
        sha, kind = str(obj.get("sha", "")), obj.get("type")
        for _ in range(5):  # a tag of a tag is legal; GitHub's own UI stops at a few levels too
            if kind != "tag":
                return sha
            data = self._get_json(f"reading tag object of {tag}", f"/git/tags/{sha}")
            obj = data.get("object") or {}
            sha, kind = str(obj.get("sha", "")), obj.get("type")
        return sha

    def _tag_commit_or_none(self, tag: str) -> str | None:
        from github import GithubException

        try:
            return self.tag_commit(tag)
        except GithubException:
            return None

    def _ensure_tag(self, tag: str, sha: str, message: str) -> bool:
        """True when this call created the tag. A tag on another commit stops the release."""
        on_github = self.tag_commit(tag)
        if on_github is not None:
            self._same_commit_or_stop(tag, on_github, sha)
            self.progress(f"tag {tag} already on {sha[:7]}; reusing it")
            return False
        if self.dry_run:
            self.progress(f"dry run: would create the annotated tag {tag} on {sha[:7]}")
            return True
        from github import GithubException

        tag_object = self.api.call(
            f"creating the tag object {tag}",
            "contents",
            lambda: self._repo.create_git_tag(tag, message or tag, sha, "commit"),
        )
        try:
            self.api.call(
                f"creating refs/tags/{tag}",
                "contents",
                lambda: self._repo.create_git_ref(f"refs/tags/{tag}", tag_object.sha),
                passthrough=(422,),
            )
        except GithubException as error:
            if "already exists" not in _message(error.data).lower():
                raise self.api._translate(f"creating refs/tags/{tag}", "contents", 422, _message(error.data)) from None
            # Another job created the ref between our read and our write.
            winner = self.tag_commit(tag)
            if winner is None:
                raise ExternalError(f"refs/tags/{tag} exists and vanished again", service=SERVICE) from None
            self._same_commit_or_stop(tag, winner, sha)
            self.progress(f"tag {tag} was created by a concurrent run on the same commit; reusing it")
            return False
        self.progress(f"created the annotated tag {tag} on {sha[:7]}")
        return True

    @staticmethod
    def _same_commit_or_stop(tag: str, existing: str, wanted: str) -> None:
        if existing != wanted:
            raise CheckFailed(
                f"tag {tag} already exists on commit {existing}, but this release is for commit {wanted}",
                hint="a version is released once: release the new commit under a higher version (--version or a "
                "new commit), or delete the stray tag if it was made by mistake",
            )

    def move_major_tag(self, major: str, sha: str) -> bool:
        """Point ``v1`` (a lightweight tag) at ``sha``. True when it moved or was created."""
        from github import GithubException

        current = self.tag_commit(major)
        if current == sha:
            return False
        if self.dry_run:
            self.progress(f"dry run: would move {major} to {sha[:7]}")
            return True
        if current is None:
            try:
                self.api.call(
                    f"creating {major}",
                    "contents",
                    lambda: self._repo.create_git_ref(f"refs/tags/{major}", sha),
                    passthrough=(422,),
                )
                self.progress(f"created {major} at {sha[:7]}")
                return True
            except GithubException as error:
                if "already exists" not in _message(error.data).lower():
                    raise self.api._translate(f"creating {major}", "contents", 422, _message(error.data)) from None
        url = f"{self._repo.url}/git/refs/tags/{quote_ref(major)}"
        self.api.call(
            f"moving {major}",
            "contents",
            lambda: self._requester().requestJsonAndCheck("PATCH", url, input={"sha": sha, "force": True}),
        )
        self.progress(f"moved {major} to {sha[:7]}")
        return True
