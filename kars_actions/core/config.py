"""kars.yml: find it, parse it with positions, validate it against schemas/kars.schema.json, return typed config."""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from kars_actions.core.errors import ConfigError, Location, UsageError
from kars_actions.core.schema_fast import is_valid

SEARCH_ORDER = (".github/kars.yml", ".github/kars.yaml", "kars.yml", "kars.yaml")
# A kars.yml is a few kilobytes. Past this it is a mistake or an attack: parsing it would take seconds to minutes.
MAX_CONFIG_BYTES = 1024 * 1024
# Nodes built per byte of the file, beyond which anchors and aliases are expanding it (a "billion laughs").
ALIAS_BUDGET_PER_BYTE = 2
ALIAS_BUDGET_FLOOR = 2000
MAX_DEPTH = 64
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
    # As kars.yml writes them: ``${NAME}`` is read from the environment only when a request is made
    # (:meth:`request_headers`), so the commands that make none need no secret.
    headers: dict[str, str] = field(default_factory=dict)
    stable_passes: int | None = None

    def request_headers(self, where: str = "a health check") -> dict[str, str]:
        """The headers to send, each ``${NAME}`` read from the environment (the values become secrets); a
        variable not set is a configuration error naming ``where`` and the variable."""
        return {name: _expand_env(value, f"{where}: header {name}") for name, value in self.headers.items()}

    @property
    def variables(self) -> list[str]:
        """The environment variables its headers read (``${NAME}``), in order of appearance."""
        return list(dict.fromkeys(m.group(1) for value in self.headers.values() for m in _ENV_REF.finditer(value)))


@dataclass(frozen=True)
class ServiceConfig:
    name: str
    railway_service: str
    directory: str = "."
    railway_config: str | None = None  # the path of its railway.json / railway.toml
    railway_config_mode: str | None = None  # apply | check | off: how a release keeps that file in force
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
    transient: bool | None = None  # None: decided by the name (PR environments are transient)
    requires: str | None = None  # a release here needs the commit (or its tree) proven in this environment first


PREVIEW_MODES = ("railway", "create")


@dataclass(frozen=True)
class PreviewsConfig:
    """kars.yml ``previews:``: follow Railway's own PR environments, or create ``pr-<n>`` from ``base`` when the
    project has none."""

    mode: str = "railway"  # railway | create
    base: str | None = None  # the environment a created preview is forked from (None: the project's base)


@dataclass(frozen=True)
class ReleaseConfig:
    tag_prefix: str = "v"
    bump: str = "auto"
    initial_version: str = "0.1.0"
    move_major_tag: bool = True
    skip_used_up_versions: bool = True  # a version used up by an immutable release: release the next patch


@dataclass(frozen=True)
class AlertsConfig:
    slack_webhook_env: str | None = None
    discord_webhook_env: str | None = None
    webhook_url_env: str | None = None
    webhook_secret_env: str | None = None
    on: list[str] = field(default_factory=lambda: ["failure", "rollback", "recovery"])


@dataclass(frozen=True)
class WatchConfig:
    """kars.yml ``watch:``; None fields take the watch's own defaults."""

    duration: float | None = None
    interval: float | None = None
    health_interval: float | None = None
    min_requests: int | None = None
    error_ratio: float | None = None
    error_ratio_multiple: float | None = None
    p95_multiple: float | None = None
    p99_multiple: float | None = None
    latency_floor_ms: float | None = None
    memory_ceiling_gb: float | None = None
    memory_limit_ratio: float | None = None  # of Railway's MEMORY_LIMIT_GB; None: the default (0.9), 0: off
    on_inconclusive: str = "publish"
    after_release: float | None = None  # the long watch after the release, in its own job (default 30m)


@dataclass(frozen=True)
class BackupConfig:
    """kars.yml ``backup:``: the database service whose volume is backed up before a release's first deploy."""

    service: str
    when: str = "always"  # always | migrations | never
    paths: list[str] = field(default_factory=list)
    timeout: float = 600.0
    dump: bool = False
    dump_dir: str | None = None


_DURATION = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(s|m|h)?\s*$")


def parse_duration(value: str | float | int, what: str = "duration") -> float:
    """Seconds from ``90``, ``"90s"``, ``"10m"`` or ``"1h"``."""
    if isinstance(value, bool):
        raise ConfigError(f"{what} must be a number of seconds or a duration like 10m, not {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ConfigError(f"{what} must not be negative, got {value:g}")
        return float(value)
    match = _DURATION.match(str(value))
    if not match:
        raise ConfigError(
            f"{what} must be a duration like 90, 90s, 10m or 1h, not {value!r}",
            hint="seconds by default; s, m and h are the units",
        )
    return float(match.group(1)) * {"s": 1, "m": 60, "h": 3600}[match.group(2) or "s"]


@dataclass(frozen=True)
class Config:
    root: Path
    path: Path | None = None
    project: str | None = None
    services: dict[str, ServiceConfig] = field(default_factory=dict)
    environments: dict[str, EnvironmentConfig] = field(default_factory=dict)
    release: ReleaseConfig = field(default_factory=ReleaseConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    railway_config: str | None = None  # apply | check | off for every service; None: check (see the README)
    validate: str = "strict"  # strict | lenient: the rules a release validates railway.json with
    watch: WatchConfig = field(default_factory=WatchConfig)
    backup: BackupConfig | None = None
    previews: PreviewsConfig = field(default_factory=PreviewsConfig)

    def health_variables(self, services: Sequence[str] | None = None) -> dict[str, list[str]]:
        """The environment variables the health-check headers of ``services`` (None: every service) read, each with
        the services whose checks read it."""
        found: dict[str, list[str]] = {}
        for service in self.services.values():
            if services is not None and service.name not in services:
                continue
            for check in service.health:
                for name in check.variables:
                    found.setdefault(name, [])
                    if service.name not in found[name]:
                        found[name].append(service.name)
        return found

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
    """The file as text: at most MAX_CONFIG_BYTES of UTF-8 without NUL bytes, else a located ConfigError."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror}", location=Location(str(path))) from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"the file is larger than {MAX_CONFIG_BYTES // 1024} KiB; a kars.yml is a few kilobytes",
            location=Location(str(path)),
            hint="check that --config / KARS_CONFIG names the right file",
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line, col = _line_col(data[: error.start].decode("utf-8", errors="replace"))
        raise ConfigError(
            f"{path} is not UTF-8 text (byte {error.start})",
            location=Location(str(path), line, col),
            hint="save it as UTF-8",
        ) from None
    nul = text.find("\x00")
    if nul >= 0:
        line, col = _line_col(text[:nul])
        raise ConfigError(
            "kars.yml contains a NUL byte", location=Location(str(path), line, col), hint="save it as plain text"
        )
    return text


def _line_col(before: str) -> tuple[int, int]:
    """1-based line and column just after ``before``."""
    return before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1


def parse_config(text: str, path: Path, root: Path) -> Config:
    data, positions = parse_yaml_with_positions(text, str(path))
    if data is None:
        data = {}
    _validate(data, positions, str(path))
    _check_meaning(data, positions, str(path))
    return _build(data, path, root)


def tag_prefix_problem(prefix: str) -> str | None:
    """Why ``prefix`` cannot start a git tag name (git check-ref-format's rules, and no way out of refs/tags/)."""
    if len(prefix) > 64:
        return "is longer than 64 characters"
    if any(ord(c) < 0x21 or ord(c) == 0x7F or c in "~^:?*[\\" for c in prefix):
        return "contains a space, a control character or one of ~ ^ : ? * [ \\"
    if ".." in prefix or "@{" in prefix or "//" in prefix:
        return "contains '..', '@{' or '//'"
    if prefix.startswith("/") or any(part.startswith(".") for part in prefix.split("/")):
        return "starts with '/' or has a part starting with '.'"
    if any(part.endswith(".lock") for part in prefix.split("/")[:-1]):
        return "has a folder ending in .lock"
    return None


def _check_meaning(data: Any, positions: dict[Path_, tuple[int, int]], filename: str) -> None:
    """What the schema cannot say: a tag prefix git would refuse (or that escapes refs/tags/), header lines."""
    release = data.get("release") if isinstance(data, dict) else None
    prefix = release.get("tag_prefix") if isinstance(release, dict) else None
    if isinstance(prefix, str):
        problem = tag_prefix_problem(prefix)
        if problem:
            line, col = positions.get(("release", "tag_prefix"), (1, 1))
            raise ConfigError(
                f"release.tag_prefix {prefix!r} {problem}",
                location=Location(filename, line, col),
                hint="use a plain prefix such as v or release/v",
            )
    services = data.get("services") if isinstance(data, dict) else None
    for name, service in (services or {}).items() if isinstance(services, dict) else ():
        checks = service.get("health") if isinstance(service, dict) else None
        for index, check in enumerate(checks if isinstance(checks, list) else [checks]):
            headers = check.get("headers") if isinstance(check, dict) else None
            for header, value in (headers or {}).items() if isinstance(headers, dict) else ():
                if any(c in f"{header}{value}" for c in "\r\n"):
                    path: Path_ = ("services", name, "health", *([index] if isinstance(checks, list) else []))
                    line, col = positions.get((*path, "headers", header), (1, 1))
                    raise ConfigError(
                        f"{_dotted((*path, 'headers', header))}: a header is one line; this one has a line break",
                        location=Location(filename, line, col),
                        hint="remove the line break (a folded YAML block scalar adds one at the end: use |-)",
                    )
    _check_urls(data, positions, filename)


def _check_urls(data: Any, positions: dict[Path_, tuple[int, int]], filename: str) -> None:
    """Every URL kars.yml gives, refused here when malformed (a bad percent-escape, an invalid host) rather than
    polled later as a DNS failure."""
    from kars_actions.core.urls import check_url

    found: list[tuple[Path_, Any]] = []
    services = data.get("services") if isinstance(data, dict) else None
    for name, service in (services or {}).items() if isinstance(services, dict) else ():
        if not isinstance(service, dict):
            continue
        found.append((("services", name, "url"), service.get("url")))
        checks = service.get("health")
        for index, check in enumerate(checks if isinstance(checks, list) else [checks]):
            if isinstance(check, dict):
                where: Path_ = ("services", name, "health", *([index] if isinstance(checks, list) else []), "url")
                found.append((where, check.get("url")))
    environments = data.get("environments") if isinstance(data, dict) else None
    for name, environment in (environments or {}).items() if isinstance(environments, dict) else ():
        if isinstance(environment, dict):
            found.append((("environments", name, "url"), environment.get("url")))
    for path, url in found:
        if not isinstance(url, str):
            continue
        try:
            check_url(url, _dotted(path))
        except UsageError as error:
            line, col = positions.get(path, (1, 1))
            raise ConfigError(error.message, location=Location(filename, line, col), hint=error.hint) from None


# --- YAML with positions -------------------------------------------------------------------------------------


def parse_yaml_with_positions(text: str, filename: str) -> tuple[Any, dict[Path_, tuple[int, int]]]:
    """Parse YAML, remembering where every key and value starts; duplicate keys are errors, not silently dropped."""
    import yaml

    positions: dict[Path_, tuple[int, int]] = {}
    loader = _depth_limited_loader()(text)
    budget = _Budget(max(ALIAS_BUDGET_FLOOR, ALIAS_BUDGET_PER_BYTE * len(text)))
    try:
        node = loader.get_single_node()
        if node is None:
            return None, positions
        value = _construct(loader, node, (), positions, filename, budget)
    except (_TooDeep, RecursionError):
        reached = loader.get_mark()
        raise ConfigError(
            f"nested more than {MAX_DEPTH} levels deep",
            location=Location(filename, reached.line + 1, reached.column + 1),
            hint="kars.yml needs a handful of levels; check the brackets and indentation",
        ) from None
    except yaml.reader.ReaderError as error:
        at_line, at_col = _line_col(text[: error.position])
        code = ord(error.character) if isinstance(error.character, str) else int(error.character)
        raise ConfigError(
            f"invalid YAML: character {code:#x} is not allowed",
            location=Location(filename, at_line, at_col),
            hint="remove the control character",
        ) from None
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


class _TooDeep(Exception):
    """The scanner opened a collection nested deeper than any kars.yml may be."""


@lru_cache(maxsize=1)
def _depth_limited_loader() -> type:
    """PyYAML's safe loader, stopping at the first collection opened past MAX_DEPTH.

    The scanner keeps a possible key per open bracket and looks at all of them for every token, so ``[[[[…`` took
    time growing with the square of its depth (1.3 s to refuse 1,500 brackets) before the depth check on the
    built data could say anything. The ``MAX_DEPTH + 1``-th collection holds a value at a path deeper than
    MAX_DEPTH, which that check refuses; the scanner now refuses it where it opens. Block collections nested
    without a new indentation are not counted here: the check on the built data still finds those.
    """
    import yaml

    limit = MAX_DEPTH + 1

    class Loader(yaml.SafeLoader):
        def fetch_flow_collection_start(self, TokenClass: Any) -> None:
            if self.flow_level + len(self.indents) >= limit:
                raise _TooDeep
            super().fetch_flow_collection_start(TokenClass)

        def add_indent(self, column: int) -> bool:
            added = bool(super().add_indent(column))
            if added and self.flow_level + len(self.indents) > limit:
                raise _TooDeep
            return added

    return Loader


class _Budget:
    """How many more nodes may be built: anchors and aliases may reuse a part, not multiply the file."""

    def __init__(self, nodes: int) -> None:
        self.left = nodes


def _construct(
    loader: Any,
    node: Any,
    path: Path_,
    positions: dict[Path_, tuple[int, int]],
    filename: str,
    budget: _Budget,
) -> Any:
    import yaml

    where = Location(filename, node.start_mark.line + 1, node.start_mark.column + 1)
    budget.left -= 1
    if budget.left < 0:
        raise ConfigError(
            "anchors and aliases expand kars.yml far beyond its size",
            location=where,
            hint="write the repeated part out, or use fewer nested aliases",
        )
    if len(path) > MAX_DEPTH:
        raise ConfigError(
            f"nested more than {MAX_DEPTH} levels deep",
            location=where,
            hint="kars.yml needs a handful of levels; check the brackets and indentation",
        )
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
            result[key] = _construct(loader, value_node, (*path, key), positions, filename, budget)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_construct(loader, item, (*path, i), positions, filename, budget) for i, item in enumerate(node.value)]
    value = loader.construct_object(node, deep=True)
    _check_scalar(value, where)
    return value


def _check_scalar(value: Any, where: Location) -> None:
    """Values a later step could not use or print: non-finite numbers, NUL and lone surrogates in text."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(
            f"{value} is not a usable number here", location=where, hint="write a finite number, e.g. 5 or 0.5"
        )
    if isinstance(value, str):
        if "\x00" in value:
            raise ConfigError("text contains a NUL character (\\0)", location=where, hint="remove it")
        if any("\ud800" <= c <= "\udfff" for c in value):
            raise ConfigError(
                "text contains a lone surrogate (\\ud800-\\udfff), which is not a character",
                location=where,
                hint="write the character itself, or a \\U escape of a real code point",
            )


def _dotted(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _validate(data: Any, positions: dict[Path_, tuple[int, int]], filename: str) -> None:
    if is_valid(data, kars_schema()) is True:
        return  # the common case: no jsonschema import (~0.1 s of every command's start); it explains errors
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


def _expand_env(value: str, where: str) -> str:
    """``${NAME}`` in header values reads the environment; the result is a secret."""
    from kars_actions.core import gha

    def repl(match: re.Match[str]) -> str:
        name = match.group(1)
        # Empty counts as not set: GitHub passes a secret that does not exist as an empty string, and a header
        # built from nothing ("Bearer ") is refused by the app or by the HTTP client, which would fail the
        # release's health checks after it went live instead of stopping it before any write.
        if not os.environ.get(name):
            state = "empty" if name in os.environ else "not set"
            raise ConfigError(
                f"kars.yml refers to ${{{name}}} ({where}), which is {state} in the environment",
                hint=f"export {name} (in Actions: pass it to the step through env: from a secret of that name — "
                "a secret that does not exist reads as empty; `kars-actions init` writes the env: and names the "
                "secret to set)",
            )
        return os.environ[name]

    expanded = _ENV_REF.sub(repl, value)
    gha.SECRETS.register(expanded)
    if any(c in expanded for c in "\r\n\x00"):
        # A line break would end the header and start another one: request smuggling, or a broken request.
        raise ConfigError(
            "a health-check header value contains a line break or NUL (after reading the environment)",
            hint="headers are one line: check the value and the variables it reads",
        )
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
        headers={str(k): str(v) for k, v in (raw.get("headers") or {}).items()},
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
        config_path, config_mode = _railway_config(raw.get("railway_config"))
        services[name] = ServiceConfig(
            name=name,
            railway_service=raw.get("railway_service", name),
            directory=raw.get("directory", "."),
            railway_config=config_path,
            railway_config_mode=config_mode,
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
            transient=(raw or {}).get("transient"),
            requires=(raw or {}).get("requires"),
        )
        for name, raw in (data.get("environments") or {}).items()
    }
    release_raw = data.get("release") or {}
    alerts_raw = data.get("alerts") or {}
    watch_raw = data.get("watch") or {}
    backup_raw = data.get("backup")
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
            skip_used_up_versions=bool(release_raw.get("skip_used_up_versions", True)),
        ),
        alerts=AlertsConfig(
            slack_webhook_env=alerts_raw.get("slack_webhook_env"),
            discord_webhook_env=alerts_raw.get("discord_webhook_env"),
            webhook_url_env=alerts_raw.get("webhook_url_env"),
            webhook_secret_env=alerts_raw.get("webhook_secret_env"),
            on=list(alerts_raw.get("on") or ["failure", "rollback", "recovery"]),
        ),
        railway_config=_mode(data.get("railway_config")),
        validate=str(data.get("validate", "strict")),
        watch=_watch(watch_raw),
        backup=_backup(backup_raw) if backup_raw else None,
        previews=_previews(data.get("previews")),
    )


def _previews(raw: Any) -> PreviewsConfig:
    """``previews: create`` (or ``railway``), or ``{mode, base}``."""
    if raw is None:
        return PreviewsConfig()
    if isinstance(raw, str):
        return PreviewsConfig(mode=raw)
    return PreviewsConfig(mode=str(raw.get("mode", "railway")), base=raw.get("base"))


def _optional_duration(raw: dict[str, Any], key: str, what: str) -> float | None:
    return parse_duration(raw[key], what) if raw.get(key) is not None else None


def _watch(raw: dict[str, Any]) -> WatchConfig:
    return WatchConfig(
        duration=_optional_duration(raw, "duration", "watch.duration"),
        interval=_optional_duration(raw, "interval", "watch.interval"),
        health_interval=_optional_duration(raw, "health_interval", "watch.health_interval"),
        min_requests=raw.get("min_requests"),
        error_ratio=raw.get("error_ratio"),
        error_ratio_multiple=raw.get("error_ratio_multiple"),
        p95_multiple=raw.get("p95_multiple"),
        p99_multiple=raw.get("p99_multiple"),
        latency_floor_ms=raw.get("latency_floor_ms"),
        memory_ceiling_gb=raw.get("memory_ceiling_gb"),
        memory_limit_ratio=raw.get("memory_limit_ratio"),
        on_inconclusive=raw.get("on_inconclusive", "publish"),
        after_release=_optional_duration(raw, "after_release", "watch.after_release"),
    )


def _backup(raw: dict[str, Any]) -> BackupConfig:
    return BackupConfig(
        service=str(raw["service"]),
        when=raw.get("when", "always"),
        paths=list(raw.get("paths") or []),
        timeout=_optional_duration(raw, "timeout", "backup.timeout") or 600.0,
        dump=bool(raw.get("dump", False)),
        dump_dir=raw.get("dump_dir"),
    )


RAILWAY_CONFIG_MODES = ("apply", "check", "off")


def _mode(raw: Any) -> str | None:
    """YAML 1.1 reads a bare ``off`` as false."""
    return "off" if raw is False else (None if raw is None else str(raw))


def _railway_config(raw: Any) -> tuple[str | None, str | None]:
    """A service's ``railway_config``: a file path, a mode (apply | check | off), or ``{file, mode}``."""
    if isinstance(raw, dict):
        return raw.get("file"), _mode(raw.get("mode"))
    if raw is False or raw in RAILWAY_CONFIG_MODES:
        return None, _mode(raw)
    return raw, None
