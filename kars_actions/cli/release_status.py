"""``kars-actions release-status``: publish the draft release after a good deploy, or mark it failed."""

from __future__ import annotations

import click

from kars_actions.cli._common import run, start
from kars_actions.cli.options import config_option, github_token_option, move_major_option, output_options
from kars_actions.core.report import Result


@click.command("release-status")
@click.option("--success/--failure", "success", default=None, help="Publish the release, or mark it failed.")
@click.option("--tag", required=True, metavar="TAG", help="The release's tag, e.g. v1.4.0 (the tag step's output).")
@click.option("--reason", default="", metavar="TEXT", help="What failed (required with --failure).")
@move_major_option
@click.option(
    "--publish-failed",
    is_flag=True,
    help="Publish with --success although the release is marked failed, replacing its failure mark.",
)
@github_token_option
@click.option("--dry-run", is_flag=True, help="Read the release and show what would change; write nothing.")
@config_option
@output_options
def command(
    success: bool | None,
    tag: str,
    reason: str,
    move_major: bool | None,
    publish_failed: bool,
    github_token: str | None,
    dry_run: bool,
    config_path: str | None,
    fmt: str | None,
    color: bool | None,
) -> None:
    """Publish the draft release for TAG (Latest only when no higher final version is out), or mark it failed.

    Needs `permissions: contents: write`.
    """
    reporter = start(fmt, color)
    if github_token:
        from kars_actions.core import gha

        gha.SECRETS.register(github_token)

    def action() -> Result:
        from kars_actions.core.config import load_config
        from kars_actions.core.errors import KarsError, UsageError
        from kars_actions.github.steps import ReleaseStatusRequest, run_release_status

        if success is None:
            raise UsageError("say how the release went: --success or --failure")
        move = move_major
        if move is None:
            move = load_config(config_path).release.move_major_tag
        request = ReleaseStatusRequest(
            tag=tag,
            success=success,
            reason=reason,
            move_major=move,
            github_token=github_token,
            dry_run=dry_run,
            publish_failed=publish_failed,
        )
        try:
            return run_release_status(request, progress=reporter.progress)
        except KarsError as error:
            # Stopped: the summary says why and what to do; the outputs claim nothing that did not happen.
            from kars_actions.core import gha
            from kars_actions.github.report import stopped_summary

            gha.set_outputs({"tag": tag})
            gha.append_summary(stopped_summary("Release status", error))
            raise

    run(reporter, action)
