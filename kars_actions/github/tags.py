"""Git tags on GitHub: the annotated release tag on exactly one commit, and the major tag (``v1``) moved forward.

A tag is made once: a rerun finds it on the same commit and reuses it, a tag on another commit stops the release,
and two jobs racing to create it end with the winner's (when it is on the same commit). A tag name GitHub refuses
because an immutable release used it up is a ``VersionUsedUp``; a ruleset refusing to move the major tag is a
``RulesetRefused``, which leaves the release itself sound.
"""

from __future__ import annotations

from typing import Any

from kars_actions.core.errors import CheckFailed, ExternalError
from kars_actions.core.report import Progress, no_progress
from kars_actions.github.api import SERVICE, Answer, GitHubApi, quote_ref
from kars_actions.github.refusals import VersionUsedUp, ruleset_sign, used_up_sign
from kars_actions.github.versioning import following, version_of

MAX_TAG_DEPTH = 5  # a tag of a tag is legal; GitHub's own UI stops after a few levels too
NO_COMMIT = "0" * 40  # no commit has this id: a ref aimed at it can only be refused
PROBE_REF = "refs/tags/kars-permission-check"


class RulesetRefused(ExternalError):
    """GitHub refused to create or move a bare tag (the major tag) because a ruleset protects it."""

    title = "Tag protected by a ruleset"

    def __init__(self, tag: str, detail: str) -> None:
        super().__init__(
            f"{tag} not moved (ruleset): GitHub refused to move it ({' '.join(detail.split())})",
            service=SERVICE,
            hint=f"let the release's token bypass the tag ruleset for {tag}, or scope the ruleset to exact "
            "versions (refs/tags/v*.*.*) so the major tag stays movable",
        )
        self.tag = tag
        self.detail = " ".join(detail.split())


class Tags:
    def __init__(self, api: GitHubApi | None, *, dry_run: bool = False, progress: Progress = no_progress) -> None:
        self.api = api
        self.dry_run = dry_run
        self.progress = progress

    def ref(self, tag: str) -> dict[str, Any] | None:
        """``refs/tags/<tag>`` as GitHub answers it, or None when there is no such tag."""
        if self.api is None:
            return None
        answer = self.api.get(f"reading tag {tag}", f"/git/ref/tags/{quote_ref(tag)}", expect=(404,))
        if answer.status == 404 or not isinstance(answer.data, dict):
            return None
        return answer.data

    def listed(self) -> dict[str, str]:
        """Every tag of the repository and the commit it ends at (GitHub peels annotated tags in this listing)."""
        if self.api is None:
            return {}
        found: dict[str, str] = {}
        for item in self.api.paginate("listing tags", "/tags"):
            commit = item.get("commit") if isinstance(item, dict) else None
            if isinstance(commit, dict) and item.get("name") and commit.get("sha"):
                found[str(item["name"])] = str(commit["sha"])
        return found

    def commit_of(self, tag: str) -> str | None:
        """The commit ``refs/tags/<tag>`` ends at (annotated tags peeled), or None."""
        ref = self.ref(tag)
        return None if ref is None else self._peel(tag, ref)

    def _peel(self, tag: str, ref: dict[str, Any]) -> str:
        assert self.api is not None
        obj = ref.get("object") or {}
        sha, kind = str(obj.get("sha", "")), obj.get("type")
        for _ in range(MAX_TAG_DEPTH):
            if kind != "tag":
                return sha
            data = self.api.get(f"reading tag object of {tag}", f"/git/tags/{sha}").data or {}
            obj = data.get("object") or {}
            sha, kind = str(obj.get("sha", "")), obj.get("type")
        return sha

    def ensure_annotated(self, tag: str, sha: str, message: str) -> bool:
        """The annotated tag on exactly ``sha``; True when this call created it."""
        on_github = self.commit_of(tag)
        if on_github is not None:
            same_commit_or_stop(tag, on_github, sha)
            self.progress(f"tag {tag} already on {sha[:7]}; reusing it")
            return False
        if self.dry_run or self.api is None:
            self.progress(f"dry run: would create the annotated tag {tag} on {sha[:7]}")
            return True
        api = self.api
        tag_object = api.request(
            "POST",
            "/git/tags",
            what=f"creating the tag object {tag}",
            permission="contents",
            body={"tag": tag, "message": message or tag, "object": sha, "type": "commit"},
        ).data
        created = api.request(
            "POST",
            "/git/refs",
            what=f"creating refs/tags/{tag}",
            permission="contents",
            body={"ref": f"refs/tags/{tag}", "sha": tag_object["sha"]},
            expect=(422,),
        )
        if created.status == 422:
            if used_up_sign(created.message):
                raise used_up(tag, created)
            if "already exists" not in created.message.lower():
                raise api.translate(f"creating refs/tags/{tag}", "contents", created)
            # Another job created the ref between our read and our write.
            winner = self.commit_of(tag)
            if winner is None:
                raise ExternalError(f"refs/tags/{tag} exists and vanished again", service=SERVICE)
            same_commit_or_stop(tag, winner, sha)
            self.progress(f"tag {tag} was created by a concurrent run on the same commit; reusing it")
            return False
        self.progress(f"created the annotated tag {tag} on {sha[:7]}")
        return True

    def point(self, tag: str, sha: str, current: str | None) -> bool:
        """Point the lightweight tag ``tag`` (a major tag such as ``v1``), now on ``current``, at ``sha``; True when
        it changed. A ruleset that protects the tag raises ``RulesetRefused``."""
        if current == sha:
            return False
        if self.dry_run or self.api is None:
            self.progress(f"dry run: would point {tag} at {sha[:7]}")
            return True
        api = self.api
        if current is None:
            created = api.request(
                "POST",
                "/git/refs",
                what=f"creating {tag}",
                permission="contents",
                body={"ref": f"refs/tags/{tag}", "sha": sha},
                expect=(422,),
            )
            if created.status != 422:
                self.progress(f"created {tag} at {sha[:7]}")
                return True
            if ruleset_sign(created.message):
                raise RulesetRefused(tag, created.message)
            if "already exists" not in created.message.lower():
                raise api.translate(f"creating {tag}", "contents", created)
        moved = api.request(
            "PATCH",
            f"/git/refs/tags/{quote_ref(tag)}",
            what=f"moving {tag}",
            permission="contents",
            body={"sha": sha, "force": True},
            expect=(422,),
        )
        if moved.status == 422:
            if ruleset_sign(moved.message):
                raise RulesetRefused(tag, moved.message)
            raise api.translate(f"moving {tag}", "contents", moved)
        self.progress(f"moved {tag} to {sha[:7]}")
        return True

    def can_push(self) -> bool | None:
        """What the repository says about this token's push access (``permissions.push``), when it says it: user
        tokens get it, installation tokens such as GITHUB_TOKEN do not."""
        if self.api is None:
            return None
        data = self.api.get("reading the repository", "").data
        permissions = data.get("permissions") if isinstance(data, dict) else None
        return bool(permissions.get("push")) if isinstance(permissions, dict) and "push" in permissions else None

    def can_write(self) -> bool | None:
        """Whether the token may write tags, asked with a write GitHub can only refuse: a ref aimed at a commit
        that cannot exist is refused with 403 without ``contents: write`` and with 422 with it. Nothing is created.
        None in a dry run, which writes nothing at all."""
        if self.api is None or self.dry_run:
            return None
        answer = self.api.request(
            "POST",
            "/git/refs",
            what="checking the permission for creating a tag",
            permission="contents",
            body={"ref": PROBE_REF, "sha": NO_COMMIT},
            expect=(403, 422),
        )
        return answer.status != 403


def same_commit_or_stop(tag: str, existing: str, wanted: str) -> None:
    """A tag found on GitHub on another commit: stop. The version was computed from GitHub's tags, so another run
    made this one meanwhile; a rerun computes the next version. Deleting the tag is never the advice: it may be a
    published release's."""
    if existing != wanted:
        raise CheckFailed(
            f"tag {tag} already exists on commit {existing}, but this release is for commit {wanted}",
            hint="a version is released once: rerun to release this commit under the next version (it is computed "
            "from GitHub's tags), or pass --version with a free version",
        )


def used_up(tag: str, answer: Answer) -> VersionUsedUp:
    """GitHub's refusal of a used-up tag name, naming the version to release instead."""
    prefix, parsed = version_of(tag)
    if parsed is None:
        return VersionUsedUp(tag, "a new version", detail=answer.message, hint="release under a new version")
    after = following(parsed)
    return VersionUsedUp(tag, f"{prefix}{after}", next_version=str(after), detail=answer.message)
