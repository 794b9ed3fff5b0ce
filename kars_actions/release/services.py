"""Services named without kars.yml: where their code and railway config live, from Railway's settings or the name.

Railway builds a service from its root directory and reads its config file there, unless the service names a config
file path of its own (that path does not follow the root directory). With those settings known (a Railway token),
the release validates and health-checks exactly what Railway will use; without them (a local dry run), a folder
named like the service is taken, then the repository root.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from kars_actions.core.config import Config, HealthCheckConfig, ServiceConfig
from kars_actions.core.errors import ConfigError

CONFIG_NAMES = ("railway.toml", "railway.json")  # Railway's order: the TOML file wins in one folder


@dataclass(frozen=True)
class RailwaySettings:
    """What Railway says about where a service's code lives (None where it says nothing or is not asked)."""

    root_directory: str | None = None
    config_file: str | None = None
    healthcheck_path: str | None = None


@dataclass(frozen=True)
class FoundService:
    """A service's folder and railway config, and how they were found (said in the plan and the summary)."""

    service: ServiceConfig
    how: str


def _config_in(folder: Path) -> Path | None:
    return next((folder / name for name in CONFIG_NAMES if (folder / name).is_file()), None)


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


def find_service(
    root: Path, name: str, settings: RailwaySettings | None, *, alone: bool, railway_name: str | None = None
) -> FoundService:
    """Where ``name``'s code and railway config are. ``alone``: the only service released (the root is then its
    folder when nothing else fits)."""
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
        return _found(root, name, folder, path, settings, f"Railway config file {settings.config_file}")
    if settings is not None and settings.root_directory:
        folder = _inside(root, settings.root_directory, name, "root directory")
        if not folder.is_dir():
            raise ConfigError(
                f"service {name!r}: its Railway root directory {settings.root_directory} is not in this checkout",
                hint="check the root directory in the service's Railway settings (Settings → Source)",
            )
        config = _config_in(folder)
        if config is not None or not _by_name(root, name, railway_name):
            return _found(root, name, folder, config, settings, f"Railway root directory {settings.root_directory}")
    for candidate in _by_name(root, name, railway_name):
        config = _config_in(candidate)
        if config is not None:
            return _found(root, name, candidate, config, settings, f"folder {_relative(root, candidate)}/")
    root_config = _config_in(root)
    if root_config is not None and (alone or settings is not None):
        return _found(root, name, root, root_config, settings, "the repository root")
    folders = _by_name(root, name, railway_name)
    folder = folders[0] if folders else root
    return _found(root, name, folder, None, settings, "no railway.json or railway.toml found")


def _by_name(root: Path, name: str, railway_name: str | None) -> list[Path]:
    names = [name] + ([railway_name] if railway_name and railway_name != name else [])
    return [root / n for n in names if (root / n).is_dir()]


def _found(
    root: Path, name: str, folder: Path, config: Path | None, settings: RailwaySettings | None, how: str
) -> FoundService:
    service = ServiceConfig(
        name=name,
        railway_service=name,
        directory=_relative(root, folder),
        railway_config=_relative(root, config) if config is not None else None,
    )
    if settings is not None and settings.healthcheck_path and not _names_health_path(root, service):
        # The path Railway itself checks, when no config file in the checkout names one.
        service = replace(service, health=[HealthCheckConfig(path=settings.healthcheck_path)])
    return FoundService(service, how)


def _names_health_path(root: Path, service: ServiceConfig) -> bool:
    from kars_actions.health.targets import healthcheck_path

    try:
        return healthcheck_path(Config(root=root), service) is not None
    except ConfigError:
        return True  # an unreadable file: validation reports it with its line and column


def with_found_services(
    config: Config,
    names: Sequence[str],
    settings: Mapping[str, RailwaySettings],
    railway_names: Mapping[str, str] | None = None,
) -> tuple[Config, dict[str, str]]:
    """``config`` with a service entry for every name kars.yml does not define, and how each was found."""
    found: dict[str, ServiceConfig] = {}
    how: dict[str, str] = {}
    for name in names:
        if name in config.services:
            continue
        located = find_service(
            config.root,
            name,
            settings.get(name),
            alone=len(names) == 1,
            railway_name=(railway_names or {}).get(name),
        )
        found[name] = located.service
        how[name] = located.how
    if not found:
        return config, how
    return replace(config, services={**config.services, **found}), how
