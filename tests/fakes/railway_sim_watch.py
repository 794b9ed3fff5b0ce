"""The Railway simulator's watch and backup side: HTTP and resource metrics on the simulator's clock, per-deployment
HTTP logs, instance executions (restarts, crash loops), volumes, backups, restores and staged changes.

Traffic is a profile per service (the old version's) plus profiles per released commit that start some seconds
after that deployment went live — "a release whose error ratio rises three minutes after SUCCESS while health stays
green". While a replaced deployment is REMOVING it keeps a share of the traffic for the service's ``overlapSeconds``
(then drains), and Railway's service-level HTTP metrics mix both deployments, as the real ones do: they take no
deployment argument. Only ``httpLogs(deploymentId)`` and ``metrics(groupBy: [DEPLOYMENT_ID])`` tell them apart.
Every number is computed from the clock, so a test or benchmark gets the same answer each run.
"""

from __future__ import annotations

import functools
import math
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.fakes.railway_sim import SimDeployment, _Auth

_LIVE = ("SUCCESS", "SLEEPING")
_INSTANCE_STATUS = {
    "SUCCESS": "RUNNING",
    "SLEEPING": "STOPPED",
    "CRASHED": "CRASHED",
    "REMOVED": "REMOVED",
    "REMOVING": "REMOVING",
    "FAILED": "EXITED",
    "DEPLOYING": "INITIALIZING",
}
RESTART_SECONDS = 5.0  # an instance restarting after a crash shows RESTARTING this long
HA_REFUSAL = (
    "{name} is an HA cluster: restoring a backup in place would leave its replicas diverged from the restored "
    "leader. Use the dashboard, which reseeds replicas as part of the restore."
)
_TAGS = ("deploymentId", "deploymentInstanceId", "environmentId", "pluginId", "projectId", "region", "serviceId")
_TAGS += ("volumeId", "volumeInstanceId")


def _error(message: str) -> Exception:
    from tests.fakes.railway_sim import SimError

    return SimError(message)


@dataclass(frozen=True)
class Traffic:
    """What a version's real traffic looks like: requests per minute, the share answered 5xx, latency, memory."""

    rpm: float = 600.0
    error_ratio: float = 0.002
    p50_ms: float = 60.0
    p95_ms: float = 180.0
    p99_ms: float = 320.0
    memory_gb: float = 0.30
    memory_growth_gb_per_min: float = 0.0
    cpu: float = 0.05

    def duration_ms(self, q: float) -> float:
        """The latency at quantile ``q`` (0..1), through p50, p95 and p99: what one logged request took."""
        if q < 0.5:
            return self.p50_ms * (0.4 + 1.2 * q)
        if q < 0.95:
            return self.p50_ms + (self.p95_ms - self.p50_ms) * (q - 0.5) / 0.45
        if q < 0.99:
            return self.p95_ms + (self.p99_ms - self.p95_ms) * (q - 0.95) / 0.04
        return self.p99_ms * (1.0 + (q - 0.99) * 20)


@dataclass
class Volume:
    instance_id: str
    volume_id: str
    name: str
    service_id: str
    environment_id: str
    project_id: str
    mount_path: str = "/var/lib/postgresql/data"
    size_mb: int = 5000
    used_mb: float = 420.0
    ha: bool = False  # the root of an HA cluster: Railway refuses in-place restores
    restored_from: str | None = None  # the backup whose data the volume holds, once a restore is committed


@dataclass
class Workflow:
    id: str
    kind: str  # backup | restore | commit
    volume_instance_id: str | None
    started: float
    outcome: str  # complete | error | never
    seconds: float
    name: str | None = None
    backup_id: str | None = None
    error: str = "backup failed: snapshot could not be taken"
    done: bool = False
    environment_id: str | None = None


@dataclass
class Backup:
    id: str
    name: str | None
    volume_instance_id: str
    created: float
    used_mb: int
    external_id: str = field(default_factory=lambda: uuid.uuid4().hex)


class WatchBackupSim:
    """Mixed into ``RailwaySim``: the state lives beside the deployments and reads the same clock."""

    # Set by RailwaySim.
    clock: Any
    deployments: list[SimDeployment]
    services: dict[str, dict[str, Any]]
    environments: dict[str, dict[str, Any]]
    settings: dict[tuple[str, str], dict[str, Any]]
    lock: Any

    def _watch_state(self) -> None:
        self.traffic: dict[str, Traffic] = {}
        self.release_traffic: dict[tuple[str, str], list[tuple[float, Traffic]]] = {}
        self.removing_traffic: dict[tuple[str, str], Traffic] = {}
        self.restarts: dict[tuple[str, str], list[float]] = {}
        self.crash_loops: dict[tuple[str, str], float] = {}  # (service, commit) -> CRASHED this long after go-live
        self.overlap_share = 0.5  # the new deployment's share of the traffic while the old one still takes some
        self.metrics_lag = 0.0  # seconds before a step's numbers show up
        self.refuse_metrics: set[str] = set()  # top-level metric fields answered with an error
        self.memory_limits: dict[str, float] = {}  # service id -> MEMORY_LIMIT_GB (none: Railway gives no limit)
        self.volumes: dict[str, Volume] = {}
        self.workflows: dict[str, Workflow] = {}
        self.backups: list[Backup] = []
        self.deleted_backups: list[Backup] = []
        self.backup_outcome = "complete"
        self.backup_seconds = 40.0
        self.restore_outcome = "complete"
        self.restore_seconds = 60.0
        self.commit_seconds = 5.0
        self.restores: list[tuple[str, str]] = []
        self.backup_retention = 7 * 24 * 3600.0
        self.rollback_requested_at: list[float] = []
        self.staged: dict[str, dict[str, Any]] = {}  # environment id -> the staged patch
        self.committed_staged: list[dict[str, Any]] = []  # every staged patch committed, oldest first
        self._swaps: dict[str, tuple[str, str]] = {}  # environment id -> (volume instance, backup) staged

    # Seeding ------------------------------------------------------------------------------------------------------

    def set_traffic(self, service_id: str, traffic: Traffic) -> None:
        self.traffic[service_id] = traffic

    def release_behaves(self, service_id: str, commit: str, traffic: Traffic, *, after: float = 0.0) -> None:
        """From ``after`` seconds past go-live, the deployment of ``commit`` serves traffic like this."""
        phases = self.release_traffic.setdefault((service_id, commit), [])
        phases.append((after, traffic))
        phases.sort(key=lambda p: p[0])

    def removing_behaves(self, service_id: str, commit: str, traffic: Traffic) -> None:
        """Once replaced (REMOVING, still taking traffic during the overlap), the deployment of ``commit`` serves
        like this: an old version whose last requests fail while it shuts down."""
        self.removing_traffic[(service_id, commit)] = traffic

    def restart_after(self, service_id: str, commit: str, seconds: float) -> None:
        """The deployment of ``commit`` crashes ``seconds`` after going live and Railway restarts its instance."""
        self.restarts.setdefault((service_id, commit), []).append(seconds)

    def crash_loop(
        self, service_id: str, commit: str, *, after: float = 30.0, every: float = 45.0, retries: int = 10
    ) -> None:
        """Railway's default restart policy (ON_FAILURE, 10 retries): the instance crashes ``after`` seconds past
        go-live and every ``every`` seconds after each restart; the deployment stays SUCCESS until the retries are
        used up, then goes CRASHED."""
        for n in range(retries):
            self.restart_after(service_id, commit, after + n * every)
        self.crash_loops[(service_id, commit)] = after + retries * every

    def set_overlap(self, service_id: str, environment_id: str, overlap: int, draining: int = 0) -> None:
        """The service's ``deploy.overlapSeconds`` and ``deploy.drainingSeconds``, as railway.json sets them."""
        deploy = self._instance_settings(service_id, environment_id).setdefault("deploy", {})
        deploy["overlapSeconds"] = overlap
        deploy["drainingSeconds"] = draining

    def add_volume(
        self,
        service_id: str,
        environment_id: str,
        name: str = "postgres-volume",
        *,
        used_mb: float = 420.0,
        ha: bool = False,
    ) -> str:
        service = self.services[service_id]
        volume = Volume(str(uuid.uuid4()), str(uuid.uuid4()), name, service_id, environment_id, service["projectId"])
        volume.used_mb = used_mb
        volume.ha = ha
        self.volumes[volume.instance_id] = volume
        if ha:
            # What Railway's HA conversion leaves in the environment's config: the root's role and Patroni on.
            entry = self._instance_settings(service_id, environment_id)
            entry["clusterRole"] = "root"
            entry.setdefault("variables", {})["PATRONI_ENABLED"] = {"value": "true"}
        return volume.instance_id

    def add_backup(self, volume_instance_id: str, name: str | None, *, age: float) -> str:
        """A backup taken ``age`` seconds ago (by the daily schedule, say)."""
        volume = self.volumes[volume_instance_id]
        backup = Backup(str(uuid.uuid4()), name, volume_instance_id, self.clock.monotonic() - age, int(volume.used_mb))
        self.backups.append(backup)
        return backup.id

    def stage_changes(
        self,
        environment_id: str,
        patch: dict[str, Any],
        *,
        name: str | None = "Ada Lovelace",
        email: str = "ada@example.com",
        message: str | None = None,
    ) -> None:
        """Someone stages a change in the dashboard and leaves it uncommitted."""
        with self.lock:
            self._stage(environment_id, patch, message, {"id": "user-ada", "name": name, "email": email})

    # Hooks called by RailwaySim ----------------------------------------------------------------------------------

    def _on_promoted(self, d: SimDeployment) -> None:
        if d.commit is not None and (d.service_id, d.commit) in self.crash_loops and d.promoted_at is not None:
            d.crashed_at = d.promoted_at + self.crash_loops[(d.service_id, d.commit)]

    # Time ---------------------------------------------------------------------------------------------------------

    def _sim_time(self, value: str | None) -> float | None:
        from tests.fakes.railway_sim import EPOCH

        if not value:
            return None
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        return (moment - EPOCH).total_seconds()

    def _epoch(self, t: float) -> int:
        from tests.fakes.railway_sim import EPOCH

        return int(EPOCH.timestamp() + t)

    # Traffic ------------------------------------------------------------------------------------------------------

    def serving_shares(self, service_id: str, environment_id: str, t: float) -> list[tuple[SimDeployment, float]]:
        """The deployments that take the service's traffic at time ``t``, each with its share: the newest alone, or
        during an overlap the newest ``overlap_share`` and the replaced one the rest (draining takes none)."""
        serving = []
        for d in self.deployments:
            if d.service_id != service_id or d.environment_id != environment_id:
                continue
            if d.promoted_at is None or d.promoted_at > t:
                continue
            if d.removed_at is not None and t >= d.removed_at:
                continue
            if d.stops_serving_at is not None and t >= d.stops_serving_at:
                continue
            if d.crashed_at is not None and t >= d.crashed_at:
                continue
            if d.natural(t)[0] not in _LIVE:
                continue
            serving.append(d)
        serving.sort(key=lambda d: d.created, reverse=True)
        if len(serving) <= 1:
            return [(d, 1.0) for d in serving]
        rest = (1.0 - self.overlap_share) / (len(serving) - 1)
        return [(serving[0], self.overlap_share)] + [(d, rest) for d in serving[1:]]

    def serving(self, service_id: str, environment_id: str, t: float) -> SimDeployment | None:
        """The newest deployment taking the service's traffic at time ``t``."""
        shares = self.serving_shares(service_id, environment_id, t)
        return shares[0][0] if shares else None

    def deployment_traffic(self, d: SimDeployment, t: float) -> Traffic:
        base = self.traffic.get(d.service_id, Traffic())
        if d.removing_at is not None and t >= d.removing_at and d.commit is not None:
            removing = self.removing_traffic.get((d.service_id, d.commit))
            if removing is not None:
                return removing
        if d.commit is None or d.promoted_at is None:
            return base
        chosen = base
        for after, traffic in self.release_traffic.get((d.service_id, d.commit), []):
            if t - d.promoted_at >= after:
                chosen = traffic
        return chosen

    def traffic_at(self, service_id: str, environment_id: str, t: float) -> Traffic | None:
        d = self.serving(service_id, environment_id, t)
        return None if d is None else self.deployment_traffic(d, t)

    def _buckets(self, start: float, end: float, step: int) -> list[tuple[int, float, float]]:
        """(ts epoch, bucket start, bucket end) of the steps between start and end, only up to now (less the lag)."""
        now = self.clock.monotonic() - self.metrics_lag
        end = min(end, now)
        step = max(1, int(step or 60))
        base = self._epoch(0)
        first = int((base + start) // step) * step
        out = []
        ts = first
        while ts - base < end:
            lo, hi = ts - base, min(ts - base + step, end)
            if hi > lo:
                out.append((ts, float(lo), float(hi)))
            ts += step
        return out

    def _integrate(
        self, service_id: str, environment_id: str, lo: float, hi: float
    ) -> tuple[float, float, float, float, float]:
        """(requests, 5xx, p50·requests, p95·requests, p99·requests) over [lo, hi) for the whole service — every
        deployment that took traffic, mixed, as Railway's service-level metrics are — in 5-second slices."""
        requests = errors = p50 = p95 = p99 = 0.0
        t = lo
        while t < hi:
            dt = min(5.0, hi - t)
            for d, share in self.serving_shares(service_id, environment_id, t):
                traffic = self.deployment_traffic(d, t)
                n = traffic.rpm * share / 60.0 * dt
                requests += n
                errors += n * traffic.error_ratio
                p50 += n * traffic.p50_ms
                p95 += n * traffic.p95_ms
                p99 += n * traffic.p99_ms
            t += dt
        return requests, errors, p50, p95, p99

    def _metric_args(self, auth: _Auth, serviceId: str, environmentId: str, name: str) -> None:
        service = self.services.get(serviceId)
        if service is None:
            raise _error("Service not found")
        auth.allow(service["projectId"], environmentId)
        if name in self.refuse_metrics:
            raise _error(f"{name} is not available on this plan")

    def _r_httpMetricsGroupedByStatus(
        self,
        auth: _Auth,
        serviceId: str,
        environmentId: str,
        startDate: str,
        endDate: str,
        stepSeconds: int | None = None,
        **_: Any,
    ) -> list[dict[str, Any]]:
        self._metric_args(auth, serviceId, environmentId, "httpMetricsGroupedByStatus")
        ok: list[dict[str, Any]] = []
        bad: list[dict[str, Any]] = []
        for ts, lo, hi in self._buckets(
            self._sim_time(startDate) or 0.0, self._sim_time(endDate) or 0.0, stepSeconds or 60
        ):
            requests, errors, *_ = self._integrate(serviceId, environmentId, lo, hi)
            if requests <= 0:
                continue
            ok.append({"ts": ts, "value": round(requests - errors, 3)})
            if errors > 0:
                bad.append({"ts": ts, "value": round(errors, 3)})
        groups = [{"statusCode": 200, "samples": ok}]
        if bad:
            groups.append({"statusCode": 500, "samples": bad})
        return groups

    def _r_httpDurationMetrics(
        self,
        auth: _Auth,
        serviceId: str,
        environmentId: str,
        startDate: str,
        endDate: str,
        stepSeconds: int | None = None,
        **_: Any,
    ) -> dict[str, Any]:
        self._metric_args(auth, serviceId, environmentId, "httpDurationMetrics")
        samples = []
        for ts, lo, hi in self._buckets(
            self._sim_time(startDate) or 0.0, self._sim_time(endDate) or 0.0, stepSeconds or 60
        ):
            requests, _, p50, p95, p99 = self._integrate(serviceId, environmentId, lo, hi)
            if requests <= 0:
                continue
            samples.append(
                {
                    "ts": ts,
                    "p50": p50 / requests,
                    "p90": (p50 + p95) / 2 / requests,
                    "p95": p95 / requests,
                    "p99": p99 / requests,
                }
            )
        return {"samples": samples}

    def _runs(self, d: SimDeployment, t: float) -> bool:
        """Whether the deployment's container is up at ``t`` (it reports memory and CPU)."""
        if d.promoted_at is None or d.promoted_at > t:
            return False
        if d.removed_at is not None and t >= d.removed_at:
            return False
        return not (d.crashed_at is not None and t >= d.crashed_at)

    def _resource(self, measurement: str, d: SimDeployment, t: float) -> float | None:
        traffic = self.deployment_traffic(d, t)
        assert d.promoted_at is not None
        if measurement == "MEMORY_USAGE_GB":
            return traffic.memory_gb + traffic.memory_growth_gb_per_min * (t - d.promoted_at) / 60.0
        if measurement == "CPU_USAGE":
            return traffic.cpu
        if measurement == "MEMORY_LIMIT_GB":
            return self.memory_limits.get(d.service_id)
        return None

    def _r_metrics(
        self,
        auth: _Auth,
        measurements: list[str],
        startDate: str,
        serviceId: str | None = None,
        environmentId: str | None = None,
        endDate: str | None = None,
        sampleRateSeconds: int | None = None,
        groupBy: list[str] | None = None,
        **_: Any,
    ) -> list[dict[str, Any]]:
        if serviceId is None or environmentId is None:
            raise _error("the simulator serves service metrics only")
        self._metric_args(auth, serviceId, environmentId, "metrics")
        end = self._sim_time(endDate) if endDate else self.clock.monotonic()
        buckets = self._buckets(self._sim_time(startDate) or 0.0, end or 0.0, sampleRateSeconds or 60)
        by_deployment = "DEPLOYMENT_ID" in (groupBy or ())
        out = []
        for measurement in measurements:
            # One series for the service (the newest running deployment's figure), or one per deployment.
            series: dict[str | None, list[dict[str, Any]]] = {}
            for ts, _lo, hi in buckets:
                at = hi - 0.001
                running = [
                    d
                    for d in self.deployments
                    if d.service_id == serviceId and d.environment_id == environmentId and self._runs(d, at)
                ]
                running.sort(key=lambda d: d.created, reverse=True)
                for d in running if by_deployment else running[:1]:
                    value = self._resource(measurement, d, at)
                    if value is not None:
                        series.setdefault(d.id if by_deployment else None, []).append({"ts": ts, "value": value})
            for deployment_id, values in series.items():
                tags: dict[str, Any] = dict.fromkeys(_TAGS)
                tags["serviceId"] = serviceId
                if by_deployment:
                    tags["deploymentId"] = deployment_id
                out.append({"measurement": measurement, "tags": tags, "values": values})
        return out

    # HTTP logs: one line per request of one deployment --------------------------------------------------------------

    def _log_lines(self, d: SimDeployment, lo: float, hi: float) -> Iterator[dict[str, Any]]:
        """The deployment's requests in (lo, hi], one line each, newest first (as Railway's log viewer reads them, so
        that a reader of the newest few stops there). Counts per second come from the traffic profile (whole
        requests, spread evenly), so the same second always holds the same lines."""
        if d.promoted_at is None:
            return
        for second in reversed(range(math.floor(max(lo, d.promoted_at)), math.ceil(hi))):
            shares = self.serving_shares(d.service_id, d.environment_id, second + 0.5)
            share = next((sh for x, sh in shares if x is d), 0.0)
            if not share:
                continue
            traffic = self.deployment_traffic(d, second + 0.5)
            rate = traffic.rpm * share / 60.0
            count = math.floor((second + 1) * rate) - math.floor(second * rate)
            failing = rate * traffic.error_ratio
            bad = math.floor((second + 1) * failing) - math.floor(second * failing)
            for i in reversed(range(count)):
                at = second + (i + 0.5) / count
                if not lo < at <= hi:
                    continue
                q = ((second * 7 + i * 37) % 100 + 0.5) / 100
                status = 500 if i < bad else 200
                yield self._log_line(d, at, status, traffic.duration_ms(q), f"{second}-{i}")

    def _log_line(self, d: SimDeployment, at: float, status: int, duration: float, key: str) -> dict[str, Any]:
        return {
            "timestamp": _iso_at(at),
            "httpStatus": status,
            "totalDuration": round(duration),
            "upstreamRqDuration": max(0, round(duration) - 2),
            "method": "GET",
            "path": "/api/orders" if status >= 500 else "/api/items",
            "host": self.services[d.service_id].get("domain") or "",
            "deploymentId": d.id,
            "deploymentInstanceId": f"{d.id[:8]}-instance",
            "requestId": f"{d.id[:6]}-{key}",
            "clientUa": "kars-sim",
            "downstreamProto": "HTTP/1.1",
            "upstreamProto": "HTTP/1.1",
            "edgeRegion": "us-west2",
            "responseDetails": "" if status < 500 else "upstream answered 500",
            "rxBytes": 120,
            "txBytes": 800,
            "srcIp": "203.0.113.7",
            "upstreamAddress": "10.0.0.5:3000",
            "upstreamErrors": "",
        }

    def _r_httpLogs(
        self,
        auth: _Auth,
        deploymentId: str,
        filter: str | None = None,
        limit: int | None = None,
        afterDate: str | None = None,
        beforeDate: str | None = None,
        **_: Any,
    ) -> list[dict[str, Any]]:
        d = next((x for x in self.deployments if x.id == deploymentId), None)
        if d is None:
            raise _error("Deployment not found")
        auth.allow(d.project_id, d.environment_id)
        if "httpLogs" in self.refuse_metrics:
            raise _error("httpLogs is not available on this plan")
        now = self.clock.monotonic()
        lo = self._sim_time(afterDate) if afterDate else now - 3600.0
        hi = min(self._sim_time(beforeDate) if beforeDate else now, now)
        test = _log_filter(filter or "")
        # The newest ``limit`` lines, newest first, as Railway's log viewer reads them.
        wanted = max(1, int(limit or 100))
        lines: list[dict[str, Any]] = []
        for line in self._log_lines(d, lo or 0.0, hi):
            if test(line):
                lines.append(line)
                if len(lines) == wanted:
                    break
        return lines

    # Instance executions: every start of a deployment's instance ---------------------------------------------------

    def executions_of(self, d: SimDeployment, now: float) -> list[dict[str, Any]]:
        """Each start of the deployment's instance: the first when it deploys, another after each crash (the
        crashed one CRASHED, the new one RESTARTING for a few seconds, then RUNNING)."""
        started = d.created
        for status, seconds in d.script.phases:
            if status == "DEPLOYING" or seconds is None:
                break
            started += seconds
        if now < started:
            return []
        restarts = []
        if d.commit is not None and d.promoted_at is not None:
            restarts = sorted(
                d.promoted_at + s
                for s in self.restarts.get((d.service_id, d.commit), [])
                if d.promoted_at + s <= now and (d.removed_at is None or d.promoted_at + s < d.removed_at)
            )
        status = d.status(now)[0]
        out = []
        starts = [started, *restarts]
        for n, start in enumerate(starts):
            last = n == len(starts) - 1
            if not last:
                state, completed = "CRASHED", starts[n + 1]
            elif n > 0 and now < start + RESTART_SECONDS and status in _LIVE:
                state, completed = "RESTARTING", None
            else:
                state = _INSTANCE_STATUS.get(status, "CREATED")
                completed = d.status(now)[1] if state in ("CRASHED", "REMOVED", "EXITED") else None
            out.append(
                {
                    "id": f"{d.id[:8]}-exec-{n}",
                    "deploymentId": d.id,
                    "status": state,
                    "createdAt": _iso_at(start),
                    "updatedAt": _iso_at(completed if completed is not None else start),
                    "completedAt": _iso_at(completed) if completed is not None else None,
                    "deploymentMeta": {"commitHash": d.commit},
                }
            )
        return out

    def instances_of(self, d: SimDeployment, now: float) -> list[dict[str, Any]]:
        executions = self.executions_of(d, now)
        if not executions:
            return [{"id": f"{d.id[:8]}-exec-0", "status": "CREATED"}]
        current = executions[-1]
        return [{"id": current["id"], "status": current["status"]}]

    def _r_deploymentInstanceExecutions(
        self, auth: _Auth, input: dict[str, Any], first: int | None = None, **_: Any
    ) -> dict[str, Any]:
        service = self.services.get(input.get("serviceId") or "")
        if service is None:
            raise _error("Service not found")
        auth.allow(service["projectId"], input.get("environmentId"))
        now = self.clock.monotonic()
        mine = sorted(
            (
                d
                for d in self.deployments
                if d.service_id == service["id"] and d.environment_id == input.get("environmentId")
            ),
            key=lambda d: d.created,
            reverse=True,
        )
        nodes = [e for d in mine for e in reversed(self.executions_of(d, now))][: first or 100]
        return {
            "edges": [{"cursor": n["id"], "node": n} for n in nodes],
            "pageInfo": {"hasNextPage": False, "hasPreviousPage": False, "startCursor": None, "endCursor": None},
        }

    # Volumes and backups --------------------------------------------------------------------------------------------

    def _volume_node(self, v: Volume) -> dict[str, Any]:
        return {
            "id": v.instance_id,
            "serviceId": v.service_id,
            "environmentId": v.environment_id,
            "volumeId": v.volume_id,
            "mountPath": v.mount_path,
            "currentSizeMB": v.used_mb,
            "sizeMB": v.size_mb,
            "state": "READY",
            "volume": {"id": v.volume_id, "name": v.name},
            "service": {"id": v.service_id, "name": self.services[v.service_id]["name"]},
        }

    def volume_instances_of(self, environment_id: str) -> dict[str, Any]:
        """``Environment.volumeInstances``: the volumes attached to services in this environment."""
        volumes = [v for v in self.volumes.values() if v.environment_id == environment_id]
        return {"edges": [{"node": self._volume_node(v)} for v in volumes]}

    def _volume(self, auth: _Auth, volume_instance_id: str) -> Volume:
        volume = self.volumes.get(volume_instance_id)
        if volume is None:
            raise _error("Volume instance not found")
        auth.allow(volume.project_id, volume.environment_id)
        return volume

    def _settle_workflows(self) -> None:
        now = self.clock.monotonic()
        for w in self.workflows.values():
            if w.done or w.outcome == "never" or now < w.started + w.seconds:
                continue
            w.done = True
            if w.outcome != "complete":
                continue
            if w.kind == "backup" and w.volume_instance_id is not None:
                volume = self.volumes[w.volume_instance_id]
                backup = Backup(
                    str(uuid.uuid4()), w.name, w.volume_instance_id, w.started + w.seconds, int(volume.used_mb)
                )
                self.backups.append(backup)
                w.backup_id = backup.id
            elif w.kind == "restore" and w.volume_instance_id is not None and w.backup_id is not None:
                self._stage_swap(self.volumes[w.volume_instance_id], w.backup_id, w.started + w.seconds)

    def _stage_swap(self, volume: Volume, backup_id: str, at: float) -> None:
        """The restore workflow's end: the backup's data sits in a fresh volume and the swap is only STAGED;
        Railway has deleted the backups newer than the one restored."""
        restored = next(b for b in self.backups if b.id == backup_id)
        newer = [b for b in self.backups if b.volume_instance_id == volume.instance_id and b.created > restored.created]
        self.deleted_backups += newer
        self.backups = [b for b in self.backups if b not in newer]
        fresh = str(uuid.uuid4())
        patch = {
            "volumes": {volume.volume_id: {"isDeleted": True}, fresh: {"isCreated": True, "sizeMB": volume.size_mb}},
            "services": {volume.service_id: {"volumeMounts": {fresh: {"mountPath": volume.mount_path}}}},
        }
        self._stage(volume.environment_id, patch, f"Restore {volume.name} from backup {backup_id}", None, at=at)
        self._swaps[volume.environment_id] = (volume.instance_id, backup_id)

    def _stage(
        self,
        environment_id: str,
        patch: dict[str, Any],
        message: str | None,
        by: dict[str, Any] | None,
        *,
        at: float | None = None,
    ) -> None:
        from tests.fakes.railway_sim import _deep_merge

        when = _iso_at(self.clock.monotonic() if at is None else at)
        staged = self.staged.get(environment_id)
        if staged is None:
            staged = self.staged[environment_id] = {
                "id": str(uuid.uuid4()),
                "environmentId": environment_id,
                "status": "STAGED",
                "patch": {},
                "message": message,
                "createdAt": when,
                "appliedBy": by,
                "appliedAt": None,
                "lastAppliedError": None,
            }
        _deep_merge(staged["patch"], patch)
        staged["updatedAt"] = when

    def _r_volumeInstanceBackupCreate(
        self, auth: _Auth, volumeInstanceId: str, name: str | None = None
    ) -> dict[str, Any]:
        self._volume(auth, volumeInstanceId)
        workflow = Workflow(
            f"wf-{uuid.uuid4().hex[:12]}",
            "backup",
            volumeInstanceId,
            self.clock.monotonic(),
            self.backup_outcome,
            self.backup_seconds,
            name=name,
        )
        self.workflows[workflow.id] = workflow
        return {"workflowId": workflow.id}

    def _r_workflowStatus(self, auth: _Auth, workflowId: str) -> dict[str, Any]:
        self._settle_workflows()
        workflow = self.workflows.get(workflowId)
        if workflow is None:
            return {"status": "NotFound", "error": None}
        if workflow.volume_instance_id is not None:
            self._volume(auth, workflow.volume_instance_id)
        if not workflow.done:
            return {"status": "Running", "error": None}
        if workflow.outcome == "error":
            return {"status": "Error", "error": workflow.error}
        return {"status": "Complete", "error": None}

    def _r_volumeInstanceBackupList(self, auth: _Auth, volumeInstanceId: str) -> list[dict[str, Any]]:
        self._volume(auth, volumeInstanceId)
        self._settle_workflows()
        mine = sorted((b for b in self.backups if b.volume_instance_id == volumeInstanceId), key=lambda b: -b.created)
        return [
            {
                "id": b.id,
                "name": b.name,
                "createdAt": _iso_at(b.created),
                "expiresAt": _iso_at(b.created + self.backup_retention),
                "usedMB": b.used_mb,
                "referencedMB": b.used_mb,
                "volumeInstanceSizeMB": self.volumes[volumeInstanceId].size_mb,
                "externalId": b.external_id,
                "creatorId": None,
                "scheduleId": None,
            }
            for b in mine
        ]

    def _r_volumeInstanceBackupRestore(
        self, auth: _Auth, volumeInstanceBackupId: str, volumeInstanceId: str, **_: Any
    ) -> dict[str, Any]:
        volume = self._volume(auth, volumeInstanceId)
        if volume.ha:
            raise _error(HA_REFUSAL.format(name=self.services[volume.service_id]["name"]))
        if not any(b.id == volumeInstanceBackupId and b.volume_instance_id == volumeInstanceId for b in self.backups):
            raise _error("Backup not found")
        workflow = Workflow(
            f"wf-{uuid.uuid4().hex[:12]}",
            "restore",
            volumeInstanceId,
            self.clock.monotonic(),
            self.restore_outcome,
            self.restore_seconds,
            backup_id=volumeInstanceBackupId,
            error="restore failed",
        )
        self.workflows[workflow.id] = workflow
        self.restores.append((volumeInstanceBackupId, volumeInstanceId))
        return {"workflowId": workflow.id}

    # Staged changes ---------------------------------------------------------------------------------------------

    def _environment_of(self, auth: _Auth, environment_id: str) -> dict[str, Any]:
        env = self.environments.get(environment_id)
        if env is None:
            raise _error("Environment not found")
        auth.allow(env["projectId"], environment_id)
        return env

    def _r_environmentStagedChanges(self, auth: _Auth, environmentId: str) -> dict[str, Any]:
        self._environment_of(auth, environmentId)
        self._settle_workflows()
        staged = self.staged.get(environmentId)
        env_node = {"id": environmentId, "name": self.environments[environmentId]["name"]}
        if staged is None:
            # Nothing staged: Railway answers with an empty placeholder patch.
            now = _iso_at(self.clock.monotonic())
            return {
                "id": "<empty>",
                "environmentId": environmentId,
                "status": "STAGED",
                "patch": {},
                "message": None,
                "createdAt": now,
                "updatedAt": now,
                "appliedBy": None,
                "appliedAt": None,
                "lastAppliedError": None,
                "environment": env_node,
            }
        return {**staged, "environment": env_node}

    def _r_environmentPatchCommitStaged(
        self, auth: _Auth, environmentId: str, commitMessage: str | None = None, skipDeploys: bool | None = None
    ) -> str:
        self._environment_of(auth, environmentId)
        self._settle_workflows()
        staged = self.staged.pop(environmentId, None)
        if staged is None or not staged["patch"]:
            raise _error("No staged changes to commit")
        self.committed_staged.append({**staged, "message": commitMessage or staged.get("message")})
        patch = staged["patch"]
        services = {sid: entry for sid, entry in (patch.get("services") or {}).items() if isinstance(entry, dict)}
        settings = {sid: {k: v for k, v in e.items() if k != "volumeMounts"} for sid, e in services.items()}
        settings = {sid: e for sid, e in settings.items() if e}
        if settings:
            self._commit_patch(environmentId, {"services": settings}, commitMessage)
        swap = self._swaps.pop(environmentId, None)
        if swap is not None:
            volume = self.volumes[swap[0]]
            volume.restored_from = swap[1]
            volume.used_mb = float(next(b.used_mb for b in self.backups + self.deleted_backups if b.id == swap[1]))
        if not skipDeploys:
            for sid in services:
                self._redeploy(sid, environmentId)
        workflow = Workflow(
            f"wf-{uuid.uuid4().hex[:12]}",
            "commit",
            None,
            self.clock.monotonic(),
            "complete",
            self.commit_seconds,
            environment_id=environmentId,
        )
        self.workflows[workflow.id] = workflow
        return workflow.id

    def _redeploy(self, service_id: str, environment_id: str) -> None:
        """A committed change redeploys the service: the same commit, a new deployment."""
        from tests.fakes.railway_sim import Script

        now = self.clock.monotonic()
        live = [
            d
            for d in self.deployments
            if d.service_id == service_id and d.environment_id == environment_id and d.status(now)[0] in _LIVE
        ]
        commit = max(live, key=lambda d: d.created).commit if live else None
        script = Script((("DEPLOYING", 30.0), ("SUCCESS", None)), deploy_logs=("database system is ready",))
        self._create(service_id, environment_id, commit, script, now, {"reason": "redeploy"})


def _log_filter(text: str) -> Any:
    """Railway's log filter, the numeric part: ``@httpStatus:500..599``, ``@totalDuration:>500``, ``@path:/x``."""
    tests = []
    for token in text.split():
        if not token.startswith("@") or ":" not in token:
            raise _error(f"invalid log filter: {token!r}")
        key, _, value = token[1:].partition(":")
        tests.append((key, value))

    def matches(line: dict[str, Any]) -> bool:
        for key, value in tests:
            have = line.get(key)
            if have is None:
                return False
            if isinstance(have, str):
                if have != value:
                    return False
                continue
            if ".." in value:
                low, _, high = value.partition("..")
                if not float(low) <= have <= float(high):
                    return False
            elif value.startswith(">="):
                if not have >= float(value[2:]):
                    return False
            elif value.startswith("<="):
                if not have <= float(value[2:]):
                    return False
            elif value.startswith(">"):
                if not have > float(value[1:]):
                    return False
            elif value.startswith("<"):
                if not have < float(value[1:]):
                    return False
            elif have != float(value):
                return False
        return True

    return matches


@functools.lru_cache(maxsize=1 << 16)
def _iso_at(t: float) -> str:
    """Railway's form of the simulated moment ``t``. Each look reads again the log lines of the seconds the last one
    read (hundreds a look, the same moments each time), so each moment is written out once."""
    from tests.fakes.railway_sim import EPOCH

    return (EPOCH + timedelta(seconds=t)).isoformat().replace("+00:00", "Z")
