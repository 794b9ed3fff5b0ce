"""Where health targets come from: kars.yml checks, the service's public URL, railway.json, local ports."""

from __future__ import annotations

from pathlib import Path

import pytest

from kars_actions.core.config import load_config
from kars_actions.core.errors import ConfigError, UsageError
from kars_actions.health.assertions import StatusRange
from kars_actions.health.plan import CheckOverrides, HealthPlan, parse_service_urls, plan_targets
from kars_actions.health.targets import targets_from_config

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "kars-app" / "kars.yml"


def write(tmp_path: Path, kars: str, railway: dict[str, str] | None = None) -> Path:
    (tmp_path / "kars.yml").write_text(kars)
    for name, text in (railway or {}).items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path / "kars.yml"


def test_the_example_app_checks_local_ports_without_public_urls() -> None:
    targets = targets_from_config(load_config(str(EXAMPLE)))
    by_name = {t.name: t for t in targets}
    assert by_name["backend"].url == "http://127.0.0.1:3000/api/health"
    assert by_name["frontend"].url == "http://127.0.0.1:8080/"
    assert by_name["backend"].interval == 2 and by_name["backend"].retries == 30
    assert [e.describe() for e in by_name["backend"].check.json] == [
        'json status = "ok"',
        'json database = "connected"',
    ]


def test_public_urls_from_the_pipeline_win_over_local_ports() -> None:
    targets = targets_from_config(load_config(str(EXAMPLE)), {"backend": "backend-production.up.railway.app"})
    backend = next(t for t in targets if t.name == "backend")
    assert backend.url == "https://backend-production.up.railway.app/api/health"


def test_a_service_without_health_checks_uses_its_railway_healthcheck_path(tmp_path: Path) -> None:
    kars = "services:\n  api:\n    directory: api\n"
    write(tmp_path, kars, {"api/railway.json": '{"deploy": {"healthcheckPath": "/healthz"}}'})
    targets = targets_from_config(load_config(str(tmp_path / "kars.yml")), {"api": "https://api.example.com/"})
    assert [(t.name, t.url, t.check_version) for t in targets] == [("api", "https://api.example.com/healthz", True)]


def test_railway_toml_wins_over_json_and_a_static_site_is_checked_at_root(tmp_path: Path) -> None:
    kars = "services:\n  api:\n    directory: api\n  web:\n    directory: web\n"
    write(
        tmp_path,
        kars,
        {
            "api/railway.json": '{"deploy": {"healthcheckPath": "/from-json"}}',
            "api/railway.toml": '[deploy]\nhealthcheckPath = "/from-toml"\n',
        },
    )
    urls = {"api": "https://api.example.com", "web": "https://web.example.com"}
    targets = targets_from_config(load_config(str(tmp_path / "kars.yml")), urls)
    assert [(t.url, t.check_version) for t in targets] == [
        ("https://api.example.com/from-toml", True),
        ("https://web.example.com/", True),  # the version rule decides: a static page reports none and passes
    ]


def test_services_without_any_url_are_left_out_unless_named(tmp_path: Path) -> None:
    write(tmp_path, "services:\n  api:\n    directory: api\n")
    config = load_config(str(tmp_path / "kars.yml"))
    assert targets_from_config(config) == []
    with pytest.raises(ConfigError, match="no health check and no known URL"):
        targets_from_config(config, services=["api"])


def test_a_broken_railway_config_is_a_config_error(tmp_path: Path) -> None:
    write(tmp_path, "services:\n  api:\n    directory: api\n", {"api/railway.json": "{ nope"})
    with pytest.raises(ConfigError, match=r"railway\.json"):
        targets_from_config(load_config(str(tmp_path / "kars.yml")), {"api": "https://a.example"})


def test_flags_override_configured_assertions_and_add_headers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KARS_HEALTH_HEADERS", "X-From-Env: env-secret-value\n")
    plan = HealthPlan(
        services=["backend"],
        overrides=CheckOverrides(
            expect_status=["2xx"],
            expect_json=["status=ok"],
            headers=["Authorization: Bearer flag-secret"],
        ),
    )
    (target,) = plan_targets(plan, load_config(str(EXAMPLE)))
    assert target.check.statuses == (StatusRange(200, 299),)
    assert [e.describe() for e in target.check.json] == ['json status = "ok"']
    assert target.headers == {"X-From-Env": "env-secret-value", "Authorization": "Bearer flag-secret"}


def test_urls_alone_need_no_config() -> None:
    plan = HealthPlan(urls=["https://app.example.com/api/health"], overrides=CheckOverrides(method="head"))
    (target,) = plan_targets(plan, None)
    assert target.method == "HEAD" and target.name == "https://app.example.com/api/health"


def test_nothing_to_check_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="nothing to check"):
        plan_targets(HealthPlan(), None)
    with pytest.raises(UsageError, match="invalid --service-url"):
        parse_service_urls(["backend"])
