"""Where a service named without kars.yml keeps its code and railway config."""

from __future__ import annotations

from pathlib import Path

import pytest

from kars_actions.core.config import Config, HealthCheckConfig, ServiceConfig
from kars_actions.core.errors import ConfigError
from kars_actions.release.services import RailwaySettings, find_service, locate


def tree(root: Path, *files: str) -> Path:
    for name in files:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text('{"deploy": {"healthcheckPath": "/api/health"}}' if name.endswith(".json") else "")
    return root


def test_railways_config_file_path_wins_even_outside_the_root_directory(tmp_path: Path) -> None:
    tree(tmp_path, "backend/railway.json", "infra/backend.railway.json")
    settings = RailwaySettings(root_directory="/backend", config_file="/infra/backend.railway.json")
    found = find_service(tmp_path, "backend", settings, alone=True)
    assert found.service.railway_config == "infra/backend.railway.json" and found.service.directory == "backend"


def test_a_config_file_railway_names_but_the_checkout_lacks_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not in this checkout"):
        find_service(tmp_path, "api", RailwaySettings(config_file="/api/railway.json"), alone=True)


def test_the_root_directory_locates_the_folder_and_toml_wins(tmp_path: Path) -> None:
    tree(tmp_path, "services/api/railway.json", "services/api/railway.toml", "api/railway.json")
    found = find_service(tmp_path, "api", RailwaySettings(root_directory="services/api"), alone=False)
    assert found.service.railway_config == "services/api/railway.toml"
    assert "root directory" in found.how


def test_without_railway_settings_the_folder_named_like_the_service_is_taken(tmp_path: Path) -> None:
    tree(tmp_path, "frontend/railway.json", "railway.json")
    found = find_service(tmp_path, "frontend", None, alone=False)
    assert (found.service.directory, found.service.railway_config) == ("frontend", "frontend/railway.json")


def test_a_single_service_falls_back_to_the_repository_root(tmp_path: Path) -> None:
    tree(tmp_path, "railway.json")
    found = find_service(tmp_path, "web", None, alone=True)
    assert (found.service.directory, found.service.railway_config) == (".", "railway.json")
    assert find_service(tmp_path, "web", None, alone=False).service.railway_config is None


def test_railways_healthcheck_path_is_used_when_no_config_file_names_one(tmp_path: Path) -> None:
    found = find_service(tmp_path, "api", RailwaySettings(healthcheck_path="/ready"), alone=True)
    assert [h.path for h in found.service.health] == ["/ready"]


def test_kars_yml_says_first_then_the_folder_named_like_the_service(tmp_path: Path) -> None:
    tree(tmp_path, "web/railway.json", "api/railway.json", "infra/api.json")
    kars = Config(
        root=tmp_path,
        services={"api": ServiceConfig("api", "api", railway_config="infra/api.json")},
    )
    found = locate(kars, ["api", "web"])
    assert [s.describe() for s in found.services] == [
        "api: infra/api.json (kars.yml services.api.railway_config)",
        "web: web/railway.json (folder web/)",
    ]
    assert found.config.services["web"].directory == "web" and found.path("api") == tmp_path / "infra/api.json"


def test_a_kars_yml_entry_that_says_no_folder_is_located_like_any_other(tmp_path: Path) -> None:
    tree(tmp_path, "services/api/railway.json")
    health = [HealthCheckConfig(path="/ready")]
    kars = Config(root=tmp_path, services={"api": ServiceConfig("api", "api", health=health)})
    found = locate(kars, ["api"], {"api": RailwaySettings(root_directory="/services/api")})
    assert found.services[0].describe() == "api: services/api/railway.json (Railway root directory /services/api)"
    assert found.config.services["api"].health == health  # what kars.yml says of the service is kept
