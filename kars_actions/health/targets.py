"""What to check: one health target (URL, assertions, per-target settings), and the targets kars.yml and
railway.json describe for each service."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from urllib.parse import urlsplit

from kars_actions.core import gha
from kars_actions.core.config import Config, HealthCheckConfig, ServiceConfig
from kars_actions.core.errors import ConfigError, UsageError
from kars_actions.core.urls import check_url, without_credentials
from kars_actions.health.assertions import HealthCheck, JsonExpectation, parse_statuses
from kars_actions.health.http import display_url


@dataclass(frozen=True)
class HealthTarget:
    """One endpoint to prove healthy. ``None`` per-target settings fall back to ``PollSettings``."""

    name: str
    url: str
    check: HealthCheck = field(default_factory=HealthCheck)
    method: str = "GET"
    headers: Mapping[str, str] = field(default_factory=dict)
    service: str | None = None
    # False where no version may be expected: the restored previous version after a rollback.
    check_version: bool = True
    timeout: float | None = None
    interval: float | None = None
    retries: int | None = None
    deadline: float | None = None
    stable_passes: int | None = None

    def __post_init__(self) -> None:
        # Scheme, host, port range, no spaces or control characters: a bad URL is refused before any request.
        named = self.name not in (self.url, display_url(self.url))
        check_url(self.url, f"health target {without_credentials(self.name)!r}: URL" if named else "health URL")
        if self.method.upper() not in ("GET", "HEAD"):
            raise UsageError(f"health target {self.name!r}: method must be GET or HEAD, not {self.method!r}")
        for value in self.headers.values():
            gha.SECRETS.register(value)
        password = urlsplit(self.url).password
        if password:
            gha.SECRETS.register(password)

    @cached_property
    def shown_url(self) -> str:
        """The URL without user:password, for output (parsed once: tables of many targets read it often)."""
        return display_url(self.url)


def check_from_config(hc: HealthCheckConfig) -> HealthCheck:
    return HealthCheck(
        statuses=parse_statuses(hc.expect_status),
        json=tuple(JsonExpectation(path, "equals", value) for path, value in hc.expect_json.items()),
        body_contains=hc.expect_body,
        body_regex=hc.expect_body_regex,
        headers=tuple(hc.expect_headers.items()),
        max_response_time=hc.max_response_time,
        version_field=hc.version_field,
        version_header=hc.version_header,
        version_rule=hc.version_check,
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
                    headers=hc.request_headers(f"services.{service.name}.health"),
                    service=service.name,
                    timeout=hc.timeout,
                    interval=hc.interval,
                    retries=hc.retries,
                    deadline=hc.deadline,
                    stable_passes=hc.stable_passes,
                )
            )
    return targets


def with_version(target: HealthTarget, versions: tuple[str, ...]) -> HealthTarget:
    if not versions or not target.check_version:
        return target
    return replace(target, check=replace(target.check, expect_versions=versions))


# Polling -----------------------------------------------------------------------------------------------------
