"""kars.yml: find it, parse it with positions, validate it against schemas/kars.schema.json, return typed config."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from kars_actions.core.errors import ConfigError, Location

SEARCH_ORDER = (".github/kars.yml", ".github/kars.yaml", "kars.yml", "kars.yaml")
DEFAULT_TEST_TIMEOUT = 900.0
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class HealthCheckConfig:
    url: str | None = None
    path: str | None = None
    port: int | None = None
    method: str = "GET"
    interval: float | None = None
    timeout: float | None = None
    retries: int | None = None
    deadline: float | None = None
    expect_status: list[str] = field(default_factory=lambda: ["200"])
    expect_json: dict[str, Any] = field(default_factory=dict)
    expect_body: str | None = None
    expect_body_regex: str | None = None
    expect_headers: dict[str, str] = field(default_factory=dict)
    max_response_time: float | None = None
    version_field: str | None = None
    version_header: str | None = None
    version_check: str = "auto"
    headers: dict[str, str] = field(default_factory=dict)
    stable_passes: int | None = None


@dataclass(frozen=True)
class ServiceConfig:
    name: str
    railway_service: str
    directory: str = "."
    railway_config: str | None = None
    test: str | None = None
    test_timeout: float = DEFAULT_TEST_TIMEOUT
    required_variables: list[str] = field(default_factory=list)
    url: str | None = None
    health: list[HealthCheckConfig] = field(default_factory=list)


@dataclass(frozen=True)
class EnvironmentConfig:
    name: str
    branch: str | None = None
    prerelease: str | None = None
    railway_environment: str = ""
    url: str | None = None


@dataclass(frozen=True)
class ReleaseConfig:
    tag_prefix: str = "v"
    bump: str = "auto"
    initial_version: str = "0.1.0"
    move_major_tag: bool = True


@dataclass(frozen=True)
class AlertsConfig:
    slack_webhook_env: str | None = None
    discord_webhook_env: str | None = None
    webhook_url_env: str | None = None
    webhook_secret_env: str | None = None
    on: list[str] = field(default_factory=lambda: ["failure", "rollback", "recovery"])


@dataclass(frozen=True)
class Config:
    root: Path
    path: Path | None = None
    project: str | None = None
    services: dict[str, ServiceConfig] = field(default_factory=dict)
    environments: dict[str, EnvironmentConfig] = field(default_factory=dict)
    release: ReleaseConfig = field(default_factory=ReleaseConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)

    def service(self, name: str) -> ServiceConfig:
        """A service by its kars.yml key or its Railway name; a clear error listing the known ones otherwise."""
        if name in self.services:
            return self.services[name]
        for service in self.services.values():
            if service.railway_service == name:
                return service
        known = ", ".join(self.services) or "none (no kars.yml services)"
        raise ConfigError(f"unknown service {name!r}; kars.yml defines: {known}", hint="check the name or kars.yml")

    def environment(self, name: str) -> EnvironmentConfig:
        """An environment by name; one kars.yml does not define maps to the Railway environment of that name."""
        if name in self.environments:
            return self.environments[name]
        if self.environments:
            for env in self.environments.values():
                if env.railway_environment == name:
                    return env
            known = ", ".join(self.environments)
            raise ConfigError(
                f"unknown environment {name!r}; kars.yml defines: {known}",
                location=Location(str(self.path)) if self.path else None,
                hint="add it under environments: in kars.yml, or pick one of those",
            )
        return EnvironmentConfig(name=name, railway_environment=name)

    def environment_for_branch(self, branch: str) -> EnvironmentConfig | None:
        for env in self.environments.values():
            if env.branch == branch:
                return env
        return None


@lru_cache(maxsize=1)
def kars_schema() -> dict[str, Any]:
    text = resources.files("kars_actions").joinpath("schemas/kars.schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def find_config(explicit: str | None = None, root: Path | None = None) -> Path | None:
    """``--config`` / ``KARS_CONFIG``, then .github/kars.yml, then kars.yml, relative to ``root``."""
    base = root or Path.cwd()
    chosen = explicit or os.environ.get("KARS_CONFIG")
    if chosen:
        path = Path(chosen)
        if not path.is_absolute() and not path.exists():
            path = base / path
        if not path.is_file():
            raise ConfigError(
                f"config file {chosen} does not exist" if not path.exists() else f"config path {chosen} is not a file",
                hint="pass the path of a kars.yml, or leave --config / KARS_CONFIG unset",
            )
        return path
    for name in SEARCH_ORDER:
        candidate = base / name
        if candidate.is_file():
            return candidate
    return None


def load_config(explicit: str | None = None, root: Path | None = None) -> Config:
    """Load kars.yml, or an empty default Config when there is none. Errors carry file:line:column."""
    path = find_config(explicit, root)
    if path is None:
        return Config(root=(root or Path.cwd()).resolve())
    # A config file in .github/ describes the repository one level up.
    config_root = path.parent.parent if path.parent.name == ".github" else path.parent
    if root is not None and explicit is None:
        config_root = root
    return parse_config(read_text(path), path, config_root.resolve())


def read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ConfigError(
            f"{path} is not UTF-8 text (byte {error.start})", location=Location(str(path)), hint="save it as UTF-8"
        ) from None


def parse_config(text: str, path: Path, root: Path) -> Config:
    data, positions = parse_yaml_with_positions(text, str(path))
    if data is None:
        data = {}
    _validate(data, positions, str(path))
    return _build(data, path, root)


# --- YAML with positions -------------------------------------------------------------------------------------


def parse_yaml_with_positions(text: str, filename: str) -> tuple[Any, dict[Path_, tuple[int, int]]]:
    """Parse YAML, remembering where every key and value starts; duplicate keys are errors, not silently dropped."""
    import yaml

    positions: dict[Path_, tuple[int, int]] = {}
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, positions
        value = _construct(loader, node, (), positions, filename)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        problem = error.problem or error.context or "invalid YAML"
        raise ConfigError(
            f"invalid YAML: {problem}", location=Location(filename, line, col), hint="fix the YAML syntax"
        ) from None
    except yaml.YAMLError as error:
        raise ConfigError(f"invalid YAML: {error}", location=Location(filename)) from None
    finally:
        loader.dispose()
    return value, positions


def _construct(loader: Any, node: Any, path: Path_, positions: dict[Path_, tuple[int, int]], filename: str) -> Any:
    import yaml

    positions[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            # Keys are taken as written: YAML 1.1 would turn `on:` into True and `3000:` into an int.
            if not isinstance(key_node, yaml.ScalarNode):
                raise ConfigError(
                    "mapping keys must be plain text",
                    location=Location(filename, key_node.start_mark.line + 1, key_node.start_mark.column + 1),
                )
            key = str(key_node.value)
            if key in seen:
                raise ConfigError(
                    f"duplicate key {key!r} (first at line {seen[key]}); YAML would silently keep only the last one",
                    location=Location(filename, key_node.start_mark.line + 1, key_node.start_mark.column + 1),
                    hint="remove or merge one of them",
                )
            seen[key] = key_node.start_mark.line + 1
            positions[(*path, "@key", key)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            result[key] = _construct(loader, value_node, (*path, key), positions, filename)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_construct(loader, item, (*path, i), positions, filename) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def _dotted(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _validate(data: Any, positions: dict[Path_, tuple[int, int]], filename: str) -> None:
    from jsonschema import Draft7Validator

    validator = Draft7Validator(kars_schema())
    problems: list[tuple[tuple[int, int], str]] = []
    for error in validator.iter_errors(data):
        # For "one of these shapes" the useful message is the deepest one: the branch that got furthest.
        while error.validator in ("oneOf", "anyOf") and error.context:
            error = max(error.context, key=lambda e: len(e.absolute_path))
        path: Path_ = tuple(error.absolute_path)
        where = positions.get(path, (1, 1))
        message = error.message
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            allowed = set(error.schema.get("properties", {}))
            for extra in (k for k in error.instance if k not in allowed):
                key_pos = positions.get((*path, "@key", extra), where)
                hint = _suggest(extra, sorted(allowed))
                problems.append((key_pos, f"{_dotted((*path, extra))}: unknown key {extra!r}{hint}"))
            continue
        if error.validator == "propertyNames":
            key_pos = positions.get((*path, "@key", str(error.instance)), where)
            problems.append((key_pos, f"{_dotted(path)}: invalid name {error.instance!r} (letters, digits, _ . -)"))
            continue
        problems.append((where, f"{_dotted(path)}: {message}"))
    if problems:
        problems.sort()
        (line, col), first = problems[0]
        lines = [first] + [f"{filename}:{ln}:{cl}: {msg}" for (ln, cl), msg in problems[1:]]
        raise ConfigError(
            "\n".join(lines),
            location=Location(filename, line, col),
            hint="see the kars.yml reference in the README; editors can validate with the $schema of kars.schema.json",
        )


def _suggest(word: str, options: list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if close:
        return f"; did you mean {close[0]!r}?"
    return f"; allowed: {', '.join(options)}" if options else ""


# --- typed result --------------------------------------------------------------------------------------------


def _expand_env(value: str) -> str:
    """``${NAME}`` in header values reads the environment; the result is a secret."""
    from kars_actions.core import gha

    def repl(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise ConfigError(
                f"kars.yml refers to ${{{name}}}, which is not set in the environment",
                hint=f"export {name} (in Actions: pass it through env: from a secret)",
            )
        return os.environ[name]

    expanded = _ENV_REF.sub(repl, value)
    gha.SECRETS.register(expanded)
    return expanded


def _status_list(value: Any) -> list[str]:
    if value is None:
        return ["200"]
    items = value if isinstance(value, list) else [value]
    return [str(v) for v in items]


def _health(raw: dict[str, Any]) -> HealthCheckConfig:
    return HealthCheckConfig(
        url=raw.get("url"),
        path=raw.get("path"),
        port=raw.get("port"),
        method=raw.get("method", "GET"),
        interval=raw.get("interval"),
        timeout=raw.get("timeout"),
        retries=raw.get("retries"),
        deadline=raw.get("deadline"),
        expect_status=_status_list(raw.get("expect_status")),
        expect_json=dict(raw.get("expect_json") or {}),
        expect_body=raw.get("expect_body"),
        expect_body_regex=raw.get("expect_body_regex"),
        expect_headers=dict(raw.get("expect_headers") or {}),
        max_response_time=raw.get("max_response_time"),
        version_field=raw.get("version_field"),
        version_header=raw.get("version_header"),
        version_check=str(raw.get("version_check", "auto")),
        headers={k: _expand_env(v) for k, v in (raw.get("headers") or {}).items()},
        stable_passes=raw.get("stable_passes"),
    )


def _build(data: dict[str, Any], path: Path, root: Path) -> Config:
    services: dict[str, ServiceConfig] = {}
    for name, raw in (data.get("services") or {}).items():
        raw = raw or {}
        health_raw = raw.get("health")
        checks = (
            []
            if health_raw is None
            else [_health(h) for h in (health_raw if isinstance(health_raw, list) else [health_raw])]
        )
        services[name] = ServiceConfig(
            name=name,
            railway_service=raw.get("railway_service", name),
            directory=raw.get("directory", "."),
            railway_config=raw.get("railway_config"),
            test=raw.get("test"),
            test_timeout=float(raw.get("test_timeout", DEFAULT_TEST_TIMEOUT)),
            required_variables=list(raw.get("required_variables") or []),
            url=raw.get("url"),
            health=checks,
        )
    environments = {
        name: EnvironmentConfig(
            name=name,
            branch=(raw or {}).get("branch"),
            prerelease=(raw or {}).get("prerelease"),
            railway_environment=(raw or {}).get("railway_environment", name),
            url=(raw or {}).get("url"),
        )
        for name, raw in (data.get("environments") or {}).items()
    }
    release_raw = data.get("release") or {}
    alerts_raw = data.get("alerts") or {}
    return Config(
        root=root,
        path=path,
        project=data.get("project"),
        services=services,
        environments=environments,
        release=ReleaseConfig(
            tag_prefix=release_raw.get("tag_prefix", "v"),
            bump=release_raw.get("bump", "auto"),
            initial_version=str(release_raw.get("initial_version", "0.1.0")).removeprefix("v"),
            move_major_tag=bool(release_raw.get("move_major_tag", True)),
        ),
        alerts=AlertsConfig(
            slack_webhook_env=alerts_raw.get("slack_webhook_env"),
            discord_webhook_env=alerts_raw.get("discord_webhook_env"),
            webhook_url_env=alerts_raw.get("webhook_url_env"),
            webhook_secret_env=alerts_raw.get("webhook_secret_env"),
            on=list(alerts_raw.get("on") or ["failure", "rollback", "recovery"]),
        ),
    )
