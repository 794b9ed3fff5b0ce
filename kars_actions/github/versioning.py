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
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from kars_actions.core.errors import ConfigError, UsageError
from kars_actions.github.gitlog import Commit, Git
from kars_actions.github.refusals import VersionRefused, VersionUsedUp

Bump = Literal["major", "minor", "patch"]
BUMP_CHOICES = ("auto", "patch", "minor", "major")

# semver.org's recommended expression, without the leading/trailing anchors' Perl flavour.
_SEMVER_RE = re.compile(
    r"^(?P<major>0|[1-9]\d*)\.(?P<minor>0|[1-9]\d*)\.(?P<patch>0|[1-9]\d*)"
    r"(?:-(?P<pre>(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+(?P<build>[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$",
    re.ASCII,  # \d is 0-9 only: "1٠.0.0" (an Arabic-Indic zero) is no version, not 10.0.0
)
_CHANNEL_RE = re.compile(r"^[0-9A-Za-z-]+$")
_HEADER_RE = re.compile(r"^(?P<type>[A-Za-z][\w-]*)(?:\((?P<scope>[^()\r\n]*)\))?(?P<bang>!)?:[ \t]+(?P<subject>\S.*)$")
_BREAKING_FOOTER_RE = re.compile(r"^BREAKING[ -]CHANGE:[ \t]*(?P<text>.*)$", re.MULTILINE)
_PR_RE = re.compile(r"\(#(?P<number>\d+)\)\s*$", re.ASCII)

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


def version_of(tag: str) -> tuple[str, SemVer | None]:
    """The tag prefix and version a tag names: ``v1.2.3`` → (``v``, 1.2.3); the first split that parses."""
    for cut in range(len(tag)):
        parsed = SemVer.parse(tag[cut:])
        if parsed is not None:
            return tag[:cut], parsed
    return "", None


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
    tags_from: str = "clone"  # whose tags decided: "github" (read: the truth) or "clone" (GitHub not read)
    clone_differences: tuple[str, ...] = ()  # how the clone's tags differ from GitHub's, in words
    used_up: tuple[str, ...] = ()  # versions passed over: their tag names are used up by immutable releases
    folder: str | None = None  # the app's folder in a larger repository: only commits touching it count

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
            "tags_from": self.tags_from,
            "clone_differences": list(self.clone_differences),
            "used_up": list(self.used_up),
            "folder": self.folder,
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
    github_tags: Mapping[str, str] | None = None,
    used_up: Collection[str] = (),
    skip_used_up: bool = True,
    folder: str | os.PathLike[str] | None = None,
) -> VersionPlan:
    """Compute the next version for ``target`` (default ``GITHUB_SHA``, then ``HEAD``) from the git history.

    ``github_tags``: every tag on GitHub and its commit, read by the caller. GitHub is the truth for versions: when
    given, the clone's own tags only serve to say how the clone differs, so a clone without the tags (a laptop, a
    cache, a checkout without ``fetch-depth: 0``) computes the same version as one with them. None (GitHub not
    read): the clone's tags. ``unpublished``: tags whose GitHub release exists but was never published; they are
    not a base for the bump or the notes. ``used_up``: tag names GitHub refused because an immutable release used
    them; the release moves past them to the next patch (``skip_used_up``) or stops and names it. ``folder``: an
    app kept in a folder of a larger repository (its kars.yml lives there): the bump and the notes come from the
    commits that touch that folder.
    """
    settings: ReleaseSettings = release_cfg or DefaultReleaseSettings()
    prefix = settings.tag_prefix
    links = links or RepoLinks.from_env()
    if bump not in BUMP_CHOICES:
        raise UsageError(f"--bump {bump!r} is not one of {', '.join(BUMP_CHOICES)}")
    if explicit and bump != "auto":
        raise UsageError("--version and --bump cannot be combined", hint="pass one of them")
    channel = _validate_channel(prerelease) if prerelease else None

    git = Git(repo_dir, folder=folder)
    git.require_full_history()
    target_sha = git.resolve_commit(target or os.environ.get("GITHUB_SHA") or "HEAD")
    index = _tag_index(git, prefix, github_tags)

    ancestors = git.ancestors(target_sha) if index.commits else set()
    at_target = {t for t, sha in index.commits.items() if sha == target_sha}
    reachable = {t: v for t, v in index.versions.items() if index.commits[t] in ancestors}

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

    base_sha = index.commits[base[0]] if base else None
    commits = [ConventionalCommit.from_commit(c) for c in git.commits(target_sha, base_sha)]

    # A rerun on a commit that already carries the version asked for resumes with it (unless GitHub refused it).
    usable = {t: v for t, v in reachable.items() if t not in used_up}
    reuse = _existing_release_at_target(usable, at_target, channel, explicit, prefix)
    if reuse is not None:
        tag, version = reuse
        notes_base, notes = _notes_for(
            git, index, target_sha, version, tag, before_target, base, commits, links, _before(failed, finals, version)
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
            **_provenance(index),
            folder=git.folder,
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
                    return _nothing_to_release(
                        target_sha, base[0], commits, prefix, "no releasable commit", index, git.folder
                    )
                level = "patch"
            level = effective_bump(highest[1], level)
            chosen = level
            next_final = highest[1].bumped(level)
        version = next_final
        if channel:
            previous = _latest_in_channel(before_target, next_final.final, channel)
            if previous is not None and bump == "auto" and not force:
                since_previous = _commits_since(git, index, target_sha, previous, commits)
                if bump_for(since_previous) is None:
                    return _nothing_to_release(
                        target_sha,
                        previous,
                        since_previous,
                        prefix,
                        f"no releasable commit since {previous}",
                        index,
                        git.folder,
                    )
            version = _next_in_channel(index.versions, next_final.final, channel)

    version, passed = _past_used_up(
        version, prefix, index, target_sha, used_up, explicit=bool(explicit), skip=skip_used_up
    )
    tag = f"{prefix}{version}"
    existing = index.commits.get(tag)
    if existing is not None and existing != target_sha:
        raise _taken_elsewhere(git, index, tag, existing, target_sha)
    notes_base, notes = _notes_for(
        git, index, target_sha, version, tag, before_target, base, commits, links, _before(failed, finals, version)
    )
    reason = _reason(chosen, detected, base[0] if base else None, _before(failed, finals, version))
    if passed:
        reason += f"; {', '.join(passed)} used up by an immutable release, so this release is {tag}"
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
        reason=reason,
        tag_prefix=prefix,
        unpublished=tuple(_before(failed, finals, version)),
        used_up=tuple(passed),
        **_provenance(index),
        folder=git.folder,
    )


def following(version: SemVer) -> SemVer:
    """The version after a used-up one: the next patch, or for ``1.4.0-rc.2`` the next of its channel."""
    parsed = version.channel()
    if parsed is not None:
        return SemVer(version.major, version.minor, version.patch, (parsed[0], parsed[1] + 1))
    return SemVer(version.major, version.minor, version.patch + 1, version.prerelease)


def _past_used_up(
    version: SemVer,
    prefix: str,
    index: _TagIndex,
    target_sha: str,
    used_up: Collection[str],
    *,
    explicit: bool,
    skip: bool,
) -> tuple[SemVer, list[str]]:
    """``version`` when its tag name is free; else the next free one after it (the used-up names passed over), or a
    refusal that names it when the version was given explicitly or the team asked to stop."""
    if f"{prefix}{version}" not in used_up:
        return version, []

    def taken(tag: str) -> bool:  # used up, or released on another commit
        return tag in used_up or index.commits.get(tag, target_sha) != target_sha

    passed: list[str] = []
    candidate = version
    while taken(f"{prefix}{candidate}"):
        passed.append(f"{prefix}{candidate}")
        candidate = following(candidate)
    tag, next_tag = f"{prefix}{version}", f"{prefix}{candidate}"
    if explicit:
        raise VersionUsedUp(tag, next_tag, hint=f"pass --version {candidate}: {tag} can never be released")
    if not skip:
        raise VersionUsedUp(
            tag,
            next_tag,
            hint=f"pass --version {candidate}; or let the release move to the next free patch by itself "
            "(drop --no-skip-used-up, or set release.skip_used_up_versions: true in kars.yml)",
        )
    return candidate, [p for p in passed if p in used_up]


def _taken_elsewhere(git: Git, index: _TagIndex, tag: str, existing: str, target_sha: str) -> VersionRefused:
    """The version computed for the target is already on another commit: say where, and what to do — never to
    delete a tag that may belong to a published release."""
    if index.source == "clone":
        return VersionRefused(
            f"tag {tag} already exists on commit {existing[:12]}, not on the target {target_sha[:12]} "
            "(versions from this clone's tags: GitHub was not read)",
            hint="a version is released once: pass --version with a higher version; with GITHUB_TOKEN and "
            "GITHUB_REPOSITORY set, the version is computed from GitHub's tags",
        )
    if existing in git.missing_commits([existing]):
        return VersionRefused(
            f"{tag} is already on GitHub, on commit {existing[:12]}, which this clone does not have: the target "
            f"{target_sha[:12]} does not contain that release",
            hint="fetch what GitHub has (`git fetch --tags`; with actions/checkout, `fetch-depth: 0`) and release "
            f"a commit that contains {tag}, or pass --version with a version above the latest release",
        )
    return VersionRefused(
        f"{tag} is already on GitHub, on commit {existing[:12]}, which is not in the history of the target "
        f"{target_sha[:12]}",
        hint=f"release a commit that contains {tag} (merge its line first), or pass --version with a free version",
    )


@dataclass(frozen=True)
class _TagIndex:
    """The version tags that count and their commits: GitHub's when it was read, else the clone's."""

    commits: dict[str, str]
    versions: dict[str, SemVer]
    source: str
    differences: tuple[str, ...] = ()


def _provenance(index: _TagIndex) -> dict[str, Any]:
    """Where a plan's tags came from, and how the clone differs: carried into every plan made from them."""
    return {"tags_from": index.source, "clone_differences": index.differences}


def _version_tags(tags: Mapping[str, str], prefix: str) -> tuple[dict[str, str], dict[str, SemVer]]:
    commits: dict[str, str] = {}
    versions: dict[str, SemVer] = {}
    for tag, sha in tags.items():
        version = parse_tag(tag, prefix)
        if version is not None and sha:
            commits[tag], versions[tag] = sha, version
    return commits, versions


def _tag_index(git: Git, prefix: str, github_tags: Mapping[str, str] | None) -> _TagIndex:
    local, local_versions = _version_tags(git.tag_commits(), prefix)
    if github_tags is None:
        return _TagIndex(local, local_versions, "clone")
    remote, versions = _version_tags(github_tags, prefix)
    return _TagIndex(remote, versions, "github", _differences(git, local, remote, versions, local_versions))


def _named(tags: list[str], versions: dict[str, SemVer]) -> str:
    ordered = sorted(tags, key=lambda t: versions[t].precedence_key(), reverse=True)
    shown = ", ".join(ordered[:3])
    return shown + (f" and {len(ordered) - 3} more" if len(ordered) > 3 else "")


def _differences(
    git: Git,
    local: dict[str, str],
    remote: dict[str, str],
    versions: dict[str, SemVer],
    local_versions: dict[str, SemVer],
) -> tuple[str, ...]:
    """How the clone's version tags differ from GitHub's, in words a reader can act on."""
    said: list[str] = []
    missing = [t for t in remote if t not in local]
    if missing:
        said.append(
            f"this clone lacks {len(missing)} of GitHub's version tags ({_named(missing, versions)}): "
            "the version comes from GitHub's"
        )
    absent = git.missing_commits({remote[t] for t in missing})
    gone = [t for t in missing if remote[t] in absent]
    if gone:
        are = "is on a commit" if len(gone) == 1 else "are on commits"
        said.append(f"GitHub's {_named(gone, versions)} {are} this clone does not have (`git fetch --tags` brings it)")
    only_here = [t for t in local if t not in remote]
    if only_here:
        said.append(f"{_named(only_here, local_versions)} only in this clone, not on GitHub: not counted")
    moved = [t for t in local if t in remote and local[t] != remote[t]]
    for tag in sorted(moved, key=lambda t: versions[t].precedence_key(), reverse=True)[:3]:
        said.append(
            f"{tag} is on {local[tag][:7]} in this clone but on {remote[tag][:7]} on GitHub: GitHub's "
            "counts (`git fetch --tags --force` updates the clone)"
        )
    return tuple(said)


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
    target_sha: str,
    previous: str,
    commits: list[ConventionalCommit],
    prefix: str,
    why: str,
    index: _TagIndex,
    folder: str | None,
) -> VersionPlan:
    where = f" touching {folder}/" if folder else ""
    return VersionPlan(
        released=False,
        version=None,
        tag=None,
        previous_tag=previous,
        bump=None,
        target_sha=target_sha,
        commits=commits,
        notes_markdown="",
        reason=f"nothing to release: {why}{where} (feat, fix, perf or a breaking change)",
        tag_prefix=prefix,
        **_provenance(index),
        folder=folder,
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


def _next_in_channel(versions: dict[str, SemVer], final: SemVer, channel: str) -> SemVer:
    """``final-channel.N`` with N one past the highest anywhere in the repository (tags are repo-wide)."""
    highest = 0
    for version in versions.values():
        if version.final != final:
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
    index: _TagIndex,
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
    notes_commits = (
        commits if base and notes_base == base[0] else _commits_since(git, index, target_sha, notes_base, commits)
    )
    return notes_base, release_notes(notes_commits, links, previous_tag=notes_base, tag=tag, unpublished=unpublished)


def _commits_since(
    git: Git, index: _TagIndex, target_sha: str, since_tag: str | None, fallback: list[ConventionalCommit]
) -> list[ConventionalCommit]:
    if since_tag is None:
        return fallback
    sha = index.commits.get(since_tag)
    if sha is None:
        raise ConfigError(f"tag {since_tag} vanished while reading history")
    return [ConventionalCommit.from_commit(c) for c in git.commits(target_sha, sha)]
