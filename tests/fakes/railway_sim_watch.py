"""The Railway simulator's watch and backup side: HTTP and resource metrics on the simulator's clock, deployment
instances and restarts, volumes, backups and the backup/restore workflow.

Traffic is a profile per service (the old version's) plus profiles per released commit that start some seconds
after that deployment went live — "a release whose error ratio rises three minutes after SUCCESS while health stays
green". Every number is computed from the clock, so a test or benchmark gets the same answer each run.
"""

from __future__ import annotations

import uuid
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


@dataclass
class Workflow:
    id: str
    kind: str  # backup | restore
    volume_instance_id: str
    started: float
    outcome: str  # complete | error | never
    seconds: float
    name: str | None = None
    backup_id: str | None = None
    error: str = "backup failed: snapshot could not be taken"
    done: bool = False


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
    lock: Any

    def _watch_state(self) -> None:
        self.traffic: dict[str, Traffic] = {}
        self.release_traffic: dict[tuple[str, str], list[tuple[float, Traffic]]] = {}
        self.restarts: dict[tuple[str, str], list[float]] = {}
        self.metrics_lag = 0.0  # seconds before a step's numbers show up
        self.refuse_metrics: set[str] = set()  # top-level metric fields answered with an error
        self.volumes: dict[str, Volume] = {}
        self.workflows: dict[str, Workflow] = {}
        self.backups: list[Backup] = []
        self.backup_outcome = "complete"
        self.backup_seconds = 40.0
        self.restore_outcome = "complete"
        self.restore_seconds = 60.0
        self.restores: list[tuple[str, str]] = []
        self.backup_retention = 7 * 24 * 3600.0
        self.rollback_requested_at: list[float] = []

    # Seeding ------------------------------------------------------------------------------------------------------

    def set_traffic(self, service_id: str, traffic: Traffic) -> None:
        self.traffic[service_id] = traffic

    def release_behaves(self, service_id: str, commit: str, traffic: Traffic, *, after: float = 0.0) -> None:
        """From ``after`` seconds past go-live, the deployment of ``commit`` serves traffic like this."""
        phases = self.release_traffic.setdefault((service_id, commit), [])
        phases.append((after, traffic))
        phases.sort(key=lambda p: p[0])

    def restart_after(self, service_id: str, commit: str, seconds: float) -> None:
        """The deployment of ``commit`` gets a new instance ``seconds`` after going live (the app restarted)."""
        self.restarts.setdefault((service_id, commit), []).append(seconds)

    def add_volume(
        self, service_id: str, environment_id: str, name: str = "postgres-volume", *, used_mb: float = 420.0
    ) -> str:
        service = self.services[service_id]
        volume = Volume(str(uuid.uuid4()), str(uuid.uuid4()), name, service_id, environment_id, service["projectId"])
        volume.used_mb = used_mb
        self.volumes[volume.instance_id] = volume
        return volume.instance_id

    # Time ---------------------------------------------------------------------------------------------------------

    def _iso_at(self, t: float) -> str:
        from tests.fakes.railway_sim import EPOCH

        return (EPOCH + timedelta(seconds=t)).isoformat().replace("+00:00", "Z")

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

    def serving(self, service_id: str, environment_id: str, t: float) -> SimDeployment | None:
        """The deployment that answered the service's traffic at time ``t``."""
        best = None
        for d in self.deployments:
            if d.service_id != service_id or d.environment_id != environment_id:
                continue
            if d.promoted_at is None or d.promoted_at > t:
                continue
            if d.removed_at is not None and t >= d.removed_at:
                continue
            if d.natural(t)[0] not in _LIVE:
                continue
            if best is None or d.created > best.created:
                best = d
        return best

    def traffic_at(self, service_id: str, environment_id: str, t: float) -> Traffic | None:
        d = self.serving(service_id, environment_id, t)
        if d is None:
            return None
        base = self.traffic.get(service_id, Traffic())
        if d.commit is None or d.promoted_at is None:
            return base
        chosen = base
        for after, traffic in self.release_traffic.get((service_id, d.commit), []):
            if t - d.promoted_at >= after:
                chosen = traffic
        return chosen

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
        """(requests, 5xx, p50·requests, p95·requests, p99·requests) over [lo, hi), in 5-second slices."""
        requests = errors = p50 = p95 = p99 = 0.0
        t = lo
        while t < hi:
            dt = min(5.0, hi - t)
            traffic = self.traffic_at(service_id, environment_id, t)
            if traffic is not None:
                n = traffic.rpm / 60.0 * dt
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
            from tests.fakes.railway_sim import SimError

            raise SimError("Service not found")
        auth.allow(service["projectId"], environmentId)
        if name in self.refuse_metrics:
            from tests.fakes.railway_sim import SimError

            raise SimError(f"{name} is not available on this plan")

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

    def _r_metrics(
        self,
        auth: _Auth,
        measurements: list[str],
        startDate: str,
        serviceId: str | None = None,
        environmentId: str | None = None,
        endDate: str | None = None,
        sampleRateSeconds: int | None = None,
        **_: Any,
    ) -> list[dict[str, Any]]:
        if serviceId is None or environmentId is None:
            from tests.fakes.railway_sim import SimError

            raise SimError("the simulator serves service metrics only")
        self._metric_args(auth, serviceId, environmentId, "metrics")
        end = self._sim_time(endDate) if endDate else self.clock.monotonic()
        out = []
        for measurement in measurements:
            values = []
            for ts, _lo, hi in self._buckets(self._sim_time(startDate) or 0.0, end or 0.0, sampleRateSeconds or 60):
                d = self.serving(serviceId, environmentId, hi - 0.001)
                traffic = self.traffic_at(serviceId, environmentId, hi - 0.001)
                if d is None or traffic is None or d.promoted_at is None:
                    continue
                if measurement == "MEMORY_USAGE_GB":
                    minutes = (hi - d.promoted_at) / 60.0
                    values.append({"ts": ts, "value": traffic.memory_gb + traffic.memory_growth_gb_per_min * minutes})
                elif measurement == "CPU_USAGE":
                    values.append({"ts": ts, "value": traffic.cpu})
            out.append({"measurement": measurement, "tags": {"serviceId": serviceId}, "values": values})
        return out

    def instances_of(self, d: SimDeployment, now: float) -> list[dict[str, Any]]:
        status = d.status(now)[0]
        restarts = 0
        if d.commit is not None and d.promoted_at is not None:
            restarts = sum(1 for s in self.restarts.get((d.service_id, d.commit), []) if now >= d.promoted_at + s)
        return [{"id": f"{d.id[:8]}-instance-{restarts}", "status": _INSTANCE_STATUS.get(status, "CREATED")}]

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
            from tests.fakes.railway_sim import SimError

            raise SimError("Volume instance not found")
        auth.allow(volume.project_id, volume.environment_id)
        return volume

    def _settle_workflows(self) -> None:
        now = self.clock.monotonic()
        for w in self.workflows.values():
            if w.done or w.outcome == "never" or now < w.started + w.seconds:
                continue
            w.done = True
            if w.kind == "backup" and w.outcome == "complete":
                volume = self.volumes[w.volume_instance_id]
                backup = Backup(
                    str(uuid.uuid4()), w.name, w.volume_instance_id, w.started + w.seconds, int(volume.used_mb)
                )
                self.backups.append(backup)
                w.backup_id = backup.id

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
                "createdAt": self._iso_at(b.created),
                "expiresAt": self._iso_at(b.created + self.backup_retention),
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
        self._volume(auth, volumeInstanceId)
        if not any(b.id == volumeInstanceBackupId and b.volume_instance_id == volumeInstanceId for b in self.backups):
            from tests.fakes.railway_sim import SimError

            raise SimError("Backup not found")
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
