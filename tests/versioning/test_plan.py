"""The next version, computed on real git repositories."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from kars_actions.core.errors import CheckFailed, ConfigError, UsageError
from kars_actions.github.versioning import RepoLinks, plan_version
from tests.versioning.gitrepo import GitRepo


@dataclass(frozen=True)
class Release:
    tag_prefix: str = "v"
    initial_version: str = "v0.1.0"


def plan(repo: GitRepo, **kwargs: object) -> object:
    return plan_version(repo.path, **kwargs)  # type: ignore[arg-type]


def released_tag(repo: GitRepo, **kwargs: object) -> str | None:
    return plan_version(repo.path, **kwargs).tag  # type: ignore[arg-type]


def test_no_tags_gives_the_initial_version(repo: GitRepo) -> None:
    repo.commit("chore: start")
    result = plan_version(repo.path)
    assert (result.released, result.tag, result.previous_tag) == (True, "v0.1.0", None)


def test_initial_version_comes_from_config(repo: GitRepo) -> None:
    repo.commit("feat: start")
    assert plan_version(repo.path, release_cfg=Release(initial_version="1.0.0")).tag == "v1.0.0"


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("feat: add login", "v1.5.0"),
        ("fix: crash on empty cart", "v1.4.1"),
        ("perf: faster query", "v1.4.1"),
        ("feat!: drop v1 api", "v2.0.0"),
        ("fix(api)!: rename field", "v2.0.0"),
        ("refactor: tidy\n\nBREAKING CHANGE: config moved", "v2.0.0"),
        ("feat: new\n\nBREAKING-CHANGE: removed flag", "v2.0.0"),
    ],
)
def test_conventional_commits_decide_the_bump(repo: GitRepo, message: str, expected: str) -> None:
    repo.commit("feat: first")
    repo.tag("v1.4.0")
    repo.commit("docs: readme")
    repo.commit(message)
    assert released_tag(repo) == expected


def test_the_largest_bump_wins(repo: GitRepo) -> None:
    repo.commit("feat: first")
    repo.tag("v1.4.0")
    repo.commit("fix: a")
    repo.commit("feat: b")
    repo.commit("fix: c")
    result = plan_version(repo.path)
    assert (result.tag, result.bump, result.previous_tag) == ("v1.5.0", "minor", "v1.4.0")


def test_breaking_change_below_one_is_a_minor_bump(repo: GitRepo) -> None:
    repo.commit("feat: first")
    repo.tag("v0.3.2")
    repo.commit("feat!: break everything")
    assert released_tag(repo) == "v0.4.0"


def test_no_releasable_commit_is_nothing_to_release(repo: GitRepo) -> None:
    repo.commit("feat: first")
    repo.tag("v1.0.0")
    repo.commit("docs: typo")
    repo.commit("chore(deps): bump")
    result = plan_version(repo.path)
    assert result.released is False
    assert result.tag is None
    assert "nothing to release" in result.reason


def test_force_turns_nothing_to_release_into_a_patch(repo: GitRepo) -> None:
    repo.commit("feat: first")
    repo.tag("v1.0.0")
    repo.commit("docs: typo")
    assert released_tag(repo, force=True) == "v1.0.1"


def test_explicit_bump_overrides_the_commits(repo: GitRepo) -> None:
    repo.commit("feat: first")
    repo.tag("v1.0.0")
    repo.commit("fix: small")
    assert released_tag(repo, bump="major") == "v2.0.0"
    assert released_tag(repo, bump="minor") == "v1.1.0"
    assert released_tag(repo, bump="patch") == "v1.0.1"


def test_an_unknown_bump_is_refused_with_the_choices(repo: GitRepo) -> None:
    repo.commit("feat: first")
    with pytest.raises(UsageError, match=r"^--bump 'huge' is not one of auto, patch, minor, major$"):
        plan_version(repo.path, bump="huge")


def test_explicit_version_accepts_the_prefix_or_not(repo: GitRepo) -> None:
    repo.commit("feat: first")
    repo.tag("v1.0.0")
    repo.commit("docs: only")
    assert released_tag(repo, explicit="3.0.0") == "v3.0.0"
    assert released_tag(repo, explicit="v3.0.0") == "v3.0.0"


def test_explicit_version_must_be_greater_than_the_latest(repo: GitRepo) -> None:
    repo.commit("feat: first")
    repo.tag("v1.2.0")
    repo.commit("fix: x")
    with pytest.raises(UsageError, match=r"not greater than the latest release v1\.2\.0") as refused:
        plan_version(repo.path, explicit="1.1.9")
    assert refused.value.hint == "pick a higher version, or drop --version to compute it from the commits"
    with pytest.raises(UsageError, match=r"--version 1\.2\.0 is not greater than the latest release v1\.2\.0"):
        plan_version(repo.path, explicit="1.2.0")  # equal is not greater: the same number is never cut twice
    assert released_tag(repo, explicit="1.2.1") == "v1.2.1"
    with pytest.raises(UsageError, match="not a semantic version"):
        plan_version(repo.path, explicit="1.2")


def test_non_semver_and_foreign_prefix_tags_are_ignored(repo: GitRepo) -> None:
    repo.commit("feat: first")
    repo.tag("v1.2.0")
    repo.commit("fix: x")
    for name in ("release-9", "v9", "v10.0", "latest", "app-v5.0.0", "v01.2.3"):
        repo.tag(name)
    repo.commit("fix: y")
    assert released_tag(repo) == "v1.2.1"


def test_custom_tag_prefix(repo: GitRepo) -> None:
    repo.commit("feat: first")
    repo.tag("api-1.2.0")
    repo.tag("v7.0.0")
    repo.commit("feat: more")
    assert released_tag(repo, release_cfg=Release(tag_prefix="api-")) == "api-1.3.0"


def test_lightweight_tags_count(repo: GitRepo) -> None:
    repo.commit("feat: first")
    repo.tag("v2.0.0", annotated=False)
    repo.commit("fix: x")
    assert released_tag(repo) == "v2.0.1"


def test_tags_not_reachable_from_the_target_are_not_the_base(repo: GitRepo) -> None:
    repo.commit("feat: first")
    repo.tag("v1.0.0")
    repo.branch("other")
    repo.commit("feat: elsewhere")
    repo.tag("v1.1.0")
    repo.checkout("main")
    repo.commit("fix: here")
    result = plan_version(repo.path)
    assert (result.tag, result.previous_tag) == ("v1.0.1", "v1.0.0")


def test_commit_collides_with_an_existing_tag_on_another_commit(repo: GitRepo) -> None:
    repo.commit("feat: first")
    repo.tag("v1.0.0")
    repo.branch("other")
    repo.commit("feat: elsewhere")
    other = repo.head()
    repo.tag("v1.1.0")
    repo.checkout("main")
    repo.commit("feat: here")
    with pytest.raises(CheckFailed) as caught:
        plan_version(repo.path)
    assert other[:12] in caught.value.message
    assert repo.head()[:12] in caught.value.message


def test_feature_reached_through_a_merge_counts_for_the_bump(repo: GitRepo) -> None:
    repo.commit("feat: first")
    repo.tag("v1.0.0")
    repo.branch("feature")
    repo.commit("feat: search box")
    repo.checkout("main")
    repo.commit("docs: notes")
    repo.merge("feature", "Merge pull request #7 from team/feature")
    result = plan_version(repo.path, links=RepoLinks(repository="kars/app"))
    assert result.tag == "v1.1.0"
    assert "search box" in result.notes_markdown
    assert "Merge pull request" not in result.notes_markdown


def test_target_can_be_an_older_commit(repo: GitRepo) -> None:
    repo.commit("feat: first")
    repo.tag("v1.0.0")
    fix = repo.commit("fix: x")
    repo.commit("feat: later")
    result = plan_version(repo.path, target=fix)
    assert (result.tag, result.target_sha) == ("v1.0.1", fix)


def test_target_defaults_to_github_sha(repo: GitRepo, monkeypatch: pytest.MonkeyPatch) -> None:
    repo.commit("feat: first")
    repo.tag("v1.0.0")
    fix = repo.commit("fix: x")
    repo.commit("feat: later")
    monkeypatch.setenv("GITHUB_SHA", fix)
    assert plan_version(repo.path).target_sha == fix


def test_rerun_on_a_tagged_commit_reuses_its_version(repo: GitRepo) -> None:
    repo.commit("feat: first")
    repo.tag("v1.0.0")
    repo.commit("feat: second")
    repo.tag("v1.1.0")
    result = plan_version(repo.path)
    assert (result.released, result.tag, result.existing_tag, result.previous_tag) == (True, "v1.1.0", True, "v1.0.0")
    assert "second" in result.notes_markdown


# Prereleases ---------------------------------------------------------------------------------------------------


def test_prerelease_channel_starts_at_one_from_the_latest_final(repo: GitRepo) -> None:
    repo.commit("feat: first")
    repo.tag("v1.4.0")
    repo.commit("feat: next")
    result = plan_version(repo.path, prerelease="rc")
    assert (result.tag, result.prerelease, result.major_tag) == ("v1.5.0-rc.1", True, None)


def test_prerelease_sequence_counts_on(repo: GitRepo) -> None:
    repo.commit("feat: first")
    repo.tag("v1.4.0")
    repo.commit("feat: next")
    repo.tag("v1.5.0-rc.1")
    repo.commit("fix: oops")
    result = plan_version(repo.path, prerelease="rc")
    assert (result.tag, result.previous_tag) == ("v1.5.0-rc.2", "v1.5.0-rc.1")
    assert "oops" in result.notes_markdown and "next" not in result.notes_markdown


def test_prerelease_numbers_compare_numerically(repo: GitRepo) -> None:
    repo.commit("feat: first")
    repo.tag("v1.4.0")
    repo.commit("feat: next")
    for n in (1, 2, 9, 10):
        repo.tag(f"v1.5.0-rc.{n}", annotated=False)
        repo.commit(f"fix: step {n}")
    assert released_tag(repo, prerelease="rc") == "v1.5.0-rc.11"


def test_prerelease_without_new_releasable_commit_is_nothing_to_release(repo: GitRepo) -> None:
    repo.commit("feat: first")
    repo.tag("v1.4.0")
    repo.commit("feat: next")
    repo.tag("v1.5.0-rc.1")
    repo.commit("chore: ci")
    assert plan_version(repo.path, prerelease="rc").released is False


def test_channels_count_separately(repo: GitRepo) -> None:
    repo.commit("feat: first")
    repo.tag("v1.4.0")
    repo.commit("feat: next")
    repo.tag("v1.5.0-rc.1")
    repo.commit("fix: more")
    assert released_tag(repo, prerelease="beta") == "v1.5.0-beta.1"


def test_final_release_skips_prereleases_as_base(repo: GitRepo) -> None:
    repo.commit("feat: first")
    repo.tag("v1.4.0")
    repo.commit("feat: next")
    repo.tag("v1.5.0-rc.1")
    repo.commit("fix: polish")
    repo.tag("v1.5.0-rc.2")
    result = plan_version(repo.path)
    assert (result.tag, result.previous_tag, result.bump) == ("v1.5.0", "v1.4.0", "minor")
    assert "next" in result.notes_markdown and "polish" in result.notes_markdown
    assert result.major_tag == "v1"


def test_prerelease_bump_grows_when_a_breaking_change_lands(repo: GitRepo) -> None:
    repo.commit("feat: first")
    repo.tag("v1.4.0")
    repo.commit("feat: next")
    repo.tag("v1.5.0-rc.1")
    repo.commit("feat!: new api")
    assert released_tag(repo, prerelease="rc") == "v2.0.0-rc.1"


def test_prerelease_counter_sees_tags_on_other_branches(repo: GitRepo) -> None:
    repo.commit("feat: first")
    repo.tag("v1.4.0")
    repo.branch("staging")
    repo.commit("feat: staged")
    repo.tag("v1.5.0-rc.1")
    repo.checkout("main")
    repo.commit("feat: main work")
    assert released_tag(repo, prerelease="rc") == "v1.5.0-rc.2"


def test_invalid_channel_is_a_usage_error(repo: GitRepo) -> None:
    repo.commit("feat: first")
    with pytest.raises(UsageError, match="prerelease channel"):
        plan_version(repo.path, prerelease="rc.1")


# Guards --------------------------------------------------------------------------------------------------------


def test_shallow_clone_is_refused_with_the_fix(repo: GitRepo, tmp_path: Path) -> None:
    repo.commit("feat: first")
    repo.tag("v1.0.0")
    repo.commit("fix: a")
    repo.commit("fix: b")
    clone = tmp_path / "shallow"
    subprocess.run(
        ["git", "clone", "-q", "--depth", "1", f"file://{repo.path}", str(clone)],
        check=True,
        capture_output=True,
    )
    with pytest.raises(ConfigError, match="shallow clone") as caught:
        plan_version(clone)
    assert "fetch-depth: 0" in (caught.value.hint or "")


def test_not_a_git_repository_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    with pytest.raises(ConfigError, match="not a git repository"):
        plan_version(tmp_path / "plain")


def test_unknown_target_is_a_usage_error(repo: GitRepo) -> None:
    repo.commit("feat: first")
    with pytest.raises(UsageError, match="is not a commit"):
        plan_version(repo.path, target="no-such-branch")


@pytest.mark.parametrize(
    ("carried", "channel", "expected", "reused"),
    [
        ("v1.4.0-rc.1", "rc", "v1.4.0-rc.1", True),  # a rerun resumes: never rc.2 on the same commit
        ("v1.4.0-beta.1", "rc", "v1.4.0-rc.1", False),  # another channel's tag is not this one's
        ("v1.4.0-rc.1", None, "v1.4.0", False),  # the final release of an rc's commit cuts the final
    ],
)
def test_a_commit_carrying_a_prerelease(
    repo: GitRepo, carried: str, channel: str | None, expected: str, reused: bool
) -> None:
    repo.commit("feat: first")
    repo.tag("v1.3.0")
    repo.commit("feat: next")
    repo.tag(carried)  # the first run tagged this commit
    result = plan_version(repo.path, prerelease=channel)
    assert (result.tag, result.existing_tag, result.previous_tag) == (expected, reused, "v1.3.0")
    assert "next" in result.notes_markdown


def test_a_zero_major_release_has_no_major_tag(repo: GitRepo) -> None:
    repo.commit("feat: first")
    repo.tag("v0.3.0")
    repo.commit("feat: more")
    result = plan_version(repo.path)
    assert (result.tag, result.major_tag) == ("v0.4.0", None)
    assert plan_version(repo.path, explicit="1.0.0").major_tag == "v1"



def test_the_plan_says_why_it_chose_its_version(repo: GitRepo) -> None:
    repo.commit("chore: start")
    assert plan_version(repo.path).reason == "first release: no earlier release tag"
    repo.tag("v1.0.0")
    repo.commit("docs: typo")
    assert plan_version(repo.path, force=True).reason == "forced patch release: no releasable commit since v1.0.0"
    repo.commit("feat: invoices")
    assert plan_version(repo.path).reason == "minor bump from the commits since v1.0.0"
    assert plan_version(repo.path, explicit="2.0.0").reason == "version given explicitly"
    repo.tag("v1.1.0")  # failed and never published
    repo.commit("fix: totals")
    repo.tag("v1.1.1")  # failed too
    repo.commit("docs: more")
    plan = plan_version(repo.path, unpublished={"v1.1.0", "v1.1.1"})
    assert plan.reason == (
        "minor bump from the commits since v1.0.0; v1.1.0, v1.1.1 never published (failed), so its changes are in "
        "these notes"
    )


def test_after_a_failed_first_release_the_commits_count_from_the_start(repo: GitRepo) -> None:
    repo.commit("chore: start")
    repo.tag("v0.1.0")  # the first release failed and was never published
    repo.commit("chore: connect the service")
    plan = plan_version(repo.path, unpublished={"v0.1.0"})
    assert plan.released and plan.tag == "v0.1.1"
    repo.commit("feat: invoices")
    plan = plan_version(repo.path, unpublished={"v0.1.0"})
    assert plan.tag == "v0.2.0"
    assert plan.reason == (
        "minor bump from the commits since the start; v0.1.0 never published (failed), so its changes are in these "
        "notes"
    )
