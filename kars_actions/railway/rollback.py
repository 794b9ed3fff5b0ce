"""Roll a Railway service back: choose what to restore from the service's history, wait out transient states, restore
it with one request and follow it until it serves — every deployment named by its commit and version.

Railway's history is the memory. A rollback (``deploymentRollback``) creates a deployment of an older image, with
that image's commit; any deployment between the older one and it served a commit that was rolled away from. The
default target skips those, and deployments that failed, so that a second rollback never puts the bad version
back; restoring one of them on purpose takes ``allow_failed``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from kars_actions.core.backoff import Pause
from kars_actions.core.errors import CheckFailed, ConfigError, ExternalError
from kars_actions.core.report import Progress, no_progress
from kars_actions.core.timing import Deadline, human_duration
from kars_actions.railway.api import (
    FAILED_STATUSES,
    IN_PROGRESS_STATUSES,
    TRANSIENT_STATUSES,
    Deployment,
    OutcomeUnknown,
    RailwayClient,
    ServiceInstanceInfo,
)
from kars_actions.railway.deploy import RailwayTarget
from kars_actions.railway.wait import DEFAULT_POLICY, TIMED_OUT, UNKNOWN, PollPolicy, ServiceRef

RETENTION_HINT = (
    "Railway keeps the image of a removed deployment for a limited time (Free 24 h, Hobby 72 h, Pro 120 h); "
    "past that, deploy the old commit instead: kars-actions deploy --commit <sha>"
)
ALLOW_FAILED_FLAG = "--allow-failed-version"
CANCELLED = "CANCELLED"
SUPERSEDED = "SUPERSEDED"  # a newer deployment replaced the one being undone: nothing is put back over it
HISTORY = 30  # deployments read per rollback: enough to see the last few releases and the rollbacks between them

Describe = Callable[[str], str | None]
"""A commit's version (its release tag), when the caller knows it; the domain knows only Railway."""


@dataclass(frozen=True)
class RollbackOutcome:
    service: str
    service_id: str
    rolled_back: bool
    live: bool
    # Railway's status of the restored deployment, or ALREADY_LIVE / NOTHING_TO_DO / PLANNED / TIMED_OUT / SUPERSEDED
    status: str
    message: str
    from_deployment_id: str | None = None
    target_deployment_id: str | None = None
    restored_deployment_id: str | None = None
    duration: float | None = None
    url: str | None = None
    dashboard_url: str | None = None
    dry_run: bool = False
    from_commit: str | None = None
    from_version: str | None = None
    target_commit: str | None = None
    target_version: str | None = None
    serving_id: str | None = None  # the deployment serving when the outcome was decided (None: none, or unknown)
    serving_commit: str | None = None
    skipped: tuple[str, ...] = ()  # earlier deployments the default target passed over, and why
    failed_version: bool = False  # the target failed its release; restored on purpose (allow_failed)

    @property
    def ok(self) -> bool:
        return self.live or self.status in ("ALREADY_LIVE", "PLANNED")

    @property
    def settled(self) -> bool:
        """Production is known and on the version it should be on: restored, already there, never left, or on a
        newer deployment that replaced the one being undone (it is not this rollback's to undo)."""
        return self.ok or self.status in ("NOTHING_TO_DO", CANCELLED, SUPERSEDED)


def deployment_label(deployment_id: str | None, commit: str | None, version: str | None) -> str:
    """``<id> (commit abc1234, v1.2.0)`` for tables; ``-`` for no deployment."""
    if not deployment_id:
        return "-"
    parts = ([f"commit {commit[:7]}"] if commit else []) + ([version] if version else [])
    return deployment_id + (f" ({', '.join(parts)})" if parts else "")


def describe_deployment(deployment: Deployment | None, describe: Describe | None = None) -> str:
    """``deployment <id> (commit abc1234, v1.2.0)``: what a reader needs to know which version it is."""
    if deployment is None:
        return "no deployment"
    return f"deployment {deployment.id}" + _version_note(deployment.commit_hash, describe)


def _version_note(commit: str | None, describe: Describe | None) -> str:
    parts = [f"commit {commit[:7]}"] if commit else []
    version = describe(commit) if describe is not None and commit else None
    if version:
        parts.append(version)
    return f" ({', '.join(parts)})" if parts else ""


# --- Reading the history ----------------------------------------------------------------------------------------


def served(deployment: Deployment) -> bool:
    """Live now, or live once: replaced (REMOVING while Railway drains it, then REMOVED) or crashed after it ran."""
    return deployment.live or deployment.status in ("REMOVING", "REMOVED", "CRASHED")


def rolled_away_from(history: Sequence[Deployment]) -> dict[str, Deployment]:
    """Deployments that were rolled away from, each with the deployment that put an older commit back.

    A deployment that served a commit an earlier deployment had already served went back to that commit: every
    deployment of another commit that served between the two was rolled away from — by Railway's rollback (which
    restores the older image with its commit) or by deploying the older commit again, the same undo.
    """
    ordered = sorted(history, key=lambda d: d.created_at)
    found: dict[str, Deployment] = {}
    for index, later in enumerate(ordered):
        if not later.commit_hash or not served(later):
            continue
        before = [i for i in range(index) if ordered[i].commit_hash == later.commit_hash and served(ordered[i])]
        if not before:
            continue
        for between in ordered[before[-1] + 1 : index]:
            if between.commit_hash != later.commit_hash and served(between):
                found.setdefault(between.id, later)
    return found


def replaced_by(deployment: Deployment, current: Deployment | None) -> Deployment | None:
    """The deployment serving now in place of ``deployment``, when one made after it replaced it (someone deployed
    or rolled back since); None when ``deployment`` still serves, or nothing newer does."""
    if current is None or current.id == deployment.id or deployment.status in IN_PROGRESS_STATUSES:
        return None
    if not (current.created_at and deployment.created_at and current.created_at > deployment.created_at):
        return None
    return current


def _never_went_live(deployment: Deployment, current: Deployment | None) -> bool:
    """FAILED/SKIPPED never served; REMOVED newer than what serves now was replaced before it went live (had it
    gone live, the older one would have been replaced instead)."""
    if deployment.status in ("FAILED", "SKIPPED"):
        return True
    newer = current is None or deployment.created_at > current.created_at
    return deployment.status == "REMOVED" and current is not None and newer and deployment.id != current.id


@dataclass(frozen=True)
class _Choice:
    """The default target: ``chosen`` (or None), and the deployments passed over on the way, in words."""

    chosen: Deployment | None
    skipped: tuple[str, ...]


def _default_target(history: Sequence[Deployment], anchor: Deployment | None, describe: Describe | None) -> _Choice:
    """The deployment that served before ``anchor`` (the newest one that went live): never one rolled away from or
    failed, never one of the commit being rolled back from.

    One still REMOVING is chosen as it is — the caller waits until Railway has removed it (it is the one that served
    before, whose image Railway keeps), never passing it over for an older one. If no earlier image is kept, the
    newest REMOVED one is returned so that the caller can say why it cannot be restored.
    """
    rolled_away = rolled_away_from(history)
    skipped: list[str] = []
    expired: list[Deployment] = []
    for d in history:  # newest first
        if anchor is not None and (d.id == anchor.id or d.created_at >= anchor.created_at):
            continue
        if not (d.live or d.status in ("REMOVING", "REMOVED")):
            continue
        if d.id in rolled_away:
            back = rolled_away[d.id]
            skipped.append(
                f"{describe_deployment(d, describe)}: rolled away from"
                + (f" at {back.created_at}" if back.created_at else "")
                + f" (deployment {back.id} put commit {(back.commit_hash or '')[:7]} back)"
            )
            continue
        if anchor is not None and anchor.commit_hash and d.commit_hash == anchor.commit_hash:
            skipped.append(f"{describe_deployment(d, describe)}: the same commit as the one rolled back from")
            continue
        if d.live or d.can_rollback or d.status == "REMOVING":
            return _Choice(d, tuple(skipped))
        expired.append(d)
    return _Choice(expired[0] if expired else None, tuple(skipped))


# --- Rolling back ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RollbackPlan:
    """What ``rollback_service`` was asked: ``target_id`` to restore (else the default target), the deployment
    being undone (``failed_deployment_id``), and whether restoring a version that failed its release is allowed."""

    target_id: str | None = None
    failed_deployment_id: str | None = None
    allow_failed: bool = False
    dry_run: bool = False


def rollback_service(
    client: RailwayClient,
    target: RailwayTarget,
    service: ServiceRef,
    *,
    target_id: str | None = None,
    failed_deployment_id: str | None = None,
    allow_failed: bool = False,
    progress: Progress = no_progress,
    deadline: Deadline,
    dry_run: bool = False,
    policy: PollPolicy = DEFAULT_POLICY,
    describe: Describe | None = None,
) -> RollbackOutcome:
    """Put back the deployment that served before, and wait until it is live again.

    ``failed_deployment_id``: the deployment being undone (the pipeline's). If it never went live, the previous
    one still serves: nothing to roll back; if it is still in progress it is cancelled first, so that it cannot
    go live later. ``target_id``: what to restore (the recorded rollback target); without it, the deployment that
    served before the newest one that actually went live, passing over the ones rolled away from or failed — and
    after a FAILED (or replaced-before-live) newest deployment there is nothing to roll back at all.

    A target still REMOVING (Railway drains and removes the replaced deployment, answering canRollback false) is
    waited for within ``deadline``; if Railway still refuses at the deadline, the outcome is TIMED_OUT and says what
    serves. ``allow_failed``: restoring a version that was rolled away from is refused without it.
    """
    plan = RollbackPlan(target_id, failed_deployment_id, allow_failed, dry_run)
    return _Rollback(client, target, service, plan, progress, deadline, policy, describe).run()


class _Rollback:
    def __init__(
        self,
        client: RailwayClient,
        target: RailwayTarget,
        service: ServiceRef,
        plan: RollbackPlan,
        progress: Progress,
        deadline: Deadline,
        policy: PollPolicy,
        describe: Describe | None,
    ) -> None:
        self.client = client
        self.target = target
        self.service = service
        self.plan = plan
        self.progress = progress
        self.deadline = deadline
        self.policy = policy
        self.describe = describe
        self.info: ServiceInstanceInfo | None = None
        self.history: list[Deployment] = []
        self.current: Deployment | None = None
        self.said: set[str] = set()

    # Reading -------------------------------------------------------------------------------------------------------

    def _read(self) -> None:
        client, target, service = self.client, self.target, self.service
        self.info = client.service_instance(service.id, target.environment_id, self.deadline)
        self.history = client.deployments(
            target.project_id, target.environment_id, service.id, first=HISTORY, deadline=self.deadline
        )
        active = sorted((d for d in self.info.active if d.live), key=lambda d: d.created_at, reverse=True)
        self.current = active[0] if active else None

    def _name(self, deployment: Deployment | None) -> str:
        return describe_deployment(deployment, self.describe)

    def _base(self) -> RollbackOutcome:
        assert self.info is not None
        current, latest = self.current, self.info.latest
        origin = current or latest
        return RollbackOutcome(
            service=self.service.label,
            service_id=self.service.id,
            rolled_back=False,
            live=False,
            status="NOTHING_TO_DO",
            message="",
            from_deployment_id=origin.id if origin else None,
            from_commit=origin.commit_hash if origin else None,
            from_version=self._version(origin),
            url=self.info.url,
            dry_run=self.plan.dry_run,
            serving_id=current.id if current else None,
            serving_commit=current.commit_hash if current else None,
        )

    def _version(self, deployment: Deployment | None) -> str | None:
        if deployment is None or not deployment.commit_hash or self.describe is None:
            return None
        return self.describe(deployment.commit_hash)

    def _serving(self) -> str:
        return f"; {self._name(self.current)} still serves" if self.current else ""

    def _with_target(self, base: RollbackOutcome, chosen: Deployment) -> RollbackOutcome:
        return replace(
            base,
            target_deployment_id=chosen.id,
            target_commit=chosen.commit_hash,
            target_version=self._version(chosen),
            dashboard_url=self.target.dashboard_url(self.service.id, chosen.id),
        )

    # Deciding --------------------------------------------------------------------------------------------------

    def run(self) -> RollbackOutcome:
        self._read()
        base = self._base()
        anchor: Deployment | None = None
        target_id = self.plan.target_id
        if self.plan.failed_deployment_id:
            undone_or_outcome = self._undo(base)
            if isinstance(undone_or_outcome, RollbackOutcome):
                return undone_or_outcome
            anchor = undone_or_outcome
            if target_id == anchor.id:
                self.progress(
                    f"{self.service.label}: the recorded rollback target is the deployment being undone; "
                    "looking earlier"
                )
                target_id = None
        elif target_id is None:
            nothing = self._newest_never_served(base)
            if nothing is not None:
                return nothing
        while True:
            chosen, skipped = self._choose(target_id, anchor)
            base = replace(self._with_target(base, chosen), skipped=skipped)
            if chosen.status in TRANSIENT_STATUSES and not chosen.can_rollback:
                if self.plan.dry_run:
                    return replace(
                        base,
                        status="PLANNED",
                        message=f"would wait until {self._name(chosen)} is no longer {chosen.status} (Railway allows "
                        "no rollback to it before), then roll back to it",
                    )
                settled = self._wait_out(chosen)
                if settled.status in TRANSIENT_STATUSES and not settled.can_rollback:
                    return self._refused_at_deadline(base, settled)
                if target_id is None:
                    self._read()  # the default target is chosen again from the history as it is now
                    base = replace(self._base(), skipped=skipped)
                    continue
                chosen = settled
                base = self._with_target(base, chosen)
            return self._restore(base, chosen)

    def _undo(self, base: RollbackOutcome) -> RollbackOutcome | Deployment:
        """The deployment being undone: cancelled while in progress; nothing to do if it never went live."""
        assert self.plan.failed_deployment_id is not None
        client, current = self.client, self.current
        undone = next((d for d in self.history if d.id == self.plan.failed_deployment_id), None) or client.deployment(
            self.plan.failed_deployment_id, self.deadline
        )
        dashboard = self.target.dashboard_url(self.service.id, current.id if current else None)
        if undone.status in IN_PROGRESS_STATUSES:
            if self.plan.dry_run:
                return replace(base, status="PLANNED", message=f"would cancel deployment {undone.id} ({undone.status})")
            undone = _cancel(client, undone, self.progress, self.deadline, self.policy)
            if undone.status in IN_PROGRESS_STATUSES:
                return replace(
                    base,
                    status="ERROR",
                    message=f"deployment {undone.id} is still {undone.status} after it was cancelled: it may go live "
                    "— check Railway now",
                )
            if not undone.live:
                return replace(
                    base,
                    status=CANCELLED,
                    live=current is not None,
                    message=f"deployment {undone.id} was cancelled before it went live{self._serving()}",
                    dashboard_url=dashboard,
                )
        newer = replaced_by(undone, current)
        if newer is not None:
            # Rolling back now would put an older version over a deployment made after the one being undone.
            return replace(
                base,
                status=SUPERSEDED,
                from_deployment_id=undone.id,
                from_commit=undone.commit_hash,
                from_version=self._version(undone),
                message=f"deployment {undone.id} was replaced by {self._name(newer)}, made after it, which serves "
                "now: nothing was rolled back over it",
                dashboard_url=dashboard,
            )
        if _never_went_live(undone, current):
            return replace(
                base,
                live=current is not None,
                message=f"deployment {undone.id} {undone.status} before going live: nothing to roll back"
                + self._serving(),
                dashboard_url=dashboard,
            )
        return undone

    def _newest_never_served(self, base: RollbackOutcome) -> RollbackOutcome | None:
        """Without a target: when the newest deployment failed or was replaced before going live, the live one is
        the right one — there is nothing to roll back."""
        current = self.current
        newest = next((d for d in self.history if d.status not in IN_PROGRESS_STATUSES), None)
        if (
            newest is not None
            and current is not None
            and newest.id != current.id
            and newest.created_at > current.created_at
            and newest.status not in ("CRASHED", "REMOVING")
            and not (newest.status == "REMOVED" and newest.id in rolled_away_from(self.history))
        ):
            return replace(
                base,
                live=True,
                message=f"the newest deployment {newest.id} {newest.status} before going live, so it never served: "
                f"nothing to roll back; {self._name(current)} still serves",
                dashboard_url=self.target.dashboard_url(self.service.id, current.id),
            )
        return None

    def _choose(self, target_id: str | None, anchor: Deployment | None) -> tuple[Deployment, tuple[str, ...]]:
        if target_id:
            return self._explicit(target_id), ()
        assert self.info is not None
        anchor = (
            anchor
            or self.current
            or next((d for d in self.history if d.status not in IN_PROGRESS_STATUSES), None)
            or self.info.latest
        )
        choice = _default_target(self.history, anchor, self.describe)
        if choice.chosen is None:
            passed = ("; passed over: " + "; ".join(choice.skipped)) if choice.skipped else ""
            raise CheckFailed(
                f"{self.service.label}: no earlier successful deployment to roll back to{passed}",
                hint=f"name one with --to DEPLOYMENT_ID (one that failed its release also needs {ALLOW_FAILED_FLAG})",
            )
        for line in choice.skipped:
            if line not in self.said:  # chosen again after waiting: each is said once
                self.said.add(line)
                self.progress(f"{self.service.label}: passing over {line}")
        return choice.chosen, choice.skipped

    def _explicit(self, target_id: str) -> Deployment:
        chosen = next((d for d in self.history if d.id == target_id), None) or self.client.deployment(
            target_id, self.deadline
        )
        if chosen.service_id and chosen.service_id != self.service.id:
            raise ConfigError(
                f"deployment {target_id} belongs to another service, not {self.service.name}",
                hint="pass a deployment id of this service (see its Deployments tab)",
            )
        return chosen

    def _failed_release(self, chosen: Deployment) -> str | None:
        """Why ``chosen`` is a deployment of a version that failed its release (in words), or None. Judged per
        deployment: the same commit released again later and served well is no failure."""
        rolled_away = rolled_away_from(self.history)
        if chosen.id in rolled_away:
            back = rolled_away[chosen.id]
            return (
                f"was rolled away from (deployment {back.id} put commit {(back.commit_hash or '')[:7]} back): a "
                "version that failed its release, or was undone"
            )
        if chosen.status == "CRASHED":
            return "CRASHED after it went live: a version that failed its release"
        return None

    # Waiting out a transient target ------------------------------------------------------------------------------

    def _wait_out(self, deployment: Deployment) -> Deployment:
        """Follow a deployment until it leaves its transient status (REMOVING, mostly) or the deadline passes; the
        last look is at the deadline itself."""
        clock, deadline = self.client.clock, self.deadline
        label = self.service.label
        self.progress(
            f"{label}: {self._name(deployment)} is still {deployment.status} — Railway allows no rollback to it until "
            "it is done; waiting"
        )
        started = clock.monotonic()
        latest = deployment
        while latest.status in TRANSIENT_STATUSES and not latest.can_rollback:
            if deadline.expired():
                break
            clock.sleep(Pause.before(deadline, self.policy.min_interval).seconds)
            with contextlib.suppress(ExternalError):  # one unanswered look is not an answer: look again
                latest = self.client.deployment(deployment.id, deadline)
        if latest.status != deployment.status:
            took = human_duration(clock.monotonic() - started)
            self.progress(f"{label}: {self._name(latest)} is {latest.status} ({took})")
        return latest

    def _refused_at_deadline(self, base: RollbackOutcome, chosen: Deployment) -> RollbackOutcome:
        waited = human_duration(self.deadline.elapsed())
        serving = f"{self._name(self.current)} still serves" if self.current else "no deployment of the service is live"
        return replace(
            base,
            status=TIMED_OUT,
            message=f"the rollback did not complete: Railway still refused to roll back to {self._name(chosen)} — "
            f"it was {chosen.status} (canRollback false) when the deadline passed after {waited}; {serving}",
        )

    # Restoring --------------------------------------------------------------------------------------------------------

    def _restore(self, base: RollbackOutcome, chosen: Deployment) -> RollbackOutcome:
        assert self.info is not None
        client, current, latest = self.client, self.current, self.info.latest
        if current is not None and current.id == chosen.id:
            note = ""
            if latest and latest.id != chosen.id and latest.status == "FAILED":
                note = f"; the newer deployment {latest.id} FAILED before going live, so it never served"
            return replace(
                base,
                status="ALREADY_LIVE",
                live=True,
                message=f"{self._name(chosen)} is already the live one: nothing to roll back{note}",
            )
        if chosen.status in ("FAILED", "SKIPPED"):
            raise CheckFailed(
                f"{self.service.label}: {self._name(chosen)} {chosen.status} before it went live: there is nothing "
                f"of it to restore; nothing was rolled back{self._serving()}",
                hint="choose a deployment that served, with --to DEPLOYMENT_ID",
            )
        failed = self._failed_release(chosen)
        if failed is not None and not self.plan.allow_failed:
            raise CheckFailed(
                f"{self.service.label}: {self._name(chosen)} {failed}; restoring it takes {ALLOW_FAILED_FLAG}, so "
                f"nothing was rolled back{self._serving()}",
                hint=f"to put it back anyway, pass {ALLOW_FAILED_FLAG}; or choose another with --to DEPLOYMENT_ID",
            )
        base = replace(base, failed_version=failed is not None)
        if not chosen.can_rollback:
            raise CheckFailed(
                f"{self.service.label}: Railway cannot roll back to {self._name(chosen)} ({chosen.status}, created "
                f"{chosen.created_at or 'at an unknown time'}): its image is no longer kept",
                hint=RETENTION_HINT,
            )
        on_purpose = f" — a version that failed its release, restored as asked ({ALLOW_FAILED_FLAG})" if failed else ""
        if self.plan.dry_run:
            return replace(
                base,
                status="PLANNED",
                message=f"would roll back from {self._name(current)} to {self._name(chosen)}{on_purpose}",
            )
        known = {d.id for d in self.history}
        clock = client.clock
        started = clock.monotonic()
        try:
            client.rollback(chosen.id, self.deadline)
            self.progress(f"{self.service.label}: rollback to {self._name(chosen)} requested{on_purpose}")
        except OutcomeUnknown:
            self.progress(
                f"{self.service.label}: the answer to the rollback request was lost; looking for the "
                "restored deployment"
            )
        restored = _wait_for_restored(
            client, self.target, self.service, chosen, known, started, self.progress, self.deadline, self.policy
        )
        elapsed = clock.monotonic() - started
        if restored is None:
            return replace(
                base,
                status=UNKNOWN,
                duration=elapsed,
                serving_id=None,
                serving_commit=None,
                message=f"rollback to {self._name(chosen)} requested, but Railway did not confirm a restored "
                "deployment live within the deadline — check Railway now",
            )
        live = restored.live
        as_new = f" as {restored.id}" if restored.id != chosen.id else ""
        return replace(
            base,
            rolled_back=True,
            live=live,
            status=restored.status,
            restored_deployment_id=restored.id,
            duration=elapsed,
            serving_id=restored.id if live else base.serving_id,
            serving_commit=restored.commit_hash or chosen.commit_hash if live else base.serving_commit,
            dashboard_url=self.target.dashboard_url(self.service.id, restored.id),
            message=(
                f"rolled back from {self._name(current)} to {self._name(chosen)}, restored{as_new}{on_purpose}"
                if live
                else f"the restored deployment {restored.id} of {self._name(chosen)} ended {restored.status}; "
                + (f"{self._name(current)} may still serve" if current else "no deployment is known to serve")
            ),
        )


def _cancel(
    client: RailwayClient, deployment: Deployment, progress: Progress, deadline: Deadline, policy: PollPolicy
) -> Deployment:
    """Cancel an in-progress deployment and return it as Railway reports it once it has stopped (or the deadline)."""
    progress(f"cancelling deployment {deployment.id} ({deployment.status}) so that it cannot go live")
    with contextlib.suppress(OutcomeUnknown):  # looked at below: it either stopped or it did not
        client.cancel(deployment.id, deadline)
    latest = deployment
    while True:
        with contextlib.suppress(ExternalError):
            latest = client.deployment(deployment.id, deadline)
        if latest.status not in IN_PROGRESS_STATUSES or deadline.expired():
            return latest
        client.clock.sleep(Pause.before(deadline, policy.min_interval).seconds)


def _wait_for_restored(
    client: RailwayClient,
    target: RailwayTarget,
    service: ServiceRef,
    chosen: Deployment,
    known: set[str],
    started: float,
    progress: Progress,
    deadline: Deadline,
    policy: PollPolicy,
) -> Deployment | None:
    """Railway may restore in place or as a new deployment of the old image: follow whichever appears."""
    clock = client.clock
    status = ""
    status_since = started
    current: Deployment | None = None
    while True:
        clock.sleep(Pause.before(deadline, policy.min_interval).seconds)
        try:
            candidates = client.deployments(
                target.project_id, target.environment_id, service.id, first=5, deadline=deadline
            )
        except ExternalError as error:
            progress(f"{service.label}: cannot read the rollback's progress from Railway ({error.message})")
            candidates = []
        fresh = [d for d in candidates if d.id not in known]
        seen = fresh[0] if fresh else next((d for d in candidates if d.id == chosen.id), None)
        current = seen or current
        now = clock.monotonic()
        if seen is not None:
            if seen.status != status:
                status, status_since = seen.status, now
                progress(f"{service.label}: {seen.status} ({human_duration(now - started)})")
            if seen.live or (fresh and seen.status in FAILED_STATUSES):
                return seen
        if deadline.expired():
            return current if current is not None and current.live else None
        wait = policy.interval(status or "DEPLOYING", now - started, now - status_since, None)
        # The rest of the interval here, its last ``min_interval`` at the top of the loop: never past the deadline.
        clock.sleep(max(0.0, Pause.before(deadline, wait).seconds - policy.min_interval))


__all__ = [
    "ALLOW_FAILED_FLAG",
    "CANCELLED",
    "RETENTION_HINT",
    "SUPERSEDED",
    "Describe",
    "RollbackOutcome",
    "deployment_label",
    "describe_deployment",
    "replaced_by",
    "rollback_service",
    "rolled_away_from",
    "served",
]
