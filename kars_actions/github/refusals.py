"""The refusals a version number can meet, and how GitHub words them: a number already released on another line or
missing from the clone's history, a number used up by an immutable release, a tag a ruleset keeps in place.

GitHub's immutable releases lock a published release's tag for good: it cannot be moved, nor deleted while the
release exists, and once such a release is deleted its tag name can never be created again. GitHub says so in
several ways, depending on the request (a release create, a ref create, a publish, a ``git push``, an upload); each
of them means the same thing here: that number is used up, and the next one must be released instead.
"""

from __future__ import annotations

from kars_actions.core.errors import CheckFailed, ExternalError

SERVICE = "GitHub"
# How many used-up numbers in a row a release moves past on its own. GitHub words a used-up tag name and a ruleset
# that restricts every tag creation alike ("creations being restricted"); a run of refusals means the latter.
MAX_USED_UP = 3

# GitHub's words for a tag name an immutable release used up (lower case; matched anywhere in the answer).
_USED_UP_SIGNS = (
    "tag_name was used by an immutable release",
    "cannot create ref due to creations being restricted",
    "published releases must have a valid tag",
    "gh013",
)
_ASSETS_LOCKED = "cannot upload assets to an immutable release"
# A repository or organisation ruleset refusing to create, move or delete a ref.
_RULESET_SIGNS = ("repository rule violations", "protected ref", "creations being restricted")


def used_up_sign(message: str) -> bool:
    """Whether GitHub's answer says the tag name is used up by an immutable release."""
    lowered = message.lower()
    return any(sign in lowered for sign in _USED_UP_SIGNS)


def assets_locked_sign(message: str) -> bool:
    return _ASSETS_LOCKED in message.lower()


def ruleset_sign(message: str) -> bool:
    """Whether GitHub refused a ref write because a ruleset protects the ref."""
    lowered = message.lower()
    return any(sign in lowered for sign in _RULESET_SIGNS)


class VersionRefused(CheckFailed):
    """The version cannot be released from this clone as it stands (exit 1). Raised before anything is written:
    there is nothing to undo, to mark failed or to alert about, only something to do."""

    title = "Version refused"


class VersionUsedUp(ExternalError):
    """GitHub refused a version's tag or release: an immutable release used the tag name, which can never be
    created again (exit 3). ``next_tag`` is the number to release instead."""

    title = "Version used up"

    def __init__(
        self, tag: str, next_tag: str, *, next_version: str = "", detail: str = "", hint: str | None = None
    ) -> None:
        detail = " ".join(detail.split())  # GitHub's rule violations come over several lines
        said = f" (GitHub: {detail})" if detail else ""
        release_as = (
            f"release this commit as {next_tag}: the tag and release steps take --version {next_version or next_tag}"
        )
        super().__init__(
            f"{tag} is used up by an immutable release: its tag name can never be created again{said}",
            service=SERVICE,
            hint=hint or release_as,
        )
        self.tag = tag
        self.next_tag = next_tag
        self.detail = detail


class AssetsLocked(ExternalError):
    """An upload to a published immutable release: its assets are locked (exit 3)."""

    title = "Release assets locked"


def assets_locked(what: str, detail: str) -> AssetsLocked:
    return AssetsLocked(
        f"{what}: the release is published and immutable, so its assets are locked (GitHub: {detail})",
        service=SERVICE,
        hint="upload assets to the draft, before it is published; to ship other files, release a new version",
    )
