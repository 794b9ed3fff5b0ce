"""Pull requests: the one an Actions event is about, its head as GitHub has it now, and the single sticky comment
a preview keeps on it (found again by a hidden marker and edited in place, never posted twice).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kars_actions.core.errors import UsageError
from kars_actions.github.api import GitHubApi

# GitHub refuses a comment body longer than this many characters.
COMMENT_LIMIT = 65536


@dataclass(frozen=True)
class PullRequest:
    number: int
    head_sha: str
    head_ref: str
    head_repo: str | None  # "owner/name"; None when the fork it came from was deleted
    base_repo: str
    state: str  # open | closed
    merged: bool = False
    html_url: str = ""

    @property
    def from_fork(self) -> bool:
        """Opened from another repository: its workflow runs get no secrets and a read-only token."""
        return self.head_repo is None or self.head_repo.lower() != self.base_repo.lower()


@dataclass(frozen=True)
class PullRequestEvent:
    """What a ``pull_request`` event's payload (``GITHUB_EVENT_PATH``) says."""

    action: str
    pull: PullRequest


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _pull(data: Mapping[str, Any]) -> PullRequest:
    head, base = _mapping(data.get("head")), _mapping(data.get("base"))
    head_repo, base_repo = _mapping(head.get("repo")), _mapping(base.get("repo"))
    return PullRequest(
        number=int(data["number"]),
        head_sha=str(head.get("sha") or ""),
        head_ref=str(head.get("ref") or ""),
        head_repo=str(head_repo["full_name"]) if head_repo and head_repo.get("full_name") else None,
        base_repo=str(base_repo.get("full_name") or ""),
        state=str(data.get("state") or "open"),
        merged=bool(data.get("merged")),
        html_url=str(data.get("html_url") or ""),
    )


def read_event(path: str | None) -> PullRequestEvent | None:
    """The pull request of a ``pull_request`` event; None when there is no event file or it is another event."""
    if not path:
        return None
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        raise UsageError(
            f"cannot read the event payload {path}: {error}",
            hint="run on a pull_request event, or pass --pr NUMBER",
        ) from None
    pull = data.get("pull_request") if isinstance(data, dict) else None
    if not isinstance(pull, dict) or not isinstance(pull.get("number"), int):
        return None
    return PullRequestEvent(action=str(data.get("action") or ""), pull=_pull(pull))


@dataclass(frozen=True)
class Comment:
    id: int
    html_url: str
    body: str


class PullRequests:
    """Reads a pull request and keeps one comment on it, marked by an HTML comment only the API shows."""

    def __init__(self, api: GitHubApi) -> None:
        self.api = api

    def get(self, number: int) -> PullRequest:
        answer = self.api.get(f"reading pull request #{number}", f"/pulls/{number}")
        if not isinstance(answer.data, Mapping):
            raise UsageError(f"pull request #{number}: GitHub answered without a pull request")
        return _pull(answer.data)

    def find_comment(self, number: int, marker: str) -> Comment | None:
        """The oldest comment carrying ``marker`` (so every run edits the same one)."""
        for item in self.api.paginate(f"listing the comments of #{number}", f"/issues/{number}/comments"):
            if isinstance(item, dict) and marker in str(item.get("body") or ""):
                return Comment(int(item["id"]), str(item.get("html_url") or ""), str(item.get("body") or ""))
        return None

    def keep_comment(self, number: int, marker: str, body: str) -> tuple[Comment, bool]:
        """Edit the marked comment to ``body``, or post it if there is none; returns it and whether it was
        written (an unchanged body is not sent again)."""
        text = body if marker in body else f"{marker}\n{body}"
        if len(text) > COMMENT_LIMIT:
            text = text[: COMMENT_LIMIT - 40].rstrip() + "\n\n… (cut to GitHub's comment size)\n"
        found = self.find_comment(number, marker)
        if found is not None and found.body == text:
            return found, False
        method, path, what = (
            ("PATCH", f"/issues/comments/{found.id}", f"updating the preview comment on #{number}")
            if found is not None
            else ("POST", f"/issues/{number}/comments", f"commenting on #{number}")
        )
        answer = self.api.request(method, path, what=what, permission="pull-requests", body={"body": text})
        data = answer.data if isinstance(answer.data, Mapping) else {}
        return Comment(int(data.get("id") or 0), str(data.get("html_url") or ""), text), True
