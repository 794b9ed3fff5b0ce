"""The pre-deploy backup and the restore command, through the CLI as a real process against the simulator."""

from __future__ import annotations

from tests.fakes.world import OLD, WATCH_KARS_YML, World

BACKUP_YML = WATCH_KARS_YML + "backup:\n  service: Postgres\n  timeout: 5m\n"


def stages(report: dict) -> dict[str, str]:  # type: ignore[type-arg]
    return {s["stage"]: s["status"] for s in report["stages"]}


def first_index(world: World, field: str) -> int:
    return next(i for i, r in enumerate(world.sim.requests) if field in r.fields)


def test_a_backup_is_taken_before_the_first_deploy_and_named_in_the_outputs(world: World) -> None:
    world.write_config(BACKUP_YML)
    run = world.release("--watch-duration", "0")
    assert run.code == 0, run.stderr
    assert stages(run.report)["backup"] == "ok"
    assert len(world.sim.backups) == 1
    backup = world.sim.backups[0]
    assert backup.name == f"kars v0.1.0 {world.head[:7]}"
    assert run.outputs["backup-id"] == backup.id
    assert run.outputs["backup-expires-at"].startswith("2026-03-")
    assert first_index(world, "volumeInstanceBackupCreate") < first_index(world, "serviceInstanceDeployV2")
    assert f"kars-actions restore --backup {backup.id} --service Postgres" in run.summary


def test_a_failed_backup_stops_the_release_with_nothing_deployed(world: World) -> None:
    world.write_config(BACKUP_YML)
    world.sim.backup_outcome = "error"
    run = world.release()
    assert run.code == 1
    assert run.report["outcome"] == "failed-before-live" and run.report["production_touched"] is False
    assert stages(run.report)["backup"] == "failed"
    assert "backup kars v0.1.0" in run.report["error"] and "failed on Railway" in run.report["error"]
    assert world.sim.count("serviceInstanceDeployV2") == 0
    assert world.apps["backend"].live_commit() == OLD
    alert = world.alerts.received[-1]
    assert alert["event"] == "failure" and "production was not touched" in str(alert)


def test_a_backup_that_never_finishes_stops_the_release_at_its_deadline(world: World) -> None:
    world.write_config(WATCH_KARS_YML + "backup:\n  service: Postgres\n  timeout: 2m\n")
    world.sim.backup_outcome = "never"
    run = world.release()
    assert run.code == 1 and run.report["outcome"] == "failed-before-live"
    assert "did not finish within 2m00s" in run.report["error"]
    assert world.sim.count("serviceInstanceDeployV2") == 0


def test_the_look_at_the_backup_deadline_waits_for_a_slow_answer(world: World) -> None:
    """The last look at the workflow comes when no time is left; its answer, late by more than a second (a loaded
    machine, a slow Railway), still gives the deadline's verdict — not "Railway did not answer"."""
    world.write_config(WATCH_KARS_YML + "backup:\n  service: Postgres\n  timeout: 2m\n")
    world.sim.backup_outcome = "never"
    looks_before_the_deadline = 120 // 5  # one look every WORKFLOW_POLL (5 s) from the start
    world.sim.after(
        "WorkflowStatus",
        lambda: world.sim.inject("slow", "WorkflowStatus", seconds=1.5),
        times=looks_before_the_deadline,
    )
    run = world.release()
    assert run.code == 1 and run.report["outcome"] == "failed-before-live", run.report["error"]
    assert "did not finish within 2m00s" in run.report["error"]
    assert world.sim.count("workflowStatus") == looks_before_the_deadline + 1
    assert world.sim.count("serviceInstanceDeployV2") == 0


def test_a_rerun_reuses_the_backup_of_the_same_release(world: World) -> None:
    world.write_config(BACKUP_YML)
    world.apps["backend"].unhealthy_after[world.head] = 0
    assert world.release("--watch-duration", "0").code == 1
    world.apps["backend"].unhealthy_after.clear()
    world.repo.git("tag", "v0.1.0")
    run = world.release("--watch-duration", "0")
    assert run.code == 0, run.stderr
    assert len(world.sim.backups) == 1
    assert world.sim.count("volumeInstanceBackupCreate") == 1
    assert run.outputs["backup-id"] == world.sim.backups[0].id


def test_when_migrations_skips_the_backup_unless_a_migration_changed(world: World) -> None:
    world.write_config(
        WATCH_KARS_YML + "backup:\n  service: Postgres\n  when: migrations\n  paths: [backend/migrations/**]\n"
    )
    run = world.release("--watch-duration", "0")
    assert run.code == 0, run.stderr
    assert stages(run.report)["backup"] == "skipped" and world.sim.backups == []
    world.repo.git("tag", "v0.1.0")
    (world.repo.path / "backend" / "migrations").mkdir()
    (world.repo.path / "backend" / "migrations" / "002_users.sql").write_text("alter table users add x int;\n")
    world.head = world.repo.commit("feat: users get x")
    world.github.add_commit(world.head)
    run = world.release("--watch-duration", "0")
    assert run.code == 0, run.stderr
    assert stages(run.report)["backup"] == "ok" and len(world.sim.backups) == 1


def test_backup_command_takes_one_and_restore_refuses_without_yes(world: World) -> None:
    run = world.cli("backup", "--service", "Postgres", "--name", "before the migration")
    assert run.code == 0, run.stderr
    backup_id = run.outputs["backup-id"]
    assert backup_id == world.sim.backups[0].id
    refused = world.cli("restore", "--backup", backup_id, "--service", "Postgres")
    assert refused.code == 2
    assert "replaces the data" in refused.report["error"]["message"] and "--yes" in refused.report["error"]["hint"]
    assert "nothing was changed" in refused.report["error"]["message"]
    assert world.sim.mutations == [] or all(m.operation != "VolumeInstanceBackupRestore" for m in world.sim.mutations)
    assert world.sim.restores == []
    urls = world.service_urls()
    done = world.cli("restore", "--backup", backup_id, "--service", "Postgres", "--yes", *urls)
    assert done.code == 0, done.stderr
    assert world.sim.restores == [(backup_id, world.sim.backups[0].volume_instance_id)]


def test_restore_of_a_failing_workflow_exits_1(world: World) -> None:
    backup_id = world.cli("backup", "--service", "Postgres").outputs["backup-id"]
    world.sim.restore_outcome = "error"
    run = world.cli("restore", "--backup", backup_id, "--service", "Postgres", "--yes")
    assert run.code == 1 and "restore failed" in run.report["error"]


def test_backup_of_a_service_without_a_volume_is_a_configuration_error(world: World) -> None:
    run = world.cli("backup", "--service", "backend")
    assert run.code == 2
    assert "has no volume" in run.report["error"]["message"]


def test_a_dry_run_stops_where_the_backup_would_and_exits_as_the_release_would(world: World) -> None:
    world.write_config(WATCH_KARS_YML + "backup:\n  service: frontend\n")  # a service without a volume
    dry = world.release("--dry-run")
    assert dry.code == 2, dry.stderr
    assert dry.report["outcome"] == "would-stop" and stages(dry.report)["backup"] == "failed"
    assert "frontend has no volume" in dry.report["error"]
    assert world.github.writes() == [] and world.sim.mutations == []
    real = world.release()
    assert real.code == dry.code and world.sim.count("serviceInstanceDeployV2") == 0


def test_a_dry_run_names_the_volume_it_would_back_up(world: World) -> None:
    world.write_config(BACKUP_YML)
    run = world.release("--dry-run")
    assert run.code == 0, run.stderr
    detail = next(s["detail"] for s in run.report["stages"] if s["stage"] == "backup")
    assert detail.startswith(f"would back up Postgres's volume postgres-volume as 'kars v0.1.0 {world.head[:7]}'")
    assert world.sim.backups == [] and world.sim.mutations == []


def test_a_kars_yml_service_key_names_its_railway_service_for_backup_and_says_so(world: World) -> None:
    text = (world.repo.path / "kars.yml").read_text()
    world.write_config(text.replace("services:\n", "services:\n  db:\n    railway_service: Postgres\n", 1))
    run = world.cli("backup", "--service", "db", fmt="text")
    assert run.code == 0, run.stderr
    assert "database    db is Railway service Postgres (kars.yml services.db)" in run.stdout
    assert len(world.sim.backups) == 1
