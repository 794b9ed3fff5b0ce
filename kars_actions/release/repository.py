"""The commands that work on the repository's railway configs — ``config plan|apply|migrate`` and ``validate``
without paths — with each service located the one way every command locates it (``release.services``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from kars_actions.core.errors import KarsError, UsageError
from kars_actions.railway.api import Credentials
from kars_actions.railway.settings import SettingsRequest, default_environments, run_settings
from kars_actions.railway.settings_report import SettingsResult
from kars_actions.railway_config.config import ValidateOptions, validate
from kars_actions.railway_config.iac import MigrateRequest, run_migrate
from kars_actions.railway_config.report import MigrateResult, ValidationResult
from kars_actions.railway_config.settings import ServiceFiles
from kars_actions.release.services import FoundServices, RailwayScope, config_in, resolve, resolve_any

if TYPE_CHECKING:
    from kars_actions.core.config import Config
    from kars_actions.railway.api import RailwayClient


def run_config(request: SettingsRequest, config: Config, client: RailwayClient | None) -> SettingsResult:
    """Locate each service's railway config (kars.yml, then Railway's settings in the planned environments, then
    the repository), then plan or apply. Without a client (no token) the files are still located and named, and
    the result has no plan; so has a service that cannot be located: the outputs then say the drift is unknown,
    never "false", and --check fails."""
    found: FoundServices | None = None
    try:
        if client is None:
            found = resolve(config, request.services)
            raise _no_token()
        environments = request.environments or default_environments(config, client)
        scope = RailwayScope(client, request.project or config.project, tuple(environments) or (None,))
        found = resolve(config, request.services, scope)
    except KarsError as error:
        said = found.to_json() if found else []
        return SettingsResult(None, command=request.command, check=request.check, error=error, service_files=said)
    files = [ServiceFiles(s.name, s.service.railway_service, found.path(s.name)) for s in found.services]
    return run_settings(request, found.config, client, files, service_files=found.to_json())


def _no_token() -> KarsError:
    """The no-token error every Railway command gives."""
    try:
        Credentials.from_environ({})
    except KarsError as error:
        return error
    raise AssertionError("Credentials.from_environ found a token in an empty environment")


def validate_repository(
    options: ValidateOptions, config: Config, names: Sequence[str] = (), railway: RailwayScope | None = None
) -> ValidationResult:
    """``kars-actions validate`` without paths: each service's railway config, located the one way (kars.yml, then
    Railway's settings when a token can read them, then the repository), and — when no kars.yml lists the services —
    a railway config at the repository root that no service took."""
    found = resolve_any(config, names, railway)
    paths = [p for p in (found.path(s.name) for s in found.services) if p is not None] if found else []
    said = found.to_json() if found else []
    if not config.services and not names:
        root_file = config_in(config.root)
        taken = {p.resolve() for p in paths}
        if root_file is not None and root_file.resolve() not in taken:
            paths.append(root_file)
            how = "the repository root; no service named it (--service NAME says whose)"
            said.append(
                {
                    "service": None,
                    "file": root_file.name,
                    "source": "repository",
                    "how": how,
                    "said": f"{root_file.name}: {how}",
                }
            )
    if not paths:
        where = ", ".join(found.lines()) if found else f"{config.root} or its immediate subfolders"
        raise UsageError(
            f"no railway.json or railway.toml to check: {where}",
            hint="pass the files to check, or name them in kars.yml (services.<name>.railway_config)",
        )
    result = validate(replace(options, paths=tuple(str(p) for p in paths), root=config.root))
    result.service_files = said
    return result


def migrate_repository(request: MigrateRequest, config: Config, railway: RailwayScope | None = None) -> MigrateResult:
    """``kars-actions config migrate``: every railway config of the repository into .railway/railway.ts, each named
    after the service whose file it is — found the one way — else after its folder."""
    found = resolve_any(config, (), railway)
    names: dict[Path, str] = {}
    if found is not None:
        for service in found.services:
            path = found.path(service.name)
            if path is not None:
                names[path] = service.service.railway_service
    return run_migrate(request, config, names, found.to_json() if found else ())
