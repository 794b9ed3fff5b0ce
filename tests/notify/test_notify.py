"""Alerts: payloads built from data, escaping, limits, signatures, retries, and secrets kept out of output."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from pytest_httpx import HTTPXMock

from kars_actions.cli import cli
from kars_actions.core import gha
from kars_actions.core.config import AlertsConfig
from kars_actions.core.errors import ConfigError
from kars_actions.core.report import Style
from kars_actions.core.timing import SYSTEM_CLOCK
from kars_actions.notify.alerts import (
    DISCORD_DESCRIPTION,
    DISCORD_EMBED_TOTAL,
    DISCORD_FIELD_VALUE,
    SLACK_FIELD,
    SLACK_HEADER,
    SLACK_SECTION,
    TRUNCATED,
    Alert,
    Channel,
    ChannelOverrides,
    build_discord_payload,
    build_slack_payload,
    channels_from_config,
    run_url_from_environ,
    send_alerts,
)
from tests.fakes.cli_fork import run_kars
from tests.fakes.clock import FakeClock

SLACK = "https://hooks.slack.example/services/T000/B000/slacksecretpart"
DISCORD = "https://discord.example/api/webhooks/123/discordsecretpart"
HOOK = "https://alerts.example/kars/hooksecretpart"
HOSTILE = 'Fix "quotes" }]} \\n\n```rm -rf /``` <!channel> <@U123> @everyone @here <https://evil|click> & *bold* `x`'


def make_alert(**changes: Any) -> Alert:
    base: dict[str, Any] = {
        "event": "rollback",
        "services": ["backend"],
        "environment": "production",
        "version": "v1.4.2",
        "commit_sha": "0123456789abcdef0123456789abcdef01234567",
        "commit_subject": HOSTILE,
        "summary": "Health checks failed after the deploy went live.",
        "failure": "GET /api/health: expected version 1.4.2, got 1.4.1",
        "rollback": "backend rolled back to deployment d-41 and is healthy",
        "repository": "kars/app",
        "run_url": "https://github.com/kars/app/actions/runs/42",
        "release_url": "https://github.com/kars/app/releases/tag/v1.4.2",
        "deployment_url": "https://railway.com/project/p/service/s",
    }
    base.update(changes)
    return Alert(**base)


def all_text(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [t for v in value.values() for t in all_text(v)]
    if isinstance(value, list):
        return [t for v in value for t in all_text(v)]
    return []


def sent_json(httpx_mock: HTTPXMock, index: int = 0) -> dict[str, Any]:
    request = httpx_mock.get_requests()[index]
    payload: dict[str, Any] = json.loads(request.content)
    return payload


def test_slack_payload_has_header_fields_context_and_link_buttons(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=SLACK, text="ok")
    result = send_alerts(make_alert(), [Channel("slack", SLACK)], clock=FakeClock())
    assert result.outcomes[0].delivered
    payload = sent_json(httpx_mock)
    types = [b["type"] for b in payload["blocks"]]
    assert types[0] == "header" and "context" in types and types[-1] == "actions"
    assert payload["blocks"][0]["text"]["text"] == "🟠 Rolled back: backend v1.4.2 → production"
    fields = {f["text"].split("\n")[0]: f["text"] for f in payload["blocks"][1]["fields"]}
    assert set(fields) == {"*Service*", "*Environment*", "*Version*", "*Commit*"}
    assert "0123456" in fields["*Commit*"]
    buttons = {b["text"]["text"]: b["url"] for b in payload["blocks"][-1]["elements"]}
    assert buttons["View run"] == "https://github.com/kars/app/actions/runs/42"
    assert set(buttons) == {"View run", "Release", "Deployment"}
    assert "rolled back to deployment d-41" in json.dumps(payload)


def test_hostile_commit_message_cannot_break_or_ping_in_slack(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=SLACK)
    send_alerts(make_alert(failure=HOSTILE), [Channel("slack", SLACK)], clock=FakeClock())
    payload = sent_json(httpx_mock)  # it parsed: the body is valid JSON
    texts = "\n".join(all_text(payload))
    for control in ("<!channel>", "<@U123>", "<https://evil|click>"):
        assert control not in texts
    assert "&lt;!channel&gt;" in texts
    assert 'Fix "quotes" }]} \\n' in texts  # quotes, braces and a literal backslash-n survive the round trip
    failure_block = next(b for b in payload["blocks"] if b.get("text", {}).get("text", "").startswith("*Failure*"))
    body = failure_block["text"]["text"].removeprefix("*Failure*\n")
    assert body.startswith("```") and body.endswith("```") and body.count("```") == 2


def test_slack_limits_are_respected_with_a_note() -> None:
    alert = make_alert(services=["svc-" + "x" * 200], failure="E" * 10_000, commit_subject="<" * 5000)
    payload = build_slack_payload(alert)
    header = payload["blocks"][0]["text"]["text"]
    assert len(header) <= SLACK_HEADER and header.endswith(TRUNCATED)
    for block in payload["blocks"]:
        if block["type"] == "section" and "text" in block:
            assert len(block["text"]["text"]) <= SLACK_SECTION
        for f in block.get("fields", []):
            assert len(f["text"]) <= SLACK_FIELD
    commit = next(f["text"] for f in payload["blocks"][1]["fields"] if f["text"].startswith("*Commit*"))
    assert commit.endswith(TRUNCATED) and "&lt;" in commit
    assert "&l" + TRUNCATED not in commit and "&" + TRUNCATED not in commit  # no half entity left behind
    failure = next(b for b in payload["blocks"] if b.get("text", {}).get("text", "").startswith("*Failure*"))
    assert TRUNCATED in failure["text"]["text"]
    assert len(payload["text"]) <= SLACK_SECTION


def test_discord_payload_is_an_embed_coloured_by_outcome_that_pings_nobody(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=DISCORD, status_code=204)
    send_alerts(make_alert(event="failure", rollback=None), [Channel("discord", DISCORD)], clock=FakeClock())
    payload = sent_json(httpx_mock)
    assert payload["allowed_mentions"] == {"parse": []}
    [embed] = payload["embeds"]
    assert embed["color"] == 0xCF222E
    assert embed["title"].startswith("🔴 Release failed: backend")
    assert embed["url"] == "https://github.com/kars/app/actions/runs/42"
    names = [f["name"] for f in embed["fields"]]
    assert names == ["Service", "Environment", "Version", "Commit", "Links"]
    commit = embed["fields"][3]["value"]
    assert "@everyone" not in commit and "@\u200beveryone" in commit and "@\u200bhere" in commit
    assert "\\`\\`\\`" in commit  # Markdown shown literally
    assert "[View run](https://github.com/kars/app/actions/runs/42)" in embed["fields"][-1]["value"]
    recovery = build_discord_payload(make_alert(event="recovery"))
    assert recovery["embeds"][0]["color"] == 0x1A7F37


def test_discord_limits_are_respected_with_a_note() -> None:
    alert = make_alert(summary="S" * 3000, failure="F" * 3000, rollback="R" * 3000, commit_subject="c" * 2000)
    payload = build_discord_payload(alert)
    [embed] = payload["embeds"]
    assert len(embed["description"]) <= DISCORD_DESCRIPTION
    assert embed["description"].endswith(TRUNCATED)
    assert all(len(f["value"]) <= DISCORD_FIELD_VALUE for f in embed["fields"])
    size = len(embed["title"]) + len(embed["description"]) + len(embed["footer"]["text"])
    size += sum(len(f["name"]) + len(f["value"]) for f in embed["fields"])
    assert size <= DISCORD_EMBED_TOTAL
    assert len(payload["content"]) <= 2000


def test_generic_webhook_is_signed_over_timestamp_and_exact_body(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=HOOK)
    channel = Channel("webhook", HOOK, secret="s3cret-key")
    result = send_alerts(make_alert(), [channel], clock=FakeClock(), now=lambda: 1_700_000_000.5)
    assert result.outcomes[0].delivered and result.outcomes[0].message == ""
    request = httpx_mock.get_requests()[0]
    assert request.headers["X-Kars-Event"] == "rollback"
    assert request.headers["X-Kars-Timestamp"] == "1700000000"
    expected = hmac.new(b"s3cret-key", b"1700000000." + request.content, hashlib.sha256).hexdigest()
    assert request.headers["X-Kars-Signature-256"] == f"sha256={expected}"
    body = json.loads(request.content)
    assert body["schema"] == "kars.alert/v1"
    assert body["commit"]["subject"] == HOSTILE  # data, not pasted text: it round-trips exactly
    assert body["links"]["run"] == "https://github.com/kars/app/actions/runs/42"


def test_webhook_without_secret_is_sent_unsigned_with_a_note(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=HOOK)
    result = send_alerts(make_alert(), [Channel("webhook", HOOK)], clock=FakeClock())
    assert "X-Kars-Signature-256" not in httpx_mock.get_requests()[0].headers
    assert "unsigned" in result.outcomes[0].message


def test_server_errors_are_retried_with_backoff(httpx_mock: HTTPXMock) -> None:
    for status in (500, 503):
        httpx_mock.add_response(url=SLACK, status_code=status)
    httpx_mock.add_response(url=SLACK)
    clock = FakeClock()
    lines: list[str] = []
    result = send_alerts(make_alert(), [Channel("slack", SLACK)], clock=clock, progress=lines.append)
    outcome = result.outcomes[0]
    assert (outcome.delivered, outcome.attempts) == (True, 3)
    assert clock.sleeps == [2.0, 4.0]
    assert "Slack answered HTTP 500; retrying in 2.0s" in lines[0]


def test_slack_retry_after_header_is_honoured(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=SLACK, status_code=429, headers={"Retry-After": "7"})
    httpx_mock.add_response(url=SLACK)
    clock = FakeClock()
    result = send_alerts(make_alert(), [Channel("slack", SLACK)], clock=clock)
    assert result.outcomes[0].delivered
    assert clock.sleeps == [7.0]


def test_discord_retry_after_in_the_body_is_honoured(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=DISCORD, status_code=429, json={"message": "rate limited", "retry_after": 1.5})
    httpx_mock.add_response(url=DISCORD, status_code=204)
    clock = FakeClock()
    result = send_alerts(make_alert(), [Channel("discord", DISCORD)], clock=clock)
    assert result.outcomes[0].delivered
    assert clock.sleeps == [1.5]


def test_client_errors_are_not_retried(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=SLACK, status_code=404, text="no_service")
    clock = FakeClock()
    result = send_alerts(make_alert(), [Channel("slack", SLACK)], clock=clock)
    outcome = result.outcomes[0]
    assert (outcome.delivered, outcome.attempts, outcome.status) == (False, 1, 404)
    assert "check that the webhook URL is current" in outcome.message
    assert clock.sleeps == [] and len(httpx_mock.get_requests()) == 1


def test_unreachable_channel_never_raises_and_never_shows_its_url(httpx_mock: HTTPXMock) -> None:
    for _ in range(3):
        httpx_mock.add_exception(httpx.ConnectError(f"[Errno 111] Connection refused for url {SLACK}"), url=SLACK)
    httpx_mock.add_response(url=DISCORD, status_code=204)
    result = send_alerts(make_alert(), [Channel("slack", SLACK), Channel("discord", DISCORD)], clock=FakeClock())
    slack, discord = result.outcomes
    assert not slack.delivered and discord.delivered
    assert slack.message == "could not reach Slack (ConnectError) (gave up after 3 attempts)"
    everything = json.dumps(result.to_json()) + "\n".join(result.text_lines(_plain())) + result.summary_markdown()
    assert "slacksecretpart" not in everything and "discordsecretpart" not in everything
    assert result.exit_code() == 0
    assert result.annotations()[0].level == "warning"


def _plain() -> Style:
    return Style(False)


def test_strict_turns_a_failed_channel_into_exit_3(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=SLACK, status_code=403)
    result = send_alerts(make_alert(), [Channel("slack", SLACK)], clock=FakeClock(), strict=True)
    assert result.exit_code() == 3


def test_channels_come_from_overrides_first_then_the_variables_kars_yml_names() -> None:
    cfg = AlertsConfig(slack_webhook_env="TEAM_SLACK", webhook_url_env="TEAM_HOOK", webhook_secret_env="TEAM_KEY")
    env = {"TEAM_SLACK": SLACK, "TEAM_HOOK": HOOK, "TEAM_KEY": "from-env-key"}
    channels = channels_from_config(cfg, ChannelOverrides(discord_webhook=DISCORD), environ=env)
    assert [(c.kind, c.url) for c in channels] == [("slack", SLACK), ("discord", DISCORD), ("webhook", HOOK)]
    assert channels[2].secret == "from-env-key"
    for value in (SLACK, DISCORD, HOOK, "from-env-key"):
        assert value in gha.SECRETS
    assert "secretpart" not in repr(channels)
    other = "https://hooks.slack.example/other-one"
    overridden = channels_from_config(cfg, ChannelOverrides(slack_webhook=other), environ=env)
    assert overridden[0].url == other


def test_a_webhook_that_is_not_a_url_is_refused_without_echoing_it() -> None:
    with pytest.raises(ConfigError) as caught:
        channels_from_config(None, ChannelOverrides(slack_webhook="xoxb-not-a-url-secret"), environ={})
    assert "xoxb" not in str(caught.value) + (caught.value.hint or "")


def test_run_url_is_built_from_the_actions_environment() -> None:
    env = {"GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "kars/app", "GITHUB_RUN_ID": "9"}
    assert run_url_from_environ(env) == "https://github.com/kars/app/actions/runs/9"
    assert run_url_from_environ({**env, "GITHUB_RUN_ATTEMPT": "2"}).endswith("/runs/9/attempts/2")  # type: ignore[union-attr]
    assert run_url_from_environ({}) is None


def test_unknown_event_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown alert event"):
        Alert(event="exploded")


# The command ------------------------------------------------------------------------------------------------


@pytest.fixture
def in_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name in ("KARS_SLACK_WEBHOOK", "KARS_DISCORD_WEBHOOK", "KARS_WEBHOOK_URL", "KARS_WEBHOOK_SECRET", "GITHUB_SHA"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_cli_exits_0_with_a_warning_when_the_webhook_fails(
    in_repo: Path, httpx_mock: HTTPXMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(3):
        httpx_mock.add_response(url=HOOK, status_code=500)
    sleeps: list[float] = []
    monkeypatch.setattr(SYSTEM_CLOCK, "sleep", sleeps.append)
    args = ["notify", "--event", "failure", "--service", "api", "--format", "text", "--commit", "abc1234"]
    args += ["--commit-subject", "x"]
    result = CliRunner().invoke(cli, args, env={"KARS_WEBHOOK_URL": HOOK, "KARS_WEBHOOK_SECRET": "k3y-value"})
    assert result.exit_code == 0, result.output
    assert "warning: webhook alert not delivered: webhook answered HTTP 500 (gave up after 3 attempts)" in result.output
    assert "hooksecretpart" not in result.output and "k3y-value" not in result.output
    assert sleeps == [2.0, 4.0]


def test_cli_strict_exits_3_when_a_channel_refuses(in_repo: Path, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=SLACK, status_code=404)
    args = ["notify", "--event", "failure", "--strict", "--slack-webhook", SLACK, "--format", "text"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 3
    assert "slacksecretpart" not in result.output


def test_cli_dry_run_prints_each_payload_and_sends_nothing(in_repo: Path, httpx_mock: HTTPXMock) -> None:
    args = ["notify", "--event", "success", "--dry-run", "--format", "json", "--slack-webhook", SLACK]
    args += ["--discord-webhook", DISCORD, "--version", "v2.0.0", "--commit", "abc1234", "--commit-subject", HOSTILE]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [c["channel"] for c in data["channels"]] == ["slack", "discord"]
    assert data["channels"][0]["payload"]["blocks"][0]["type"] == "header"
    assert "secretpart" not in result.output
    assert httpx_mock.get_requests() == []


def test_cli_sends_nothing_for_an_event_kars_yml_does_not_want(in_repo: Path, httpx_mock: HTTPXMock) -> None:
    (in_repo / "kars.yml").write_text("alerts:\n  on: [failure]\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["notify", "--event", "success", "--slack-webhook", SLACK, "--format", "text"])
    assert result.exit_code == 0, result.output
    assert "not in alerts.on" in result.output
    assert httpx_mock.get_requests() == []


def test_cli_with_no_channel_says_so_and_exits_0(in_repo: Path) -> None:
    result = CliRunner().invoke(cli, ["notify", "--event", "failure", "--format", "text"])
    assert result.exit_code == 0
    assert "no alert channel configured" in result.output


def test_a_dry_run_with_no_channel_says_nothing_would_be_sent(in_repo: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KARS_", "GITHUB_"))}
    proc = run_kars(
        ["notify", "--event", "failure", "--dry-run", "--format", "text"],
        cwd=in_repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "no alert sent: no alert channel configured" in proc.stdout


def test_the_documented_verification_recipe_accepts_our_signature_and_rejects_tampering(
    httpx_mock: HTTPXMock,
) -> None:
    doc = (Path(__file__).parents[2] / "docs" / "steps" / "notify.md").read_text(encoding="utf-8")
    recipe = doc.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, Any] = {}
    exec(compile(recipe, "notify.md", "exec"), namespace)
    httpx_mock.add_response(url=HOOK)
    send_alerts(make_alert(), [Channel("webhook", HOOK, secret="doc-key")], clock=FakeClock())
    request = httpx_mock.get_requests()[0]
    headers = {name: request.headers[name] for name in ("X-Kars-Timestamp", "X-Kars-Signature-256")}
    assert namespace["verify"]("doc-key", headers, request.content)
    assert not namespace["verify"]("doc-key", headers, request.content + b" ")
    assert not namespace["verify"]("other-key", headers, request.content)
