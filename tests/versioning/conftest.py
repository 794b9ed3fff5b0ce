from __future__ import annotations

from pathlib import Path

import pytest

from tests.versioning.gitrepo import GIT_ENV, GitRepo


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> GitRepo:
    for name, value in GIT_ENV.items():
        monkeypatch.setenv(name, value)
    for name in ("GITHUB_SHA", "GITHUB_REPOSITORY", "GITHUB_SERVER_URL"):
        monkeypatch.delenv(name, raising=False)
    return GitRepo(tmp_path / "repo")
