from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kars_actions.core.timing import Deadline
from tests.fakes.clock import FakeClock
from tests.fakes.github_fake import GitHubFake
from tests.versioning.gitrepo import GIT_ENV, GitRepo

TOKEN = "ghs_fake_token"


@pytest.fixture
def fake() -> Iterator[GitHubFake]:
    with GitHubFake("kars/app", token=TOKEN) as server:
        yield server


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1000.0)


@pytest.fixture
def env(fake: GitHubFake, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = {
        "GITHUB_API_URL": fake.url,
        "GITHUB_SERVER_URL": "https://github.example",
        "GITHUB_REPOSITORY": "kars/app",
        "GITHUB_RUN_ID": "4242",
    }
    for name, value in {**values, **GIT_ENV}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("GITHUB_SHA", raising=False)
    return values


@pytest.fixture
def repo(tmp_path: Path, env: dict[str, str], fake: GitHubFake) -> GitRepo:
    repository = GitRepo(tmp_path / "repo")
    repository.commit("feat: first")
    repository.tag("v1.0.0")
    repository.commit("feat: login page (#12)")
    repository.commit("fix: crash")
    fake.add_tag("v1.0.0", repository.git("rev-parse", "v1.0.0^{commit}"))
    fake.add_commit(*repository.git("rev-list", "HEAD").split())
    return repository


def deadline(clock: FakeClock, seconds: float = 300) -> Deadline:
    return Deadline(seconds, clock)  # type: ignore[arg-type]
