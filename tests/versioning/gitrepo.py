"""Real git repositories in a temporary folder, isolated from the machine's git configuration."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

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


class GitRepo:
    """A scratch repository: ``commit("feat: x")``, ``tag("v1.0.0")``, branches and merges."""

    def __init__(self, path: Path, *, init: bool = True) -> None:
        self.path = path
        self._counter = 0
        if init:
            path.mkdir(parents=True, exist_ok=True)
            self.git("init", "-q", "-b", "main")

    def git(self, *args: str) -> str:
        env = {**os.environ, **GIT_ENV}
        completed = subprocess.run(
            ["git", "-C", str(self.path), *args], capture_output=True, env=env, check=False, text=True
        )
        if completed.returncode != 0:
            raise AssertionError(f"git {' '.join(args)} failed: {completed.stderr}")
        return completed.stdout.strip()

    def commit(self, message: str) -> str:
        self._counter += 1
        (self.path / f"file{self._counter}.txt").write_text(f"{self._counter}\n{message}\n", encoding="utf-8")
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        return self.head()

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
        if annotated:
            self.git("tag", "-a", name, "-m", name, rev)
        else:
            self.git("tag", name, rev)

    def branch(self, name: str, start: str = "HEAD") -> None:
        self.git("checkout", "-q", "-b", name, start)

    def checkout(self, name: str) -> None:
        self.git("checkout", "-q", name)

    def merge(self, branch: str, message: str | None = None) -> str:
        self.git("merge", "-q", "--no-ff", branch, "-m", message or f"Merge branch '{branch}'")
        return self.head()
