"""One way to find each service and its railway.json / railway.toml, for every command that needs them.

Which services: the ones named (``--service`` / the ``services`` input), else kars.yml's, else the repository's
folders that hold a railway config, else — when a token can read Railway — the project's services that deploy from a
GitHub repository. Where each one lives: what kars.yml says (``railway_config``, ``directory``), else the service's
Railway settings, else a folder named like the service, else the repository root. Railway builds a service from its
root directory and reads its config file there, unless the service names a config file path of its own (that path
does not follow the root directory). Every answer carries the source it came from, so each command can say it
("backend: backend/railway.json (Railway root directory /backend)").
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kars_actions.core.config import Config, HealthCheckConfig, ServiceConfig
from kars_actions.core.errors import ConfigError, Location

if TYPE_CHECKING:
    from kars_actions.core.timing import Deadline
    from kars_actions.railway.api import RailwayClient, ServiceInstanceInfo
    from kars_actions.railway.deploy import RailwayTarget

CONFIG_NAMES = ("railway.toml", "railway.json")  # Railway's order: the TOML file wins in one folder
# Folders that never hold a service of their own: dependencies, build output, tool caches.
_NOT_SERVICES = frozenset({"node_modules", "__pycache__", "venv", "dist", "build", "target", "vendor"})

# Where the list of services came from, as the commands say it.
LISTED_NAMED = "named"
LISTED_KARS = "kars.yml"
LISTED_FOLDERS = "the repository's folders holding a railway.json / railway.toml"


@dataclass(frozen=True)
class RailwaySettings:
    """What Railway says about where a service's code lives (None where it says nothing or is not asked)."""

    root_directory: str | None = None
    config_file: str | None = None
    healthcheck_path: str | None = None

    @classmethod
    def of(cls, info: ServiceInstanceInfo) -> RailwaySettings:
        return cls(info.root_directory, info.config_file, info.healthcheck_path)


@dataclass(frozen=True)
class FoundService:
    """A service's folder and railway config, and how they were found (said by every command that uses them)."""

    service: ServiceConfig
    how: str  # "kars.yml services.backend.railway_config", "Railway root directory /backend", "folder backend/", …
    source: str  # kars.yml | Railway | repository

    @property
    def name(self) -> str:
        return self.service.name

    @property
    def file(self) -> str | None:
        """The railway config, relative to the repository root (None: the service has none)."""
        return self.service.railway_config

    def describe(self) -> str:
        return f"{self.name}: {self.file or 'no railway.json or railway.toml'} ({self.how})"

    def to_json(self) -> dict[str, Any]:
        return {
            "service": self.name,
            "railway_service": self.service.railway_service,
            "directory": self.service.directory,
            "file": self.file,
            "source": self.source,
            "how": self.how,
            "said": self.describe(),
        }


@dataclass(frozen=True)
class FoundServices:
    """Every service a command works on, located, with kars.yml's configuration completed by what was found."""

    config: Config
    services: tuple[FoundService, ...]
    listed: str  # where the list of services came from (LISTED_* or "Railway project …")

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.services]

    def path(self, name: str) -> Path | None:
        found = next((s for s in self.services if s.name == name), None)
        return self.config.root / found.file if found is not None and found.file else None

    def lines(self) -> list[str]:
        return [s.describe() for s in self.services]

    def to_json(self) -> list[dict[str, Any]]:
        return [s.to_json() for s in self.services]


# --- Which services ---------------------------------------------------------------------------------------------


def config_in(folder: Path) -> Path | None:
    """The railway config Railway reads in ``folder``: railway.toml wins over railway.json."""
    return next((folder / name for name in CONFIG_NAMES if (folder / name).is_file()), None)


def repository_services(root: Path) -> list[str]:
    """The repository's immediate folders that hold a railway config, by name: one service each."""
    try:
        folders = sorted(p for p in root.iterdir() if p.is_dir())
    except OSError as error:
        raise ConfigError(f"cannot list {root}: {error.strerror}") from None
    return [
        p.name
        for p in folders
        if not p.name.startswith((".", "_")) and p.name not in _NOT_SERVICES and config_in(p) is not None
    ]


def list_services(config: Config, names: Sequence[str] = ()) -> tuple[list[str], str]:
    """The services named, else kars.yml's, else the folders holding a railway config; ``([], "")`` when none of
    these says (Railway may still: :func:`railway_services`)."""
    if names:
        chosen = [config.service(name).name if config.services else name for name in names]
        return list(dict.fromkeys(chosen)), LISTED_NAMED
    if config.services:
        return list(config.services), LISTED_KARS
    folders = repository_services(config.root)
    return (folders, LISTED_FOLDERS) if folders else ([], "")


def no_services_error(config: Config, *, railway_read: bool) -> ConfigError:
    looked = "kars.yml lists none" if config.path else "there is no kars.yml"
    railway = "Railway lists no service deployed from a GitHub repository" if railway_read else (
        "Railway was not read (no RAILWAY_TOKEN or RAILWAY_API_TOKEN)"
    )
    return ConfigError(
        f"which services? {looked}, no folder of {config.root} holds a railway.json or railway.toml, and {railway}",
        hint="pass --service NAME (the services input in a workflow), or list them under services: in kars.yml "
        "(see examples/kars-app/kars.yml)",
    )


# --- Where each one lives -----------------------------------------------------------------------------------------


def _relative(root: Path, path: Path) -> str:
    relative = path.relative_to(root).as_posix()
    return relative or "."


def _inside(root: Path, value: str, service: str, what: str) -> Path:
    path = (root / value.strip().lstrip("/")).resolve()
    if path != root and root not in path.parents:
        raise ConfigError(
            f"service {service!r}: its Railway {what} {value!r} points outside the repository",
            hint="fix the service's settings in Railway (Settings → Source)",
        )
    return path


def _says_where(entry: ServiceConfig | None) -> bool:
    """kars.yml says where the service lives when it names its railway config or a folder other than the root."""
    return entry is not None and (bool(entry.railway_config) or entry.directory.strip() not in ("", ".", "./"))


def _from_kars(config: Config, entry: ServiceConfig) -> FoundService:
    root = config.root.resolve()
    key = f"kars.yml services.{entry.name}"
    if entry.railway_config:
        path = root / entry.railway_config.lstrip("/")
        if not path.is_file():
            raise ConfigError(
                f"service {entry.name}: railway_config {entry.railway_config!r} does not exist (looked for {path})",
                location=Location(str(config.path)) if config.path else None,
                hint="fix the path in kars.yml (it is relative to the repository root)",
            )
        found = replace(entry, railway_config=_relative(root, path.resolve()))
        return FoundService(found, f"{key}.railway_config", "kars.yml")
    folder = (root / entry.directory.lstrip("/")).resolve()
    config_file = config_in(folder) if folder.is_dir() else None
    found = replace(entry, railway_config=_relative(root, config_file) if config_file else None)
    return FoundService(found, f"{key}.directory", "kars.yml")


def find_service(
    root: Path,
    name: str,
    settings: RailwaySettings | None,
    *,
    alone: bool,
    railway_name: str | None = None,
    entry: ServiceConfig | None = None,
) -> FoundService:
    """Where ``name``'s code and railway config are, when kars.yml does not say: Railway's config file path, then
    its root directory, then a folder named like the service, then the repository root (for the only service
    released, or one Railway or kars.yml knows, whose default folder is the root)."""
    root = root.resolve()
    if settings is not None and settings.config_file:
        path = _inside(root, settings.config_file, name, "config file")
        if not path.is_file():
            raise ConfigError(
                f"service {name!r}: Railway reads its config from {settings.config_file}, "
                "which is not in this checkout",
                hint="commit the file, or change the config file path in the service's Railway settings",
            )
        folder = _inside(root, settings.root_directory, name, "root directory") if settings.root_directory else root
        return _found(root, name, folder, path, settings, f"Railway config file {settings.config_file}", entry)
    if settings is not None and settings.root_directory:
        folder = _inside(root, settings.root_directory, name, "root directory")
        if not folder.is_dir():
            raise ConfigError(
                f"service {name!r}: its Railway root directory {settings.root_directory} is not in this checkout",
                hint="check the root directory in the service's Railway settings (Settings → Source)",
            )
        config = config_in(folder)
        if config is not None or not _by_name(root, name, railway_name):
            how = f"Railway root directory {settings.root_directory}"
            return _found(root, name, folder, config, settings, how, entry)
    for candidate in _by_name(root, name, railway_name):
        config = config_in(candidate)
        if config is not None:
            return _found(root, name, candidate, config, settings, f"folder {_relative(root, candidate)}/", entry)
    root_config = config_in(root)
    if root_config is not None and (alone or settings is not None or entry is not None):
        return _found(root, name, root, root_config, settings, "the repository root", entry)
    folders = _by_name(root, name, railway_name)
    folder = folders[0] if folders else root
    looked = "Railway's root directory, " if settings is not None else ""
    how = f"none in {looked}a folder named {name}/ or the repository root"
    return _found(root, name, folder, None, settings, how, entry)


def _by_name(root: Path, name: str, railway_name: str | None) -> list[Path]:
    names = [name] + ([railway_name] if railway_name and railway_name != name else [])
    return [root / n for n in names if (root / n).is_dir()]


def _found(
    root: Path,
    name: str,
    folder: Path,
    config: Path | None,
    settings: RailwaySettings | None,
    how: str,
    entry: ServiceConfig | None,
) -> FoundService:
    base = entry or ServiceConfig(name=name, railway_service=name)
    service = replace(
        base,
        directory=_relative(root, folder),
        railway_config=_relative(root, config) if config is not None else None,
    )
    health = settings.healthcheck_path if settings is not None else None
    if health and not service.health and not _names_health_path(root, service):
        # The path Railway itself checks, when neither kars.yml nor a config file in the checkout names one.
        service = replace(service, health=[HealthCheckConfig(path=health)])
    source = "Railway" if how.startswith("Railway") else "repository"
    return FoundService(service, how, source)


def _names_health_path(root: Path, service: ServiceConfig) -> bool:
    from kars_actions.health.targets import healthcheck_path

    try:
        return healthcheck_path(Config(root=root), service) is not None
    except ConfigError:
        return True  # an unreadable file: validation reports it with its line and column


def needs_railway(config: Config, names: Sequence[str]) -> list[str]:
    """The services whose place kars.yml does not say: Railway's settings, when readable, decide it."""
    return [name for name in names if not _says_where(config.services.get(name))]


def locate(
    config: Config,
    names: Sequence[str],
    settings: Mapping[str, RailwaySettings] | None = None,
    *,
    listed: str = LISTED_NAMED,
    railway_names: Mapping[str, str] | None = None,
) -> FoundServices:
    """Every service of ``names`` located (``settings``: what Railway says, by service; None: Railway not read),
    and ``config`` with an entry for each, folder and railway config filled in."""
    located = []
    for name in names:
        entry = config.services.get(name)
        if _says_where(entry):
            assert entry is not None
            located.append(_from_kars(config, entry))
            continue
        located.append(
            find_service(
                config.root,
                name,
                (settings or {}).get(name),
                alone=len(names) == 1,
                railway_name=(railway_names or {}).get(name),
                entry=entry,
            )
        )
    services = {**config.services, **{f.name: f.service for f in located}}
    return FoundServices(replace(config, services=services), tuple(located), listed)


def with_folders(config: Config) -> Config:
    """kars.yml with each of its services' folders filled in the one way, without asking Railway (for the test
    step, which runs each service's tests in its folder)."""
    return locate(config, list(config.services), listed=LISTED_KARS).config if config.services else config


# --- Railway's side -------------------------------------------------------------------------------------------------


def railway_readable() -> bool:
    """A Railway token is set: the services' Railway settings can be read (and then must be)."""
    return bool(os.environ.get("RAILWAY_TOKEN") or os.environ.get("RAILWAY_API_TOKEN"))


@dataclass(frozen=True)
class RailwayScope:
    """How a command reads Railway to find services: its client, project and environments (None: the token's, or
    the project's only one)."""

    client: RailwayClient
    project: str | None = None
    environments: tuple[str | None, ...] = (None,)
    deadline: Deadline | None = None


def read_settings(
    client: RailwayClient, target: RailwayTarget, deadline: Deadline | None = None
) -> dict[str, RailwaySettings]:
    """Each service's root directory, config file path and health check path in the target environment."""
    return {
        ref.label: RailwaySettings.of(client.service_instance(ref.id, target.environment_id, deadline))
        for ref in target.services
    }


def railway_services(scope: RailwayScope) -> tuple[list[str], str]:
    """The project's services that Railway deploys from a GitHub repository (databases and images left out)."""
    from kars_actions.railway.deploy import edges, read_project, resolve_target

    data, token_env = read_project(scope.client, scope.project, scope.deadline)
    everything = [service_id for service_id, _ in edges(data, "services")]
    project = str(data.get("name") or data["id"])
    if not everything:
        return [], project
    # Which repository a service deploys from is set per environment; with none asked for, the first one says.
    environment = scope.environments[0] or token_env or next((i for i, _ in edges(data, "environments")), None)
    target = resolve_target(scope.client, scope.project, environment, everything, deadline=scope.deadline)
    names = []
    for ref in target.services:
        if scope.client.service_instance(ref.id, target.environment_id, scope.deadline).repo:
            names.append(ref.name)
    return sorted(names), project


def railway_settings(
    scope: RailwayScope, config: Config, names: Sequence[str]
) -> tuple[dict[str, RailwaySettings], dict[str, str]]:
    """What Railway says about where each service lives, read in every environment of ``scope``: a service must be
    built from the same place in each (one plan, one file), else it is a configuration error naming both."""
    from kars_actions.railway.deploy import resolve_target

    labels = {(config.services[n].railway_service if n in config.services else n): n for n in names}
    settings: dict[str, RailwaySettings] = {}
    seen_in: dict[str, str] = {}
    railway_names: dict[str, str] = {}
    project = scope.project or config.project
    for environment in _environments(scope, project):
        target = resolve_target(
            scope.client, project, environment, list(labels), labels=labels, deadline=scope.deadline
        )
        railway_names.update({ref.label: ref.name for ref in target.services})
        for label, found in read_settings(scope.client, target, scope.deadline).items():
            before = settings.get(label)
            if before is not None and (before.root_directory, before.config_file) != (
                found.root_directory,
                found.config_file,
            ):
                raise ConfigError(
                    f"service {label!r} is built from {_place(before)} in {seen_in[label]} but from {_place(found)} "
                    f"in {target.environment_name}: one railway config cannot describe both",
                    hint="plan one environment at a time (--environment NAME), or name the file in kars.yml "
                    f"(services.{label}.railway_config)",
                )
            settings.setdefault(label, found)
            seen_in.setdefault(label, target.environment_name)
    return settings, railway_names


def _environments(scope: RailwayScope, project: str | None) -> tuple[str | None, ...]:
    """The environments to read: those asked for; with none, the project token's, else every environment of the
    project (an account token reaches them all, and a plan covers them all)."""
    from kars_actions.railway.api import TokenKind
    from kars_actions.railway.deploy import edges, read_project

    if scope.environments != (None,) or scope.client.credentials.kind is TokenKind.PROJECT:
        return scope.environments
    data, _ = read_project(scope.client, project, scope.deadline)
    return tuple(env_id for env_id, _ in edges(data, "environments")) or (None,)


def _place(settings: RailwaySettings) -> str:
    if settings.config_file:
        return f"config file {settings.config_file}"
    return f"root directory {settings.root_directory or '/'}"


def resolve(config: Config, names: Sequence[str] = (), railway: RailwayScope | None = None) -> FoundServices:
    """The services a command works on, each located the one way: kars.yml, then Railway (``railway``: when a token
    can read it), then the repository. No service named anywhere is a configuration error."""
    found = resolve_any(config, names, railway)
    if found is None:
        raise no_services_error(config, railway_read=railway is not None)
    return found


def resolve_any(config: Config, names: Sequence[str] = (), railway: RailwayScope | None = None) -> FoundServices | None:
    """:func:`resolve`, or None when nothing names a service (for the commands that then work on the files alone)."""
    chosen, listed = list_services(config, names)
    if not chosen and railway is not None:
        chosen, project = railway_services(railway)
        listed = f"Railway project {project}: its services deployed from a GitHub repository"
    if not chosen:
        return None
    ask = needs_railway(config, chosen)
    settings: dict[str, RailwaySettings] | None = None
    railway_names: dict[str, str] = {}
    if ask and railway is not None:
        settings, railway_names = railway_settings(railway, config, ask)
    return locate(config, chosen, settings, listed=listed, railway_names=railway_names)
