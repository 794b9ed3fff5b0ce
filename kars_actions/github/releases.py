"""GitHub releases: one draft per version (reused on reruns, settled to one under races), published only after
production proved the version, made Latest only when it is the highest final version, or marked failed or not published.

Drafts are listed only to tokens with push access, so "no release found" with a read-only token is a permission
problem, not a missing release; it is reported as one. A release create or update never names
``target_commitish``: the annotated tag already exists, and GitHub refuses (with a 404) writes that name a commit
changing ``.github/workflows/`` unless the token has the ``workflows`` permission, which ``GITHUB_TOKEN`` never has.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kars_actions.core.errors import AuthError, CheckFailed, ExternalError, UsageError
from kars_actions.core.report import Progress, no_progress
from kars_actions.github.api import (
    FAILED_MARKER,
    FAILED_SUFFIX,
    NOT_PUBLISHED_SUFFIX,
    SERVICE,
    Answer,
    GitHubApi,
    ReleaseRef,
    clean_body,
    failure_body,
    not_published_body,
    permission_error,
)
from kars_actions.github.refusals import used_up_sign
from kars_actions.github.tags import Tags, used_up
from kars_actions.github.versioning import SemVer, parse_tag, version_of

if TYPE_CHECKING:
    from kars_actions.github.versioning import VersionPlan

WORKFLOWS_DIR = ".github/workflows/"


@dataclass(frozen=True)
class LatestDecision:
    """Whether a release becomes Latest (or its major tag moves), and why not when it does not."""

    yes: bool
    reason: str = ""


def latest_decision(version: SemVer, prefix: str, published: list[dict[str, Any]], tag: str) -> LatestDecision:
    """A release is Latest only when no published final release under the same prefix is higher: a hotfix on an
    older line is published without taking Latest from the newer line."""
    if version.prerelease:
        return LatestDecision(False, "a prerelease is never Latest")
    higher = _highest(published, prefix, tag, major=None)
    if higher is not None and higher[0] > version:
        return LatestDecision(False, f"{higher[1]} is higher")
    return LatestDecision(True)


def major_decision(version: SemVer, prefix: str, published: list[dict[str, Any]], tag: str) -> LatestDecision:
    """The major tag moves only forward within its line, and never to a prerelease."""
    if version.prerelease:
        return LatestDecision(False, "a prerelease never moves the major tag")
    higher = _highest(published, prefix, tag, major=version.major)
    if higher is not None and higher[0] > version:
        return LatestDecision(False, f"{higher[1]} is higher in the {prefix}{version.major} line")
    return LatestDecision(True)


def _highest(published: list[dict[str, Any]], prefix: str, tag: str, major: int | None) -> tuple[SemVer, str] | None:
    best: tuple[SemVer, str] | None = None
    for release in published:
        other = str(release.get("tag_name") or "")
        if other == tag or release.get("draft") or release.get("prerelease"):
            continue
        parsed = parse_tag(other, prefix)
        if parsed is None or parsed.prerelease or (major is not None and parsed.major != major):
            continue
        if best is None or parsed > best[0]:
            best = (parsed, other)
    return best


class Releases:
    def __init__(
        self,
        api: GitHubApi | None,
        tags: Tags,
        *,
        repository: str,
        run_url: str | None = None,
        dry_run: bool = False,
        progress: Progress = no_progress,
    ) -> None:
        self.api = api
        self.tags = tags
        self.repository = repository
        self.run_url = run_url
        self.dry_run = dry_run
        self.progress = progress

    # Reads ----------------------------------------------------------------------------------------------------
    def listed(self) -> list[dict[str, Any]]:
        """Every release the token can see, newest first (drafts only with push access)."""
        if self.api is None:
            return []
        return [r for r in self.api.paginate("listing releases", "/releases") if isinstance(r, dict)]

    def for_tag(self, tag: str) -> list[dict[str, Any]]:
        """Every visible release for ``tag``, oldest first. Drafts are invisible to the by-tag endpoint, so this
        lists releases and matches ``tag_name``."""
        return sorted((r for r in self.listed() if r.get("tag_name") == tag), key=lambda r: int(r["id"]))

    def find(self, tag: str) -> ReleaseRef | None:
        found = self.for_tag(tag)
        if not found:
            return None
        return self.ref_from(found[0], tag, "", created=False, tag_created=False)

    def by_id(self, ref: ReleaseRef) -> dict[str, Any]:
        assert self.api is not None
        answer = self.api.get(f"reading release {ref.release_id}", f"/releases/{ref.release_id}", expect=(404,))
        if answer.status != 404 and isinstance(answer.data, dict):
            return answer.data
        found = self.for_tag(ref.tag)
        if not found:
            raise self.not_visible(ref.tag)
        return found[0]

    def for_status(self, tag: str) -> ReleaseRef:
        """The release ``release-status`` acts on: found by tag, drafts included."""
        found = self.for_tag(tag)
        if not found:
            raise self.not_visible(tag)
        release = found[0]
        sha = self.tags.commit_of(tag) or str(release.get("target_commitish") or "")
        prefix, parsed = version_of(tag)
        if parsed is None:
            return self.ref_from(release, tag, "", created=False, tag_created=False, sha=sha)
        major = None if parsed.prerelease or parsed.major == 0 else f"{prefix}{parsed.major}"
        return self.ref_from(release, str(parsed), major or "", created=False, tag_created=False, sha=sha)

    def not_visible(self, tag: str) -> Exception:
        """No release for ``tag`` in sight. With a tag on GitHub and a token that cannot write, the draft is most
        likely there and hidden: GitHub lists drafts only to tokens with push access."""
        if self.tags.ref(tag) is None:
            return CheckFailed(
                f"there is no release for {tag} in {self.repository}, and no tag {tag}",
                hint="run `kars-actions tag` first; it creates the tag and the draft release",
            )
        can_write = self.tags.can_push()
        if can_write is None:
            can_write = self.tags.can_write()
        if can_write is not False:
            if can_write is None:
                return AuthError(
                    f"no release for {tag} is visible to this token although the tag exists: GitHub shows draft "
                    "releases only to tokens with `contents: write`",
                    service=SERVICE,
                    hint="add `permissions:` with `contents: write` to the job; if there really is no release, "
                    "run `kars-actions tag` to create it",
                )
            return CheckFailed(
                f"there is no release for {tag} in {self.repository} (the tag exists)",
                hint="run `kars-actions tag` for the same commit; it reuses the tag and creates the draft release",
            )
        return permission_error(
            f"no release for {tag} is visible: GitHub shows draft releases only to tokens that can write, "
            "and this one cannot",
            "contents: write",
        )

    # Draft ------------------------------------------------------------------------------------------------------
    def ensure_draft(
        self, plan: VersionPlan, sha: str, *, tag_created: bool, draft: bool = True, name: str | None = None
    ) -> ReleaseRef:
        if not plan.released or not plan.tag or not plan.version:
            raise UsageError("nothing to release: there is no version to tag")
        tag, title = plan.tag, name or plan.tag
        existing = self.for_tag(tag)
        if existing:
            return self._reuse(existing[0], plan, sha, title, tag_created)
        if self.dry_run or self.api is None:
            self.progress(f"dry run: would create a {'draft ' if draft else ''}release {title} for {tag}")
            return ReleaseRef(
                tag,
                plan.version,
                sha,
                0,
                "",
                draft,
                plan.prerelease,
                tag_created,
                True,
                True,
                title,
                plan.notes_markdown,
                plan.major_tag,
            )
        body = {
            "tag_name": tag,
            "name": title,
            "body": plan.notes_markdown,
            "draft": draft,
            "prerelease": plan.prerelease,
            # A draft is never Latest; publishing decides, against the versions already out.
            "make_latest": "false",
        }
        answer = self.api.request(
            "POST",
            "/releases",
            what=f"creating the release for {tag}",
            permission="contents",
            body=body,
            expect=(403, 404, 422),
        )
        if answer.status == 422:
            if used_up_sign(answer.message):
                raise used_up(tag, answer)
            raise self.api.translate(f"creating the release for {tag}", "contents", answer)
        if answer.status in (403, 404):
            raise self.write_refused(f"creating the release for {tag}", answer, sha)
        keeper = self._settle(tag, answer.data)
        return self.ref_from(
            keeper,
            plan.version,
            plan.major_tag or "",
            created=keeper["id"] == answer.data["id"],
            tag_created=tag_created,
            sha=sha,
            prerelease=plan.prerelease,
        )

    def _reuse(self, release: dict[str, Any], plan: VersionPlan, sha: str, title: str, tag_created: bool) -> ReleaseRef:
        assert plan.version is not None
        major = plan.major_tag or ""
        if not release.get("draft"):
            self.progress(f"release {plan.tag} is already published")
            return self.ref_from(release, plan.version, major, created=False, tag_created=tag_created, sha=sha)
        if self.dry_run or self.api is None:
            self.progress(f"dry run: would update the existing draft release {release['id']} for {plan.tag}")
            return self.ref_from(
                release,
                plan.version,
                major,
                created=False,
                tag_created=tag_created,
                sha=sha,
                prerelease=plan.prerelease,
            )
        updated = self._update(
            release,
            f"updating the draft release for {plan.tag}",
            sha,
            {"name": title, "body": plan.notes_markdown, "draft": True, "prerelease": plan.prerelease},
        )
        self.progress(f"reusing the draft release {updated['id']} for {plan.tag}")
        return self.ref_from(updated, plan.version, major, created=False, tag_created=tag_created, sha=sha)

    def _settle(self, tag: str, created: dict[str, Any]) -> dict[str, Any]:
        """Two jobs may each create a draft for one tag (GitHub allows several drafts). All of them agree on the
        oldest; a job whose release is not the oldest deletes its own."""
        assert self.api is not None
        found = self.for_tag(tag)
        if not found or found[0]["id"] == created["id"]:
            return created
        keeper = found[0]
        self.progress(
            f"a concurrent run created release {keeper['id']} for {tag} first; removing duplicate {created['id']}"
        )
        self.api.request(
            "DELETE",
            f"/releases/{created['id']}",
            what=f"deleting duplicate release {created['id']}",
            permission="contents",
            expect=(404,),
        )
        return keeper

    def _update(self, release: dict[str, Any], what: str, sha: str, body: dict[str, Any]) -> dict[str, Any]:
        assert self.api is not None
        answer = self.api.request(
            "PATCH", f"/releases/{release['id']}", what=what, permission="contents", body=body, expect=(403, 404, 422)
        )
        if answer.status == 422:
            # Publishing a release whose tag name an immutable release used up ("must have a valid tag").
            if used_up_sign(answer.message):
                raise used_up(str(release.get("tag_name") or ""), answer)
            raise self.api.translate(what, "contents", answer)
        if answer.status in (403, 404):
            raise self.write_refused(what, answer, sha)
        return dict(answer.data)

    def write_refused(self, what: str, answer: Answer, sha: str) -> Exception:
        """A 403/404 on a release write: explained by the workflows permission when the commit changes
        ``.github/workflows/``, by ``contents: write`` otherwise."""
        assert self.api is not None
        if sha and self._touches_workflows(sha):
            return AuthError(
                f"{what}: GitHub answered {answer.status} — commit {sha[:7]} changes {WORKFLOWS_DIR}, and GitHub "
                "refuses release writes for such a commit unless the token has the `workflows` permission, "
                "which GITHUB_TOKEN never has",
                service=SERVICE,
                hint="make sure the tag exists before the release (kars-actions tag creates it first), or use a "
                "GitHub App token or fine-grained token with `workflows: write` for this step",
            )
        if answer.status == 403:
            return self.api.translate(what, "contents", answer)
        return ExternalError(
            f"{what}: not found (404)",
            service=SERVICE,
            hint="check GITHUB_REPOSITORY and that the token has `contents: write` on the repository",
        )

    def _touches_workflows(self, sha: str) -> bool:
        assert self.api is not None
        try:
            answer = self.api.get(f"reading commit {sha[:7]}", f"/commits/{sha}", expect=(404, 422))
        except ExternalError:
            return False  # only chooses the explanation: never worth hiding the original error
        files = answer.data.get("files") if isinstance(answer.data, dict) else None
        return any(str(f.get("filename", "")).startswith(WORKFLOWS_DIR) for f in files or [] if isinstance(f, dict))

    # Publish / fail -------------------------------------------------------------------------------------------
    def publish(self, ref: ReleaseRef) -> tuple[ReleaseRef, bool, LatestDecision]:
        """Draft → published, Latest only when no higher final version is out. Returns the release, whether this
        call published it, and the Latest decision."""
        if self.api is None or not ref.release_id:
            self.progress(f"dry run: would publish the release for {ref.tag}")
            return ref, True, LatestDecision(not ref.prerelease)
        listed = self.listed()
        release = self._pick(ref, listed)
        parsed = SemVer.parse(ref.version)
        latest = (
            latest_decision(parsed, ref.tag_prefix, listed, ref.tag)
            if parsed is not None
            else LatestDecision(False, f"{ref.tag} is not a semantic version")
        )
        current = self.ref_from(
            release, ref.version, ref.major_tag or "", created=False, tag_created=False, sha=ref.sha
        )
        body = str(release.get("body") or "")
        if not release.get("draft") and FAILED_MARKER not in body:
            return current, False, latest
        if self.dry_run or ref.dry_run:
            self.progress(f"dry run: would publish release {release['id']} for {ref.tag}")
            return current, True, latest
        self._tag_in_place(ref)
        updated = self._update(
            release,
            f"publishing the release for {ref.tag}",
            ref.sha,
            {
                "name": ref.tag,
                "body": clean_body(body),
                "draft": False,
                "prerelease": ref.prerelease,
                "make_latest": "true" if latest.yes else "false",
            },
        )
        self.progress(
            f"published {ref.tag}: {updated.get('html_url')}"
            + ("" if latest.yes else f" (not Latest: {latest.reason})")
        )
        current = self.ref_from(
            updated, ref.version, ref.major_tag or "", created=False, tag_created=False, sha=ref.sha
        )
        return current, True, latest

    def _pick(self, ref: ReleaseRef, listed: list[dict[str, Any]]) -> dict[str, Any]:
        for release in listed:
            if int(release.get("id", 0)) == ref.release_id:
                return release
        return self.by_id(ref)

    def _tag_in_place(self, ref: ReleaseRef) -> None:
        """Publishing a draft whose tag is gone makes GitHub create the tag on the default branch: the wrong
        commit. Put the annotated tag back on the release's commit first."""
        if ref.sha and self.tags.commit_of(ref.tag) is None:
            self.tags.ensure_annotated(ref.tag, ref.sha, ref.body or ref.tag)

    def mark_failed(self, ref: ReleaseRef, reason: str) -> ReleaseRef:
        """Keep the release a draft and say in its title and body what failed, with a link to the run."""
        return self._mark(ref, reason, "failed", FAILED_SUFFIX, failure_body)

    def mark_not_published(self, ref: ReleaseRef, reason: str) -> ReleaseRef:
        """Keep the release a draft and say in its title and body why it was not published, with a link to the run:
        for a release stopped by something other than a failure of its version."""
        return self._mark(ref, reason, "not published", NOT_PUBLISHED_SUFFIX, not_published_body)

    def _mark(
        self,
        ref: ReleaseRef,
        reason: str,
        what: str,
        suffix: str,
        body: Callable[[str, str | None, str], str],
    ) -> ReleaseRef:
        if ref.dry_run or self.api is None:
            self.progress(f"dry run: would mark the release for {ref.tag} {what}: {reason}")
            return ref
        release = self.by_id(ref)
        major = ref.major_tag or ""
        if self.dry_run:
            self.progress(f"dry run: would mark release {release['id']} {what}: {reason}")
            return self.ref_from(release, ref.version, major, created=False, tag_created=False, sha=ref.sha)
        updated = self._update(
            release,
            f"marking the release for {ref.tag} {what}",
            ref.sha,
            {
                "name": f"{ref.tag}{suffix}",
                "body": body(reason, self.run_url, str(release.get("body") or "")),
                "draft": bool(release.get("draft")),
                "prerelease": bool(release.get("prerelease")),
            },
        )
        self.progress(f"marked the release for {ref.tag} {what}")
        return self.ref_from(updated, ref.version, major, created=False, tag_created=False, sha=ref.sha)

    def ref_from(
        self,
        release: dict[str, Any],
        version: str,
        major_tag: str,
        *,
        created: bool,
        tag_created: bool,
        sha: str | None = None,
        prerelease: bool | None = None,
    ) -> ReleaseRef:
        tag = str(release.get("tag_name") or "")
        return ReleaseRef(
            tag=tag,
            version=version,
            sha=sha or str(release.get("target_commitish") or ""),
            release_id=int(release.get("id") or 0),
            html_url=str(release.get("html_url") or ""),
            draft=bool(release.get("draft")),
            prerelease=bool(release.get("prerelease")) if prerelease is None else prerelease,
            tag_created=tag_created,
            release_created=created,
            dry_run=self.dry_run,
            name=str(release.get("name") or tag),
            body=str(release.get("body") or ""),
            major_tag=major_tag or None,
            immutable=bool(release.get("immutable")),
        )
