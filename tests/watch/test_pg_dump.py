"""backup.dump against a real PostgreSQL started here: a custom-format dump read back with pg_restore --list, the
URL and password masked everywhere, and a failing dump that says why without the secret."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from kars_actions.core import gha
from kars_actions.railway.backup import dump_database, split_password
from tests.fakes.world import WATCH_KARS_YML, World
from tests.watch.postgres import PASSWORD, psql, running_postgres


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    with running_postgres() as url:
        psql(url, "create table orders (id int primary key, total numeric); insert into orders values (1, 9.5), (2, 3)")
        yield url


def test_split_password_keeps_it_out_of_the_url() -> None:
    safe, password = split_password("postgresql://kars:p%40ss@db.example:5432/app?sslmode=require")
    assert safe == "postgresql://kars@db.example:5432/app?sslmode=require" and password == "p@ss"
    assert split_password("postgresql://db.example/app") == ("postgresql://db.example/app", None)


def test_dump_database_writes_a_custom_format_dump_that_reads_back(database: str, tmp_path: Path) -> None:
    record = dump_database(database, tmp_path / "d" / "app.dump")
    assert record.size_bytes > 0 and record.entries >= 2
    listing = subprocess.run(["pg_restore", "--list", record.path], capture_output=True, text=True, check=True)
    assert "TABLE public orders" in listing.stdout
    assert PASSWORD in gha.SECRETS and database in gha.SECRETS


def test_release_with_dump_saves_the_dump_and_never_prints_the_url(world: World, database: str) -> None:
    world.sim.set_variables(
        world.ids["Postgres"], world.env_id, {"DATABASE_PUBLIC_URL": database, "PGUSER": "app_owner"}
    )
    dump_dir = world.tmp / "dumps"
    world.write_config(WATCH_KARS_YML + f"backup:\n  service: Postgres\n  dump: true\n  dump_dir: {dump_dir}\n")
    run = world.release("--watch-duration", "0")
    assert run.code == 0, run.stderr
    path = Path(run.outputs["backup-dump-path"])
    assert path.parent == dump_dir and path.stat().st_size > 0
    assert run.report["backup"]["dump"]["entries"] >= 2
    everything = json.dumps(run.report) + run.stderr + json.dumps(run.outputs) + run.summary
    assert PASSWORD not in everything and database not in everything


def test_a_dump_refused_by_the_server_stops_the_release_without_the_password(world: World, database: str) -> None:
    wrong = database.replace(PASSWORD, "wrong-" + PASSWORD)
    world.write_config(WATCH_KARS_YML + "backup:\n  service: Postgres\n  dump: true\n")
    run = world.release("--watch-duration", "0", DATABASE_PUBLIC_URL=wrong)
    assert run.code == 1 and run.report["outcome"] == "failed-before-live"
    assert "pg_dump failed" in run.report["error"] and "password authentication failed" in run.report["error"]
    assert world.sim.count("serviceInstanceDeployV2") == 0
    everything = json.dumps(run.report) + run.stderr + run.summary
    assert "wrong-" + PASSWORD not in everything
