"""How the tag and release-status steps look: terminal lines, JSON, the step summary, annotations and outputs, and
the summary of a step stopped on an error."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kars_actions.core.errors import EXIT_EXTERNAL, EXIT_OK, KarsError
from kars_actions.core.gha import md_escape, md_table
from kars_actions.core.report import Annotation, BaseResult, Style
from kars_actions.github.api import FAILED_SUFFIX, PublishOutcome, ReleaseRef

if TYPE_CHECKING:
    from kars_actions.github.versioning import VersionPlan


class TagResult(BaseResult):
    """What the tag step decided and made."""

    def __init__(
        self, plan: VersionPlan, release: ReleaseRef | None, published: PublishOutcome | None = None, note: str = ""
    ) -> None:
        self.plan = plan
        self.release = published.release if published else release
        self.published = published
        self.note = note

    def outputs(self) -> dict[str, str]:
        plan, release = self.plan, self.release
        return {
            "version": plan.version or "",
            "tag": plan.tag or "",
            "previous-tag": plan.previous_tag or "",
            "released": "true" if plan.released else "false",
            "release-id": str(release.release_id) if release and release.release_id else "",
            "release-url": release.html_url if release else "",
            "changelog": plan.notes_markdown,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "plan": self.plan.to_json(),
            "release": self.release.to_json() if self.release else None,
            "published": self.published.to_json() if self.published else None,
            "dry_run": bool(self.release and self.release.dry_run),
            "note": self.note,
            "outputs": {k: v for k, v in self.outputs().items() if k != "changelog"},
        }

    def text_lines(self, style: Style) -> list[str]:
        plan = self.plan
        if not plan.released:
            return [
                f"{style.warn('nothing to release')}: {plan.reason.removeprefix('nothing to release: ')}",
                f"  latest release: {plan.previous_tag or 'none'}; {len(plan.commits)} commit(s) since",
            ]
        dry = self.release is None or self.release.dry_run
        draft = self.release is None or self.release.draft
        # A draft is tagged, not released: only a published release is one.
        verb = ("would tag" if draft else "would release") if dry else ("tagged" if draft else "released")
        republished = self.published is not None and self.published.published_now
        if not dry and not draft and self.release is not None and not self.release.release_created and not republished:
            verb = "already released:"
        lines = [f"{style.ok(verb)} {style.bold(plan.tag or '')} at {plan.target_sha[:7]} ({plan.reason})"]
        if self.release is not None:
            state = "draft" if self.release.draft else "published"
            made = "created" if self.release.release_created else "reused"
            tag_made = "created" if self.release.tag_created else "reused"
            lines.append(
                f"  tag {tag_made}; {state} release {made}"
                + (f": {self.release.html_url}" if self.release.html_url else "")
            )
        if self.note:
            lines.append(f"  {style.dim(self.note)}")  # says GitHub was not read, and why
        else:
            lines += [f"  {line}" for line in _version_notes(plan)]
        lines.append("")
        lines.extend(plan.notes_markdown.rstrip("\n").splitlines())
        return lines

    def summary_markdown(self) -> str:
        plan = self.plan
        if not plan.released:
            return f"### Tag: nothing to release\n\n{md_escape(plan.reason)}\n"
        release = self.release
        rows = [
            ["version", f"`{plan.tag}`"],
            ["previous", f"`{plan.previous_tag}`" if plan.previous_tag else "none"],
            ["commit", f"`{plan.target_sha[:12]}`"],
            ["why", plan.reason],
        ]
        rows += [["tags", md_escape(line)] for line in _version_notes(plan)]
        if release is not None:
            link = f"[{'draft' if release.draft else 'release'}]({release.html_url})" if release.html_url else "-"
            rows.append(["release", link + (" (dry run)" if release.dry_run else "")])
        return f"### Tag {plan.tag}\n\n" + md_table(["", ""], rows) + "\n" + plan.notes_markdown


def _version_notes(plan: VersionPlan) -> list[str]:
    """Whose tags decided the version, and how the clone differs from GitHub's: a reader trusts the number."""
    if plan.tags_from != "github":
        return ["versions from this clone's tags only: GitHub was not read (no GITHUB_TOKEN and GITHUB_REPOSITORY)"]
    return list(plan.clone_differences)


class ReleaseStatusResult(BaseResult):
    def __init__(self, release: ReleaseRef, success: bool, reason: str, published: PublishOutcome | None) -> None:
        self.release = published.release if published else release
        self.success = success
        self.reason = reason
        self.published = published

    def outputs(self) -> dict[str, str]:
        return {
            "tag": self.release.tag,
            "release-id": str(self.release.release_id) if self.release.release_id else "",
            "release-url": self.release.html_url,
            "published": "true" if self.success else "false",
            "major-tag": self._major_tag(),
            "latest": "true" if self.published and self.published.latest else "false",
        }

    def _major_tag(self) -> str:
        """The major tag when it points at this release (moved now or already there), not when left alone."""
        published = self.published
        if published is None or not published.major_tag or published.major_kept_reason or published.major_error:
            return ""
        return published.major_tag

    def exit_code(self) -> int:
        return EXIT_EXTERNAL if self.published is not None and self.published.major_error else EXIT_OK

    def annotations(self) -> list[Annotation]:
        published = self.published
        if published is not None and published.major_error:
            line = f"{published.major_tag}: {_major_line(published, self.release.dry_run)}"
            return [Annotation("error", line, title=f"{self.release.tag} published; {published.major_tag} not moved")]
        if published is not None and published.major_ruleset:
            return [Annotation("warning", f"{published.major_tag}: {_major_line(published, False)}")]
        return []

    def to_json(self) -> dict[str, Any]:
        return {
            "success": self.success,
            "reason": self.reason,
            "release": self.release.to_json(),
            "published": self.published.to_json() if self.published else None,
            "lines": self._lines(),
        }

    def _lines(self) -> list[str]:
        """What happened, one line each, in the conditional for a dry run."""
        dry, release, published = self.release.dry_run, self.release, self.published
        if not self.success:
            return [f"{'would mark' if dry else 'marked'} {release.tag} failed: {self.reason}"]
        if published is not None and not published.published_now:
            lines = [f"{release.tag} is already published" + (f": {release.html_url}" if release.html_url else "")]
        else:
            verb = "would publish" if dry else "published"
            lines = [f"{verb} {release.tag}" + (f": {release.html_url}" if release.html_url else "")]
        if published is None:
            return lines
        if published.overwrote_failure:
            title = f"{release.tag}{FAILED_SUFFIX}"
            if dry:
                lines.append(
                    f'would replace its failure mark: the title {title!r} and the note "This release failed: '
                    f'{published.overwrote_failure}" would give way to the release notes'
                )
            else:
                lines.append(f"replaced its failure mark (it said: {published.overwrote_failure})")
        if published.latest_reason and not published.latest:
            lines.append(f"{'would not be' if dry else 'not'} made Latest: {published.latest_reason}")
        if release.immutable and not dry:
            lines.append("immutable: GitHub keeps its tag and assets as they are for good")
        if published.major_tag:
            lines.append(f"{published.major_tag}: {_major_line(published, dry)}")
        return lines

    def text_lines(self, style: Style) -> list[str]:
        first, *rest = self._lines()
        if self.success:
            return [style.ok(first), *[f"  {line}" for line in rest]]
        return [style.bad(first), *[f"  {line}" for line in rest]]

    def summary_markdown(self) -> str:
        rest = self._lines()[1:]
        body = "".join(f"- {md_escape(line)}\n" for line in rest)
        if not self.success:
            return f"### Release {self.release.tag} marked failed\n\n{md_escape(self.reason)}\n"
        heading = "would be published" if self.release.dry_run else "published"
        if self.published is not None and not self.published.published_now:
            heading = "already published"
        link = f"{self.release.html_url}\n\n" if self.release.html_url else ""
        immutable = ""
        if not self.release.dry_run and self.published is not None:
            immutable = f"immutable: {'yes' if self.release.immutable else 'no'}\n\n"
        return f"### Release {self.release.tag} {heading}\n\n{link}{immutable}{body}"


def _major_line(published: PublishOutcome, dry: bool) -> str:
    """What happened to the major tag, as true in a dry run as after the real one."""
    was = f" (was on {published.major_from[:7]})" if published.major_from else ""
    if published.major_error:
        return f"not moved: {published.major_error} — the release is published; rerun release-status to move it"
    if published.major_ruleset:
        return f"not moved (ruleset): {published.major_kept_reason}"
    if published.major_kept_reason:
        return f"{'would be ' if dry else ''}left alone: {published.major_kept_reason}"
    if not published.major_moved:
        return "already at this commit"
    if dry:
        return f"would move to {published.release.sha[:7]}{was}" if published.release.sha else f"would move{was}"
    return f"moved to {published.release.sha[:7]}{was}"


def stopped_summary(step: str, error: KarsError) -> str:
    """The step summary of a step that stopped on an error: what stopped it, and what to do."""
    hint = f"\n**What to do:** {md_escape(error.hint)}\n" if error.hint else ""
    return f"### {step} stopped\n\n**Why:** {md_escape(error.message)}\n{hint}"
