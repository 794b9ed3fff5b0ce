"""The GitHub release of a version: a draft made with its tag, reused on a rerun, settled after a race, then
published or marked failed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kars_actions.core.errors import CheckFailed, UsageError

if TYPE_CHECKING:
    from kars_actions.github.versioning import VersionPlan
from kars_actions.github.api import FAILED_MARKER, PublishOutcome, ReleaseRef, failure_body
from kars_actions.github.tags import TagOps


class ReleaseOps(TagOps):
    """Releases of one repository (and, through TagOps, their tags)."""

    def find_releases(self, tag: str) -> list[Any]:
        """Every release (drafts included) for ``tag``, oldest first. Drafts are invisible to the by-tag
        endpoint, so this lists releases and matches ``tag_name``."""
        if self._repo is None:
            return []

        def collect() -> list[Any]:
            return sorted((r for r in self._repo.get_releases() if r.tag_name == tag), key=lambda r: r.id)

        return self.api.call(f"listing releases for {tag}", None, collect)

    def find_release(self, tag: str) -> ReleaseRef | None:
        found = self.find_releases(tag)
        if not found:
            return None
        return self._ref_from(found[0], tag, "", created=False, tag_created=False)

    # Tag and draft ----------------------------------------------------------------------------------------------

    def ensure_tag_and_draft(
        self, plan: VersionPlan, sha: str | None = None, *, draft: bool = True, name: str | None = None
    ) -> ReleaseRef:
        """The annotated tag on exactly ``sha`` and a (draft) release for it; reused when they already exist."""
        if not plan.released or not plan.tag or not plan.version:
            raise UsageError("nothing to release: there is no version to tag")
        sha = sha or plan.target_sha
        tag, title = plan.tag, name or plan.tag
        tag_created = self._ensure_tag(tag, sha, plan.notes_markdown)
        existing = self.find_releases(tag)
        if existing:
            return self._reuse_release(existing[0], plan, sha, title, draft, tag_created)
        if self.dry_run:
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
        created = self.api.call(
            f"creating the release for {tag}",
            "contents",
            lambda: self._repo.create_git_release(
                tag,
                name=title,
                message=plan.notes_markdown,
                draft=draft,
                prerelease=plan.prerelease,
                target_commitish=sha,
                make_latest="false" if (draft or plan.prerelease) else "true",
            ),
        )
        keeper = self._settle_release_race(tag, created)
        return self._ref_from(
            keeper,
            plan.version,
            plan.major_tag or "",
            created=keeper.id == created.id,
            tag_created=tag_created,
            sha=sha,
            prerelease=plan.prerelease,
        )

    def _reuse_release(
        self, release: Any, plan: VersionPlan, sha: str, title: str, draft: bool, tag_created: bool
    ) -> ReleaseRef:
        assert plan.version is not None
        if not release.draft:
            self.progress(f"release {plan.tag} is already published; nothing to change")
            return self._ref_from(
                release, plan.version, plan.major_tag or "", created=False, tag_created=tag_created, sha=sha
            )
        if self.dry_run:
            self.progress(f"dry run: would update the existing draft release {release.id} for {plan.tag}")
            return self._ref_from(
                release,
                plan.version,
                plan.major_tag or "",
                created=False,
                tag_created=tag_created,
                sha=sha,
                prerelease=plan.prerelease,
            )
        updated = self.api.call(
            f"updating the draft release for {plan.tag}",
            "contents",
            lambda: release.update_release(
                name=title, message=plan.notes_markdown, draft=True, prerelease=plan.prerelease, target_commitish=sha
            ),
        )
        self.progress(f"reusing the draft release {updated.id} for {plan.tag}")
        return self._ref_from(
            updated, plan.version, plan.major_tag or "", created=False, tag_created=tag_created, sha=sha
        )

    def _settle_release_race(self, tag: str, created: Any) -> Any:
        """Two jobs may each create a draft for one tag (GitHub allows several drafts). All of them agree on the
        oldest; a job whose release is not the oldest deletes its own."""
        found = self.find_releases(tag)
        if not found or found[0].id == created.id:
            return created
        keeper = found[0]
        self.progress(f"a concurrent run created release {keeper.id} for {tag} first; removing duplicate {created.id}")
        self.api.call(f"deleting duplicate release {created.id}", "contents", lambda: created.delete_release())
        return keeper

    def _ref_from(
        self,
        release: Any,
        version: str,
        major_tag: str,
        *,
        created: bool,
        tag_created: bool,
        sha: str | None = None,
        prerelease: bool | None = None,
    ) -> ReleaseRef:
        return ReleaseRef(
            tag=release.tag_name,
            version=version,
            sha=sha or str(release.target_commitish or ""),
            release_id=int(release.id),
            html_url=str(release.html_url or ""),
            draft=bool(release.draft),
            prerelease=bool(release.prerelease) if prerelease is None else prerelease,
            tag_created=tag_created,
            release_created=created,
            dry_run=self.dry_run,
            name=str(release.name or release.tag_name),
            body=str(release.body or ""),
            major_tag=major_tag or None,
        )

    # Publish / fail -------------------------------------------------------------------------------------------

    def _release_by_id(self, ref: ReleaseRef) -> Any:
        from github import GithubException

        try:
            return self.api.call(
                f"reading release {ref.release_id}",
                None,
                lambda: self._repo.get_release(ref.release_id),
                passthrough=(404,),
            )
        except GithubException:
            found = self.find_releases(ref.tag)
            if not found:
                raise CheckFailed(
                    f"there is no release for {ref.tag}",
                    hint="run `kars-actions tag` first; it creates the tag and the draft release",
                ) from None
            return found[0]

    def release_for_tag(self, tag: str) -> ReleaseRef:
        """The release ``release-status`` acts on: found by tag (drafts included)."""
        found = self.find_releases(tag)
        if not found:
            raise CheckFailed(
                f"there is no release for {tag} in {self.context.repository}",
                hint="run `kars-actions tag` first; it creates the tag and the draft release",
            )
        release = found[0]
        sha = self._tag_commit_or_none(tag) or str(release.target_commitish or "")
        from kars_actions.github.versioning import SemVer

        version = tag
        for cut in range(len(tag)):
            parsed = SemVer.parse(tag[cut:])
            if parsed is not None:
                version = str(parsed)
                major = None if parsed.is_prerelease or parsed.major == 0 else f"{tag[:cut]}{parsed.major}"
                return self._ref_from(release, version, major or "", created=False, tag_created=False, sha=sha)
        return self._ref_from(release, version, "", created=False, tag_created=False, sha=sha)

    def publish(self, ref: ReleaseRef, move_major: bool = False) -> PublishOutcome:
        """Draft → published (``make_latest`` unless a prerelease); then, only then, move the major tag."""
        if ref.dry_run or self._repo is None:
            self.progress(f"dry run: would publish the release for {ref.tag}")
            return PublishOutcome(ref, True, ref.major_tag if move_major else None, False)
        release = self._release_by_id(ref)
        published_now = False
        current = self._ref_from(
            release, ref.version, ref.major_tag or "", created=False, tag_created=False, sha=ref.sha
        )
        if release.draft or FAILED_MARKER in str(release.body or ""):
            body = str(release.body or "")
            if FAILED_MARKER in body:
                body = body.split(FAILED_MARKER)[-1].lstrip("\n")
            if self.dry_run:
                self.progress(f"dry run: would publish release {release.id} for {ref.tag}")
            else:
                updated = self.api.call(
                    f"publishing the release for {ref.tag}",
                    "contents",
                    lambda: release.update_release(
                        name=ref.tag,
                        message=body,
                        draft=False,
                        prerelease=ref.prerelease,
                        make_latest="false" if ref.prerelease else "true",
                    ),
                )
                current = self._ref_from(
                    updated, ref.version, ref.major_tag or "", created=False, tag_created=False, sha=ref.sha
                )
                self.progress(f"published {ref.tag}: {updated.html_url}")
            published_now = True
        moved = False
        major = ref.major_tag if move_major and not ref.prerelease else None
        if major:
            moved = self.move_major_tag(major, ref.sha)
        return PublishOutcome(current, published_now, major, moved)

    def mark_failed(self, ref: ReleaseRef, reason: str) -> ReleaseRef:
        """Keep the release a draft and say in its title and body what failed, with a link to the run."""
        if ref.dry_run or self._repo is None:
            self.progress(f"dry run: would mark the release for {ref.tag} failed: {reason}")
            return ref
        release = self._release_by_id(ref)
        title = f"{ref.tag} (failed)"
        body = failure_body(reason, self.context.run_url, str(release.body or ""))
        if self.dry_run:
            self.progress(f"dry run: would mark release {release.id} failed: {reason}")
            return self._ref_from(
                release, ref.version, ref.major_tag or "", created=False, tag_created=False, sha=ref.sha
            )
        updated = self.api.call(
            f"marking the release for {ref.tag} failed",
            "contents",
            lambda: release.update_release(
                name=title, message=body, draft=bool(release.draft), prerelease=bool(release.prerelease)
            ),
        )
        self.progress(f"marked the release for {ref.tag} failed")
        return self._ref_from(updated, ref.version, ref.major_tag or "", created=False, tag_created=False, sha=ref.sha)

    # Deployments ----------------------------------------------------------------------------------------------
