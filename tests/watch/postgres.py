"""A real PostgreSQL server for the pg_dump tests: initdb + pg_ctl in a temporary folder, on a free loopback port.

The server binaries come from the distribution's package (``.ci/run`` installs it); without them the tests that
need a server are skipped, saying why. PostgreSQL refuses to run as root, so under root it runs as ``postgres``.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

PASSWORD = "pg-s3cret-Xq7"  # a throwaway server's password; the tests check it never leaks


def server_bin() -> Path | None:
    for name in ("initdb", "pg_ctl"):
        found = shutil.which(name)
        if found:
            return Path(found).resolve().parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    return Path(candidates[0]).parent if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_postgres() -> Iterator[str]:
    """Start a server; yield its URL (user app_owner, the password above, database postgres); stop and remove it."""
    bindir = server_bin()
    if bindir is None or shutil.which("pg_dump") is None or shutil.which("pg_restore") is None:
        pytest.skip("PostgreSQL server binaries are not installed (.ci/run installs Debian's postgresql)")
    as_user: list[str] = []
    owner = None
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no postgres user to run the server as")
        as_user = ["runuser", "-u", "postgres", "--"]
    root = Path(tempfile.mkdtemp(prefix="kars-pg-"))
    root.chmod(0o755)
    (root / "pw").write_text(PASSWORD + "\n")
    if owner is not None:
        for path in (root, root / "pw"):
            os.chown(path, owner.pw_uid, owner.pw_gid)
    data = root / "data"
    port = _free_port()
    run = lambda *argv: subprocess.run(  # noqa: E731
        [*as_user, *argv], capture_output=True, text=True, timeout=120, check=False
    )
    init = run(
        str(bindir / "initdb"), "-D", str(data), "-U", "app_owner", "-A", "scram-sha-256", f"--pwfile={root / 'pw'}"
    )
    assert init.returncode == 0, init.stderr
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    start = run(
        str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w", "-t", "60", "-o", options, "start"
    )
    assert start.returncode == 0, start.stderr + (root / "log").read_text() if (root / "log").exists() else ""
    try:
        yield f"postgresql://app_owner:{PASSWORD}@127.0.0.1:{port}/postgres"
    finally:
        run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


def psql(url: str, sql: str) -> str:
    from kars_actions.railway.backup import split_password

    safe, password = split_password(url)
    proc = subprocess.run(
        ["psql", "-v", "ON_ERROR_STOP=1", "-qAt", "-d", safe, "-c", sql],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "PGPASSWORD": password or ""},
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout
