"""``kars-actions restore`` the way Railway restores, through the CLI as a real process: the copy only stages the
volume swap, committing the environment's staged changes applies it (with anything else staged), the database
redeploys, the backups newer than the restored one are deleted, and an HA database refuses in-place restores."""

from __future__ import annotations

from tests.fakes.world import World

DAY = 86400.0


def seed(world: World) -> tuple[str, str, list[str]]:
    """The database's volume with a backup from three days ago and two newer ones (a daily schedule)."""
    sim = world.sim
    volume = next(iter(sim.volumes))
    old = sim.add_backup(volume, "kars v0.9.0 1a2b3c4", age=3 * DAY)
    newer = [sim.add_backup(volume, "daily", age=2 * DAY), sim.add_backup(volume, "daily", age=DAY)]
    return volume, old, newer


def restore(world: World, backup: str, *extra: str):  # type: ignore[no-untyped-def]
    urls = world.service_urls()
    return world.cli("restore", "--backup", backup, "--service", "Postgres", *urls, *extra)


def postgres_deployments(world: World) -> list:  # type: ignore[type-arg]
    return world.sim.deployments_of(world.ids["Postgres"])


def test_without_yes_it_lists_the_newer_backups_railway_will_delete_and_changes_nothing(world: World) -> None:
    _, old, newer = seed(world)
    run = restore(world, old)
    assert run.code == 2
    message = run.report["error"]["message"]
    assert "Railway deletes the 2 backup(s) newer than it" in message and all(b in message for b in newer)
    assert "nothing was changed" in message
    assert world.sim.mutations == [] and len(world.sim.backups) == 3


def test_a_restore_is_staged_then_committed_then_the_database_redeploys(world: World) -> None:
    volume, old, newer = seed(world)
    before = len(postgres_deployments(world))
    run = restore(world, old, "--yes")
    assert run.code == 0, run.stderr
    sim = world.sim
    assert sim.volumes[volume].restored_from == old  # applied: the commit happened
    assert [c["message"] for c in sim.committed_staged] == [f"kars: restore backup {old} into Postgres"]
    assert sim.staged == {}
    redeploys = postgres_deployments(world)[before:]
    assert len(redeploys) == 1 and sim.status_of(redeploys[0].id) == "SUCCESS"
    assert {b.id for b in sim.deleted_backups} == set(newer)
    assert run.report["headline"].startswith(f"Restored backup {old}")
    text = " ".join(run.report.get("notes") or []) + run.summary
    assert f"Railway reports {redeploys[0].id} SUCCESS" in text
    assert "Railway deleted the newer backups" in text and newer[0] in text
    assert "health after the restore: 2 target(s) healthy" in text
    # the order Railway needs: look at what is staged, copy, commit
    ops = [r.operation for r in sim.requests]
    assert ops.index("EnvironmentStagedChanges") < ops.index("VolumeInstanceBackupRestore")
    assert ops.index("VolumeInstanceBackupRestore") < ops.index("EnvironmentPatchCommitStaged")


def test_someone_elses_staged_change_is_refused_naming_what_and_who(world: World) -> None:
    volume, old, _ = seed(world)
    world.sim.stage_changes(
        world.env_id, {"services": {world.ids["backend"]: {"deploy": {"startCommand": "node next.js"}}}}
    )
    run = restore(world, old, "--yes")
    assert run.code == 1
    reason = run.report["reason"]
    assert "service backend: deploy.startCommand" in reason and "Ada Lovelace <ada@example.com>" in reason
    assert "--commit-staged" in reason and "nothing was restored" in reason
    assert world.sim.restores == [] and world.sim.committed_staged == []
    assert world.sim.volumes[volume].restored_from is None


def test_commit_staged_ships_the_other_change_with_the_restore(world: World) -> None:
    volume, old, _ = seed(world)
    backend = world.ids["backend"]
    world.sim.stage_changes(world.env_id, {"services": {backend: {"deploy": {"startCommand": "node next.js"}}}})
    run = restore(world, old, "--yes", "--commit-staged")
    assert run.code == 0, run.stderr
    assert world.sim.volumes[volume].restored_from == old
    assert world.sim.settings_of(backend, world.env_id)["deploy"]["startCommand"] == "node next.js"
    assert "with what else was staged" in " ".join(run.report.get("notes") or [])


def test_a_change_staged_while_the_backup_copies_is_not_committed(world: World) -> None:
    volume, old, _ = seed(world)
    backend = world.ids["backend"]
    world.sim.after(
        "VolumeInstanceBackupRestore",
        lambda: world.sim.stage_changes(world.env_id, {"services": {backend: {"variables": {"FLAG": {"value": "1"}}}}}),
    )
    run = restore(world, old, "--yes")
    assert run.code == 1
    assert "staged but was not committed" in run.report["reason"] and "variables.FLAG" in run.report["reason"]
    assert world.sim.committed_staged == [] and world.sim.volumes[volume].restored_from is None


def test_an_ha_database_is_refused_with_railways_reason_before_anything_is_sent(world: World) -> None:
    sim = world.sim
    project = sim.services[world.ids["Postgres"]]["projectId"]
    ha_db = sim.add_service(project, "Postgres-HA")
    sim.add_deployment(ha_db, world.env_id, "f" * 40)
    volume = sim.add_volume(ha_db, world.env_id, "pg-ha-volume", ha=True)
    backup = sim.add_backup(volume, "nightly", age=DAY)
    run = world.cli("restore", "--backup", backup, "--service", "Postgres-HA", "--yes")
    assert run.code == 1
    assert "HA cluster" in run.report["reason"] and "replicas diverged" in run.report["reason"]
    assert sim.mutations == [] and sim.restores == []


def test_an_app_unhealthy_after_the_restore_fails_it_and_says_the_restore_is_applied(world: World) -> None:
    volume, old, _ = seed(world)
    world.apps["backend"].unhealthy_after["0" * 40] = 0
    run = restore(world, old, "--yes")
    assert run.code == 1
    assert "the restore is applied, but the app is not healthy after it" in run.report["error"]
    assert world.sim.volumes[volume].restored_from == old
