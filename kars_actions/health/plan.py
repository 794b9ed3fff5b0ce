"""Which endpoints to check and against what: command-line URLs and kars.yml services, with flags on top."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from kars_actions.core import gha
from kars_actions.core.config import Config
from kars_actions.core.errors import UsageError
from kars_actions.core.urls import check_url, without_credentials
from kars_actions.health.assertions import (
    HealthCheck,
    JsonExpectation,
    parse_header,
    parse_statuses,
    parse_version_rule,
)
from kars_actions.health.http import display_url
from kars_actions.health.targets import HealthTarget, targets_from_config

HEADERS_ENV = "KARS_HEALTH_HEADERS"  # "Name: value" lines; a secret, so it stays out of argv


@dataclass(frozen=True)
class CheckOverrides:
    """Assertions and request settings given as flags or action inputs; ``None``/empty means "not given"."""

    expect_status: Sequence[str] = ()
    expect_json: Sequence[str] = ()
    expect_json_present: Sequence[str] = ()
    expect_body: str | None = None
    expect_body_regex: str | None = None
    expect_headers: Sequence[str] = ()
    max_response_time: float | None = None
    version_field: str | None = None
    version_header: str | None = None
    version_check: str | None = None
    headers: Sequence[str] = ()
    method: str | None = None

    def request_headers(self, environ: Mapping[str, str] | None = None) -> dict[str, str]:
        env = os.environ if environ is None else environ
        lines = [line for line in env.get(HEADERS_ENV, "").splitlines() if line.strip()]
        parsed = dict(parse_header(spec) for spec in [*lines, *self.headers])
        for value in parsed.values():
            gha.SECRETS.register(value)
        return parsed

    def apply(self, check: HealthCheck) -> HealthCheck:
        """``check`` with every given assertion replacing the configured one."""
        changes: dict[str, object] = {}
        if self.expect_status:
            changes["statuses"] = parse_statuses(self.expect_status)
        if self.expect_json or self.expect_json_present:
            changes["json"] = tuple(JsonExpectation.parse(spec) for spec in self.expect_json) + tuple(
                JsonExpectation.present(path) for path in self.expect_json_present
            )
        if self.expect_body is not None:
            changes["body_contains"] = self.expect_body
        if self.expect_body_regex is not None:
            changes["body_regex"] = self.expect_body_regex
        if self.expect_headers:
            changes["headers"] = tuple(parse_header(spec) for spec in self.expect_headers)
        if self.max_response_time is not None:
            changes["max_response_time"] = self.max_response_time
        if self.version_field is not None:
            changes["version_field"] = self.version_field
        if self.version_header is not None:
            changes["version_header"] = self.version_header
        if self.version_check is not None:
            changes["version_rule"] = parse_version_rule(self.version_check)
        return replace(check, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True)
class HealthPlan:
    """What the user asked for, before any request is made."""

    urls: Sequence[str] = ()
    services: Sequence[str] = ()
    service_urls: Mapping[str, str] = field(default_factory=dict)
    overrides: CheckOverrides = field(default_factory=CheckOverrides)


def parse_service_urls(specs: Sequence[str]) -> dict[str, str]:
    """``backend=https://api.example.com`` → mapping (the pipeline passes the domains Railway gave)."""
    mapping: dict[str, str] = {}
    for spec in specs:
        name, sep, url = spec.partition("=")
        if not sep or not name.strip() or not url.strip():
            raise UsageError(f"invalid --service-url {without_credentials(spec)!r}", hint="write it as NAME=https://host")
        mapping[name.strip()] = check_url(url, f"--service-url {name.strip()}", hint="write it as NAME=https://host")
    return mapping


def plan_targets(plan: HealthPlan, config: Config | None) -> list[HealthTarget]:
    """URLs from the command line, plus kars.yml services (named ones, or all when no URL was given)."""
    headers = plan.overrides.request_headers()
    targets: list[HealthTarget] = []
    for url in plan.urls:
        targets.append(
            HealthTarget(
                name=display_url(url),
                url=url,
                check=plan.overrides.apply(HealthCheck()),
                method=(plan.overrides.method or "GET").upper(),
                headers=headers,
            )
        )
    if plan.services or not plan.urls:
        if config is None or not config.services:
            if plan.services:
                raise UsageError(
                    f"--service {plan.services[0]} needs a kars.yml that defines it",
                    hint="pass --config PATH, or give the health URL instead",
                )
            raise UsageError(
                "nothing to check: no URL given and no kars.yml services",
                hint="pass a URL (kars-actions health https://app.example.com/api/health) or --service NAME",
            )
        for target in targets_from_config(config, plan.service_urls, services=plan.services or None):
            merged = {**target.headers, **headers}
            targets.append(
                replace(
                    target,
                    check=plan.overrides.apply(target.check),
                    method=(plan.overrides.method or target.method).upper(),
                    headers=merged,
                )
            )
    if not targets:
        raise UsageError(
            "no health targets: kars.yml services have no health checks and no URLs",
            hint="add health: {path: /api/health} and url: to a service, or pass --service-url NAME=URL",
        )
    return targets
