"""The secret layer as a user meets it, through the CLI as a real process inside a simulated Actions step.

Each test names one way the process learns of a secret (a credential flag, a URL's password in argv or in an
ordinary variable, a variable named like a credential, the variables a kars.yml found through --config or
KARS_CONFIG names) and shows both sides: the runner is told to mask it before anything else is printed, and a
test command or a server that echoes it back prints ``***``. What is not a secret (the command's own words, the
URL after a credential flag, a ``USE_TOKEN=true`` switch) stays readable: masking it would blank those words in
every line of the job's log.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.alert_sink import AlertSink
from tests.fakes.cli_process import run_cli
from tests.fakes.health_servers import Reply, ScriptedServer, Seen


def _run(
    args: list[str], cwd: Path, env: dict[str, str] | None = None, *, actions: bool = True
) -> subprocess.CompletedProcess[str]:
    return run_cli(args, cwd, env, actions=actions)


def _masked(stdout: str) -> list[str]:
    """The values the runner is told to mask, in order; they must come before any other line."""
    lines = stdout.splitlines()
    head = []
    for line in lines:
        if not line.startswith("::add-mask::"):
            break
        head.append(line.removeprefix("::add-mask::"))
    later = [line for line in lines[len(head) :] if line.startswith("::add-mask::")]
    assert not later, f"masks announced after other output: {later}"
    return head


def _written(proc: subprocess.CompletedProcess[str], cwd: Path) -> str:
    """Everything the step wrote, the mask announcements left out."""
    files = "".join((cwd / n).read_text(errors="replace") for n in ("output", "summary") if (cwd / n).exists())
    text = proc.stdout + proc.stderr + files
    return "\n".join(line for line in text.splitlines() if not line.startswith("::add-mask::"))


def _pieces(secret: str) -> list[str]:
    return [secret[i : i + 6] for i in range(len(secret) - 5)]


# --- credential flags, read from argv before click parses it ----------------------------------------------------

FLAG_CASES = [
    ("notify", "--slack-webhook", "https://hooks.slack.example/services/T0/B0/slk-Cnry-5a1b2c"),
    ("notify", "--discord-webhook", "https://discord.example/api/webhooks/1/dsc-Cnry-6d7e8f"),
    ("notify", "--webhook-url", "https://alerts.example/hook/whk-Cnry-9a8b7c"),
    ("notify", "--webhook-secret", "sig-Cnry-4c5d6e"),
    ("tag", "--github-token", "ghp_Cnry7f8e9d0c1b"),
    ("health", "--header", "X-Api-Key: hdr-Cnry-1a2b3c"),
]


@pytest.mark.parametrize("joined", [False, True], ids=["flag value", "flag=value"])
@pytest.mark.parametrize(("command", "flag", "value"), FLAG_CASES, ids=[c[1] for c in FLAG_CASES])
def test_a_credential_flag_is_masked_before_any_usage_error(
    tmp_path: Path, command: str, flag: str, value: str, joined: bool
) -> None:
    # The unknown option stops click before the command runs: only the scan of argv can have seen the value.
    given = [f"{flag}={value}"] if joined else [flag, value]
    proc = _run([command, *given, "--no-such-option"], tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "No such option" in proc.stderr
    secret = value.partition(": ")[2] or value
    assert secret in _masked(proc.stdout)
    assert not [p for p in _pieces(secret) if p in _written(proc, tmp_path)]


def test_only_the_value_after_a_credential_flag_is_a_secret(tmp_path: Path) -> None:
    # The command's name, the flags and the URL after the header's value are no secrets: masking "health" would
    # turn every "health" in the job's log into ***.
    with ScriptedServer(lambda seen: Reply(503)) as server:
        url = server.url("/health")
        args = ["health", "--header", "X-Key: hdr-Cnry-77aa88", url, "--retries", "1", "--deadline", "5"]
        proc = _run(args, tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert set(_masked(proc.stdout)) >= {"X-Key: hdr-Cnry-77aa88", "hdr-Cnry-77aa88"}
    assert not {"health", url, "--retries", "1", "5"} & set(_masked(proc.stdout))
    assert f"{url}  attempt 1  HTTP 503" in proc.stdout
    assert "hdr-Cnry" not in _written(proc, tmp_path)


def test_a_password_in_a_url_argument_is_masked_with_and_without_a_scheme(tmp_path: Path) -> None:
    args = ["health", "deploy:pw-Cnry-31f2e1@app.example.com/health", "--service-url"]
    args += ["api=https://svc:pw-Cnry-42a3b2@api.example.com", "--no-such-option"]
    proc = _run(args, tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    masked = set(_masked(proc.stdout))
    basic = base64.b64encode(b"svc:pw-Cnry-42a3b2").decode()
    assert {"pw-Cnry-31f2e1", "deploy:pw-Cnry-31f2e1", "pw-Cnry-42a3b2", "svc:pw-Cnry-42a3b2", basic} <= masked
    assert not {"deploy", "svc", "app.example.com", "health"} & masked


# --- the environment: known names, names like a credential, URLs with a password ---------------------------------

SECRET_VALUES = {
    # Named like a credential, 8 characters or more.
    "NPM_TOKEN": "npm-Cnry-0a9b8c",
    "DB_PASSWORD": "pwd-Cnry-1b2c3d",
    "STRIPE_API_KEY": "key-Cnry-2c3d4e",
    "APP_SECRET": "sec-Cnry-3d4e5f",
    "OLD_PASSWD": "pwd-Cnry-4e5f6a",
    "ZAP_WEBHOOK_URL": "https://zap.example/hooks/zap-Cnry-5f6a7b",
    "CHAT_WEBHOOK": "https://chat.example/w/cht-Cnry-6a7b8c",
    "CI_TOKEN": "a1b2C3d4",  # exactly 8: long enough to be a credential
    "DATABASE_PRIVATE_URL": "postgres://app:dbp-Cnry-7b8c9d@db.internal:5432/app",
    # Known names and kars inputs: secrets at any length.
    "RAILWAY_TOKEN": "rw-Cn1",
    "RAILWAY_API_TOKEN": "rwa-C2",
    "GITHUB_TOKEN": "gh-Cn3",
    "GH_TOKEN": "ghc-C4",
    "SLACK_WEBHOOK_URL": "sl-Cn5",
    "DISCORD_WEBHOOK_URL": "dc-Cn6",
    "KARS_INPUT_RAILWAY_TOKEN": "ki-Cn7",
    "INPUT_API_KEY": "ia-Cn8",
    "KARS_HEALTH_HEADERS": "X-Key: kh-Cn9",
    "KARS_WEBHOOK_SECRET": "kw-Cn0",
}
PLAIN_VALUES = {
    "USE_TOKEN": "true",  # a switch, not a credential
    "SKIP_PASSWORD": "FALSE",
    "SHORT_TOKEN": "z9y8X7w",  # 7 characters: would blank ordinary words
    "TOKENIZER": "wordpiece-large",  # TOKEN not at the end of the name
    "MYTOKEN": "mytoken-value-long",  # nor after an underscore
    "KARS_INPUT_ENVIRONMENT": "production",
    "GIT_EMAIL": "dev@example.com",  # an @ without a URL
}
PROXY = "http://proxy-user:prx-Cnry-8c9d0e@proxy.internal:3128"
ECHO = (
    "import os\n"
    "for n in NAMES: print(n, repr(os.environ[n]))\n"
    "print('proxy password', os.environ['HTTPS_PROXY'].split('@')[0].split(':')[-1])\n"
)


def _echo_project(tmp: Path, code: str, config: str = "kars.yml", extra: str = "") -> Path:
    """A repository whose one service's tests run ``code`` (Python), from the kars.yml at ``config``."""
    root = tmp / "repo"
    path = root / config
    path.parent.mkdir(parents=True, exist_ok=True)
    script = root / "echo.py"
    script.write_text(code, encoding="utf-8")
    # The suite's own interpreter: a python3 found on PATH may be a version manager's shim, a dozen processes a start.
    test = f"{sys.executable} {script}"
    path.write_text(f"{extra}services:\n  api:\n    directory: .\n    test: {test}\n", encoding="utf-8")
    return root


def test_variables_named_like_credentials_are_masked_and_switches_are_not(tmp_path: Path) -> None:
    root = _echo_project(tmp_path, ECHO.replace("NAMES", repr(sorted({*SECRET_VALUES, *PLAIN_VALUES}))))
    proc = _run(["test"], root, SECRET_VALUES | PLAIN_VALUES | {"HTTPS_PROXY": PROXY})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    written = _written(proc, root)
    for name, value in PLAIN_VALUES.items():
        assert f"{name} {value!r}" in written, name
    for name, value in SECRET_VALUES.items():
        shown = "'postgres://***@db.internal:5432/app'" if name == "DATABASE_PRIVATE_URL" else "'***'"
        assert f"{name} {shown}" in written, name
        assert value not in written, name
    assert "dbp-Cnry-7b8c9d" not in written
    # An ordinary variable holding a URL: its password (and user:password) is a secret, the rest is not.
    assert "proxy password ***" in written
    masked = set(_masked(proc.stdout))
    assert {"prx-Cnry-8c9d0e", "proxy-user:prx-Cnry-8c9d0e"} <= masked
    assert not {*PLAIN_VALUES.values(), PROXY, "proxy-user"} & masked


# --- the variables a kars.yml names, wherever the kars.yml is -------------------------------------------------

ALERTS = "alerts:\n  slack_webhook_env: TEAM_HOOK\n  webhook_secret_env: TEAM_KEY\n"
HOOK = "https://hooks.example.com/services/T0/B0/team-Cnry-0f1e2d"
KEY = "tkey-Cnry-3c4b5a"


@pytest.mark.parametrize(
    ("config", "args", "env"),
    [
        ("kars.yml", [], {}),
        ("kars.yaml", [], {}),
        (".github/kars.yml", [], {}),
        (".github/kars.yaml", [], {}),
        ("ci/deploy.yml", ["--config", "ci/deploy.yml"], {}),
        ("ci/deploy.yml", ["--config=ci/deploy.yml"], {}),
        ("ci/deploy.yml", [], {"KARS_CONFIG": "ci/deploy.yml"}),
        # --config wins over KARS_CONFIG, for the scan as for the command.
        ("ci/deploy.yml", ["--config", "ci/deploy.yml"], {"KARS_CONFIG": "elsewhere.yml"}),
    ],
    ids=["kars.yml", "kars.yaml", ".github/kars.yml", ".github/kars.yaml", "--config", "--config=", "KARS_CONFIG",
         "--config over KARS_CONFIG"],
)
def test_the_variables_kars_yml_names_are_masked_wherever_it_is_found(
    tmp_path: Path, config: str, args: list[str], env: dict[str, str]
) -> None:
    echo = "import os\nprint('hook', os.environ['TEAM_HOOK'], 'key', os.environ['TEAM_KEY'])\n"
    root = _echo_project(tmp_path, echo, config, ALERTS)
    (root / "elsewhere.yml").write_text("services: {}\n", encoding="utf-8")
    proc = _run(["test", *args], root, env | {"TEAM_HOOK": HOOK, "TEAM_KEY": KEY})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    written = _written(proc, root)
    assert "hook *** key ***" in written
    assert {HOOK, KEY} <= set(_masked(proc.stdout))


def test_a_config_path_given_absolute_is_scanned_too(tmp_path: Path) -> None:
    headers = "  api:\n    health:\n      url: http://x/\n      headers: {X-Key: '${KEY_VAR}'}\n"
    root = _echo_project(tmp_path, "import os\nprint('key', os.environ['KEY_VAR'])\n", "ci/k.yml")
    path = root / "ci" / "k.yml"
    path.write_text(path.read_text().replace("  api:\n", headers))
    proc = _run(["test", "--config", str(path)], tmp_path, {"KEY_VAR": KEY})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "key ***" in _written(proc, tmp_path)


def test_config_given_without_its_path_is_a_usage_error(tmp_path: Path) -> None:
    proc = _run(["validate", "--config"], tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "'--config' requires an argument" in proc.stderr
    assert "internal error" not in proc.stdout + proc.stderr


# --- what servers echo back ----------------------------------------------------------------------------------------


@pytest.fixture
def sink() -> Iterator[AlertSink]:
    receiver = AlertSink()
    yield receiver
    receiver.stop()


def test_a_webhook_url_as_httpx_prints_it_in_debug_logs_is_redacted(tmp_path: Path, sink: AlertSink) -> None:
    # httpx logs the URL it sent to, re-encoded ({ } as %7B %7D, | and ^ left alone): not a form escaping gives.
    hook = sink.url + "/T0/B0/wh|k^{Cnry}9d8c7b"
    proc = _run(["notify", "--event", "failure", "--webhook-url", hook], tmp_path, {"KARS_DEBUG": "1"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "HTTP Request: POST" in proc.stderr  # the debug log did print the request
    written = _written(proc, tmp_path)
    assert "Cnry" not in written and "9d8c7b" not in written
    assert len(sink.received) == 1


def test_a_secret_with_quotes_echoed_inside_a_json_body_leaves_nothing_in_any_output(tmp_path: Path) -> None:
    # The answer quotes the header inside a JSON string inside a JSON field; the outputs quote that once more.
    secret = 'hdr"Cnry\\q7Z2k4Lm%Np8/x y'

    def echo(seen: Seen) -> Reply:
        return Reply.json({"status": "ok", "version": json.dumps({"got": seen.headers.get("x-key")})})

    with ScriptedServer(echo) as server:
        url = server.url("/health")
        args = ["health", "--header", f"X-Key: {secret}", "--expect-version", "v9.9.9", url]
        proc = _run([*args, "--retries", "1", "--deadline", "5"], tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    outputs = (tmp_path / "output").read_text()
    assert "another version is answering" in outputs  # the echo did reach GITHUB_OUTPUT, redacted
    written = _written(proc, tmp_path)
    assert not [p for p in ("Cnry", "q7Z2", "k4Lm", "Np8/") if p in written]
