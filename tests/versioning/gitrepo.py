"""Real git repositories in a temporary folder, isolated from the machine's git configuration.

The scratch history is written through libgit2 (pygit2), in this process: a suite run makes about 330
repositories, 700 commits and 160 tags, and a ``git`` process for each ``init``, ``add``, ``commit`` and ``tag`` was
about 2,080 processes at 4-5 ms of CPU each (benchmarks/bench_test_fixtures.py). The objects, refs and index are
git's own formats, and everything the product does with the repository still goes through the real ``git``, as on
a user's machine; ``git(...)`` runs it too.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pygit2
from pygit2.enums import ConfigLevel, ObjectType

GIT_ENV = {
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_SYSTEM": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "Test Author",
    "GIT_AUTHOR_EMAIL": "author@example.test",
    "GIT_COMMITTER_NAME": "Test Committer",
    "GIT_COMMITTER_EMAIL": "committer@example.test",
    "GIT_TERMINAL_PROMPT": "0",
    # No "git maintenance run --auto" process after every commit: a scratch repository never needs one.
    "GIT_CONFIG_COUNT": "2",
    "GIT_CONFIG_KEY_0": "maintenance.auto",
    "GIT_CONFIG_VALUE_0": "false",
    "GIT_CONFIG_KEY_1": "gc.auto",
    "GIT_CONFIG_VALUE_1": "0",
}
_SHA = re.compile(r"[0-9a-f]{40}")

# libgit2 reads no configuration but the repository's own, as GIT_ENV makes the git command do.
for _level in (ConfigLevel.SYSTEM, ConfigLevel.XDG, ConfigLevel.GLOBAL, ConfigLevel.PROGRAMDATA):
    pygit2.settings.search_path[_level] = ""


def _cleaned(message: str) -> str:
    """The message as ``git commit -m`` stores it (``--cleanup=whitespace``): no trailing spaces, no blank lines at
    either end or two in a row, and a final newline."""
    lines = [line.rstrip(" \t\r") for line in message.split("\n")]  # git's spaces, not \x1c-\x1f
    kept = [line for i, line in enumerate(lines) if line or (i > 0 and lines[i - 1])]
    return "\n".join(kept).strip("\n") + "\n"


class GitRepo:
    """A scratch repository: ``commit("feat: x")``, ``tag("v1.0.0")``, branches and merges."""

    def __init__(self, path: Path, *, init: bool = True) -> None:
        self.path = path
        self._counter = 0
        if init:
            path.mkdir(parents=True, exist_ok=True)
            pygit2.init_repository(str(path), initial_head="main")

    def git(self, *args: str) -> str:
        env = {**os.environ, **GIT_ENV}
        completed = subprocess.run(
            ["git", "-C", str(self.path), *args], capture_output=True, env=env, check=False, text=True
        )
        if completed.returncode != 0:
            raise AssertionError(f"git {' '.join(args)} failed: {completed.stderr}")
        return completed.stdout.strip()

    def _signature(self, role: str) -> pygit2.Signature:
        return pygit2.Signature(GIT_ENV[f"GIT_{role}_NAME"], GIT_ENV[f"GIT_{role}_EMAIL"])

    def commit(self, message: str) -> str:
        """A new file, then everything in the work tree committed (``commit_work_tree``)."""
        self._counter += 1
        (self.path / f"file{self._counter}.txt").write_text(f"{self._counter}\n{message}\n", encoding="utf-8")
        return self.commit_work_tree(message)

    def commit_work_tree(self, message: str, *, allow_empty: bool = False) -> str:
        """``git add -A && git commit -q -m MESSAGE`` on the checked-out branch; the new commit's id."""
        repo = pygit2.Repository(str(self.path))  # opened afresh: the git command may have moved HEAD or the index
        index = repo.index
        index.add_all()  # new and changed files, .gitignore respected
        for gone in [e.path for e in index if not os.path.lexists(self.path / e.path)]:
            index.remove(gone)  # and the ones removed from the work tree
        index.write()
        tree = index.write_tree()
        parents = [] if repo.head_is_unborn else [repo.head.target]
        if not allow_empty and parents and repo[parents[0]].peel(pygit2.Commit).tree_id == tree:
            raise AssertionError(f"git commit -m {message!r} failed: nothing to commit, working tree clean")
        cleaned = _cleaned(message)
        if not cleaned.strip():
            raise AssertionError("git commit failed: Aborting commit due to empty commit message.")
        author, committer = self._signature("AUTHOR"), self._signature("COMMITTER")
        return str(repo.create_commit("HEAD", author, committer, cleaned, tree, parents))

    def head(self) -> str:
        """HEAD's commit, read from the files git keeps it in (a loose branch ref, or a detached HEAD); git is asked
        only when it is kept some other way (packed refs, a worktree's .git file)."""
        git_dir = self.path / ".git"
        try:
            head = (git_dir / "HEAD").read_text(encoding="utf-8").strip()
            if head.startswith("ref: "):
                head = (git_dir / head.removeprefix("ref: ")).read_text(encoding="utf-8").strip()
        except OSError:
            head = ""
        return head if _SHA.fullmatch(head) else self.git("rev-parse", "HEAD")

    def tag(self, name: str, rev: str = "HEAD", *, annotated: bool = True) -> None:
        """``git tag -a NAME -m NAME REV`` (or a lightweight ``git tag NAME REV``); an existing tag is an error."""
        repo = pygit2.Repository(str(self.path))
        try:
            target = repo.revparse_single(rev).peel(pygit2.Commit).id
            if annotated:
                repo.create_tag(name, target, ObjectType.COMMIT, self._signature("COMMITTER"), f"{name}\n")
            else:
                repo.references.create(f"refs/tags/{name}", target)
        except (pygit2.GitError, KeyError, ValueError) as error:  # an unknown revision, a tag that exists
            raise AssertionError(f"git tag {name} {rev} failed: {error}") from None

    def branch(self, name: str, start: str = "HEAD") -> None:
        self.git("checkout", "-q", "-b", name, start)

    def checkout(self, name: str) -> None:
        self.git("checkout", "-q", name)

    def merge(self, branch: str, message: str | None = None) -> str:
        self.git("merge", "-q", "--no-ff", branch, "-m", message or f"Merge branch '{branch}'")
        return self.head()
