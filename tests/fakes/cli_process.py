"""``python -m kars_actions`` as a real process, optionally inside a simulated GitHub Actions step."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.fakes.cli_fork import SCRUBBED, run_kars


def run_cli(
    args: list[str], cwd: Path, env: dict[str, str] | None = None, *, actions: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the CLI in ``cwd``. With ``actions``, as a step: GITHUB_ACTIONS, and GITHUB_OUTPUT, GITHUB_STEP_SUMMARY
    and RUNNER_TEMP in ``cwd`` (``output``, ``summary``, ``runner-temp``); ``env`` comes last."""
    full = {k: v for k, v in os.environ.items() if not k.startswith(SCRUBBED)}
    if actions:
        (cwd / "runner-temp").mkdir(exist_ok=True)
        full |= {
            "GITHUB_ACTIONS": "true",
            "GITHUB_OUTPUT": str(cwd / "output"),
            "GITHUB_STEP_SUMMARY": str(cwd / "summary"),
            "RUNNER_TEMP": str(cwd / "runner-temp"),
        }
    return run_kars(
        [*args],
        capture_output=True,
        text=True,
        env=full | (env or {}),
        cwd=cwd,
        timeout=timeout,
        errors="backslashreplace",
    )
