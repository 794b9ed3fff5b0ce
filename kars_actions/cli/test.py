"""``kars-actions test``: the test gate."""

from __future__ import annotations

from pathlib import Path

import click

from kars_actions.cli._common import run, start
from kars_actions.cli.options import config_option, output_options
from kars_actions.core.report import Result


@click.command(name="test")
@click.option(
    "--dir",
    "dirs",
    multiple=True,
    metavar="PATH",
    help="Test this folder instead of the kars.yml services (repeatable).",
)
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(min=1),
    default=None,
    envvar="KARS_TEST_JOBS",
    help="Services tested at once (default: the number of CPUs).",
)
@click.option(
    "--root",
    type=click.Path(file_okay=False, exists=True),
    default=None,
    help="Repository root (default: the kars.yml folder, else the current folder).",
)
@config_option
@output_options
def command(
    dirs: tuple[str, ...],
    jobs: int | None,
    root: str | None,
    config_path: str | None,
    fmt: str | None,
    color: bool | None,
) -> None:
    """Run each service's tests; exit 1 if any service fails, times out or cannot start.

    Commands come from `test:` in kars.yml, or are detected per folder: a package.json `test` script (installed
    with the lockfile's package manager), pytest (pyproject.toml / pytest.ini / setup.cfg), or a Makefile `test`
    target.
    """
    reporter = start(fmt, color)

    def action() -> Result:
        from kars_actions.core.config import load_config
        from kars_actions.release.services import with_folders
        from kars_actions.testrun.runner import plan_test_runs, run_tests

        base = Path(root).resolve() if root else None
        config = load_config(config_path, base)
        # Each service's folder found the way the release finds it (kars.yml, else a folder named like it).
        runs = plan_test_runs(config if dirs else with_folders(config), base, dirs)
        result = run_tests(runs, jobs=jobs, progress=reporter.progress)
        result.grouped = reporter.name == "github"
        return result

    run(reporter, action)
