"""The long watch after a release, in its own job: watch what the release put live; when it fails, roll back what
still serves, mark the GitHub deployment and the release failed after the fact, and alert.

It runs after the release job and holds no deploy lock: a newer release may replace what it watches at any time.
So it only watches deployments of the release's commit that serve, stops watching a service the moment its
deployment stops serving, and rolls back only a deployment Railway still says serves. Every sentence it writes is
read back from Railway or GitHub first: "rolled back" only once Railway reports the restored deployment live.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kars_actions.core.config import Config
from kars_actions.core.errors import ConfigError, KarsError
from kars_actions.core.report import Progress, no_progress
from kars_actions.core.timing import SYSTEM_CLOCK, Clock, Deadline, human_duration
from kars_actions.railway.api import RailwayClient
from kars_actions.railway.deploy import RailwayTarget, ServiceSnapshot

if TYPE_CHECKING:
    from kars_actions.github.client import GitHubReleases
from kars_actions.release.watch import health_probe, run_watch, watched_target
from kars_actions.release.watch_report import AfterRelease, WatchResult
from kars_actions.release.watch_state import ServiceWatch, WatchedService, WatchSettings


@dataclass(frozen=True)
class AfterReleaseRequest:
    tag: str  # the release to watch: its tag names the commit whose deployments are watched
    settings: WatchSettings
    services: tuple[str, ...] = ()
    project: str | None = None
    environment: str | None = None  # kars.yml environment name (the GitHub deployment's environment)
    railway_environment: str | None = None
    service_urls: dict[str, str] = field(default_factory=dict)
    health: bool = True
    rollback_timeout: float = 600.0
    github_token: str | None = None


def watch_after_release(
    request: AfterReleaseRequest,
    client: RailwayClient,
    config: Config,
    *,
    progress: Progress = no_progress,
    clock: Clock = SYSTEM_CLOCK,
) -> WatchResult:
    """Watch the release's live deployments for the extended window; act on a failure (see the module's doc)."""
    from kars_actions.github.client import GitHubReleases
    from kars_actions.railway.api import parse_time
    from kars_actions.railway.deploy import snapshot_services

    # GitHub first: without a token that may read the release, nothing is watched (a failure could not be told).
    with GitHubReleases.from_env(request.github_token, clock=clock, progress=progress) as github:
        release = github.release_for_tag(request.tag)
    if not release.sha:
        raise ConfigError(f"release {request.tag} names no commit: cannot tell which deployments are its own")
    chosen = request.services or tuple(config.services)
    target = watched_target(client, config, chosen, request.project, request.railway_environment)
    snapshots = snapshot_services(client, target, commit=release.sha)
    after = AfterRelease(request.tag, release.sha, release.html_url or None)
    watched = []
    for ref in target.services:
        serving = snapshots[ref.label].serving
        if serving is None:
            after.not_watched.append(f"{ref.label}: no deployment is live")
        elif serving.commit_hash != release.sha:
            after.not_watched.append(
                f"{ref.label}: deployment {serving.id} of commit {(serving.commit_hash or 'unknown')[:12]} serves, "
                f"not {request.tag}'s: a newer release or a rollback replaced it"
            )
        else:
            watched.append(
                WatchedService(ref.label, ref.id, serving.id, live_at=parse_time(serving.status_updated_at))
            )
    labels = [w.label for w in watched]
    probe = health_probe(config, snapshots, labels, request.service_urls, clock) if request.health else None
    result = run_watch(
        client,
        target.environment_id,
        watched,
        request.settings,
        health=probe,
        progress=progress,
        stop_when_replaced=True,
    )
    if not watched:
        result.verdict = "superseded"
    result.environment = target.environment_name
    result.after_release = after
    if result.failed:
        # A client of its own: the watch took its time, and GitHub's requests get a fresh deadline.
        with GitHubReleases.from_env(request.github_token, clock=clock, progress=progress) as github:
            _act(request, config, client, github, target, snapshots, result, progress)
    return result


def _act(
    request: AfterReleaseRequest,
    config: Config,
    client: RailwayClient,
    github: GitHubReleases,
    target: RailwayTarget,
    snapshots: dict[str, ServiceSnapshot],
    result: WatchResult,
    progress: Progress,
) -> None:
    """Roll back what still serves, mark GitHub failed after the fact, alert: each step recorded as it ended."""
    assert result.after_release is not None
    after = result.after_release
    failed = [w for w in result.services if w.verdict == "failed"] or [
        w for w in result.services if w.verdict == "inconclusive"
    ]
    for w in failed:
        _roll_back(client, target, snapshots, w, result, request.rollback_timeout, progress, config)
    rolled = [name for name, ok, _ in result.rollbacks if ok]
    reason = _reason(request.tag, result)
    environment = request.environment or target.environment_name
    try:
        deployment = github.find_deployment(environment, after.commit)
        if deployment is None:
            after.step("GitHub deployment", False, f"no GitHub deployment of {after.commit[:12]} in {environment}")
        else:
            github.deployment_status(deployment, "failure", reason)
            after.step("GitHub deployment", True, f"deployment {deployment.id} marked failure")
    except KarsError as error:
        after.step("GitHub deployment", False, error.message)
    try:
        github.mark_failed(github.release_for_tag(request.tag), reason)
        after.step("release", True, f"{request.tag} marked failed: a banner at the top of its notes says why")
    except KarsError as error:
        after.step("release", False, error.message)
    _alert(request, config, result, environment, reason, rolled, progress, client.clock)


def _roll_back(
    client: RailwayClient,
    target: RailwayTarget,
    snapshots: dict[str, ServiceSnapshot],
    w: ServiceWatch,
    result: WatchResult,
    timeout: float,
    progress: Progress,
    config: Config,
) -> None:
    """Only the deployment the watch judged, and only while Railway says it still serves."""
    from kars_actions.railway.rollback import rollback_service
    from kars_actions.release.rollback import version_names

    ref = next(r for r in target.services if r.label == w.label)
    deadline = Deadline(timeout, client.clock)
    try:
        info = client.service_instance(ref.id, target.environment_id, deadline)
    except KarsError as error:
        why = f"not rolled back: Railway could not say what serves ({error.message})"
        result.rollbacks.append((w.label, False, why))
        return
    live = sorted((d for d in info.active if d.live), key=lambda d: d.created_at, reverse=True)
    if not live or live[0].id != w.deployment_id:
        now = f"deployment {live[0].id} serves now" if live else "no deployment serves now"
        result.rollbacks.append((w.label, False, f"not rolled back: {w.deployment_id} no longer serves ({now})"))
        return
    before = snapshots[w.label].rollback_target
    progress(f"{w.label}: rolling back deployment {w.deployment_id}" + (f" to {before.id}" if before else ""))
    try:
        outcome = rollback_service(
            client,
            target,
            ref,
            target_id=before.id if before is not None else None,
            failed_deployment_id=w.deployment_id,
            allow_failed=True,  # what served before this release: putting it back is the undo
            progress=progress,
            deadline=deadline,
            describe=version_names(config.root, config.release.tag_prefix),
        )
    except KarsError as error:
        result.rollbacks.append((w.label, False, f"rollback NOT done: {error.message}"))
        return
    if outcome.rolled_back and outcome.live:
        restored = outcome.restored_deployment_id or outcome.target_deployment_id
        result.rollbacks.append((w.label, True, f"rolled back: Railway reports {restored} {outcome.status}"))
    else:
        result.rollbacks.append((w.label, False, f"rollback NOT done: {outcome.message or outcome.status}"))


def _reason(tag: str, result: WatchResult) -> str:
    failure = result.failure().removeprefix("watch failed: ")
    undone = "; ".join(f"{name} {message}" for name, _, message in result.rollbacks)
    return f"{tag} failed the watch after release, {human_duration(result.seconds)} in: {failure}" + (
        f" — {undone}" if undone else ""
    )


def _alert(
    request: AfterReleaseRequest,
    config: Config,
    result: WatchResult,
    environment: str,
    reason: str,
    rolled: list[str],
    progress: Progress,
    clock: Clock,
) -> None:
    """The team hears of it, through kars.yml's channels; an alert that fails is a step NOT done, never an error."""
    from kars_actions.notify.alerts import (
        Alert,
        ChannelOverrides,
        channels_from_config,
        run_url_from_environ,
        send_alerts,
        wanted,
    )

    assert result.after_release is not None
    after = result.after_release
    event = "rollback" if rolled else "failure"
    try:
        alerts = config.alerts
        if not wanted(event, alerts):
            after.step("alert", True, f"kars.yml alerts.on leaves out {event}: none sent")
            return
        # The webhooks the watch action passes (its slack-webhook input and the like) beat kars.yml's env names.
        overrides = ChannelOverrides(
            slack_webhook=os.environ.get("KARS_SLACK_WEBHOOK"),
            discord_webhook=os.environ.get("KARS_DISCORD_WEBHOOK"),
            webhook_url=os.environ.get("KARS_WEBHOOK_URL"),
            webhook_secret=os.environ.get("KARS_WEBHOOK_SECRET"),
        )
        channels = channels_from_config(alerts, overrides)
        if not channels:
            after.step("alert", False, "no alert channel configured")
            return
        where = ", ".join(rolled)
        summary = (
            f"{request.tag} was rolled back in {environment} after release ({where}): the previous version serves."
            if rolled
            else f"{request.tag} failed the watch after release in {environment}; it was not rolled back."
        )
        alert = Alert(
            event=event,
            services=[w.label for w in result.services if w.verdict == "failed"] or [w.label for w in result.services],
            environment=environment,
            version=request.tag,
            commit_sha=after.commit,
            summary=summary,
            failure=reason,
            rollback="; ".join(f"{n}: {m}" for n, _, m in result.rollbacks) or None,
            repository=os.environ.get("GITHUB_REPOSITORY"),
            run_url=run_url_from_environ(),
            release_url=after.release_url,
        )
        sent = send_alerts(alert, channels, clock, progress)
    except KarsError as error:
        after.step("alert", False, error.message)
        return
    after.step(
        "alert",
        not sent.failed,
        f"{event} alert: " + ", ".join(f"{o.name} {'sent' if o.delivered else 'failed'}" for o in sent.outcomes),
    )

