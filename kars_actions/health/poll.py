"""Prove services healthy: poll every health endpoint concurrently until each passes its checks, steadily.

The pipeline calls ``targets_from_config`` then ``check_health``; the CLI builds ``HealthTarget``s from flags.
"""

from __future__ import annotations

import asyncio
import json
import random
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from kars_actions.core import gha
from kars_actions.core.config import Config, HealthCheckConfig, ServiceConfig
from kars_actions.core.errors import ConfigError, UsageError
from kars_actions.core.report import Progress, no_progress
from kars_actions.core.timing import SYSTEM_CLOCK, Clock, Deadline
from kars_actions.health.assertions import Failure, HealthCheck, JsonExpectation, Observation, parse_statuses
from kars_actions.health.http import (
    DEFAULT_MAX_BODY,
    DEFAULT_MAX_REDIRECTS,
    RequestOptions,
    display_url,
    fetch,
    make_client,
)
from kars_actions.health.report import HealthResult, TargetOutcome

if TYPE_CHECKING:
    import httpx

__all__ = [
    "Backoff",
    "HealthCheck",
    "HealthResult",
    "HealthTarget",
    "PollSettings",
    "TargetOutcome",
    "check_health",
    "check_health_async",
    "healthcheck_path",
    "targets_from_config",
]

JITTERS = ("full", "decorrelated", "none")


@dataclass(frozen=True)
class HealthTarget:
    """One endpoint to prove healthy. ``None`` per-target settings fall back to ``PollSettings``."""

    name: str
    url: str
    check: HealthCheck = field(default_factory=HealthCheck)
    method: str = "GET"
    headers: Mapping[str, str] = field(default_factory=dict)
    service: str | None = None
    # False for a fallback check of "/" (a static site): it carries no version to compare.
    check_version: bool = True
    timeout: float | None = None
    interval: float | None = None
    retries: int | None = None
    deadline: float | None = None
    stable_passes: int | None = None

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise UsageError(
                f"health target {self.name!r}: {display_url(self.url)!r} is not an http(s) URL",
                hint="write the full URL, e.g. https://app.example.com/api/health",
            )
        if self.method.upper() not in ("GET", "HEAD"):
            raise UsageError(f"health target {self.name!r}: method must be GET or HEAD, not {self.method!r}")
        for value in self.headers.values():
            gha.SECRETS.register(value)
        password = urlsplit(self.url).password
        if password:
            gha.SECRETS.register(password)

    @property
    def shown_url(self) -> str:
        return display_url(self.url)


@dataclass(frozen=True)
class PollSettings:
    """How to poll. Defaults measured in benchmarks/bench_health.py: short detection delay, light on the app."""

    timeout: float = 10.0  # per request, redirects and body included
    deadline: float = 300.0  # for the whole check
    interval: float = 1.0  # first wait after a failure
    backoff: float = 1.5  # growth of the wait after each further failure
    max_interval: float = 4.0  # the wait never grows past this
    confirm_interval: float = 0.5  # wait between passes while confirming stability
    jitter: str = "full"  # "full" | "decorrelated" | "none"
    stable_passes: int = 2  # consecutive passes before a target counts healthy
    stable_for: float | None = None  # and/or passing for this long
    retries: int | None = None  # max attempts per target (None: until the deadline)
    # Requests in flight at once, across every target. httpcore's pool does work per request that grows with
    # its connection count, so on a fast network more than ~10 costs CPU rather than saving time.
    concurrency: int = 6  # on loopback, 1,000 targets: 6 in flight 1.2 s, 10 in flight 1.9 s (pool CPU)
    max_body: int = DEFAULT_MAX_BODY
    max_redirects: int = DEFAULT_MAX_REDIRECTS
    allow_cross_host_redirects: bool = False
    ca_bundle: str | None = None

    def __post_init__(self) -> None:
        positive = {
            "timeout": self.timeout,
            "deadline": self.deadline,
            "interval": self.interval,
            "max interval": self.max_interval,
            "confirm interval": self.confirm_interval,
        }
        for name, value in positive.items():
            if value <= 0:
                raise UsageError(f"health {name} must be above 0 seconds, got {value:g}")
        if self.backoff < 1:
            raise UsageError(f"health backoff factor must be 1 or more, got {self.backoff:g}")
        if self.jitter not in JITTERS:
            raise UsageError(f"unknown jitter {self.jitter!r}; use one of {', '.join(JITTERS)}")
        if self.stable_passes < 1:
            raise UsageError("stable passes must be at least 1")
        if self.retries is not None and self.retries < 1:
            raise UsageError("retries (max attempts) must be at least 1")
        if self.concurrency < 1:
            raise UsageError("concurrency must be at least 1")
        if self.max_body < 1:
            raise UsageError("max body must be at least 1 byte")


class Backoff:
    """Capped exponential waits with jitter, so a fleet of pollers does not beat in step.

    ``full``: uniform in [floor, min(cap, initial·factorⁿ)] — the shortest average wait, hence the quickest
    detection; ``decorrelated``: min(cap, uniform(initial, 3·previous)); ``none``: the plain exponential.
    """

    def __init__(
        self,
        initial: float,
        factor: float,
        cap: float,
        jitter: str = "full",
        rng: random.Random | None = None,
    ) -> None:
        self.initial = initial
        self.factor = factor
        self.cap = max(cap, initial)
        self.jitter = jitter
        self.rng = rng or random.Random()
        self.floor = min(0.25, initial)
        self.reset()

    def reset(self) -> None:
        self._failures = 0
        self._previous = self.initial

    def next(self) -> float:
        ceiling = min(self.cap, self.initial * self.factor**self._failures)
        self._failures += 1
        if self.jitter == "none":
            return ceiling
        if self.jitter == "decorrelated":
            self._previous = min(self.cap, self.rng.uniform(self.initial, self._previous * 3))
            return self._previous
        return max(self.floor, self.rng.uniform(0, ceiling))


# Building targets --------------------------------------------------------------------------------------------


def check_from_config(hc: HealthCheckConfig) -> HealthCheck:
    return HealthCheck(
        statuses=parse_statuses(hc.expect_status),
        json=tuple(JsonExpectation(path, "equals", value) for path, value in hc.expect_json.items()),
        body_contains=hc.expect_body,
        body_regex=hc.expect_body_regex,
        headers=tuple(hc.expect_headers.items()),
        max_response_time=hc.max_response_time,
        version_field=hc.version_field or "version",
        version_header=hc.version_header,
    )


def healthcheck_path(cfg: Config, service: ServiceConfig) -> str | None:
    """``deploy.healthcheckPath`` from the service's railway.json / railway.toml, if it has one."""
    if service.railway_config:
        candidates = [cfg.root / service.railway_config.lstrip("/")]
    else:
        folder = cfg.root / service.directory
        candidates = [folder / "railway.toml", folder / "railway.json"]  # TOML wins, as on Railway
    for path in candidates:
        if path.is_file():
            return _read_healthcheck_path(path)
    return None


def _read_healthcheck_path(path: Path) -> str | None:
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise ConfigError(
            f"cannot read the health check path from {path}: {error}",
            hint="run `kars-actions validate` on it, or give the service a health: url in kars.yml",
        ) from None
    deploy = data.get("deploy") if isinstance(data, dict) else None
    value = deploy.get("healthcheckPath") if isinstance(deploy, dict) else None
    return value if isinstance(value, str) and value.strip() else None


def _base_url(value: str) -> str:
    value = value.strip().rstrip("/")
    return value if value.startswith(("http://", "https://")) else f"https://{value}"


def _join(base: str, path: str) -> str:
    return _base_url(base) + "/" + path.lstrip("/")


def targets_from_config(
    cfg: Config,
    service_urls: Mapping[str, str] | None = None,
    *,
    services: Sequence[str] | None = None,
) -> list[HealthTarget]:
    """Health targets for kars.yml's services.

    For each check: its ``url``; else the service's public base URL (``service_urls[name]``, as the pipeline
    learnt it from Railway, else the service's ``url``) plus its ``path`` or the railway config's
    ``deploy.healthcheckPath``; else ``http://127.0.0.1:<port><path>`` for local runs. A service without health
    checks but with a known base URL is checked at its ``healthcheckPath`` (or ``/``, without a version).
    Named ``services`` must resolve; unnamed ones without any URL are left out.
    """
    urls = dict(service_urls or {})
    chosen = [cfg.service(name) for name in services] if services else list(cfg.services.values())
    targets: list[HealthTarget] = []
    for service in chosen:
        base = urls.get(service.name) or urls.get(service.railway_service) or service.url
        railway_path = healthcheck_path(cfg, service)
        if not service.health:
            if base is None:
                if services:
                    raise ConfigError(
                        f"service {service.name!r} has no health check and no known URL",
                        hint="add health: {url: ...} (or path/port) to it in kars.yml, or pass its URL",
                    )
                continue
            targets.append(
                HealthTarget(
                    name=service.name,
                    url=_join(base, railway_path or "/"),
                    service=service.name,
                    check_version=railway_path is not None,
                )
            )
            continue
        for index, hc in enumerate(service.health):
            path = hc.path or railway_path or "/"
            if hc.url:
                url = hc.url
            elif base:
                url = _join(base, path)
            elif hc.port:
                url = f"http://127.0.0.1:{hc.port}/{path.lstrip('/')}"
            else:
                raise ConfigError(
                    f"service {service.name!r} health check {index + 1}: no url, no port, and no public URL known",
                    location=None,
                    hint="give the check a url (or a port for local runs), or set the service's url in kars.yml",
                )
            name = service.name if len(service.health) == 1 else f"{service.name}#{index + 1}"
            targets.append(
                HealthTarget(
                    name=name,
                    url=url,
                    check=check_from_config(hc),
                    method=hc.method.upper(),
                    headers=dict(hc.headers),
                    service=service.name,
                    timeout=hc.timeout,
                    interval=hc.interval,
                    retries=hc.retries,
                    deadline=hc.deadline,
                    stable_passes=hc.stable_passes,
                )
            )
    return targets


def _with_version(target: HealthTarget, versions: tuple[str, ...]) -> HealthTarget:
    if not versions or not target.check_version:
        return target
    return replace(target, check=replace(target.check, expect_versions=versions))


# Polling -----------------------------------------------------------------------------------------------------


async def _poll_one(
    target: HealthTarget,
    settings: PollSettings,
    overall: Deadline,
    client: httpx.AsyncClient,
    gate: asyncio.Semaphore,
    progress: Progress,
    clock: Clock,
    rng: random.Random,
) -> TargetOutcome:
    deadline = overall.child(target.deadline) if target.deadline else overall
    interval = target.interval or settings.interval
    backoff = Backoff(interval, settings.backoff, max(settings.max_interval, interval), settings.jitter, rng)
    need = target.stable_passes or settings.stable_passes
    retries = target.retries or settings.retries
    options = RequestOptions(
        method=target.method.upper(),
        timeout=target.timeout or settings.timeout,
        max_body=settings.max_body,
        max_redirects=settings.max_redirects,
        allow_cross_host_redirects=settings.allow_cross_host_redirects,
    )
    attempts = streak = 0
    passing_since: float | None = None
    last: Observation | None = None
    failures: list[Failure] = []
    while True:
        if deadline.expired():
            return _outcome(target, False, attempts, deadline, last, failures, "deadline")
        if retries is not None and attempts >= retries:
            return _outcome(target, False, attempts, deadline, last, failures, "retries")
        attempts += 1
        request_options = replace(options, timeout=max(0.001, min(options.timeout, deadline.remaining())))
        async with gate:
            last = await fetch(client, target.url, target.headers, request_options)
        failures = target.check.evaluate(last)
        now = clock.monotonic()
        if failures:
            streak, passing_since = 0, None
            delay = backoff.next()
            if last.retry_after is not None:
                delay = max(delay, last.retry_after)
            progress(_line(target, attempts, last, f"not healthy yet: {failures[0]}"))
        else:
            streak += 1
            passing_since = now if passing_since is None else passing_since
            held = now - passing_since
            if streak >= need and (settings.stable_for is None or held >= settings.stable_for):
                progress(_line(target, attempts, last, "healthy"))
                return _outcome(target, True, attempts, deadline, last, [], "healthy")
            backoff.reset()
            delay = settings.confirm_interval
            if settings.stable_for is not None and streak >= need:
                delay = min(delay, settings.stable_for - held)
            progress(_line(target, attempts, last, f"passing, confirming ({streak}/{need})"))
        await clock.asleep(min(delay, deadline.remaining()))


def _line(target: HealthTarget, attempt: int, seen: Observation, why: str) -> str:
    answer = f"HTTP {seen.status}" if seen.status is not None else "no answer"
    return f"{target.name}  attempt {attempt}  {answer}  {seen.latency * 1000:.0f}ms  {why}"


def _outcome(
    target: HealthTarget,
    healthy: bool,
    attempts: int,
    deadline: Deadline,
    last: Observation | None,
    failures: list[Failure],
    reason: str,
) -> TargetOutcome:
    return TargetOutcome(
        target=target,
        healthy=healthy,
        attempts=attempts,
        elapsed=deadline.elapsed(),
        last=last,
        failures=failures,
        reason=reason,
    )


async def check_health_async(
    targets: Sequence[HealthTarget],
    *,
    expect_version: str | Sequence[str] | None = None,
    settings: PollSettings | None = None,
    deadline: float | Deadline | None = None,
    progress: Progress = no_progress,
    clock: Clock = SYSTEM_CLOCK,
    transport: httpx.AsyncBaseTransport | None = None,
    rng: random.Random | None = None,
) -> HealthResult:
    """Poll every target at once over one connection pool; return when each is healthy or out of time."""
    if not targets:
        raise UsageError(
            "no health targets to check",
            hint="pass URLs, --service NAME, or a kars.yml whose services have health checks or URLs",
        )
    settings = settings or PollSettings()
    if isinstance(deadline, Deadline):
        overall = deadline
    else:
        overall = Deadline(deadline if deadline is not None else settings.deadline, clock)
    versions = (expect_version,) if isinstance(expect_version, str) else tuple(expect_version or ())
    versions = tuple(v for v in versions if v and v.strip())
    prepared = [_with_version(t, versions) for t in targets]
    gate = asyncio.Semaphore(settings.concurrency)
    rng = rng or random.Random()
    async with make_client(
        concurrency=settings.concurrency,
        timeout=settings.timeout,
        ca_bundle=settings.ca_bundle,
        transport=transport,
    ) as client:
        outcomes = await asyncio.gather(
            *(_poll_one(t, settings, overall, client, gate, progress, clock, rng) for t in prepared)
        )
    return HealthResult(outcomes=list(outcomes), deadline=overall.seconds, versions=versions)


def check_health(
    targets: Sequence[HealthTarget],
    *,
    expect_version: str | Sequence[str] | None = None,
    settings: PollSettings | None = None,
    deadline: float | Deadline | None = None,
    progress: Progress = no_progress,
    clock: Clock = SYSTEM_CLOCK,
    transport: httpx.AsyncBaseTransport | None = None,
    rng: random.Random | None = None,
) -> HealthResult:
    """The synchronous entry point for the pipeline and the CLI (runs ``check_health_async`` in a new loop)."""
    return asyncio.run(
        check_health_async(
            targets,
            expect_version=expect_version,
            settings=settings,
            deadline=deadline,
            progress=progress,
            clock=clock,
            transport=transport,
            rng=rng,
        )
    )
