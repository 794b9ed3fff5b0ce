"""Choosing what to release: the repository, the environment (flag, branch, or the default) and the services.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from kars_actions.core.config import Config, EnvironmentConfig
from kars_actions.core.errors import ConfigError, UsageError
from kars_actions.release.context import DEFAULT_ENVIRONMENT, ReleaseOptions


def repository_root(config: Config) -> Path:
    return config.root


def current_branch(repo_dir: Path) -> str | None:
    ref = os.environ.get("GITHUB_REF_NAME")
    if ref and os.environ.get("GITHUB_REF_TYPE", "branch") == "branch":
        return ref
    try:
        proc = subprocess.run(
            ["git", "rev-parse", "--abbrev-ref", "HEAD"], cwd=repo_dir, capture_output=True, text=True, check=False
        )
    except OSError:
        return None
    name = proc.stdout.strip()
    return name if proc.returncode == 0 and name and name != "HEAD" else None


def pick_environment(options: ReleaseOptions, config: Config, repo_dir: Path) -> EnvironmentConfig:
    if options.environment:
        return config.environment(options.environment)
    branch = current_branch(repo_dir)
    if branch:
        mapped = config.environment_for_branch(branch)
        if mapped is not None:
            return mapped
    if DEFAULT_ENVIRONMENT in config.environments or not config.environments:
        return config.environment(DEFAULT_ENVIRONMENT)
    raise UsageError(
        f"no environment given and branch {branch or '(unknown)'} maps to none in kars.yml",
        hint=f"pass --environment ({', '.join(config.environments)}) or set a branch: for one of them",
    )


def pick_services(options: ReleaseOptions, config: Config) -> list[str]:
    if options.services:
        return [config.service(name).name if config.services else name for name in options.services]
    if not config.services:
        raise ConfigError(
            "no services to release: kars.yml defines none and no --service was given",
            hint="add services: to kars.yml (see examples/kars-app/kars.yml) or pass --service NAME",
        )
    return list(config.services)

