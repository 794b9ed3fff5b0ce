"""The canary: a unique value for every secret, every command driven through its error paths against a local
server that echoes what it receives, inside a simulated Actions step, debug on and off. No line anywhere
(stdout, stderr, GITHUB_OUTPUT, GITHUB_STEP_SUMMARY, GITHUB_ENV) outside an ``::add-mask::`` may hold a secret,
its last 8 characters, or a form derived from it."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.fakes.cli_fork import run_kars
from tests.fakes.echo_server import echo_server

SHA = "0123456789abcdef0123456789abcdef01234567"


def _canary(name: str, extra: str = "") -> str:
    """Unique per secret and per run, with characters some escapings change."""
    return f"cnry{name}{extra}{os.urandom(6).hex()}"


SECRETS = {
    "railway": _canary("Rw"),
    "railway_api": _canary("RwApi"),
    "github": _canary("Gh"),
    "slack_path": _canary("Slack"),
    "discord_path": _canary("Disc"),
    "webhook_path": _canary("Hook"),
    "webhook_secret": _canary("Sig", '%|"\\'),
    "team_hook_path": _canary("Team"),
    "header": _canary("Hdr"),
    "header_env": _canary("Env", "%|"),
    "health_password": _canary("Pw"),
    "endpoint_password": _canary("Ep"),
    "database": _canary("Db"),
}


def _forms(value: str) -> set[str]:
    """What a leak of ``value`` looks like, computed independently of the code under test."""
    forms = {
        value,
        value[-8:],
        quote(value, safe=""),
        json.dumps(value)[1:-1],
        value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A"),
        value.replace("\\", "\\\\").replace("|", "\\|"),
        repr(value)[1:-1],
    }
    for user in ("deploy", "x-access-token", "u"):
        forms.add(base64.b64encode(f"{user}:{value}".encode()).decode())
    return {f for f in forms if len(f) >= 8}


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    with echo_server() as url:
        yield url


def _environment(base: str, tmp: Path) -> dict[str, str]:
    s = SECRETS
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "KARS_", "RAILWAY_"))}
    env.update(
        {
            "GITHUB_ACTIONS": "true",
            # Railway's waits and the alerts' retry pauses pass on a virtual clock: the words a retry prints are
            # the same, without sitting through the pauses.
            "KARS_TEST_VIRTUAL_CLOCK": "1",
            "GITHUB_OUTPUT": str(tmp / "output"),
            "GITHUB_STEP_SUMMARY": str(tmp / "summary"),
            "GITHUB_ENV": str(tmp / "env"),
            "GITHUB_REPOSITORY": "acme/app",
            "GITHUB_SHA": SHA,
            "GITHUB_TOKEN": s["github"],
            "GITHUB_API_URL": f"{base}/api",
            "RAILWAY_TOKEN": s["railway"],
            "RAILWAY_API_TOKEN": s["railway_api"],
            "RAILWAY_GRAPHQL_ENDPOINT": f"http://ep:{s['endpoint_password']}@{base.removeprefix('http://')}/graphql",
            "KARS_SLACK_WEBHOOK": f"{base}/unauthorized/services/{s['slack_path']}",
            "KARS_DISCORD_WEBHOOK": f"{base}/redirect/api/webhooks/{s['discord_path']}",
            "KARS_WEBHOOK_URL": f"{base}/hook/{s['webhook_path']}",
            "KARS_WEBHOOK_SECRET": s["webhook_secret"],
            "KARS_HEALTH_HEADERS": f"Authorization: Bearer {s['header']}",
            "TEAM_HOOK": f"{base}/unauthorized/team/{s['team_hook_path']}",
            "HEALTH_KEY": s["header_env"],
            "DATABASE_URL": f"postgres://app:{s['database']}@db.internal:5432/app",
        }
    )
    return env


def _project(tmp: Path, base: str) -> Path:
    root = tmp / "repo"
    (root / "api").mkdir(parents=True)
    (root / "kars.yml").write_text(
        "project: acme\n"
        "alerts:\n  slack_webhook_env: TEAM_HOOK\n  on: [failure, rollback, recovery, success]\n"
        "services:\n  api:\n    directory: api\n"
        f'    test: {sys.executable} -c "import os, sys; print(dict(os.environ)); sys.exit(1)"\n'
        "    health:\n"
        f"      url: http://deploy:{SECRETS['health_password']}@{base.removeprefix('http://')}/health\n"
        "      headers: {X-Key: '${HEALTH_KEY}'}\n"
        "      timeout: 1\n      deadline: 2\n",
        encoding="utf-8",
    )
    (root / "api" / "railway.json").write_text('{"deploy": {"healthcheckPath": "/health"}}')
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "main", str(root)], check=True)
    subprocess.run([*git, "-C", str(root), "add", "."], check=True)
    subprocess.run([*git, "-C", str(root), "commit", "-qm", "feat: first"], check=True)
    return root


def _commands(base: str) -> list[list[str]]:
    s = SECRETS
    hostile_health = f"http://deploy:{s['health_password']}@{base.removeprefix('http://')}/health"
    return [
        ["tag", "--dry-run", s["github"]],  # a token pasted as an argument: click's usage error
        ["health", "--deadline", "2", "--timeout", "1", "--header", f"X-Api-Key: {s['header']}", hostile_health],
        ["health", "--deadline", "2", "--timeout", "1", f"{base}/redirect/x"],
        ["health", "--service", "api"],
        ["health", f"deploy:{s['health_password']}@app.example.com/health"],
        ["deploy", "--service", "api", "--commit", SHA],
        ["rollback", "--service", "api"],
        ["tag"],
        ["release-status", "--success", "--tag", "v0.1.0"],
        ["release", "--health-deadline", "2", "--timeout", "30"],
        ["watch", "--service", "api"],
        ["backup", "--service", "api", "--dump"],
        ["restore", "--backup", "backup-1", "--service", "api", "--yes"],
        ["config", "plan"],
        ["notify", "--event", "failure", "--strict"],
        ["notify", "--event", "failure", "--dry-run"],
        ["test"],
        ["init", "--action-repository", f"http://x-access-token:{s['github']}@127.0.0.1:9/r.git", "--dir", "."],
        ["validate", "--schema", f"http://u:{s['endpoint_password']}@127.0.0.1:9/schema.json"],
    ]


def _leaks(text: str, where: str) -> list[str]:
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith("::add-mask::"):
            continue
        for name, value in SECRETS.items():
            for form in _forms(value):
                if form in line:
                    found.append(f"{where}:{number}: {name} as {form!r}: {line[:300]}")
    return found


def _run_one(args: list[str], env: dict[str, str], root: Path, files: Path) -> list[str]:
    """One command in its own step (its own outputs, summary and env files); the leaks it shows."""
    files.mkdir()
    step = env | {"GITHUB_OUTPUT": str(files / "output"), "GITHUB_STEP_SUMMARY": str(files / "summary")}
    step |= {"GITHUB_ENV": str(files / "env")}
    for name in ("output", "summary", "env"):
        (files / name).write_text("")
    proc = run_kars(
        [*args],
        capture_output=True,
        text=True,
        env=step,
        cwd=root,
        timeout=120,
        errors="backslashreplace",
    )
    label = " ".join(args[:2])
    assert proc.returncode in (0, 1, 2, 3), f"{label}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert "Traceback" not in proc.stdout, label
    if not env["KARS_DEBUG"]:
        assert "Traceback" not in proc.stderr, label
    leaks = _leaks(proc.stdout, f"{label} stdout") + _leaks(proc.stderr, f"{label} stderr")
    for name in ("output", "summary", "env"):
        leaks += _leaks((files / name).read_text(errors="backslashreplace"), f"{label} {name}")
    return leaks


@pytest.mark.parametrize("debug", [False, True], ids=["plain", "debug"])
def test_no_secret_reaches_any_output_of_any_command(base: str, tmp_path: Path, debug: bool) -> None:
    root = _project(tmp_path, base)
    env = _environment(base, tmp_path) | {"KARS_DEBUG": "1" if debug else ""}
    # Each command is a step of its own; four at a time, as the health checks' time is spent waiting on deadlines.
    with ThreadPoolExecutor(max_workers=4) as pool:
        runs = [
            pool.submit(_run_one, args, env, root, tmp_path / f"step{index}")
            for index, args in enumerate(_commands(base))
        ]
        leaks = [leak for run in runs for leak in run.result()]
    assert not leaks, "\n".join(leaks[:40])
