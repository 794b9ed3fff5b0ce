"""Local git, read through the ``git`` binary: commits, tags and the guards that keep versioning honest."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from kars_actions.core.errors import ConfigError, UsageError

# Every field of a ``git log`` record ends with NUL: git refuses NUL bytes in commit messages, so the parse is
# exact for any message, including ones holding newlines, tabs or the ASCII separator characters.
_LOG_FIELDS = ("%H", "%P", "%an", "%ae", "%cI", "%B")
_LOG_FORMAT = "".join(f"{f}%x00" for f in _LOG_FIELDS)

_FULL_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}", re.ASCII)

SHALLOW_HINT = (
    "fetch the full history: with actions/checkout set `fetch-depth: 0` (and `fetch-tags: true` is implied), "
    "or run `git fetch --unshallow --tags` before this step"
)


@dataclass(frozen=True)
class Commit:
    """One commit as read from ``git log``."""

    sha: str
    parents: tuple[str, ...]
    author_name: str
    author_email: str
    committed_at: str
    message: str
    subject: str = field(init=False)
    body: str = field(init=False)

    def __post_init__(self) -> None:
        text = self.message.strip("\n")
        subject, _, body = text.partition("\n")
        object.__setattr__(self, "subject", subject.strip())
        object.__setattr__(self, "body", body.strip("\n"))

    @property
    def short_sha(self) -> str:
        return self.sha[:7]

    @property
    def is_merge(self) -> bool:
        return len(self.parents) > 1


class Git:
    """A repository on disk. Every call runs ``git -C <repo_dir>`` with a neutral, non-interactive environment."""

    def __init__(self, repo_dir: str | os.PathLike[str] = ".", *, folder: str | os.PathLike[str] | None = None) -> None:
        self.repo_dir = Path(repo_dir)
        self.folder: str | None = None  # the commits read are those touching this folder (relative to the top)
        if shutil.which("git") is None:
            raise ConfigError("git is not installed or not on PATH", hint="install git, then rerun")
        if not self.repo_dir.is_dir():
            raise UsageError(f"{self.repo_dir}: no such directory", hint="run it inside the repository's git checkout")
        # One process answers it all: is this a repository, is it a shallow clone (nothing here fetches, so the
        # answer holds for this object's life), and, for a folder, where the work tree's top is.
        probe_args = ["rev-parse", "--is-inside-work-tree", "--is-shallow-repository"]
        probe = self._run_raw([*probe_args, "--show-toplevel"] if folder is not None else probe_args, check=False)
        if probe.returncode != 0 and folder is not None:
            # No work tree: the two questions alone tell whether it is a repository at all.
            probe = self._run_raw(probe_args, check=False)
        if probe.returncode != 0:
            raise ConfigError(
                f"{self.repo_dir.resolve()} is not a git repository",
                hint="run it inside the repository's checkout (actions/checkout with fetch-depth: 0)",
            )
        answers = probe.stdout.decode("utf-8", "replace").splitlines()
        self._shallow = len(answers) > 1 and answers[1] == "true"
        if folder is not None:
            self.folder = self._below_top(Path(folder), answers[2] if len(answers) > 2 else None)

    def _below_top(self, folder: Path, top_dir: str | None = None) -> str | None:
        """``folder`` relative to the work tree's top, or None when it is the top (every commit counts)."""
        top = Path(top_dir if top_dir is not None else self.run("rev-parse", "--show-toplevel").strip()).resolve()
        try:
            relative = folder.resolve().relative_to(top).as_posix()
        except ValueError:
            return None
        return relative if relative not in ("", ".") else None

    def _run_raw(
        self, args: list[str], *, check: bool = True, stdin: bytes | None = None
    ) -> subprocess.CompletedProcess[bytes]:
        env = dict(os.environ)
        env.update({"GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", "GIT_PAGER": "cat"})
        completed = subprocess.run(
            ["git", "-C", str(self.repo_dir), *args],
            input=stdin,
            capture_output=True,
            env=env,
            check=False,
        )
        if check and completed.returncode != 0:
            detail = completed.stderr.decode("utf-8", "replace").strip().splitlines()
            raise ConfigError(
                f"git {' '.join(args[:3])} failed: {detail[-1] if detail else f'exit {completed.returncode}'}",
                hint=f"check the repository at {self.repo_dir}",
            )
        return completed

    def run(self, *args: str) -> str:
        return self._run_raw(list(args)).stdout.decode("utf-8", "replace")

    # Guards ---------------------------------------------------------------------------------------------------
    def is_shallow(self) -> bool:
        return self._shallow

    def require_full_history(self) -> None:
        """Refuse a shallow clone: tags and commits past the cut-off are invisible, so the version would be wrong."""
        if self.is_shallow():
            raise ConfigError(
                f"{self.repo_dir.resolve()} is a shallow clone: the release tags and commits needed to compute "
                "the next version are not all there",
                hint=SHALLOW_HINT,
            )

    # Reading --------------------------------------------------------------------------------------------------
    def resolve_commit(self, rev: str) -> str:
        """The full sha of the commit ``rev`` names (a sha, a branch, a tag, ``HEAD``)."""
        if rev.startswith("-"):
            raise UsageError(f"invalid revision {rev!r}")
        completed = self._run_raw(["rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], check=False)
        sha = completed.stdout.decode().strip()
        if completed.returncode != 0 or not sha:
            raise UsageError(
                f"{rev!r} is not a commit in {self.repo_dir.resolve()}",
                hint="pass --target with a commit sha, branch or tag that exists in this clone",
            )
        return sha

    def tag_commit(self, tag: str) -> str | None:
        """The commit a tag points at (annotated tags peeled), or None when the tag does not exist."""
        completed = self._run_raw(["rev-parse", "--verify", "--quiet", f"refs/tags/{tag}^{{commit}}"], check=False)
        sha = completed.stdout.decode().strip()
        return sha if completed.returncode == 0 and sha else None

    def tags_merged_into(self, target: str) -> list[str]:
        """Tags whose commit is reachable from ``target`` (``git tag --merged``)."""
        return [t for t in self.run("tag", "--merged", target, "--list").splitlines() if t.strip()]

    def all_tags(self) -> list[str]:
        return [t for t in self.run("tag", "--list").splitlines() if t.strip()]

    def tags_at(self, sha: str) -> list[str]:
        return [t for t in self.run("tag", "--points-at", sha, "--list").splitlines() if t.strip()]

    def tag_commits(self) -> dict[str, str]:
        """Every tag of the clone and the commit it ends at (annotated tags peeled), read in one call."""
        fields = "%(refname:strip=2)%00%(objecttype)%00%(objectname)%00%(*objecttype)%00%(*objectname)"
        found: dict[str, str] = {}
        for line in self.run("for-each-ref", f"--format={fields}", "refs/tags").splitlines():
            parts = line.split("\x00")
            if len(parts) != 5:
                continue
            name, kind, sha, peeled_kind, peeled = parts
            if kind == "commit":
                found[name] = sha
            elif kind == "tag" and peeled_kind == "commit":
                found[name] = peeled
            else:
                # A tag of a tag (or of a tree): let git peel it, and leave out what is no commit at all.
                commit = self.tag_commit(name)
                if commit is not None:
                    found[name] = commit
        return found

    def ancestors(self, target: str) -> set[str]:
        """Every commit reachable from ``target``, itself included (``git rev-list``)."""
        return set(self.run("rev-list", target, "--").split())

    def missing_commits(self, shas: Collection[str]) -> set[str]:
        """Which of these commit ids the clone does not hold, asked in one ``git cat-file --batch-check``."""
        wanted = sorted({sha for sha in shas if _FULL_SHA.fullmatch(sha)})
        if not wanted:
            return set()
        answer = self._run_raw(["cat-file", "--batch-check"], stdin="".join(f"{s}\n" for s in wanted).encode())
        present = set()
        for line in answer.stdout.decode("ascii", "replace").splitlines():
            sha, _, kind = line.partition(" ")
            if kind.startswith("commit"):
                present.add(sha)
        return set(wanted) - present

    def commits(self, target: str, since: str | None = None) -> list[Commit]:
        """Commits reachable from ``target`` and not from ``since``, newest first, merge commits included; with a
        ``folder``, only those that touch it.

        Commits brought in by a merge are part of the range (``since..target`` walks every parent), so a
        ``feat:`` on a merged branch counts for the version bump.
        """
        revision = f"{since}..{target}" if since else target
        paths = [f":(top){self.folder}"] if self.folder else []
        raw = self._run_raw(["log", f"--format={_LOG_FORMAT}", revision, "--", *paths]).stdout
        fields = raw.split(b"\x00")
        count = len(_LOG_FIELDS)
        commits: list[Commit] = []
        for start in range(0, len(fields) - count + 1, count):
            chunk = [f.decode("utf-8", "replace") for f in fields[start : start + count]]
            sha, parents, name, email, date, message = chunk
            commits.append(
                Commit(
                    sha=sha.strip(),
                    parents=tuple(parents.split()),
                    author_name=name,
                    author_email=email,
                    committed_at=date,
                    message=message,
                )
            )
        return commits
