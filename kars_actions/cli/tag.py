"""``kars-actions tag``: compute the next version from git, create the tag and a draft GitHub release."""

from __future__ import annotations

import click

from kars_actions.cli._common import run, start
from kars_actions.cli.options import (
    bump_option,
    config_option,
    exact_version_option,
    force_release_option,
    github_token_option,
    output_options,
    prerelease_option,
    skip_used_up_option,
)
from kars_actions.core.report import Result


@click.command("tag")
@bump_option
@exact_version_option
@prerelease_option
@click.option("--environment", metavar="NAME", help="kars.yml environment whose `prerelease` channel applies.")
@click.option("--tag-prefix", metavar="PREFIX", default=None, help="Tag prefix (default: kars.yml, else v).")
@click.option("--target", metavar="SHA", default=None, help="Commit to release (default: GITHUB_SHA, else HEAD).")
@click.option("--draft/--no-draft", default=True, show_default=True, help="Leave the release a draft to publish later.")
@force_release_option
@skip_used_up_option
@github_token_option
@click.option("--dry-run", is_flag=True, help="Compute and show what would be created; write nothing.")
@click.option(
    "--repo-dir",
    type=click.Path(file_okay=False),
    default=".",
    show_default=True,
    help="The git checkout to read history from.",
)
@config_option
@output_options
def command(
    bump: str | None,
    version: str | None,
    prerelease: str | None,
    environment: str | None,
    tag_prefix: str | None,
    target: str | None,
    draft: bool,
    force: bool,
    skip_used_up: bool | None,
    github_token: str | None,
    dry_run: bool,
    repo_dir: str,
    config_path: str | None,
    fmt: str | None,
    color: bool | None,
) -> None:
    """Compute the next semantic version and create its annotated tag and a draft GitHub release.

    Needs `permissions: contents: write`. Prints `released=false` and exits 0 when there is nothing to release.
    """
    reporter = start(fmt, color)
    if github_token:
        from kars_actions.core import gha

        gha.SECRETS.register(github_token)

    def action() -> Result:
        from pathlib import Path

        from kars_actions.core.config import load_config, tag_prefix_problem
        from kars_actions.core.errors import KarsError, UsageError
        from kars_actions.github.steps import TagRequest, run_tag

        problem = tag_prefix_problem(tag_prefix) if tag_prefix is not None else None
        if problem:
            raise UsageError(f"--tag-prefix {tag_prefix!r} {problem}", hint="use a plain prefix such as v or release/v")
        config = load_config(config_path, Path(repo_dir))
        channel = prerelease
        if channel is None and environment:
            channel = config.environment(environment).prerelease
        request = TagRequest(
            repo_dir=repo_dir,
            target=target,
            bump=bump or config.release.bump or "auto",
            version=version,
            prerelease=channel or None,
            tag_prefix=config.release.tag_prefix if tag_prefix is None else tag_prefix,
            initial_version=config.release.initial_version,
            draft=draft,
            force=force,
            move_major=config.release.move_major_tag,
            github_token=github_token,
            dry_run=dry_run,
            skip_used_up=config.release.skip_used_up_versions if skip_used_up is None else skip_used_up,
            folder=str(config.root) if config.path else None,  # a kars.yml in a folder: that folder's app, as release
        )
        try:
            return run_tag(request, progress=reporter.progress)
        except KarsError as error:
            # Stopped: the summary says why and what to do; the outputs claim nothing that did not happen.
            from kars_actions.core import gha
            from kars_actions.github.report import stopped_summary

            gha.set_outputs({"released": "false"})
            gha.append_summary(stopped_summary("Tag", error))
            raise

    run(reporter, action)
