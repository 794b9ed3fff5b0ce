"""The example app's real Node backend, checked by the health poller with its database reachable and not."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from kars_actions.health.assertions import HealthCheck, JsonExpectation
from kars_actions.health.poll import PollSettings, check_health
from kars_actions.health.targets import HealthTarget
from tests.fakes.health_servers import TcpListener

SERVER = Path(__file__).resolve().parents[2] / "examples" / "kars-app" / "backend" / "server.js"
NODE = shutil.which("node")
pytestmark = [pytest.mark.node, pytest.mark.skipif(NODE is None, reason="node is not installed")]

CONNECTED = HealthCheck(
    json=(JsonExpectation.parse("status=ok"), JsonExpectation.parse("database=connected")),
)
FAST = PollSettings(interval=0.05, max_interval=0.1, confirm_interval=0.05, deadline=20, timeout=5)


@contextmanager
def backend(**env: str) -> Iterator[str]:
    """Start ``node server.js`` on a free port; yield its base URL once it says where it listens."""
    assert NODE is not None
    environ = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "APP_VERSION")}
    environ.update(env, PORT="0")
    with subprocess.Popen(
        [NODE, str(SERVER)], env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            match = re.search(r"listening on port (\d+)", line)
            assert match, f"backend did not start: {line!r}"
            yield f"http://127.0.0.1:{match.group(1)}"
        finally:
            process.terminate()
            code = process.wait(10)
    assert code == 0, "the backend must exit cleanly on SIGTERM"


def test_the_backend_is_healthy_with_its_database_reachable() -> None:
    with (
        TcpListener() as database,
        backend(DATABASE_URL=f"postgres://app:pw@127.0.0.1:{database.port}/app", APP_VERSION="1.4.0") as base,
    ):
        result = check_health(
            [HealthTarget("backend", f"{base}/api/health", CONNECTED)], expect_version="v1.4.0", settings=FAST
        )
    outcome = result.outcomes[0]
    assert outcome.healthy and outcome.failures == [], result.to_json()
    assert outcome.last is not None and outcome.last.status == 200
    answer = json.loads(outcome.last.body)
    assert (answer["status"], answer["database"], answer["version"]) == ("ok", "connected", "1.4.0")


def test_the_backend_is_unhealthy_without_a_database() -> None:
    with backend(APP_VERSION="1.4.0") as base:
        result = check_health(
            [HealthTarget("backend", f"{base}/api/health", CONNECTED)],
            settings=PollSettings(interval=0.05, max_interval=0.1, confirm_interval=0.05, retries=2, timeout=5),
        )
    outcome = result.outcomes[0]
    assert not outcome.healthy and outcome.last_status == 503
    assert outcome.last is not None and b'"database":"disconnected"' in outcome.last.body


def test_the_version_header_matches_a_released_commit() -> None:
    with (
        TcpListener() as database,
        backend(
            DATABASE_URL=f"postgres://127.0.0.1:{database.port}/app", RAILWAY_GIT_COMMIT_SHA="0123456789abcdef"
        ) as base,
    ):
        check = HealthCheck(version_header="X-App-Version")
        result = check_health(
            [HealthTarget("backend", f"{base}/api/health", check)], expect_version="0123456", settings=FAST
        )
    outcome = result.outcomes[0]
    assert outcome.healthy and outcome.failures == [], result.to_json()
    assert outcome.last is not None and outcome.last.header("X-App-Version") == "0123456789abcdef"
