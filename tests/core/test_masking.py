"""What the process knows as secret before click parses argv: the argv state machine, the environment's names and
URLs, and the kars.yml scan — each rule on its own, in process (the CLI side is in test_secret_cli.py)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from kars_actions.core import gha
from kars_actions.core.masking import config_secret_names, register_process_secrets


def _known(argv: list[str], environ: dict[str, str] | None = None, cwd: Path | None = None) -> set[str]:
    registry = gha.SecretRegistry()
    register_process_secrets(argv, environ or {}, cwd or Path("/nonexistent"), registry)
    return set(registry._values)


def test_a_secret_flag_takes_the_next_word_and_only_that_one() -> None:
    argv = ["health", "--header", "X-A: one-Cnry-1", "https://app.example/health", "--github-token", "gh-Cnry-2"]
    assert _known(argv) == {"X-A: one-Cnry-1", "gh-Cnry-2"}


def test_a_secret_flag_with_equals_takes_its_value_and_not_the_next_word() -> None:
    assert _known(["notify", "--webhook-secret=k=ey-Cnry-3", "--event", "failure"]) == {"k=ey-Cnry-3"}


def test_a_secret_flag_as_the_last_word_registers_nothing_and_does_not_fail() -> None:
    assert _known(["tag", "--github-token"]) == set()


def test_the_value_of_a_secret_flag_is_a_secret_even_when_it_looks_like_a_flag() -> None:
    assert _known(["notify", "--webhook-secret", "--header", "plain"]) == {"--header"}


def test_only_secret_flags_take_a_value() -> None:
    assert _known(["release", "--environment", "production", "--config", "kars.yml", "--dry-run"]) == set()


def test_a_user_password_typed_without_a_scheme_is_a_secret() -> None:
    assert _known(["health", "deploy:pw-Cnry-4@app.example/health?next=https://x"]) == {
        "pw-Cnry-4",
        "deploy:pw-Cnry-4",
    }


def test_credentials_of_urls_inside_an_argument_are_secrets() -> None:
    found = _known(["--service-url", "api=https://svc:pw-Cnry-5@api.example", "web=https://tok-Cnry-6@web.example"])
    assert {"pw-Cnry-5", "svc:pw-Cnry-5", base64.b64encode(b"svc:pw-Cnry-5").decode(), "tok-Cnry-6"} <= found
    assert "svc" not in found


def test_only_the_credentials_of_a_url_in_an_ordinary_variable_are_secrets() -> None:
    env = {"HTTPS_PROXY": "http://user:prx-Cnry-7@proxy:3128", "HOME": "/root", "EMAIL": "a@b.example"}
    assert _known([], env) == {"prx-Cnry-7", "user:prx-Cnry-7", base64.b64encode(b"user:prx-Cnry-7").decode()}


def _config(tmp_path: Path, text: str | bytes, name: str = "kars.yml") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_kars_yml_names_alert_variables_and_header_references(tmp_path: Path) -> None:
    _config(tmp_path, "alerts:\n  slack_webhook_env: HOOK\n  webhook_secret_env: 'KEY'\nx: '${REF} ${UNSET}'\n")
    env = {"HOOK": "h", "KEY": "k", "REF": "r", "OTHER": "o"}
    assert config_secret_names([], env, tmp_path) == ["HOOK", "KEY", "REF"]


def test_the_first_config_found_in_search_order_is_scanned(tmp_path: Path) -> None:
    _config(tmp_path, "x: ${SECOND}\n", "kars.yml")
    _config(tmp_path, "x: ${FIRST}\n", ".github/kars.yml")
    assert config_secret_names([], {"FIRST": "1", "SECOND": "2"}, tmp_path) == ["FIRST"]


def test_config_flag_beats_kars_config_and_a_relative_path_is_from_the_working_folder(tmp_path: Path) -> None:
    _config(tmp_path, "x: ${FROM_FLAG}\n", "ci/a.yml")
    _config(tmp_path, "x: ${FROM_ENV}\n", "ci/b.yml")
    env = {"FROM_FLAG": "1", "FROM_ENV": "2", "KARS_CONFIG": "ci/b.yml"}
    assert config_secret_names(["--config", "ci/a.yml"], env, tmp_path) == ["FROM_FLAG"]
    assert config_secret_names(["--config=ci/a.yml"], env, tmp_path) == ["FROM_FLAG"]
    assert config_secret_names([], env, tmp_path) == ["FROM_ENV"]
    assert config_secret_names(["--config"], env, tmp_path) == ["FROM_ENV"]


def test_the_last_config_flag_wins_as_it_does_for_click(tmp_path: Path) -> None:
    _config(tmp_path, "x: ${FIRST}\n", "a.yml")
    _config(tmp_path, "x: ${LAST}\n", "b.yml")
    argv = ["--config", "a.yml", "--config", "b.yml"]
    assert config_secret_names(argv, {"FIRST": "1", "LAST": "2"}, tmp_path) == ["LAST"]


def test_a_config_that_cannot_be_read_gives_no_names(tmp_path: Path) -> None:
    (tmp_path / "folder.yml").mkdir()
    assert config_secret_names(["--config", "folder.yml"], {}, tmp_path) == []
    assert config_secret_names(["--config", "missing.yml"], {}, tmp_path) == []
    assert config_secret_names(["--config", "bad\0name.yml"], {}, tmp_path) == []
    assert config_secret_names(["--config", "x" * 5000], {}, tmp_path) == []


def test_a_config_with_bytes_that_are_not_utf8_is_still_scanned(tmp_path: Path) -> None:
    _config(tmp_path, b"# caf\xe9\nalerts:\n  slack_webhook_env: HOOK\n")
    assert config_secret_names([], {"HOOK": "h"}, tmp_path) == ["HOOK"]


def test_the_scan_reads_the_first_mebibyte_of_the_config(tmp_path: Path) -> None:
    limit = 1024 * 1024
    ref = "${INSIDE}"
    _config(tmp_path, "#" * (limit - len(ref)) + ref + "${OUTSIDE}")
    assert config_secret_names([], {"INSIDE": "1", "OUTSIDE": "2"}, tmp_path) == ["INSIDE"]


def test_process_secrets_register_what_the_config_names(tmp_path: Path) -> None:
    _config(tmp_path, "alerts:\n  discord_webhook_env: TEAM\n")
    assert _known([], {"TEAM": "https://discord.example/api/webhooks/1/x-Cnry-8"}, tmp_path) >= {
        "https://discord.example/api/webhooks/1/x-Cnry-8"
    }


@pytest.mark.parametrize(
    ("name", "value", "secret"),
    [
        ("RAILWAY_TOKEN", "abc", True),
        ("RAILWAY_API_TOKEN", "abc", True),
        ("GITHUB_TOKEN", "abc", True),
        ("GH_TOKEN", "abc", True),
        ("SLACK_WEBHOOK_URL", "abc", True),
        ("DISCORD_WEBHOOK_URL", "abc", True),
        ("KARS_INPUT_GITHUB_TOKEN", "abc", True),
        ("INPUT_WEBHOOK_SECRET", "abc", True),
        ("kars_health_headers", "X: y", True),
        ("DATABASE_REPLICA_URL", "postgres://db", True),
        ("NPM_TOKEN", "12345678", True),
        ("NPM_TOKEN", "1234567", False),
        ("NPM_TOKEN", " 1234567 ", False),
        ("USE_TOKEN", "true", False),
        ("USE_TOKEN", "  False ", False),
        ("MY_PASSWD", "hunter2-long", True),
        ("STRIPE_API_KEY", "sk_live_123", True),
        ("ZAP_WEBHOOK_URL", "https://zap/x", True),
        ("TOKENIZER", "wordpiece-large", False),
        ("MYTOKEN", "mytoken-value", False),
        ("KARS_INPUT_ENVIRONMENT", "production", False),
        ("DATABASE", "main-database", False),
        ("APP_URL", "https://app.example.com/health", False),
        ("HOME", "/root/home-dir", False),
    ],
)
def test_which_variable_names_hold_secrets(name: str, value: str, secret: bool) -> None:
    assert gha.is_secret_name(name, value) is secret
