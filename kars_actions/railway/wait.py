"""Wait for Railway deployments: a frugal poller that never mistakes "could not ask" for an answer.

A deployment's status is SUCCESS/SLEEPING (live), FAILED/CRASHED/REMOVED/SKIPPED (did not stay live), in progress,
or UNKNOWN: Railway could not be asked (unreachable, rate-limited past the deadline, refusing the token). Unknown
is neither failure nor success: the deployment may be live, and callers must say so.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from kars_actions.core.backoff import Backoff, Pause
from kars_actions.core.errors import AuthError, ExternalError, RateLimited
from kars_actions.core.report import Progress, no_progress
from kars_actions.core.timing import Deadline, human_duration
from kars_actions.railway.api import (
    FAILED_STATUSES,
    HELD_STATUSES,
    LIVE_STATUSES,
    Deployment,
    RailwayAPIError,
    RailwayClient,
    RailwayTransientError,
    parse_time,
)
from kars_actions.railway.stream import DeploymentStream, StreamLost

UNKNOWN = "UNKNOWN"
TIMED_OUT = "TIMED_OUT"
HELD_MESSAGES = {
    "WAITING": "waiting for GitHub checks (Wait for CI)",
    "NEEDS_APPROVAL": "needs approval in the Railway dashboard",
}


# --- Who and what ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServiceRef:
    id: str
    name: str  # the Railway service name
    key: str = ""  # the name the caller used (kars.yml key); outputs are keyed by it

    @property
    def label(self) -> str:
        return self.key or self.name


@dataclass(frozen=True)
class StartedDeployment:
    service: ServiceRef
    deployment_id: str
    reused: bool
    started_at: float  # clock time of the request (or of finding the reused deployment)
    seen: Deployment | None = None  # the deployment as the listing showed it when it was reused


@dataclass(frozen=True)
class ServiceDeployment:
    """The outcome for one service. ``status`` is Railway's, or TIMED_OUT / UNKNOWN / NOT_STARTED / PLANNED.

    UNKNOWN: Railway could not tell the status; the deployment may be live (``possibly_live``).
    """

    service: str
    service_id: str
    commit: str
    status: str
    live: bool
    deployment_id: str | None = None
    previous_deployment_id: str | None = None
    reused: bool = False
    duration: float | None = None
    url: str | None = None
    dashboard_url: str | None = None
    reason: str | None = None
    log_tail: tuple[str, ...] = ()
    live_at: float | None = None  # clock time the waiter first saw it live (the settle window starts here)
    possibly_live: bool = False
    external: bool = False  # Railway was unreachable or refused (exit 3), rather than answering no

    @property
    def unknown(self) -> bool:
        return self.status == UNKNOWN

    @property
    def failed(self) -> bool:
        return not self.live and self.status not in ("PLANNED", UNKNOWN)

    @property
    def may_go_live(self) -> bool:
        """Live, seen live (and crashed since), possibly live, or still in progress on Railway (it goes live
        unless cancelled): what a release must undo."""
        return self.live or self.live_at is not None or self.possibly_live or self.status == TIMED_OUT


# --- Polling policy -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PollPolicy:
    """When to ask again. One request per ``min_interval`` at most, per deployment; fewer as the wait grows.

    With an estimate of the total duration (the last successful deploy of the service), it polls sparsely until
    ``lead`` seconds before the estimated end, then every ``min_interval``: the delay to report SUCCESS stays
    within ``min_interval`` at a fraction of the requests. Without one, it polls ever more sparsely (up to
    ``build_cap``) while the deployment queues and builds — how late the build's end is seen costs nothing, as
    the outcome is decided in DEPLOYING — and every ``min_interval`` for the first ``deploying_fast`` seconds it
    is seen DEPLOYING, when Railway's healthcheck decides.
    """

    min_interval: float = 5.0
    cap: float = 20.0
    build_cap: float = 60.0
    far_cap: float = 50.0
    growth: float = 1.0
    lead: float = 10.0
    lead_fraction: float = 0.1  # estimates are rarely exact: start fast polling this share of it early too
    deploying_fast: float = 120.0
    overrun: float = 30.0
    settle_interval: float = 10.0  # between looks while a live deployment settles
    # With statuses pushed by Railway's subscription, ask anyway after this long without news: a stream that
    # stopped pushing without closing is found out, at one request per silence instead of one per interval.
    silence: float = 120.0

    def interval(self, status: str, since_request: float, in_status: float, expected: float | None) -> float:
        if expected is not None and status not in HELD_STATUSES:
            to_window = expected - max(self.lead, expected * self.lead_fraction) - since_request
            if to_window > 0:
                return max(self.min_interval, min(self.far_cap, since_request * self.growth, to_window))
            if since_request <= expected + self.overrun:
                return self.min_interval
        if status == "DEPLOYING":
            if in_status < self.deploying_fast:
                return self.min_interval
            return min(self.cap, max(self.min_interval, (in_status - self.deploying_fast) * self.growth))
        if status in HELD_STATUSES:
            return min(self.cap, max(self.min_interval, in_status * self.growth))
        return min(self.build_cap, max(self.min_interval, since_request * self.growth))

    def after_failure(self, failures: int) -> float:
        """Next try after ``failures`` unanswered polls in a row: backs off, never faster than ``min_interval``."""
        return Backoff(self.min_interval, 2.0, self.cap).pause(failures - 1)


DEFAULT_POLICY = PollPolicy()


# --- Where a status comes from ---------------------------------------------------------------------------------------

StatusSource = Callable[[str, Deadline], Deployment]
"""The waiter's seam: returns a deployment as Railway reports it now (raising ``ExternalError`` when it cannot be
read). Polling asks the API; a pushed source can answer from the latest event and fall back to polling."""


StreamOpener = Callable[[], DeploymentStream]
"""Opens Railway's status subscription (``railway.stream``); raises ``StreamLost`` when it cannot."""


def polling_source(client: RailwayClient) -> StatusSource:
    def read(deployment_id: str, deadline: Deadline) -> Deployment:
        return client.deployment(deployment_id, deadline)

    return read


# --- Wait -----------------------------------------------------------------------------------------------------------


@dataclass
class _Watch:
    started: StartedDeployment
    expected: float | None
    status: str | None = None  # the last status Railway told; None until it told one
    seen: Deployment | None = None  # the freshest report so far: an older one (stream or read) never rewinds it
    status_since: float = 0.0
    next_poll: float = 0.0
    unreadable: str | None = None  # why the last look failed (None: it succeeded)
    failures: int = 0
    done: bool = False
    result: ServiceDeployment | None = None
    read_since_subscribing: bool = False  # a read after that is what a silent stream is checked against


def wait_for_deployments(
    client: RailwayClient,
    dashboard: Callable[[str, str | None], str],
    started: Sequence[StartedDeployment],
    *,
    progress: Progress = no_progress,
    deadline: Deadline,
    policy: PollPolicy = DEFAULT_POLICY,
    expected: Mapping[str, float | None] | None = None,
    source: StatusSource | None = None,
    stream: StreamOpener | None = None,
    stop: Callable[[], bool] | None = None,
    stop_every: float = 30.0,
) -> dict[str, ServiceDeployment]:
    """Follow each deployment until it is live, failed, or the deadline passes; keyed by service label.

    ``stop`` is asked every ``stop_every`` seconds whether the wait is still wanted (a preview asks whether the
    pull request's head moved); when it says stop, the wait ends at once and deployments still in progress are
    left out of the result — nothing is cancelled or changed on Railway.

    With ``stream``, Railway pushes each status change: the waiter reads every deployment once when it subscribes
    (a change before the subscription is not pushed), then only after ``policy.silence`` without news. When the
    stream is refused, drops, errs, or a read shows a change it did not push, the waiter polls from that moment
    on, starting with an immediate look at every deployment: the deployments are the same ones, never lost or
    started again. Never raises for Railway trouble: a deployment whose status cannot be read by the deadline
    ends UNKNOWN. One thread follows every deployment, each on its own schedule, so the request rate is the sum
    of the per-deployment budgets and a fake clock drives the whole wait in tests.
    """
    clock = client.clock
    read = source or polling_source(client)
    expected = expected or {}
    watches = []
    for s in started:
        watch = _Watch(s, expected.get(s.service.label), status_since=s.started_at)
        watch.next_poll = s.started_at + policy.min_interval
        if s.seen is not None:
            watch.status, watch.seen = s.seen.status, s.seen
            if s.seen.live:  # a rerun found it live a moment ago: nothing to wait for
                watch.done = True
                watch.result = _row(dashboard, s, s.seen, clock.monotonic(), live_at=clock.monotonic())
        watches.append(watch)
    pushed = _subscribe(stream, [w for w in watches if not w.done], progress, clock.monotonic()) if stream else None
    final_round = False
    next_check = clock.monotonic() + stop_every if stop is not None else math.inf
    try:
        while True:
            pending = [w for w in watches if not w.done]
            if not pending:
                break
            watch = min(pending, key=lambda w: w.next_poll)
            now = clock.monotonic()
            if stop is not None and not final_round:
                if now >= next_check:
                    if stop():
                        break
                    next_check = now + stop_every
                if next_check < min(watch.next_poll, deadline.at):
                    # Nothing is due before the next question: wait for pushes (or sleep) until then, and ask.
                    heard = False
                    if pushed is not None:
                        seconds = next_check - now
                        pushed, heard = _listen(client, dashboard, pushed, seconds, pending, progress, policy, deadline)
                    if not heard and clock.monotonic() < next_check:
                        clock.sleep(next_check - clock.monotonic())
                    continue
            if pushed is not None and not final_round:
                wake = min(watch.next_poll, deadline.at)
                if wake > now:
                    pushed, heard = _listen(client, dashboard, pushed, wake - now, pending, progress, policy, deadline)
                    if heard:
                        continue
                    now = clock.monotonic()
            pause = Pause.before(deadline, watch.next_poll - now, now=now)
            if not final_round and pause.last:
                clock.sleep(pause.seconds)  # to the deadline itself, never past it
                final_round = True  # one last look at everything before calling it
                for w in pending:
                    w.next_poll = clock.monotonic()
                continue
            if watch.next_poll > now:
                clock.sleep(watch.next_poll - now)
            told = watch.status if watch.read_since_subscribing else None
            _poll(client, read, dashboard, watch, progress, policy, deadline)
            if final_round and not watch.done:
                watch.done = True
                watch.result = _unfinished(dashboard, watch, clock.monotonic())
            if pushed is not None and not watch.done and watch.unreadable is None:
                if told is not None and watch.status != told:
                    why = f"it did not push {watch.started.service.label}'s change to {watch.status}"
                    _fall_back(pushed, why, [w for w in watches if not w.done], progress, clock.monotonic())
                    pushed = None
                else:
                    watch.read_since_subscribing = True
                    watch.next_poll = clock.monotonic() + policy.silence
    finally:
        if pushed is not None:
            pushed.close()
    return {w.started.service.label: w.result for w in watches if w.result is not None}


def _subscribe(
    opener: StreamOpener, pending: Sequence[_Watch], progress: Progress, now: float
) -> DeploymentStream | None:
    """Open the stream and follow every pending deployment; each is then read once at once. None: poll."""
    if not pending:
        return None
    try:
        pushed = opener()
        for watch in pending:
            pushed.follow(watch.started.deployment_id)
    except StreamLost as lost:
        progress(f"Railway's status stream is not available ({lost.why}); polling instead")
        return None
    progress(f"following {len(pending)} deployment(s) through Railway's status stream")
    for watch in pending:
        watch.next_poll = now
    return pushed


def _listen(
    client: RailwayClient,
    dashboard: Callable[[str, str | None], str],
    pushed: DeploymentStream,
    seconds: float,
    pending: Sequence[_Watch],
    progress: Progress,
    policy: PollPolicy,
    deadline: Deadline,
) -> tuple[DeploymentStream | None, bool]:
    """Wait up to ``seconds`` for pushes and take them. Returns the stream (None once it is lost: every pending
    deployment is then looked at at once) and whether anything happened (a push, or the loss)."""
    try:
        updates = pushed.wait(seconds)
    except StreamLost as lost:
        _fall_back(pushed, lost.why, pending, progress, client.clock.monotonic())
        return None, True
    if updates:
        _take(client, dashboard, pending, updates, progress, policy, deadline)
        return pushed, True
    return pushed, False


def _fall_back(pushed: DeploymentStream, why: str, pending: Sequence[_Watch], progress: Progress, now: float) -> None:
    """Stop trusting the stream: close it and look at every pending deployment now, then keep polling."""
    pushed.close()
    progress(f"Railway's status stream was lost ({why}); polling instead")
    for watch in pending:
        if watch.unreadable is None:
            watch.next_poll = now


def _take(
    client: RailwayClient,
    dashboard: Callable[[str, str | None], str],
    pending: Sequence[_Watch],
    updates: Sequence[Deployment],
    progress: Progress,
    policy: PollPolicy,
    deadline: Deadline,
) -> None:
    """Pushed statuses, handled as if they had just been read."""
    by_id = {w.started.deployment_id: w for w in pending}
    for deployment in updates:
        watch = by_id.get(deployment.id)
        if watch is None or watch.done:
            continue
        _apply(client, dashboard, watch, deployment, progress, policy, deadline)
        if not watch.done:
            watch.next_poll = client.clock.monotonic() + policy.silence


def _poll(
    client: RailwayClient,
    read: StatusSource,
    dashboard: Callable[[str, str | None], str],
    watch: _Watch,
    progress: Progress,
    policy: PollPolicy,
    deadline: Deadline,
) -> None:
    clock = client.clock
    started = watch.started
    try:
        deployment = read(started.deployment_id, deadline)
    except (AuthError, RateLimited) as error:
        # Asking again cannot help before the deadline: the token is refused, or Railway's wait outlasts it.
        watch.unreadable = error.message
        watch.done, watch.result = True, _unfinished(dashboard, watch, clock.monotonic())
        return
    except RailwayAPIError as error:
        if not isinstance(error, RailwayTransientError):
            watch.unreadable = error.message
            watch.done, watch.result = True, _unfinished(dashboard, watch, clock.monotonic())
            return
        _unanswered(watch, error, progress, policy, clock.monotonic())
        return
    except ExternalError as error:
        _unanswered(watch, error, progress, policy, clock.monotonic())
        return
    _apply(client, dashboard, watch, deployment, progress, policy, deadline)


def _apply(
    client: RailwayClient,
    dashboard: Callable[[str, str | None], str],
    watch: _Watch,
    deployment: Deployment,
    progress: Progress,
    policy: PollPolicy,
    deadline: Deadline,
) -> None:
    """What Railway told about one deployment (read or pushed): report a change, finish it, or plan the next look."""
    clock = client.clock
    started = watch.started
    label = started.service.label
    now = clock.monotonic()
    if watch.unreadable is not None:
        progress(f"{label}: Railway answers again")
    watch.unreadable, watch.failures = None, 0
    elapsed = now - started.started_at
    if not deployment.fresher_than(watch.seen):
        # Older than what is known (the stream's first message, sent when it subscribed, after a fresher read):
        # neither shown nor decided on. The next look is planned from what is known.
        status = watch.status or deployment.status
        watch.next_poll = now + policy.interval(status, elapsed, now - watch.status_since, watch.expected)
        return
    watch.seen = deployment
    if deployment.status != watch.status:
        watch.status, watch.status_since = deployment.status, now
        held = HELD_MESSAGES.get(deployment.status)
        progress(f"{label}: {deployment.status}{f' — {held}' if held else ''} ({human_duration(elapsed)})")
    if deployment.live:
        watch.done, watch.result = True, _row(dashboard, started, deployment, now, live_at=now)
    elif deployment.status in FAILED_STATUSES:
        reason, tail = failure_reason(client, deployment, deadline=deadline)
        watch.done = True
        watch.result = replace(_row(dashboard, started, deployment, now), reason=reason, log_tail=tail)
    else:
        watch.next_poll = now + policy.interval(deployment.status, elapsed, now - watch.status_since, watch.expected)


def _unanswered(watch: _Watch, error: ExternalError, progress: Progress, policy: PollPolicy, now: float) -> None:
    watch.failures += 1
    if watch.unreadable is None:
        label = watch.started.service.label
        progress(f"{label}: cannot read the status from Railway, will ask again ({error.message})")
    watch.unreadable = error.message
    watch.next_poll = now + policy.after_failure(watch.failures)


def _row(
    dashboard: Callable[[str, str | None], str],
    started: StartedDeployment,
    deployment: Deployment,
    now: float,
    *,
    live_at: float | None = None,
) -> ServiceDeployment:
    ref = started.service
    return ServiceDeployment(
        service=ref.label,
        service_id=ref.id,
        commit=deployment.commit_hash or "",
        status=deployment.status,
        live=deployment.live,
        deployment_id=deployment.id,
        reused=started.reused,
        duration=now - started.started_at,
        dashboard_url=dashboard(ref.id, deployment.id),
        live_at=live_at,
    )


def _unfinished(dashboard: Callable[[str, str | None], str], watch: _Watch, now: float) -> ServiceDeployment:
    """The deadline passed: still in progress (TIMED_OUT), or not known at all (UNKNOWN: it may be live)."""
    started = watch.started
    ref = started.service
    elapsed = now - started.started_at
    base = ServiceDeployment(
        service=ref.label,
        service_id=ref.id,
        commit="",
        status=TIMED_OUT,
        live=False,
        deployment_id=started.deployment_id,
        reused=started.reused,
        duration=elapsed,
        dashboard_url=dashboard(ref.id, started.deployment_id),
    )
    if watch.unreadable is not None or watch.status is None:
        seen = f"last seen {watch.status}" if watch.status else "its status was never read"
        why = watch.unreadable or "no answer before the deadline"
        return replace(
            base,
            status=UNKNOWN,
            possibly_live=True,
            reason=f"Railway could not be asked for the status of deployment {started.deployment_id} ({why}); "
            f"{seen}; it may be live — check Railway",
        )
    held = HELD_MESSAGES.get(watch.status)
    reason = f"still {watch.status} after {human_duration(elapsed)}" + (f": {held}" if held else "")
    return replace(base, reason=reason + "; it continues on Railway and goes live if it succeeds")


# --- Why it failed --------------------------------------------------------------------------------------------------

_GENERIC_REASONS = {
    "FAILED": "the build or deploy failed (the previous deployment keeps serving)",
    "CRASHED": "the app exited after it started",
    "REMOVED": "removed before it finished: a newer deployment replaced it",
    "SKIPPED": "skipped: a GitHub check failed (Wait for CI)",
}
_BUILD_STEPS = (None, "BUILD_IMAGE", "SNAPSHOT_CODE", "PUBLISH_IMAGE")
# What Railway writes to the build log while its healthcheck runs ("Path: /health", "Attempt #1 failed with service
# unavailable. Continuing to retry for 1m39s", "1/1 replicas never became healthy!", "Healthcheck failed!").
_HEALTHCHECK_LINE = re.compile(
    r"healthcheck|^\s*path:|retry window|attempt #\d+|replicas? never became healthy", re.IGNORECASE
)
HEALTHCHECK_LOG_LIMIT = 500


def failure_reason(
    client: RailwayClient, deployment: Deployment, tail: int = 10, *, deadline: Deadline | None = None
) -> tuple[str, tuple[str, ...]]:
    """Why a deployment failed, and the evidence: a build's failing step and log tail, a healthcheck's lines from
    the build log (then the app's last lines), a crash's log. Best effort: never masks the failure itself."""
    reason = _GENERIC_REASONS.get(deployment.status, deployment.status.lower())
    step = None
    try:
        failing = [e for e in client.deployment_events(deployment.id, deadline) if e.error or e.reason == "FAILED"]
    except ExternalError:
        failing = []
    if failing:
        event = failing[-1]
        step = event.step
        reason = f"{event.step} failed"
        if event.attempt and event.attempt > 1:
            reason += f" after {event.attempt} attempts"
        if event.error:
            reason += f": {event.error}"
    if deployment.status == "FAILED" and step in ("HEALTHCHECK", None):
        checks = _healthcheck_lines(client, deployment.id, deadline)
        if checks:
            if step is None:
                reason = "HEALTHCHECK failed: the app never answered Railway's healthcheck"
            app = _log_lines(client, deployment.id, build=False, limit=5, deadline=deadline)
            return reason, checks[-15:] + (("-- application log --", *app) if app else ())
    build = deployment.status == "FAILED" and step in _BUILD_STEPS
    return reason, _log_lines(client, deployment.id, build=build, limit=tail, deadline=deadline)


def _healthcheck_lines(client: RailwayClient, deployment_id: str, deadline: Deadline | None) -> tuple[str, ...]:
    lines = _log_lines(client, deployment_id, build=True, limit=HEALTHCHECK_LOG_LIMIT, deadline=deadline)
    return tuple(line for line in lines if _HEALTHCHECK_LINE.search(line))


def _log_lines(
    client: RailwayClient, deployment_id: str, *, build: bool, limit: int, deadline: Deadline | None
) -> tuple[str, ...]:
    try:
        lines = client.logs(deployment_id, build=build, limit=limit, deadline=deadline)
    except ExternalError:
        return ()
    return tuple(line for line in lines if line.strip())


# --- How long it should take ----------------------------------------------------------------------------------------

MIN_ESTIMATE, MAX_ESTIMATE = 5.0, 3600.0


def estimate_duration(
    client: RailwayClient, history: Sequence[Deployment], *, deadline: Deadline | None = None
) -> float | None:
    """Seconds the service's last successful deploy took from creation to the end of its last phase (build,
    deploy, healthcheck), from its events. Never a deployment's age: a SLEEPING or long-live deployment's last
    status change says when it fell asleep, not how long it took. None when there is nothing to go by."""
    done = next((d for d in history if d.status in LIVE_STATUSES or (d.status == "REMOVED" and d.can_rollback)), None)
    if done is None:
        return None
    start = parse_time(done.created_at)
    try:
        events = client.deployment_events(done.id, deadline)
    except ExternalError:
        events = []
    ends = [t for t in (parse_time(e.completed_at) for e in events) if t is not None]
    seconds: float | None = None
    if start is not None and ends:
        seconds = max(ends) - start
    elif done.status == "SUCCESS":
        seconds = done.duration_seconds()  # a SUCCESS deployment's status last changed when it went live
    if seconds is None or not MIN_ESTIMATE <= seconds <= MAX_ESTIMATE:
        return None
    return seconds


# --- After going live ----------------------------------------------------------------------------------------------


def settle(
    client: RailwayClient,
    rows: Sequence[ServiceDeployment],
    *,
    seconds: float,
    deadline: Deadline,
    progress: Progress = no_progress,
    policy: PollPolicy = DEFAULT_POLICY,
    source: StatusSource | None = None,
) -> list[ServiceDeployment]:
    """Keep watching live deployments until ``seconds`` after each went live: a crash in that window (an app that
    starts, passes Railway's healthcheck, then exits) turns the row CRASHED with the crash log.

    A look every ``policy.settle_interval`` at most, the last one when the last window ends or at ``deadline``,
    whichever is first; none at all for a row whose window had already ended (it was seen live since it began)
    or once the deadline has passed. A look that cannot be answered leaves the row as it was (live when last
    seen)."""
    read = source or polling_source(client)
    clock = client.clock
    out = list(rows)
    now = clock.monotonic()
    until = {i: (r.live_at if r.live_at is not None else now) + seconds for i, r in enumerate(out)}
    watching = {i for i, r in enumerate(out) if r.live and r.deployment_id and seconds > 0 and until[i] > now}
    if not watching or deadline.expired():
        return out
    progress(f"watching {len(watching)} live deployment(s) for {human_duration(seconds)} in case they crash")
    while watching:
        end = min(max(until[i] for i in watching), deadline.at)
        step = min(policy.settle_interval, end - clock.monotonic())
        if step <= 0:
            break  # the window or the deadline ended while the last look was being answered
        clock.sleep(step)
        looked_at = clock.monotonic()
        for i in sorted(watching):
            row = out[i]
            assert row.deployment_id is not None
            try:
                deployment = read(row.deployment_id, deadline)
            except ExternalError:
                continue
            if deployment.status in FAILED_STATUSES:
                went_live = row.live_at if row.live_at is not None else now
                reason, tail = failure_reason(client, deployment, deadline=deadline)
                after = human_duration(looked_at - went_live)
                progress(f"{row.service}: {deployment.status} {after} after going live")
                out[i] = replace(
                    row,
                    status=deployment.status,
                    live=False,
                    reason=f"{deployment.status} {after} after going live: {reason}",
                    log_tail=tail,
                )
        watching = {i for i in watching if out[i].live and looked_at < until[i]}
    return out


__all__ = [
    "DEFAULT_POLICY",
    "HELD_MESSAGES",
    "TIMED_OUT",
    "UNKNOWN",
    "PollPolicy",
    "ServiceDeployment",
    "ServiceRef",
    "StartedDeployment",
    "StatusSource",
    "StreamOpener",
    "estimate_duration",
    "failure_reason",
    "polling_source",
    "settle",
    "wait_for_deployments",
]
