"""Conventional Commit parsing and the release notes built from it."""

from __future__ import annotations

from kars_actions.github.gitlog import Commit, Git
from kars_actions.github.versioning import ConventionalCommit, RepoLinks, release_notes
from tests.versioning.gitrepo import GitRepo


def cc(message: str, sha: str = "a" * 40, parents: tuple[str, ...] = ("b" * 40,)) -> ConventionalCommit:
    return ConventionalCommit.from_commit(Commit(sha, parents, "n", "e", "2024-01-01T00:00:00Z", message))


def test_header_parts() -> None:
    c = cc("fix(api)!: rename field\n\nbody text")
    assert (c.type, c.scope, c.subject, c.breaking, c.bump) == ("fix", "api", "rename field", True, "major")


def test_non_conventional_subject_has_no_bump() -> None:
    c = cc("Update README.md")
    assert (c.type, c.bump) == ("", None)


def test_breaking_footer_must_be_uppercase_and_at_line_start() -> None:
    assert cc("chore: x\n\nbreaking change: lower").bump is None
    assert cc("chore: x\n\nsays BREAKING CHANGE: inline").bump is None
    assert cc("chore: x\n\nBREAKING CHANGE: real").bump == "major"


def test_notes_group_and_link_commits_and_pull_requests() -> None:
    links = RepoLinks("https://git.example.com", "kars/app")
    notes = release_notes(
        [
            cc("feat(ui): dark mode (#42)", sha="1" * 40),
            cc("fix: crash", sha="2" * 40),
            cc("refactor!: drop node 16\n\nBREAKING CHANGE: node 18 required", sha="3" * 40),
            cc("docs: readme", sha="4" * 40),
            cc("Merge pull request #9 from x/y", sha="5" * 40, parents=("6" * 40, "7" * 40)),
        ],
        links,
        previous_tag="v1.0.0",
        tag="v1.1.0",
    )
    sections = [line for line in notes.splitlines() if line.startswith("### ")]
    assert sections == ["### Breaking changes", "### Features", "### Fixes", "### Other"]
    assert "- **ui:** dark mode ([`1111111`](https://git.example.com/kars/app/commit/" + "1" * 40 + ")" in notes
    assert "[#42](https://git.example.com/kars/app/pull/42)" in notes
    assert "node 18 required" in notes
    assert "Merge pull request" not in notes
    assert "https://git.example.com/kars/app/compare/v1.0.0...v1.1.0" in notes


def test_notes_without_a_repository_use_plain_short_shas() -> None:
    notes = release_notes([cc("fix: crash (#5)", sha="9" * 40)], RepoLinks())
    assert "`9999999`" in notes and "#5" in notes and "http" not in notes


def test_performance_work_is_listed_with_the_fixes_one_commit_a_line() -> None:
    notes = release_notes([cc("fix: crash", sha="1" * 40), cc("perf: faster totals", sha="2" * 40)], RepoLinks())
    assert notes.startswith("### Fixes\n\n- crash (`1111111`)\n- faster totals (`2222222`)\n")


def test_a_server_url_with_a_trailing_slash_links_without_a_double_slash() -> None:
    links = RepoLinks.from_env({"GITHUB_SERVER_URL": "https://ghe.example.com/", "GITHUB_REPOSITORY": "o/r"})
    assert links.commit("c" * 40).endswith("(https://ghe.example.com/o/r/commit/" + "c" * 40 + ")")


def test_notes_with_nothing_to_list_say_there_were_no_changes() -> None:
    merge_only = release_notes([], RepoLinks(), previous_tag="v1.0.0", tag="v1.0.1")
    assert merge_only == "No changes since the previous release.\n"


def test_repo_links_from_environment() -> None:
    links = RepoLinks.from_env({"GITHUB_REPOSITORY": "o/r"})
    assert links.commit("c" * 40).endswith("(https://github.com/o/r/commit/" + "c" * 40 + ")")


def test_git_log_reads_any_message_exactly(repo: GitRepo) -> None:
    odd = "feat: weird \x1e\x1f chars\n\nline with tab\there\n\nBREAKING CHANGE: yes"
    repo.commit("chore: before")
    sha = repo.commit(odd)
    repo.commit("fix: after")
    commits = Git(repo.path).commits("HEAD")
    assert [c.subject for c in commits] == ["fix: after", "feat: weird \x1e\x1f chars", "chore: before"]
    assert commits[1].sha == sha
    assert commits[1].body == "line with tab\there\n\nBREAKING CHANGE: yes"
    assert ConventionalCommit.from_commit(commits[1]).breaking
