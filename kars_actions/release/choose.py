"""Choosing what to release: the repository, the environment (flag, branch, or the default) and the services.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from kars_actions.core.config import Config, EnvironmentConfig
from kars_actions.core.errors import UsageError
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


def pick_services(options: ReleaseOptions, config: Config) -> tuple[list[str], str]:
    """The services named, else kars.yml's, else the repository's folders holding a railway config, and where that
    list came from. None of these: the preflight asks Railway when a token can read it, else this is an error."""
    from kars_actions.release.services import list_services, no_services_error, railway_readable

    names, listed = list_services(config, options.services)
    if not names and not railway_readable():
        raise no_services_error(config, railway_read=False)
    return names, listed
