"""Semantic versions from git tags and Conventional Commits: the next version, its tag and its release notes.

Rules (documented in docs/steps/tag.md):

* The base of a final release is the latest FINAL tag reachable from the target; prerelease tags are never a
  base. The commits since it decide the bump: ``feat`` → minor, ``fix``/``perf`` → patch, ``!`` or a
  ``BREAKING CHANGE:`` footer → major (minor while below 1.0.0).
* A prerelease (``--prerelease rc``) is the next final version with ``-rc.N``; N counts on from the highest
  existing ``-rc.N`` of that version anywhere in the repository. A new ``rc.N`` needs a releasable commit since
  the previous one.
* No releasable commit → nothing to release (unless ``force``, which cuts a patch). Never a silent bump.
* The target already carrying a tag of the kind asked for → that same version again, so a rerun resumes.
* A version whose release was never published (a failed release whose tag survived: ``unpublished``) is not a
  base: the bump and the notes cover every commit since the last PUBLISHED release, and the new version is
  numbered past the failed one, whose number the notes name — a failed version is never skipped silently.
"""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from kars_actions.core.errors import CheckFailed, ConfigError, UsageError
from kars_actions.github.gitlog import Commit, Git

Bump = Literal["major", "minor", "patch"]
BUMPS: tuple[Bump, ...] = ("patch", "minor", "major")
BUMP_CHOICES = ("auto", "patch", "minor", "major")

# semver.org's recommended expression, without the leading/trailing anchors' Perl flavour.
_SEMVER_RE = re.compile(
    r"^(?P<major>0|[1-9]\d*)\.(?P<minor>0|[1-9]\d*)\.(?P<patch>0|[1-9]\d*)"
    r"(?:-(?P<pre>(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+(?P<build>[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)
_CHANNEL_RE = re.compile(r"^[0-9A-Za-z-]+$")
_HEADER_RE = re.compile(r"^(?P<type>[A-Za-z][\w-]*)(?:\((?P<scope>[^()\r\n]*)\))?(?P<bang>!)?:[ \t]+(?P<subject>\S.*)$")
_BREAKING_FOOTER_RE = re.compile(r"^BREAKING[ -]CHANGE:[ \t]*(?P<text>.*)$", re.MULTILINE)
_PR_RE = re.compile(r"\(#(?P<number>\d+)\)\s*$")

Identifier = int | str


@dataclass(frozen=True, eq=False)
class SemVer:
    """A semver 2.0 version. Equality and order follow precedence: build metadata is ignored."""

    major: int
    minor: int
    patch: int
    prerelease: tuple[Identifier, ...] = ()
    build: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> SemVer | None:
        match = _SEMVER_RE.match(text)
        if match is None:
            return None
        pre = match.group("pre")
        build = match.group("build")
        identifiers: tuple[Identifier, ...] = ()
        if pre:
            identifiers = tuple(int(p) if p.isdigit() else p for p in pre.split("."))
        return cls(
            int(match.group("major")),
            int(match.group("minor")),
            int(match.group("patch")),
            identifiers,
            tuple(build.split(".")) if build else (),
        )

    def precedence_key(self) -> tuple[Any, ...]:
        # A final version sorts after all its prereleases; numeric identifiers sort before alphanumeric ones,
        # numerically; a shorter identifier list sorts first when all shared identifiers are equal.
        pre = tuple((0, p, "") if isinstance(p, int) else (1, 0, p) for p in self.prerelease)
        return (self.major, self.minor, self.patch, 0 if self.prerelease else 1, pre)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SemVer):
            return NotImplemented
        return self.precedence_key() == other.precedence_key()

    def __hash__(self) -> int:
        return hash(self.precedence_key())

    def __lt__(self, other: SemVer) -> bool:
        return self.precedence_key() < other.precedence_key()

    def __le__(self, other: SemVer) -> bool:
        return self.precedence_key() <= other.precedence_key()

    def __gt__(self, other: SemVer) -> bool:
        return self.precedence_key() > other.precedence_key()

    def __ge__(self, other: SemVer) -> bool:
        return self.precedence_key() >= other.precedence_key()

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.prerelease:
            text += "-" + ".".join(str(p) for p in self.prerelease)
        if self.build:
            text += "+" + ".".join(self.build)
        return text

    @property
    def is_prerelease(self) -> bool:
        return bool(self.prerelease)

    @property
    def final(self) -> SemVer:
        return SemVer(self.major, self.minor, self.patch)

    def bumped(self, bump: Bump) -> SemVer:
        if bump == "major":
            return SemVer(self.major + 1, 0, 0)
        if bump == "minor":
            return SemVer(self.major, self.minor + 1, 0)
        return SemVer(self.major, self.minor, self.patch + 1)

    def channel(self) -> tuple[str, int] | None:
        """``("rc", 3)`` for ``1.4.0-rc.3``; None for a final or a differently shaped prerelease."""
        if len(self.prerelease) == 2 and isinstance(self.prerelease[0], str) and isinstance(self.prerelease[1], int):
            return self.prerelease[0], self.prerelease[1]
        return None


def parse_tag(tag: str, prefix: str) -> SemVer | None:
    """The version a tag names under ``prefix`` (``v1.2.3`` with prefix ``v``); None for any other tag."""
    if not tag.startswith(prefix):
        return None
    return SemVer.parse(tag[len(prefix) :])


def parse_version_input(text: str, prefix: str) -> SemVer:
    """An explicit ``--version``: semver with or without the tag prefix."""
    raw = text.strip()
    candidate = raw[len(prefix) :] if prefix and raw.startswith(prefix) else raw
    version = SemVer.parse(candidate)
    if version is None:
        raise UsageError(
            f"--version {raw!r} is not a semantic version",
            hint=f"use MAJOR.MINOR.PATCH[-PRERELEASE], e.g. 1.4.0 or {prefix}1.4.0-rc.1",
        )
    return version


# Conventional Commits -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConventionalCommit:
    """A commit read as a Conventional Commit; ``type`` is empty when the subject does not follow the spec."""

    commit: Commit
    type: str
    scope: str | None
    subject: str
    breaking: bool
    breaking_notes: tuple[str, ...]

    @classmethod
    def from_commit(cls, commit: Commit) -> ConventionalCommit:
        match = _HEADER_RE.match(commit.subject)
        notes = tuple(m.group("text").strip() for m in _BREAKING_FOOTER_RE.finditer(commit.body))
        if match is None:
            return cls(commit, "", None, commit.subject, bool(notes), notes)
        return cls(
            commit,
            match.group("type").lower(),
            match.group("scope") or None,
            match.group("subject").strip(),
            bool(match.group("bang")) or bool(notes),
            notes,
        )

    @property
    def bump(self) -> Bump | None:
        if self.breaking:
            return "major"
        if self.type == "feat":
            return "minor"
        if self.type in ("fix", "perf"):
            return "patch"
        return None

    @property
    def pull_request(self) -> int | None:
        match = _PR_RE.search(self.commit.subject)
        return int(match.group("number")) if match else None


def bump_for(commits: list[ConventionalCommit]) -> Bump | None:
    """The largest bump any commit asks for, or None when none is releasable."""
    found = {c.bump for c in commits} - {None}
    for level in ("major", "minor", "patch"):
        if level in found:
            return level
    return None


def effective_bump(base: SemVer, bump: Bump) -> Bump:
    """Below 1.0.0 a breaking change is a minor bump: 0.x versions promise no stability (semver item 4)."""
    if bump == "major" and base.major == 0:
        return "minor"
    return bump


# Release notes ------------------------------------------------------------------------------------------------

NOTE_SECTIONS = ("Breaking changes", "Features", "Fixes", "Other")


@dataclass(frozen=True)
class RepoLinks:
    """Where commits and pull requests live on the web; ``repository`` None means plain short shas."""

    server: str = "https://github.com"
    repository: str | None = None

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> RepoLinks:
        env = os.environ if environ is None else environ
        server = (env.get("GITHUB_SERVER_URL") or "https://github.com").rstrip("/")
        return cls(server, env.get("GITHUB_REPOSITORY") or None)

    def commit(self, sha: str) -> str:
        if not self.repository:
            return f"`{sha[:7]}`"
        return f"[`{sha[:7]}`]({self.server}/{self.repository}/commit/{sha})"

    def pull(self, number: int) -> str:
        if not self.repository:
            return f"#{number}"
        return f"[#{number}]({self.server}/{self.repository}/pull/{number})"

    def compare(self, base: str, head: str) -> str | None:
        if not self.repository:
            return None
        return f"{self.server}/{self.repository}/compare/{base}...{head}"


def _section(commit: ConventionalCommit) -> str:
    if commit.breaking:
        return "Breaking changes"
    if commit.type == "feat":
        return "Features"
    if commit.type in ("fix", "perf"):
        return "Fixes"
    return "Other"


def _note_line(commit: ConventionalCommit, links: RepoLinks) -> str:
    subject = _PR_RE.sub("", commit.subject).rstrip() if commit.pull_request else commit.subject
    scope = f"**{commit.scope}:** " if commit.scope else ""
    line = f"- {scope}{subject} ({links.commit(commit.commit.sha)}"
    if commit.pull_request is not None:
        line += f", {links.pull(commit.pull_request)}"
    line += ")"
    for note in commit.breaking_notes:
        if note:
            line += f"\n  - {note}"
    return line


def release_notes(
    commits: list[ConventionalCommit],
    links: RepoLinks,
    *,
    previous_tag: str | None = None,
    tag: str | None = None,
    unpublished: Sequence[str] = (),
) -> str:
    """Markdown notes grouped by kind; merge commits are left out (the commits they bring are listed).
    ``unpublished``: failed versions these notes also cover, named so that no version vanishes unexplained."""
    groups: dict[str, list[str]] = {name: [] for name in NOTE_SECTIONS}
    for c in commits:
        if c.commit.is_merge:
            continue
        groups[_section(c)].append(_note_line(c, links))
    parts: list[str] = []
    for name in NOTE_SECTIONS:
        if groups[name]:
            parts.append(f"### {name}\n\n" + "\n".join(groups[name]))
    if not parts:
        parts.append("No changes since the previous release.")
    if unpublished:
        names = ", ".join(unpublished)
        parts.append(f"_Includes the changes of {names}, which failed and was never published._")
    if previous_tag and tag:
        compare = links.compare(previous_tag, tag)
        if compare:
            parts.append(f"**Full changelog:** {compare}")
    return "\n\n".join(parts) + "\n"


# The plan -----------------------------------------------------------------------------------------------------


class ReleaseSettings(Protocol):
    """What versioning needs from kars.yml's ``release:`` block (``config.ReleaseConfig`` fits)."""

    @property
    def tag_prefix(self) -> str: ...

    @property
    def initial_version(self) -> str: ...


@dataclass(frozen=True)
class DefaultReleaseSettings:
    tag_prefix: str = "v"
    initial_version: str = "v0.1.0"


@dataclass(frozen=True)
class VersionPlan:
    """What the tag step will release, or why it will not. ``released`` False means nothing to release."""

    released: bool
    version: str | None
    tag: str | None
    previous_tag: str | None
    bump: str | None
    target_sha: str
    commits: list[ConventionalCommit] = field(default_factory=list)
    notes_markdown: str = ""
    prerelease: bool = False
    reason: str = ""
    existing_tag: bool = False
    tag_prefix: str = "v"
    unpublished: tuple[str, ...] = ()  # failed versions (never published) whose changes this one carries

    @property
    def major_tag(self) -> str | None:
        """``v1`` for ``v1.4.0``; None for prereleases and 0.x (no compatibility promise to float)."""
        if not self.version or self.prerelease:
            return None
        parsed = SemVer.parse(self.version)
        if parsed is None or parsed.major == 0:
            return None
        return f"{self.tag_prefix}{parsed.major}"

    def to_json(self) -> dict[str, Any]:
        return {
            "released": self.released,
            "version": self.version,
            "tag": self.tag,
            "previous_tag": self.previous_tag,
            "bump": self.bump,
            "target_sha": self.target_sha,
            "prerelease": self.prerelease,
            "existing_tag": self.existing_tag,
            "reason": self.reason,
            "unpublished": list(self.unpublished),
            "commits": [
                {"sha": c.commit.sha, "subject": c.commit.subject, "type": c.type, "breaking": c.breaking}
                for c in self.commits
            ],
        }


def _validate_channel(channel: str) -> str:
    channel = channel.strip()
    if not _CHANNEL_RE.match(channel) or channel.isdigit():
        raise UsageError(
            f"prerelease channel {channel!r} is not a valid semver identifier",
            hint="use letters, digits and hyphens only, e.g. rc, beta, staging",
        )
    return channel


def plan_version(
    repo_dir: str | os.PathLike[str],
    target: str | None = None,
    release_cfg: ReleaseSettings | None = None,
    bump: str = "auto",
    explicit: str | None = None,
    prerelease: str | None = None,
    force: bool = False,
    *,
    links: RepoLinks | None = None,
    unpublished: Collection[str] = (),
) -> VersionPlan:
    """Compute the next version for ``target`` (default ``GITHUB_SHA``, then ``HEAD``) from local git.

    ``unpublished``: tags whose GitHub release exists but was never published (read from GitHub by the caller);
    they are not a base for the bump or the notes.
    """
    settings: ReleaseSettings = release_cfg or DefaultReleaseSettings()
    prefix = settings.tag_prefix
    links = links or RepoLinks.from_env()
    if bump not in BUMP_CHOICES:
        raise UsageError(f"--bump {bump!r} is not one of {', '.join(BUMP_CHOICES)}")
    if explicit and bump != "auto":
        raise UsageError("--version and --bump cannot be combined", hint="pass one of them")
    channel = _validate_channel(prerelease) if prerelease else None

    git = Git(repo_dir)
    git.require_full_history()
    target_sha = git.resolve_commit(target or os.environ.get("GITHUB_SHA") or "HEAD")

    at_target = set(git.tags_at(target_sha))
    reachable: dict[str, SemVer] = {}
    for tag in git.tags_merged_into(target_sha):
        version = parse_tag(tag, prefix)
        if version is not None:
            reachable[tag] = version

    def latest(versions: dict[str, SemVer]) -> tuple[str, SemVer] | None:
        if not versions:
            return None
        tag = max(versions, key=lambda t: versions[t].precedence_key())
        return tag, versions[tag]

    before_target = {t: v for t, v in reachable.items() if t not in at_target}
    finals = {t: v for t, v in before_target.items() if not v.is_prerelease}
    # The bump and the notes start at the last published release; the number must pass every tag, failed or not.
    base = latest({t: v for t, v in finals.items() if t not in unpublished})
    highest = latest(finals)
    failed = sorted(
        (t for t, v in finals.items() if t in unpublished and (base is None or v > base[1])),
        key=lambda t: finals[t].precedence_key(),
    )
    latest_any = latest(before_target)

    base_sha = git.tag_commit(base[0]) if base else None
    commits = [ConventionalCommit.from_commit(c) for c in git.commits(target_sha, base_sha)]

    # A rerun on a commit that already carries the version asked for resumes with it.
    reuse = _existing_release_at_target(reachable, at_target, channel, explicit, prefix)
    if reuse is not None:
        tag, version = reuse
        notes_base, notes = _notes_for(
            git, target_sha, version, tag, before_target, base, commits, links, _before(failed, finals, version)
        )
        return VersionPlan(
            released=True,
            version=str(version),
            tag=tag,
            previous_tag=notes_base,
            bump=None,
            target_sha=target_sha,
            commits=commits,
            notes_markdown=notes,
            prerelease=version.is_prerelease,
            reason=f"{tag} already points at {target_sha[:7]}; reusing it",
            existing_tag=True,
            tag_prefix=prefix,
        )

    detected = bump_for(commits)

    if explicit:
        version = parse_version_input(explicit, prefix)
        if latest_any and version <= latest_any[1]:
            raise UsageError(
                f"--version {version} is not greater than the latest release {latest_any[0]}",
                hint="pick a higher version, or drop --version to compute it from the commits",
            )
        chosen: str | None = "explicit"
    else:
        if highest is None:
            next_final = parse_version_input(settings.initial_version, prefix)
            chosen = "initial"
        else:
            level: Bump | None = detected if bump == "auto" else bump  # type: ignore[assignment]
            if level is None and base is None:
                level = "patch"  # the first release failed: the first published one must still come
            if level is None:
                if not force:
                    assert base is not None
                    return _nothing_to_release(target_sha, base[0], commits, prefix, "no releasable commit")
                level = "patch"
            level = effective_bump(highest[1], level)
            chosen = level
            next_final = highest[1].bumped(level)
        version = next_final
        if channel:
            previous = _latest_in_channel(before_target, next_final.final, channel)
            if previous is not None and bump == "auto" and not force:
                since_previous = _commits_since(git, target_sha, previous, commits)
                if bump_for(since_previous) is None:
                    return _nothing_to_release(
                        target_sha, previous, since_previous, prefix, f"no releasable commit since {previous}"
                    )
            version = _next_in_channel(git, prefix, next_final.final, channel)

    tag = f"{prefix}{version}"
    existing = git.tag_commit(tag)
    if existing is not None and existing != target_sha:
        raise CheckFailed(
            f"tag {tag} already exists on commit {existing[:12]}, not on the target {target_sha[:12]}",
            hint="a version is released once: pass --version with a higher version, or investigate the stray tag",
        )
    notes_base, notes = _notes_for(
        git, target_sha, version, tag, before_target, base, commits, links, _before(failed, finals, version)
    )
    return VersionPlan(
        released=True,
        version=str(version),
        tag=tag,
        previous_tag=notes_base,
        bump=chosen,
        target_sha=target_sha,
        commits=commits,
        notes_markdown=notes,
        prerelease=version.is_prerelease,
        reason=_reason(chosen, detected, base[0] if base else None, _before(failed, finals, version)),
        tag_prefix=prefix,
        unpublished=tuple(_before(failed, finals, version)),
    )


def _before(failed: list[str], finals: dict[str, SemVer], version: SemVer) -> list[str]:
    """The failed (never published) versions below ``version``: the ones its notes stand in for."""
    return [t for t in failed if finals[t] < version]


def _reason(chosen: str | None, detected: Bump | None, base: str | None, failed: Sequence[str] = ()) -> str:
    if chosen == "explicit":
        reason = "version given explicitly"
    elif chosen == "initial":
        reason = "first release: no earlier release tag"
    elif detected is None:
        reason = f"forced patch release: no releasable commit since {base or 'the start'}"
    else:
        reason = f"{chosen} bump from the commits since {base or 'the start'}"
    if failed:
        reason += f"; {', '.join(failed)} never published (failed), so its changes are in these notes"
    return reason


def _nothing_to_release(
    target_sha: str, previous: str, commits: list[ConventionalCommit], prefix: str, why: str
) -> VersionPlan:
    return VersionPlan(
        released=False,
        version=None,
        tag=None,
        previous_tag=previous,
        bump=None,
        target_sha=target_sha,
        commits=commits,
        notes_markdown="",
        reason=f"nothing to release: {why} (feat, fix, perf or a breaking change)",
        tag_prefix=prefix,
    )


def _existing_release_at_target(
    reachable: dict[str, SemVer], at_target: set[str], channel: str | None, explicit: str | None, prefix: str
) -> tuple[str, SemVer] | None:
    here = {t: v for t, v in reachable.items() if t in at_target}
    if explicit:
        wanted = parse_version_input(explicit, prefix)
        for tag, version in here.items():
            if version == wanted:
                return tag, version
        return None
    if channel:
        matching = {t: v for t, v in here.items() if (v.channel() or ("", 0))[0] == channel}
    else:
        matching = {t: v for t, v in here.items() if not v.is_prerelease}
    if not matching:
        return None
    tag = max(matching, key=lambda t: matching[t].precedence_key())
    return tag, matching[tag]


def _latest_in_channel(tags: dict[str, SemVer], final: SemVer, channel: str) -> str | None:
    same = {t: v for t, v in tags.items() if v.final == final and (v.channel() or ("", 0))[0] == channel}
    if not same:
        return None
    return max(same, key=lambda t: same[t].precedence_key())


def _next_in_channel(git: Git, prefix: str, final: SemVer, channel: str) -> SemVer:
    """``final-channel.N`` with N one past the highest anywhere in the repository (tags are repo-wide)."""
    highest = 0
    for tag in git.all_tags():
        version = parse_tag(tag, prefix)
        if version is None or version.final != final:
            continue
        parsed = version.channel()
        if parsed and parsed[0] == channel:
            highest = max(highest, parsed[1])
    return SemVer(final.major, final.minor, final.patch, (channel, highest + 1))


def _notes_base(version: SemVer, before: dict[str, SemVer], base: tuple[str, SemVer] | None) -> str | None:
    """Notes of a prerelease cover the changes since the previous prerelease of the same version; a final
    release's notes cover everything since the previous final release."""
    if version.is_prerelease:
        parsed = version.channel()
        if parsed is not None:
            previous = _latest_in_channel(before, version.final, parsed[0])
            if previous is not None:
                return previous
    return base[0] if base else None


def _notes_for(
    git: Git,
    target_sha: str,
    version: SemVer,
    tag: str,
    before_target: dict[str, SemVer],
    base: tuple[str, SemVer] | None,
    commits: list[ConventionalCommit],
    links: RepoLinks,
    unpublished: list[str],
) -> tuple[str | None, str]:
    """The tag a version's notes start from, and the notes: the commits already read when that tag is the base,
    else the commits since it."""
    notes_base = _notes_base(version, before_target, base)
    notes_commits = commits if base and notes_base == base[0] else _commits_since(git, target_sha, notes_base, commits)
    return notes_base, release_notes(notes_commits, links, previous_tag=notes_base, tag=tag, unpublished=unpublished)


def _commits_since(
    git: Git, target_sha: str, since_tag: str | None, fallback: list[ConventionalCommit]
) -> list[ConventionalCommit]:
    if since_tag is None:
        return fallback
    sha = git.tag_commit(since_tag)
    if sha is None:
        raise ConfigError(f"tag {since_tag} vanished while reading history")
    return [ConventionalCommit.from_commit(c) for c in git.commits(target_sha, sha)]
