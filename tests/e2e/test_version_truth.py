"""Versions, tags and releases told truly: GitHub's tags decide the version whatever the clone holds, a release
marked failed is not published without being told, and immutable releases are handled as GitHub keeps them.

Each test runs the real CLI as a process against the Railway simulator, the GitHub fake, live health servers and a
real git repository, and checks what is said (console, summary, outputs, alerts) against the fakes' state.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from kars_actions.github.api import failure_body
from tests.e2e.test_github_truth import release
from tests.fakes.world import Run, World, stage_status

pytestmark = pytest.mark.subprocess


def said(world: World, *args: str, **env: str) -> Run:
    """One run of the CLI as GitHub Actions runs it: exit code, console, step summary and outputs."""
    return world.cli(*args, "--no-color", fmt="text", **env)


def release_args(world: World, *extra: str) -> list[str]:
    return ["release", *world.args(*extra)]


def released_on_github(world: World) -> tuple[str, str]:
    """v1.0.0 on the first commit and v1.1.0 on a second, both published and deployed, v1 on v1.1.0 — while the
    clone holds no tag at all (a laptop clone made before, a cache, a checkout without the tags)."""
    first = world.head
    second = world.repo.commit("feat: invoices")
    github = world.github
    github.add_commit(second)
    github.add_tag("v1.0.0", first)
    github.add_release("v1.0.0", draft=False, target=first)
    github.add_tag("v1.1.0", second)
    github.add_release("v1.1.0", draft=False, target=second)
    github.add_tag("v1", second, annotated=False)
    github.add_deployment("production", second, state="success")
    assert world.repo.git("tag", "--list") == ""
    return first, second


def tags_on_github(world: World) -> dict[str, str | None]:
    return {
        ref.removeprefix("refs/tags/"): world.github.tag_commit(ref.removeprefix("refs/tags/"))
        for ref in world.github.refs
        if ref.startswith("refs/tags/")
    }


# A clone without the tags ------------------------------------------------------------------------------------------


def test_a_clone_without_tags_on_a_released_commit_is_already_released(world: World) -> None:
    released_on_github(world)
    before = tags_on_github(world)
    out = said(world, *release_args(world))
    assert out.code == 0, out.console
    assert "Already released: this commit's release is published — v1.1.0 to production" in out.console
    assert "this clone lacks 2 of GitHub's version tags (v1.1.0, v1.0.0)" in out.console
    assert out.outputs["outcome"] == "already-released" and out.outputs["tag"] == "v1.1.0"
    assert out.outputs["production-touched"] == "false" and out.outputs["released"] == "false"
    assert "Already released" in out.summary and "v0.1.0" not in out.summary + out.console
    # Nothing recreated: no second tag, no second release, nothing deployed, nobody alerted.
    assert world.github.writes() == [] and world.sim.mutations == []
    assert tags_on_github(world) == before and len(world.github.releases) == 2
    assert world.alerts.received == []


def test_a_clone_without_tags_releases_the_next_version_on_a_new_commit(world: World) -> None:
    first, second = released_on_github(world)
    world.repo.tag("v1.0.0", first)  # the clone knows the first release only
    third = world.repo.commit("feat: reports")
    world.github.add_commit(third)
    out = said(world, *release_args(world))
    assert out.code == 0, out.console
    assert out.outputs["tag"] == "v1.2.0" and out.outputs["previous-tag"] == "v1.1.0"
    assert out.outputs["outcome"] == "released"
    assert "this clone lacks 1 of GitHub's version tags (v1.1.0): the version comes from GitHub's" in out.console
    assert "reports" in out.outputs["changelog"] and "invoices" not in out.outputs["changelog"]
    assert world.github.tag_commit("v1.2.0") == third and world.github.tag_commit("v1.1.0") == second
    [new] = world.github.releases_for("v1.2.0")
    assert new["draft"] is False and new["latest"] is True
    [old] = world.github.releases_for("v1.1.0")
    assert old["draft"] is False and "fail" not in (old["name"] + old["body"]).lower()
    assert world.github.tag_commit("v1") == third
    assert world.alerts.received == [] and "already exists" not in out.console


def test_the_dry_run_computes_from_github_too(world: World) -> None:
    first, _ = released_on_github(world)
    world.repo.tag("v1.0.0", first)
    world.github.add_commit(world.repo.commit("fix: rounding"))
    out = said(world, *release_args(world, "--dry-run"))
    assert out.code == 0, out.console
    assert out.outputs["tag"] == "v1.1.1" and out.outputs["outcome"] == "planned"
    assert "would publish v1.1.1 and move v1" in out.console
    assert world.github.writes() == [] and world.sim.mutations == []


def test_the_tag_step_computes_from_github(world: World) -> None:
    _, second = released_on_github(world)
    third = world.repo.commit("fix: rounding")
    world.github.add_commit(third)
    out = said(world, "tag", "--repo-dir", str(world.repo.path))
    assert out.code == 0, out.console
    assert out.outputs["tag"] == "v1.1.1" and out.outputs["previous-tag"] == "v1.1.0"
    assert f"tagged v1.1.1 at {third[:7]}" in out.console and "released v1.1.1" not in out.console  # a draft
    assert "this clone lacks 2 of GitHub's version tags" in out.console and "| tags |" in out.summary
    assert world.github.tag_commit("v1.1.1") == third and world.github.releases_for("v1.1.1")[0]["draft"] is True
    # On the released commit itself: the same version again, nothing new.
    writes = len(world.github.writes())
    again = said(world, "tag", "--repo-dir", str(world.repo.path), "--target", second)
    assert again.code == 0 and again.outputs["tag"] == "v1.1.0", again.console
    assert "already released: v1.1.0" in again.console and "already points at" in again.console
    assert len(world.github.writes()) == writes


def test_a_clone_behind_github_is_refused_with_the_fetch_to_make_and_no_alert(world: World) -> None:
    world.github.add_tag("v0.1.0", world.head)
    world.github.add_release("v0.1.0", draft=False, target=world.head)
    newer = "e" * 40  # v0.2.0 was released from a commit this clone has never fetched
    world.github.add_tag("v0.2.0", newer)
    world.github.add_release("v0.2.0", draft=False, target=newer)
    world.github.add_commit(world.repo.commit("feat: local work"))
    out = said(world, *release_args(world))
    assert out.code == 1, out.console
    assert "v0.2.0 is already on GitHub, on commit eeeeeeeeeeee, which this clone does not have" in out.console
    assert "`git fetch --tags`" in out.console and "fetch-depth: 0" in out.console
    assert "delete" not in out.console.lower()
    assert out.outputs["outcome"] == "failed-before-live" and out.outputs["production-touched"] == "false"
    assert "fetch-depth: 0" in out.summary and "Mark failed" not in out.summary
    assert world.alerts.received == [] and world.github.writes() == [] and world.sim.mutations == []


# release-status on a release marked failed ------------------------------------------------------------------------


def failed_draft(world: World) -> str:
    world.github.add_tag("v1.0.0", world.head)
    notes = "### Features\n\n- first release of the app\n"
    body = failure_body("health check failed: backend answered 503", "https://github.example/run/1", notes)
    world.github.add_release("v1.0.0", draft=True, target=world.head, name="v1.0.0 (failed)", body=body)
    return notes


def test_release_status_refuses_to_publish_a_release_marked_failed_unless_told(world: World) -> None:
    failed_draft(world)
    for extra in ((), ("--dry-run",)):
        out = said(world, "release-status", "--success", "--tag", "v1.0.0", *extra)
        assert out.code == 2, out.console
        assert "v1.0.0 is marked failed (health check failed: backend answered 503)" in out.console
        assert "--publish-failed" in out.console
    assert world.github.writes() == []
    [release] = world.github.releases_for("v1.0.0")
    assert release["draft"] is True and release["name"] == "v1.0.0 (failed)"


def test_release_status_dry_run_says_what_it_would_overwrite(world: World) -> None:
    failed_draft(world)
    out = said(world, "release-status", "--success", "--tag", "v1.0.0", "--publish-failed", "--dry-run")
    assert out.code == 0, out.console
    assert "would publish v1.0.0" in out.console
    assert (
        "would replace its failure mark: the title 'v1.0.0 (failed)' and the note \"This release failed: health "
        'check failed: backend answered 503" would give way to the release notes' in out.console
    )
    assert f"v1: would move to {world.head[:7]}" in out.console
    assert "moved" not in out.console and "published v1.0.0" not in out.console
    assert "would be published" in out.summary
    assert world.github.writes() == [] and world.github.tag_commit("v1") is None


def test_release_status_publishes_a_failed_release_when_told_and_says_what_it_replaced(
    world: World
) -> None:
    notes = failed_draft(world)
    out = said(world, "release-status", "--success", "--tag", "v1.0.0", "--publish-failed")
    assert out.code == 0, out.console
    assert "published v1.0.0" in out.console
    assert "replaced its failure mark (it said: health check failed: backend answered 503)" in out.console
    assert f"v1: moved to {world.head[:7]}" in out.console
    [release] = world.github.releases_for("v1.0.0")
    assert release["draft"] is False and release["name"] == "v1.0.0" and release["body"] == notes
    assert world.github.tag_commit("v1") == world.head
    assert out.outputs["published"] == "true" and out.outputs["major-tag"] == "v1"


# Immutable releases ------------------------------------------------------------------------------------------------


def test_an_immutable_release_is_recorded_and_a_rerun_leaves_it_alone(world: World) -> None:
    world.github.immutable_releases = True
    out = said(world, *release_args(world))
    assert out.code == 0, out.console
    [published] = world.github.releases_for("v0.1.0")
    assert published["immutable"] is True and world.github.locked("v0.1.0")
    assert "published v0.1.0 (Latest; immutable: yes, its tag is locked for good)" in out.summary
    assert world.github.tag_commit("v0") is None  # a 0.x release moves no major tag
    writes = len(world.github.writes())
    rerun = said(world, *release_args(world))
    assert rerun.code == 0 and rerun.outputs["outcome"] == "already-released", rerun.console
    status = said(world, "release-status", "--success", "--tag", "v0.1.0")
    assert status.code == 0 and "v0.1.0 is already published" in status.console, status.console
    assert "immutable: yes" in status.summary
    assert len(world.github.writes()) == writes and world.github.tag_commit("v0.1.0") == world.head


def test_a_used_up_version_is_released_as_the_next_patch_and_said_so(world: World) -> None:
    world.github.immutable_releases = True
    world.github.add_used_up("v0.1.0")  # an immutable v0.1.0 was published, then deleted with its tag
    out = said(world, *release_args(world))
    assert out.code == 0, out.console
    assert "v0.1.0 is used up by an immutable release: the next release will be v0.1.1" in out.console
    assert "v0.1.1 (v0.1.0 used up by an immutable release: moved on to the next patch)" in out.summary
    assert out.outputs["tag"] == "v0.1.1" and out.outputs["outcome"] == "released"
    assert world.github.tag_commit("v0.1.1") == world.head and world.github.tag_commit("v0.1.0") is None
    assert world.github.releases_for("v0.1.0") == []
    [published] = world.github.releases_for("v0.1.1")
    assert published["draft"] is False and published["immutable"] is True
    assert world.alerts.received == []


@pytest.mark.parametrize("how", ["flag", "kars.yml"])
def test_a_team_can_stop_on_a_used_up_version_instead(world: World, how: str) -> None:
    world.github.add_used_up("v0.1.0")
    extra: tuple[str, ...] = ("--no-skip-used-up",)
    if how == "kars.yml":
        config = world.config
        config.write_text(config.read_text() + "release:\n  skip_used_up_versions: false\n")
        extra = ()
    code, report, err = release(world, *extra)
    assert code == 3, err
    assert report["error"].startswith("GitHub: v0.1.0 is used up by an immutable release")
    assert "pass --version 0.1.1" in report["hint"]
    assert "the next release will be" not in err  # this run releases nothing: it must not say otherwise
    assert report["outputs"]["tag"] == "v0.1.0" and report["outputs"]["production-touched"] == "false"
    assert world.github.releases_for("v0.1.0") == [] and world.github.releases_for("v0.1.1") == []
    assert world.sim.count("serviceInstanceDeployV2") == 0
    assert [a.get("event") for a in world.alerts.received] == ["failure"]
    assert "used up by an immutable release" in json.dumps(world.alerts.received[-1])


def test_v1_still_moves_with_immutable_releases_on(world: World) -> None:
    world.github.immutable_releases = True
    assert said(world, *release_args(world, "--version", "1.0.0")).code == 0
    fix = world.repo.commit("fix: rounding")
    world.github.add_commit(fix)
    out = said(world, *release_args(world))
    assert out.code == 0, out.console
    assert out.outputs["tag"] == "v1.0.1" and world.github.tag_commit("v1") == fix
    assert world.github.tag_commit("v1.0.0") == world.head and world.github.locked("v1.0.0")


def test_a_ruleset_that_keeps_v1_in_place_is_reported_not_a_failed_release(world: World) -> None:
    assert said(world, *release_args(world, "--version", "1.0.0")).code == 0
    world.github.ruleset_tags.add("v1")
    fix = world.repo.commit("fix: rounding")
    world.github.add_commit(fix)
    code, report, err = release(world)
    assert code == 0, err
    assert report["outcome"] == "released" and report["unfinished"] == []
    publish = next(s for s in report["stages"] if s["stage"] == "publish")
    assert (
        publish["status"] == "warning"
        and "v1 not moved (ruleset): Repository rule violations found" in publish["detail"]
    )
    assert world.github.tag_commit("v1") == world.head and world.github.releases_for("v1.0.1")[0]["draft"] is False
    assert world.alerts.received == []
    status = said(world, "release-status", "--success", "--tag", "v1.0.1")
    assert status.code == 0 and "v1: not moved (ruleset)" in status.console, status.console
    assert status.outputs["major-tag"] == ""


def test_a_release_that_fails_before_going_live_takes_back_only_its_draft_s_tag(world: World) -> None:
    world.github.immutable_releases = True
    world.sim.script_for(world.ids["backend"], _build_failure())
    code, report, _ = release(world, "--service", "backend")
    assert code == 1 and report["outcome"] == "failed-before-live"
    assert world.github.tag_commit("v0.1.0") is None  # a draft's tag: taken back, the version is reused
    [draft] = world.github.releases_for("v0.1.0")
    assert draft["draft"] is True and draft["immutable"] is False
    assert stage_status(report)["mark-failed"] == "ok"


def _build_failure() -> Any:
    from tests.fakes.railway_sim import Script

    return Script.build_failure()


def test_publishing_a_draft_whose_tag_name_is_used_up_says_which_version_to_release(
    world: World
) -> None:
    world.github.add_release("v1.1.0", draft=True, target=world.head)
    world.github.add_used_up("v1.1.0")  # the tag is gone, and its name can never be created again
    out = said(world, "release-status", "--success", "--tag", "v1.1.0")
    assert out.code == 3, out.console
    assert "v1.1.0 is used up by an immutable release: its tag name can never be created again" in out.console
    assert "release this commit as v1.1.1: the tag and release steps take --version 1.1.1" in out.console
    assert (
        "### Release status stopped" in out.summary and "**What to do:** release this commit as v1.1.1" in out.summary
    )
    assert out.outputs == {"tag": "v1.1.0"}  # nothing claimed about a publish that did not happen
    [draft] = world.github.releases_for("v1.1.0")
    assert draft["draft"] is True and world.github.tag_commit("v1.1.0") is None


def test_release_status_says_the_release_is_published_when_only_moving_v1_failed(world: World) -> None:
    world.github.add_tag("v1.0.0", world.head)
    world.github.add_release("v1.0.0", draft=True, target=world.head)
    world.github.fail("POST", r"/git/refs$", status=502, when=lambda body: body.get("ref") == "refs/tags/v1")
    out = said(world, "release-status", "--success", "--tag", "v1.0.0")
    assert out.code == 3, out.console
    assert "published v1.0.0" in out.console
    assert "v1: not moved: GitHub: creating v1: GitHub answered HTTP 502 — the release is published; rerun " in (
        out.console
    )
    assert out.outputs["published"] == "true" and out.outputs["major-tag"] == ""
    assert world.github.releases_for("v1.0.0")[0]["draft"] is False and world.github.tag_commit("v1") is None
    again = said(world, "release-status", "--success", "--tag", "v1.0.0")
    assert again.code == 0, again.console
    assert "v1.0.0 is already published" in again.console and f"v1: moved to {world.head[:7]}" in again.console
    assert world.github.tag_commit("v1") == world.head
