"""Keep railway.json in force after Railway's Config-as-Code cutoff: the repository's settings and their plan.

Railway only ever merged railway.json / railway.toml into each deployment; from 2026-12-01 it stops reading them,
and a deployment runs with whatever the service settings hold. This module reads the repository's files (base keys,
``environments.<name>`` and ``pr`` overrides, in Railway's documented priority), models the live settings of an
environment's ``EnvironmentConfig`` (keyed by service id), compares only the keys the files set, and builds the
narrow patch that would make them agree. It never talks to Railway: ``kars_actions.railway.environment_config``
reads the environment and commits the patch.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kars_actions.core import gha
from kars_actions.core.errors import ConfigError, Location
from kars_actions.railway_config.config import SUNSET

CUTOFF = SUNSET  # the day Railway stops reading railway.json / railway.toml
SECTIONS = ("build", "deploy")
IAC_FILES = (".railway/railway.ts", ".railway/railway.py", ".railway/railway.go")
# The commit message `railway config apply` (Railway's IaC) gives the patches it stages.
IAC_APPLY_MESSAGE = "Apply Railway configuration"
_MANAGED_MARK = "kars-managed="
_MANAGED_RE = re.compile(r"kars-managed=(\{.*\})\s*$")
MODES = ("apply", "check", "off")

# Values Railway's EnvironmentConfig takes in upper case only; railway.json files often carry them lower-case.
ENUM_KEYS = frozenset(
    {("build", "builder"), ("build", "buildEnvironment"), ("deploy", "restartPolicyType"), ("deploy", "runtime")}
)
# Whole numbers (seconds and counts) in EnvironmentConfig; railway.json allows any number, even "60" in quotes.
INTEGER_KEYS = frozenset(
    {
        ("deploy", "healthcheckTimeout"),
        ("deploy", "overlapSeconds"),
        ("deploy", "drainingSeconds"),
        ("deploy", "numReplicas"),
        ("deploy", "restartPolicyMaxRetries"),
    }
)
SECRET_KEYS = frozenset({("deploy", "registryCredentials")})  # never printed: it holds a registry password






# --- Errors --------------------------------------------------------------------------------------------------------








# --- The repository's side ---------------------------------------------------------------------------------------


Settings = dict[str, dict[str, Any]]  # section ("build" / "deploy") -> key -> value


@dataclass(frozen=True)
class RepoConfig:
    """One railway.json / railway.toml, parsed, with the place of every value for error messages."""

    path: Path
    shown: str
    data: Mapping[str, Any]
    text: str

    @property
    def format(self) -> str:
        return "toml" if self.path.suffix.lower() == ".toml" else "json"

    def location(self, where: Sequence[str]) -> Location:
        from kars_actions.railway_config.positions import locate_json, locate_toml

        positions = locate_toml(self.text) if self.format == "toml" else locate_json(self.text)
        pos = positions.value(tuple(where))
        return Location(self.shown, pos.line, pos.column)

    def override_names(self) -> list[str]:
        envs = self.data.get("environments")
        return list(envs) if isinstance(envs, Mapping) else []

    def layer(self, environment: str | None) -> Mapping[str, Any]:
        """The base keys (``None``) or one ``environments.<name>`` entry, as written."""
        if environment is None:
            return self.data
        envs = self.data.get("environments")
        entry = envs.get(environment) if isinstance(envs, Mapping) else None
        return entry if isinstance(entry, Mapping) else {}

    def layers_for(self, environment: str, *, ephemeral: bool = False, source: str | None = None) -> list[str | None]:
        """Which layers apply to ``environment``, lowest priority first, as Railway documents it: base, then for a
        PR environment the environment it was forked from and ``pr``, then the environment's own name."""
        layers: list[str | None] = [None]
        if ephemeral:
            if source and source != environment:
                layers.append(source)
            layers.append("pr")
        layers.append(environment)
        return layers

    def resolve(self, environment: str, *, ephemeral: bool = False, source: str | None = None) -> Settings:
        """The settings this file puts in force in ``environment``, normalised as Railway stores them.

        A key set to null in a later layer is not set by the file there (Railway then used the service settings).
        """
        merged: dict[str, dict[str, tuple[Any, tuple[str, ...]]]] = {s: {} for s in SECTIONS}
        for name in self.layers_for(environment, ephemeral=ephemeral, source=source):
            layer = self.layer(name)
            prefix: tuple[str, ...] = () if name is None else ("environments", name)
            for section in SECTIONS:
                values = layer.get(section)
                if not isinstance(values, Mapping):
                    continue
                for key, value in values.items():
                    merged[section][key] = (value, (*prefix, section, key))
        out: Settings = {}
        for section in SECTIONS:
            for key, (value, where) in merged[section].items():
                if value is None:
                    continue
                out.setdefault(section, {})[key] = normalise(section, key, value, lambda w=where: self.location(w))
        return out


def normalise(section: str, key: str, value: Any, where: Any = None) -> Any:
    """A railway.json value as Railway's EnvironmentConfig stores it: upper-case enums, whole seconds, lists.

    ``where`` (a callable returning a Location) is only asked for when the value cannot be converted.
    """
    if (section, key) in ENUM_KEYS and isinstance(value, str):
        return value.strip().upper()
    if (section, key) in INTEGER_KEYS:
        return _whole_number(key, value, where)
    if (section, key) == ("deploy", "preDeployCommand") and isinstance(value, str):
        return [value]
    if (section, key) in SECRET_KEYS and isinstance(value, Mapping):
        gha.SECRETS.register(str(value.get("password") or ""))  # a registry password never reaches the output
    return value


def _whole_number(key: str, value: Any, where: Any) -> Any:
    number: float | None = None
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        return value
    elif isinstance(value, float):
        number = value
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    if number is not None and number.is_integer():
        return int(number)
    raise ConfigError(
        f"{key} is {value!r}; Railway's service settings take a whole number here",
        location=where() if callable(where) else None,
        hint=f"write {key} as a whole number ({'seconds' if key.endswith(('Timeout', 'Seconds')) else 'a count'})",
    )


def read_repo_config(path: Path, root: Path | None = None, *, strict: bool = False) -> RepoConfig:
    """Parse and validate one file; an invalid file is a configuration error carrying its file:line:column lines."""
    from kars_actions.railway_config.config import SchemaChecker, validate_file
    from kars_actions.railway_config.findings import display_path

    checked = validate_file(path, checker=SchemaChecker(), strict=strict, root=root)
    if not checked.ok:
        first = checked.errors[0]
        lines = [f"{first.message} (at {first.path})"] + [
            f"{e.where(checked.path)}: {e.message} (at {e.path})" for e in checked.errors[1:]
        ]
        raise ConfigError(
            "\n".join(lines),
            location=Location(checked.path, first.line, first.column),
            hint=f"fix {checked.path} first (`kars-actions validate {checked.path}` explains each problem)",
        )
    text = path.read_bytes().decode("utf-8")
    if path.suffix.lower() == ".toml":
        import tomllib

        data: Any = tomllib.loads(text)
    else:
        data = json.loads(text)
    return RepoConfig(path, display_path(path), data if isinstance(data, dict) else {}, text)


@dataclass(frozen=True)
class ServiceFiles:
    """A service of the repository and the railway.json / railway.toml that holds its settings."""

    label: str  # the kars.yml key
    railway_service: str  # the Railway name or id
    path: Path | None  # None: the repository has no file for it, kars does not manage its settings


def iac_file(root: Path) -> str | None:
    """The repository's Railway IaC file, if it has one: then `railway config apply` owns the settings."""
    for name in IAC_FILES:
        if (root / name).is_file():
            return name
    return None


# --- Railway's side --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ManagedService:
    label: str
    name: str  # Railway's name
    id: str
    config: RepoConfig | None


@dataclass(frozen=True)
class SettingsScope:
    """The project, the environments and the services one plan covers, resolved to Railway ids."""

    project_id: str
    project_name: str
    environments: tuple[tuple[str, str], ...]  # (id, name)
    services: tuple[ManagedService, ...]







@dataclass(frozen=True)
class LiveEnvironment:
    """One environment's settings as Railway holds them now."""

    id: str
    name: str
    ephemeral: bool
    source: str | None
    config: Mapping[str, Any]
    etag: str
    managed: dict[str, list[str]]  # what kars applied last: service id -> ["deploy.startCommand", ...]
    iac_applied: bool  # Railway's IaC has committed to this environment

    def service(self, service_id: str) -> Mapping[str, Any]:
        services = self.config.get("services") or {}
        entry = services.get(service_id) if isinstance(services, Mapping) else None
        return entry if isinstance(entry, Mapping) else {}




def live_environment(env: Mapping[str, Any], patches: list[Mapping[str, Any]]) -> LiveEnvironment:
    """An environment as Railway answered it, with what kars and Railway's IaC committed last (newest first)."""
    config = env.get("config")
    if isinstance(config, str):  # a JSON scalar may come back serialised
        config = json.loads(config)
    patches = sorted(patches, key=lambda p: str(p.get("createdAt") or ""), reverse=True)
    managed: dict[str, list[str]] = {}
    for patch in patches:
        found = _MANAGED_RE.search(str(patch.get("message") or ""))
        if found:
            try:
                record = json.loads(found.group(1))
            except ValueError:
                continue
            if isinstance(record, dict):
                managed = {str(k): [str(x) for x in v] for k, v in record.items() if isinstance(v, list)}
            break
    iac = any(str(p.get("message") or "").strip() == IAC_APPLY_MESSAGE for p in patches)
    source = env.get("sourceEnvironment") or {}
    return LiveEnvironment(
        id=str(env["id"]),
        name=str(env["name"]),
        ephemeral=bool(env.get("isEphemeral")),
        source=str(source["name"]) if isinstance(source, Mapping) and source.get("name") else None,
        config=config if isinstance(config, Mapping) else {},
        etag=str(env.get("configEtag") or ""),
        managed=managed,
        iac_applied=iac,
    )


# --- The plan --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldChange:
    """One setting: what Railway holds (``live``; None when unset) and what the repository says (``repo``)."""

    field: str  # "deploy.startCommand"
    live: Any
    repo: Any
    removed: bool = False  # kars applied it earlier; the file no longer sets it

    @property
    def section(self) -> str:
        return self.field.split(".", 1)[0]

    @property
    def key(self) -> str:
        return self.field.split(".", 1)[1]

    def to_json(self) -> dict[str, Any]:
        return {"field": self.field, "live": shown_value(self, self.live), "repo": shown_value(self, self.repo)}


def shown_value(change: FieldChange, value: Any) -> Any:
    return "***" if (change.section, change.key) in SECRET_KEYS and value is not None else value


@dataclass
class ServicePlan:
    label: str
    name: str
    id: str
    file: str | None
    desired: Settings = field(default_factory=dict)
    changes: list[FieldChange] = field(default_factory=list)
    removed: list[FieldChange] = field(default_factory=list)
    in_sync: int = 0
    config_file: str | None = None  # a leftover railwayConfigFile on the service

    @property
    def managed_keys(self) -> list[str]:
        return sorted(f"{s}.{k}" for s, values in self.desired.items() for k in values)

    def to_json(self) -> dict[str, Any]:
        return {
            "service": self.label,
            "railway_service": self.name,
            "service_id": self.id,
            "file": self.file,
            "changes": [c.to_json() for c in self.changes],
            "removed": [c.to_json() for c in self.removed],
            "in_sync": self.in_sync,
            "config_file": self.config_file,
        }


@dataclass
class EnvironmentPlan:
    id: str
    name: str
    etag: str
    ephemeral: bool
    services: list[ServicePlan]
    managed_before: dict[str, list[str]]
    iac_applied: bool

    @property
    def drift(self) -> bool:
        return any(s.changes for s in self.services)

    def patch(self, *, prune: bool = False) -> dict[str, Any]:
        """The narrow EnvironmentConfig patch: only changed keys of the services kars manages (null resets)."""
        services: dict[str, Any] = {}
        for service in self.services:
            entry: dict[str, Any] = {}
            for change in service.changes:
                entry.setdefault(change.section, {})[change.key] = exact_patch(change.live, change.repo)
            if prune:
                for change in service.removed:
                    entry.setdefault(change.section, {})[change.key] = None
            if entry:
                services[service.id] = entry
        return {"services": services} if services else {}

    def managed_after(self, *, prune: bool) -> dict[str, list[str]]:
        """What kars manages once applied: the keys the files set now, plus removed keys not pruned (so they stay
        reported until someone decides)."""
        record: dict[str, list[str]] = {}
        for service in self.services:
            keys = set(service.managed_keys)
            if not prune:
                keys.update(c.field for c in service.removed)
            if keys:
                record[service.id] = sorted(keys)
        return record

    def to_json(self) -> dict[str, Any]:
        return {
            "environment": self.name,
            "environment_id": self.id,
            "config_etag": self.etag,
            "ephemeral": self.ephemeral,
            "drift": self.drift,
            "iac_applied": self.iac_applied,
            "services": [s.to_json() for s in self.services],
        }


@dataclass
class SettingsPlan:
    project_id: str
    project_name: str
    environments: list[EnvironmentPlan]
    unmanaged: list[str] = field(default_factory=list)  # services with no railway.json: not kars's to keep
    iac_file: str | None = None

    @property
    def drift(self) -> bool:
        return any(e.drift for e in self.environments)

    @property
    def removed(self) -> list[tuple[str, str, FieldChange]]:
        return [(e.name, s.label, c) for e in self.environments for s in e.services for c in s.removed]

    @property
    def config_files(self) -> list[tuple[str, str, str]]:
        return [(e.name, s.label, s.config_file) for e in self.environments for s in e.services if s.config_file]

    @property
    def iac_owner(self) -> str | None:
        """Why Railway's IaC owns these settings, if it does (then kars must not write them)."""
        if self.iac_file:
            return f"the repository has {self.iac_file}"
        owned = [e.name for e in self.environments if e.iac_applied]
        if owned:
            return f"`railway config apply` has committed to {', '.join(owned)}"
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "project": self.project_name,
            "drift": self.drift,
            "iac_owner": self.iac_owner,
            "unmanaged": self.unmanaged,
            "environments": [e.to_json() for e in self.environments],
        }


def exact_patch(live: Any, desired: Any) -> Any:
    """What to send so a deep merge turns ``live`` into ``desired``: entries of a live object that the desired
    object lacks are removed with null (multiRegionConfig, limitOverride, nixpacksPlan)."""
    if isinstance(desired, Mapping) and isinstance(live, Mapping):
        out: dict[str, Any] = {k: exact_patch(live.get(k), v) for k, v in desired.items()}
        out.update({k: None for k in live if k not in desired})
        return out
    return desired


def same(live: Any, desired: Any) -> bool:
    """Equal as Railway means it: numbers by value (60 == 60.0), objects key by key, lists in order."""
    if isinstance(desired, Mapping) and isinstance(live, Mapping):
        return set(live) == set(desired) and all(same(live[k], desired[k]) for k in desired)
    if isinstance(desired, list) and isinstance(live, list):
        return len(live) == len(desired) and all(same(a, b) for a, b in zip(live, desired, strict=True))
    if isinstance(desired, bool) or isinstance(live, bool):
        return live is desired
    if isinstance(desired, int | float) and isinstance(live, int | float):
        return float(live) == float(desired)
    return bool(live == desired)


def live_value(settings: Mapping[str, Any], section: str, key: str) -> Any:
    values = settings.get(section)
    if not isinstance(values, Mapping):
        return None
    return normalise(section, key, values.get(key)) if values.get(key) is not None else None


def plan_service(service: ManagedService, live: LiveEnvironment) -> ServicePlan:
    """Compare only the keys the file sets; report keys kars applied before that the file no longer sets."""
    settings = live.service(service.id)
    config_file = settings.get("configFile")
    plan = ServicePlan(
        service.label,
        service.name,
        service.id,
        service.config.shown if service.config else None,
        config_file=str(config_file) if config_file else None,
    )
    if service.config is None:
        return plan
    plan.desired = service.config.resolve(live.name, ephemeral=live.ephemeral, source=live.source)
    for section, values in plan.desired.items():
        for key, wanted in values.items():
            current = live_value(settings, section, key)
            if same(current, wanted):
                plan.in_sync += 1
            else:
                plan.changes.append(FieldChange(f"{section}.{key}", current, wanted))
    managed_now = set(plan.managed_keys)
    for name in live.managed.get(service.id, []):
        if name in managed_now or "." not in name:
            continue
        section, key = name.split(".", 1)
        current = live_value(settings, section, key)
        if current is not None:
            plan.removed.append(FieldChange(name, current, None, removed=True))
    return plan




# --- Apply -------------------------------------------------------------------------------------------------------


@dataclass
class EnvironmentApply:
    environment: str
    patch: dict[str, Any]
    message: str
    committed: bool = False
    cleared_config_files: list[str] = field(default_factory=list)
    patch_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "committed": self.committed,
            "patch_id": self.patch_id,
            "message": self.message,
            "patch": redact_patch(self.patch),
            "cleared_config_files": self.cleared_config_files,
        }


def redact_patch(patch: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(json.dumps(patch))
    for entry in (out.get("services") or {}).values():
        deploy = entry.get("deploy") if isinstance(entry, dict) else None
        if isinstance(deploy, dict) and deploy.get("registryCredentials") is not None:
            deploy["registryCredentials"] = "***"
    return out


@dataclass(frozen=True)
class ApplyOptions:
    commit: str | None = None  # the repository commit the settings come from, named in the commit message
    repository: str | None = None
    dry_run: bool = False
    prune: bool = False
    clear_config_file: bool = False


def commit_message(env: EnvironmentPlan, options: ApplyOptions) -> str:
    """Names the repository commit, and records what kars manages (read back by the next plan)."""
    source = f"{options.repository}@{options.commit[:12]}" if options.repository and options.commit else None
    source = source or (options.commit[:12] if options.commit else "the working tree")
    record = json.dumps(env.managed_after(prune=options.prune), separators=(",", ":"), sort_keys=True)
    return f"kars-actions: railway.json settings from {source} {_MANAGED_MARK}{record}"










