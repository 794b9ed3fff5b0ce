"""A pull request's preview: find (or create) its Railway environment, wait for the deployment of the PR's head
commit in every service — following a newer push while waiting — prove it healthy, and tell the pull request
through a transient GitHub deployment and one comment kept up to date. On close: deployments inactive, the
comment updated, and the environment deleted only when kars created it.

The parts: ``railway.previews`` (environments and head deployments), ``railway.wait`` (the same waiter as the
release, status stream first), ``health`` (the same checks and version rule), ``github.pulls`` and
``github.deployments``. Rendering is ``preview_report``'s.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from kars_actions.core.config import Config, load_config
from kars_actions.core.errors import ConfigError, ExternalError, KarsError, UsageError
from kars_actions.core.report import Progress, no_progress
from kars_actions.core.timing import SYSTEM_CLOCK, Clock, Deadline
from kars_actions.release.context import _internal_error as internal_error
from kars_actions.release.preview_report import COMMENT_MARKER, PreviewResult, ServicePreview

if TYPE_CHECKING:
    from kars_actions.github.api import DeploymentRef
    from kars_actions.github.client import GitHubReleases
    from kars_actions.github.pulls import PullRequest
    from kars_actions.railway.api import RailwayClient
    from kars_actions.railway.deploy import RailwayTarget
    from kars_actions.railway.previews import PreviewProject, RailwayEnvironment
    from kars_actions.railway.wait import ServiceDeployment, StartedDeployment

RECORD = "kars"
HEAD_CHECK_EVERY = 30.0  # seconds between looks at the pull request's head while waiting for Railway


@dataclass(frozen=True)
class PreviewOptions:
    """What ``kars-actions preview`` was asked to do."""

    config_path: str | None = None
    pr: int | None = None
    close: bool = False
    services: tuple[str, ...] = ()
    project: str | None = None
    github_token: str | None = None
    deploy_timeout: float = 900.0
    health_deadline: float = 300.0
    total_timeout: float = 1800.0
    service_urls: dict[str, str] = field(default_factory=dict)  # {pr} is the pull request's number
    expect_status: tuple[str, ...] = ()
    expect_json: tuple[str, ...] = ()
    version_check: str | None = None
    event_path: str | None = None


@dataclass
class _Run:
    options: PreviewOptions
    config: Config
    result: PreviewResult
    progress: Progress
    clock: Clock
    deadline: Deadline
    github: GitHubReleases
    railway: RailwayClient | None = None
    project: PreviewProject | None = None
    env: RailwayEnvironment | None = None
    target: RailwayTarget | None = None
    pull: PullRequest | None = None
    deployment: DeploymentRef | None = None
    moved_to: str | None = None
    started: float = 0.0
    railway_started: float = 0.0  # the same moment on the Railway client's clock (its waits are timed on it)
    labels: dict[str, tuple[str, str]] = field(default_factory=dict)  # label -> (Railway service id, name)

    def elapsed(self) -> float:
        """Seconds since the run began. Railway's waits are timed on the Railway client's clock, which runs ahead
        of the wall clock only on the test seam's virtual clock: then its lead is added."""
        seconds = self.clock.monotonic() - self.started
        if self.railway is not None and getattr(self.railway.clock, "virtual", False):
            seconds += self.railway.clock.monotonic() - self.railway_started
        return seconds

    @property
    def github_environment(self) -> str:
        from kars_actions.railway.previews import created_name

        return created_name(self.result.pr or 0)


def run_preview(
    options: PreviewOptions, *, progress: Progress = no_progress, clock: Clock = SYSTEM_CLOCK
) -> PreviewResult:
    """Preview (or close) one pull request. Railway and GitHub trouble end up in the result; configuration errors
    found before anything starts are raised."""
    from kars_actions.github.client import GitHubReleases
    from kars_actions.github.pulls import read_event
    from kars_actions.notify.alerts import run_url_from_environ

    config = load_config(options.config_path)
    event = read_event(options.event_path if options.event_path is not None else os.environ.get("GITHUB_EVENT_PATH"))
    pr = options.pr or (event.pull.number if event else None)
    if pr is None:
        raise UsageError(
            "which pull request? Not a pull_request event, and no --pr was given",
            hint="run on `on: pull_request`, or pass --pr NUMBER",
        )
    closing = options.close or (event is not None and event.pull.number == pr and event.action == "closed")
    result = PreviewResult(pr=pr, closing=closing, run_url=run_url_from_environ())
    has_railway = bool(os.environ.get("RAILWAY_API_TOKEN") or os.environ.get("RAILWAY_TOKEN"))
    if event is not None and event.pull.number == pr and event.pull.from_fork and not has_railway:
        result.outcome = "fork-skipped"
        result.commit = event.pull.head_sha or None
        return result
    deadline = Deadline.after(options.total_timeout, clock)
    token = options.github_token or os.environ.get("GITHUB_TOKEN") or os.environ.get("GH_TOKEN")
    github = GitHubReleases.from_env(token, clock=clock, deadline=deadline, progress=progress)
    run = _Run(options, config, result, progress, clock, deadline, github, started=clock.monotonic())
    result.github_environment = run.github_environment
    try:
        if closing:
            _close(run)
        else:
            _open(run)
    except Exception as raised:  # noqa: BLE001 - a bug too ends with outputs, a summary and the pull request told
        # Said on every exit path: the pull request hears how it ended once it has heard that it began.
        error = raised if isinstance(raised, KarsError) else internal_error(raised)
        result.error = error
        if result.outcome == "deploying":
            result.outcome = "unknown" if _unknown(error) else "failed"
        if result.outcome in ("unknown", "failed", "no-environment"):
            _finish_on_github(run)
    finally:
        result.seconds = run.elapsed()
        if run.railway is not None:
            run.railway.close()
        github.close()
    return result


def _unknown(error: KarsError) -> bool:
    return isinstance(error, ExternalError) and getattr(error, "service", "") == "Railway"


# --- Railway: the project, the environment, the services ---------------------------------------------------------


def _railway(run: _Run) -> RailwayClient:
    from kars_actions.core.timing import clock_from_environ
    from kars_actions.railway.api import RailwayClient

    if run.railway is None:
        run.railway = RailwayClient.from_env(clock=clock_from_environ())
    return run.railway


def _railway_deadline(run: _Run, seconds: float) -> Deadline:
    railway = _railway(run)
    return Deadline(max(0.0, min(seconds, run.deadline.remaining())), railway.clock)


def _resolve(run: _Run) -> None:
    """The project, the services to preview (found the one way the release finds them) and the PR environment if there
    is one."""
    from kars_actions.railway.deploy import pick
    from kars_actions.railway.previews import find_preview, read_preview_project
    from kars_actions.release.services import RailwayScope, resolve, resolve_any

    railway = _railway(run)
    run.railway_started = railway.clock.monotonic()
    run.project = read_preview_project(
        railway, run.options.project or run.config.project, _railway_deadline(run, 120.0)
    )
    # The one resolver, as the release has it: named, kars.yml's, the repository's folders holding a railway config,
    # then the services Railway deploys from a GitHub repository (databases and images left out), each completed
    # with what was found. Railway is asked only when nothing else names a service (then also for the health check
    # path it uses): a preview does not build from the railway config, so where it lives costs no request.
    found = resolve_any(run.config, run.options.services) or resolve(
        run.config, run.options.services, RailwayScope(railway, run.project.id, deadline=_railway_deadline(run, 120.0))
    )
    run.config = found.config
    names = found.names
    for name in names:
        service = run.config.service(name) if run.config.services else None
        label = service.name if service else name
        wanted = service.railway_service if service else name
        run.labels[label] = pick("service", wanted, run.project.services, f"project {run.project.name}")
    run.env = find_preview(run.project, run.result.pr or 0)


def _target(run: _Run) -> RailwayTarget:
    from kars_actions.railway.deploy import RailwayTarget
    from kars_actions.railway.wait import ServiceRef

    assert run.project is not None and run.env is not None
    refs = [ServiceRef(service_id, name, label) for label, (service_id, name) in run.labels.items()]
    return RailwayTarget(run.project.id, run.project.name, run.env.id, run.env.name, tuple(refs))


def _set_environment(run: _Run, env: RailwayEnvironment) -> None:
    from kars_actions.railway.previews import is_created_preview

    run.env = env
    run.result.environment = env.name
    run.result.environment_id = env.id
    run.result.created_by_kars = is_created_preview(env, run.result.pr or 0)
    run.target = _target(run)


def _ensure_environment(run: _Run) -> None:
    """Railway's own PR environment (waited for: Railway makes it when it hears of the pull request), or, with
    PR environments off and ``previews: create``, one kars creates from the base environment."""
    from kars_actions.railway.previews import create_preview, wait_for_railways_preview

    assert run.project is not None
    pr = run.result.pr or 0
    if run.env is not None:
        _set_environment(run, run.env)
        return
    if run.project.pr_environments:
        found = wait_for_railways_preview(
            _railway(run),
            run.project,
            pr,
            deadline=_railway_deadline(run, run.options.deploy_timeout),
            progress=run.progress,
        )
        if found is None:
            run.result.outcome = "no-environment"
            raise KarsError(
                f"Railway did not create the PR environment of #{pr} in time",
                hint="check the project's PR environments in Railway (Settings → Environments); rerun the job",
            )
        _set_environment(run, found)
        return
    previews = run.config.previews
    if previews.mode != "create":
        raise ConfigError(
            f"Railway project {run.project.name} has PR environments off, and kars.yml does not ask kars to "
            "create previews",
            hint="turn PR environments on in Railway (project Settings → Environments), or add "
            "`previews: {mode: create, base: staging}` to kars.yml",
        )
    base = _base_environment(run)
    run.progress(f"creating the Railway environment pr-{pr} from {base.name}")
    created = create_preview(_railway(run), run.project, pr, base, deadline=_railway_deadline(run, 120.0))
    run.result.created_now = True
    _set_environment(run, created)


def _base_environment(run: _Run) -> RailwayEnvironment:
    assert run.project is not None
    wanted = run.config.previews.base
    if wanted:
        railway_name = run.config.environment(wanted).railway_environment if run.config.environments else wanted
        return run.project.environment(railway_name or wanted)
    base = next((e for e in run.project.environments if e.id == run.project.base_environment_id), None)
    if base is None:
        raise ConfigError(
            "previews: create needs a base environment to fork, and the Railway project names none",
            hint="write `previews: {mode: create, base: staging}` in kars.yml (an environment whose variables "
            "unreviewed code may use — never production's)",
        )
    return base


# --- The pull request on GitHub --------------------------------------------------------------------------------


def _read_pull(run: _Run) -> PullRequest:
    assert run.github.pulls is not None
    return run.github.pulls.get(run.result.pr or 0)


def _head_moved(run: _Run) -> Callable[[], bool]:
    """Asked while waiting: has a newer push moved the pull request's head? (A read GitHub cannot answer is no.)"""

    def moved() -> bool:
        try:
            pull = _read_pull(run)
        except KarsError:
            return False
        if pull.head_sha and pull.head_sha != run.result.commit:
            run.moved_to = pull.head_sha
            run.progress(f"#{run.result.pr}: a newer push moved the head to {pull.head_sha[:12]}; following it")
            return True
        return False

    return moved


def _github_write(run: _Run, action: Callable[[], Any]) -> Any:
    """A write to the pull request or its deployments. A missing permission is recorded, not fatal: the preview
    is still proven and the step summary says what could not be written."""
    from kars_actions.github.api import PermissionMissing

    try:
        return action()
    except PermissionMissing as missing:
        if missing.permission not in run.result.missing_permissions:
            run.result.missing_permissions.append(missing.permission)
        return None
    except ExternalError as error:
        run.result.warnings.append(error.message)
        return None


def _comment(run: _Run, *, create: bool = True) -> None:
    pulls = run.github.pulls
    if pulls is None or (not create and run.result.comment_url is None and not _has_comment(run)):
        return
    kept = _github_write(
        run, lambda: pulls.keep_comment(run.result.pr or 0, COMMENT_MARKER, run.result.comment_markdown())
    )
    if kept is not None:
        run.result.comment_url = kept[0].html_url or run.result.comment_url


def _has_comment(run: _Run) -> bool:
    pulls = run.github.pulls
    if pulls is None:
        return False
    found = _github_write(run, lambda: pulls.find_comment(run.result.pr or 0, COMMENT_MARKER))
    return found is not None


def _start_deployment(run: _Run) -> None:
    commit = run.result.commit
    assert commit is not None
    record = {
        "made_by": "kars-actions",
        "preview": {
            "pr": run.result.pr,
            "railway_environment": run.result.environment,
            "railway_environment_id": run.result.environment_id,
            "created_by_kars": run.result.created_by_kars,
        },
    }
    run.deployment = _github_write(
        run,
        lambda: run.github.start_deployment(
            run.github_environment,
            commit,
            production=False,
            transient=True,
            description=f"preview of #{run.result.pr} at {commit[:7]}",
            payload={RECORD: record},
        ),
    )
    if run.deployment is not None:
        run.result.github_deployment_id = run.deployment.id


def _deployment_status(run: _Run, state: str, description: str) -> None:
    deployment = run.deployment
    if deployment is None:
        return
    url = run.result.environment_url if state == "success" else None
    _github_write(run, lambda: run.github.deployment_status(deployment, state, description, environment_url=url))


# --- Open: deploy (or follow Railway's deploy of) the head, wait, check -----------------------------------------


def _open(run: _Run) -> None:
    result = run.result
    run.pull = _read_pull(run)
    if run.pull.state == "closed":
        run.progress(f"#{result.pr} is closed: tearing its preview down instead")
        result.closing = True
        _close(run)
        return
    result.commit = run.pull.head_sha
    _resolve(run)
    _ensure_environment(run)
    result.outcome = "deploying"
    while True:
        result.services = [ServicePreview(label) for label in run.labels]
        _start_deployment(run)
        _comment(run)
        rows = _deploy_and_wait(run)
        if run.moved_to is not None:
            _supersede(run)
            continue
        break
    _record_rows(run, rows)
    if all(s.live for s in result.services):
        _check_health(run)
    _conclude(run)
    _finish_on_github(run)


def _supersede(run: _Run) -> None:
    """The head moved: the deployment of the older head is left to Railway (it is no longer what the pull request
    shows) and its GitHub deployment goes inactive; the wait starts over for the new head."""
    assert run.moved_to is not None and run.result.commit is not None
    old, new = run.result.commit, run.moved_to
    _deployment_status(run, "inactive", f"superseded by a newer push ({new[:7]})")
    run.result.superseded.append(old)
    run.result.commit, run.moved_to = new, None
    run.deployment = None


def _deploy_and_wait(run: _Run) -> dict[str, ServiceDeployment]:
    """Start (kars-created environment) or find (Railway's own) the deployment of the head for each service, then
    follow them with the release's waiter; stops early when a newer push moves the head."""
    from kars_actions.railway.deploy import start_deployment
    from kars_actions.railway.previews import wait_for_head_deployments
    from kars_actions.railway.stream import stream_opener
    from kars_actions.railway.wait import StartedDeployment, wait_for_deployments

    railway, target, commit = _railway(run), run.target, run.result.commit
    assert target is not None and commit is not None
    deadline = _railway_deadline(run, run.options.deploy_timeout)
    moved = _head_moved(run)
    started: list[StartedDeployment] = []
    if run.result.created_by_kars:
        for ref in target.services:
            started.append(start_deployment(railway, target, ref, commit, deadline=deadline))
            run.progress(f"{ref.label}: deployment {started[-1].deployment_id} of {commit[:12]}")
    else:
        found = wait_for_head_deployments(
            railway,
            target.project_id,
            target.environment_id,
            [(ref.label, ref.id) for ref in target.services],
            commit,
            deadline=deadline,
            progress=run.progress,
            stop=moved,
        )
        if run.moved_to is not None:
            return {}
        now = railway.clock.monotonic()
        for ref in target.services:
            if ref.label in found:
                started.append(StartedDeployment(ref, found[ref.label].id, True, now, seen=found[ref.label]))
                run.progress(f"{ref.label}: Railway's deployment {found[ref.label].id} of {commit[:12]}")
    if not started:
        return {}
    return wait_for_deployments(
        railway,
        target.dashboard_url,
        started,
        progress=run.progress,
        deadline=deadline,
        stream=stream_opener(railway),
        stop=moved,
        stop_every=HEAD_CHECK_EVERY,
    )


def _record_rows(run: _Run, rows: dict[str, ServiceDeployment]) -> None:
    assert run.target is not None and run.result.commit is not None
    railway = _railway(run)
    for preview in run.result.services:
        row = rows.get(preview.service)
        ref = next(r for r in run.target.services if r.label == preview.service)
        if row is None:
            preview.status = "NOT_STARTED"
            preview.reason = (
                f"Railway started no deployment of {run.result.commit[:12]} in {run.target.environment_name} "
                f"within {run.options.deploy_timeout:g}s"
            )
            preview.dashboard_url = run.target.dashboard_url(ref.id)
            continue
        preview.status, preview.deployment_id = row.status, row.deployment_id
        preview.dashboard_url, preview.reason = row.dashboard_url, row.reason
        if row.live:
            preview.seconds = (row.live_at or railway.clock.monotonic()) - run.railway_started
            given = run.options.service_urls.get(preview.service)
            if given:
                preview.url = given.replace("{pr}", str(run.result.pr))
                continue
            try:
                info = railway.service_instance(ref.id, run.target.environment_id, _railway_deadline(run, 60.0))
            except KarsError as error:
                preview.health_note = f"its domain could not be read ({error.message})"
                continue
            preview.url = info.url
            if preview.url is None:
                preview.health_note = "no public domain in this environment: not checked"


def _check_health(run: _Run) -> None:
    """The release's health checks and assertions, aimed at the preview's own domains (never at a URL kars.yml
    gives for another environment), with the head commit as the version to report."""
    from kars_actions.health.plan import CheckOverrides, HealthPlan, plan_targets
    from kars_actions.health.poll import check_health

    result = run.result
    urls = {s.service: s.url for s in result.services if s.url}
    if not urls:
        return
    overrides = CheckOverrides(
        expect_status=run.options.expect_status,
        expect_json=run.options.expect_json,
        version_check=run.options.version_check,
    )
    config = _preview_config(run.config, urls)
    try:
        targets = plan_targets(HealthPlan(services=tuple(urls), service_urls=urls, overrides=overrides), config)
    except KarsError as error:
        for service in result.services:
            if service.url:
                service.healthy, service.health_note = False, error.message
        return
    assert result.commit is not None
    health = check_health(
        targets,
        expect_version=[result.commit],
        deadline=min(run.options.health_deadline, max(run.deadline.remaining(), 1.0)),
        progress=run.progress,
        clock=run.clock,
    )
    result.health = health
    for service in result.services:
        outcomes = [o for o in health.outcomes if o.target.service == service.service]
        if not outcomes:
            continue
        service.healthy = all(o.healthy for o in outcomes)
        if service.healthy:
            last = outcomes[0].last
            service.health_note = f"healthy (HTTP {last.status})" if last and last.status else "healthy"
        else:
            bad = next(o for o in outcomes if not o.healthy)
            service.health_note = "; ".join(str(f) for f in bad.failures) or bad.verdict()


def _preview_config(config: Config, urls: dict[str, str]) -> Config:
    """kars.yml's services with every check aimed at the preview: a check's absolute url keeps only its path."""
    if not config.services:
        return config
    services = {}
    for name, service in config.services.items():
        checks = [
            replace(hc, url=None, port=None, path=hc.path or (urlsplit(hc.url).path if hc.url else None) or None)
            for hc in service.health
        ]
        services[name] = replace(service, url=urls.get(name), health=checks)
    return replace(config, services=services)


def _conclude(run: _Run) -> None:
    result = run.result
    services = result.services
    if all(s.live for s in services) and all(s.healthy is not False for s in services):
        result.outcome = "ready"
    elif any(s.status == "UNKNOWN" for s in services):
        result.outcome = "unknown"
    elif any(not s.live and s.status in ("FAILED", "CRASHED", "REMOVED", "SKIPPED") for s in services):
        result.outcome = "failed"
    elif any(not s.live for s in services):
        result.outcome = "timed-out"
    else:
        result.outcome = "unhealthy"


def _finish_on_github(run: _Run) -> None:
    """The GitHub deployment's final status and the comment, from the outcome."""
    result = run.result
    if result.closing:
        return
    result.seconds = run.elapsed()
    if result.outcome == "ready":
        _deployment_status(run, "success", f"preview of #{result.pr} is live and healthy")
    elif result.outcome == "unknown":
        _deployment_status(run, "error", "Railway could not be asked whether the preview is live")
    else:
        _deployment_status(run, "failure", result.failure() or result.headline)
    _comment(run)


# --- Close ---------------------------------------------------------------------------------------------------


def _close(run: _Run) -> None:
    from kars_actions.railway.previews import delete_preview, find_preview, read_preview_project

    result = run.result
    pr = result.pr or 0
    result.closing = True
    result.outcome = "closed"
    deactivated = _github_write(
        run,
        lambda: run.github.deployments.deactivate_all(
            run.github_environment, f"pull request #{pr} closed: the preview is gone"
        ),
    )
    result.deactivated = list(deactivated or [])
    railway = _railway(run)
    run.project = read_preview_project(railway, run.options.project or run.config.project, _railway_deadline(run, 120))
    env = find_preview(run.project, pr)
    if env is not None:
        from kars_actions.railway.previews import is_created_preview

        result.environment, result.environment_id = env.name, env.id
        result.created_by_kars = is_created_preview(env, pr)
        if result.created_by_kars:
            run.progress(f"deleting the Railway environment {env.name}, which kars created")
            result.environment_deleted = delete_preview(railway, run.project.id, env, pr, _railway_deadline(run, 120))
    _comment(run, create=False)
