"""Hostile and broken input, through the real CLI: each ends in its documented exit code with a message that
names the file:line:column, the flag or the service — never a traceback, never a hang."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.fakes.cli_fork import run_kars
from tests.fakes.echo_server import echo_server

LIMIT = 60.0  # seconds; every case here ends in well under one on an idle machine


def _alias_bomb() -> str:
    text = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    for low, high in zip("abcdefghi", "bcdefghij", strict=True):
        text += f"{high}: &{high} [" + ",".join([f"*{low}"] * 9) + "]\n"
    return text


@dataclass(frozen=True)
class Case:
    name: str
    args: list[str]
    code: int
    says: str
    env: dict[str, str] = field(default_factory=dict)
    kars_yml: str | None = None
    files: dict[str, str] = field(default_factory=dict)


HEALTH_SERVICE = "services:\n  api:\n    health:\n      url: http://127.0.0.1:9/health\n"
CASES = [
    # Usage errors that used to print a token given by mistake; here the value is harmless, the exit is the point.
    Case("extra argument", ["tag", "--dry-run", "oops"], 2, "unexpected extra argument"),
    Case("argv not utf-8", ["notify", "--event", "failure", "--summary", "\udcff"], 2, "argument 5 is not valid UTF-8"),
    # kars.yml
    Case("alias bomb", ["test"], 2, "kars.yml:1:", kars_yml=_alias_bomb()),
    Case("over 1 MiB", ["test"], 2, "larger than 1024 KiB", kars_yml="# " + "x" * (1024 * 1024) + "\n"),
    Case("nested deep", ["test"], 2, "nested more than", kars_yml="x: " + "[" * 5000 + "]" * 5000 + "\n"),
    Case("NUL byte", ["test"], 2, "kars.yml:1:11: kars.yml contains a NUL byte", kars_yml="project: a\x00b\n"),
    Case(
        "lone surrogate",
        ["notify", "--event", "failure", "--dry-run"],
        2,
        "kars.yml:1:10: text contains a lone surrogate",
        kars_yml='project: "\\ud800"\n',
    ),
    Case(
        "nan interval",
        ["health", "--service", "api"],
        2,
        "kars.yml:5:17: nan is not a usable number",
        kars_yml=HEALTH_SERVICE + "      interval: .nan\n",
    ),
    Case(
        "tag prefix in kars.yml", ["tag", "--dry-run"], 2, "kars.yml:2:15:", kars_yml="release:\n  tag_prefix: ../x\n"
    ),
    # validate --schema
    Case(
        "schema $ref",
        ["validate", "--schema", "schema.json", "railway.json"],
        2,
        "$ref '#/definitions/nope' at /properties/build cannot be resolved",
        files={
            "schema.json": '{"type": "object", "properties": {"build": {"$ref": "#/definitions/nope"}}}',
            "railway.json": '{"build": {}}',
        },
    ),
    # health URLs, headers, numbers
    *(
        Case(f"health url {url!r}", ["health", url], 2, says)
        for url, says in [
            ("http://127.0.0.1:99999/", "port must be a number from 1 to 65535"),
            ("http://127.0.0.1:-1/", "port must be a number from 1 to 65535"),
            ("http://127.0.0.1:abc/", "port must be a number from 1 to 65535"),
            ("http://[::1/health", "IPv6 address must be written in brackets"),
            ("http://127.0.0.1/he\x07alth", "contains a space or a control character"),
            ("http://", "has no host"),
            ("http:///health", "has no host"),
            ("http://app example.com/", "contains a space or a control character"),
            ("deploy:pw@app.example.com/health", "must start with http:// or https://"),
            # Malformed URLs are refused before any request, not polled as a DNS failure (exit 1).
            ("http://%zz/", "has a malformed percent-escape ('%zz')"),
            ("http://app.example.com/health?x=%G1", "has a malformed percent-escape ('%G1')"),
            ("http://%61pp.example.com/", "percent-escapes cannot stand in a host name"),
            ("http://app..example.com/", "'app..example.com' has an empty label"),
            ("http://.example.com/", "has an empty label"),
            ("http://-app.example.com/", "the label '-app' starts or ends with a hyphen"),
            ("http://xn--zz.example.com/", "the label 'xn--zz' is not valid IDNA"),
            ("http://\u2603.example.com/", "is not a valid internationalised domain name (IDNA)"),
            ("http://app!.example.com/", "contains '!', which no host name holds"),
            ("http://256.0.0.1/", "'256.0.0.1' is not an IPv4 address"),
            ("http://[zz]/", "the address in brackets is not an IPv6 address"),
            ("http://" + "a" * 64 + ".example.com/", "64 characters long; a label has at most 63"),
        ]
    ),
    Case(
        "service-url malformed",
        ["health", "--service", "api", "--service-url", "api=http://%zz/"],
        2,
        "--service-url api 'http://%zz/' has a malformed percent-escape",
        kars_yml="services:\n  api:\n    health:\n      path: /health\n",
    ),
    Case(
        "kars.yml service url",
        ["test"],
        2,
        "kars.yml:3:10: services.api.url 'http://app..example.com' has an invalid host",
        kars_yml="services:\n  api:\n    url: http://app..example.com\n",
    ),
    Case(
        "kars.yml health url",
        ["test"],
        2,
        "kars.yml:4:12: services.api.health.url 'http://%zz/health' has a malformed percent-escape",
        kars_yml="services:\n  api:\n    health:\n      url: http://%zz/health\n",
    ),
    Case(
        "kars.yml environment url",
        ["test"],
        2,
        "kars.yml:4:10: environments.production.url 'https://-app.example.com' has an invalid host",
        kars_yml="environments:\n  production:\n    branch: main\n    url: https://-app.example.com\n",
    ),
    Case(
        "webhook url malformed",
        ["notify", "--event", "failure", "--webhook-url", "https://hooks..example.com/T0/hooksecretpart"],
        2,
        "the webhook URL has an invalid host: it has an empty label",
    ),
    Case(
        "slack webhook bad escape",
        ["notify", "--event", "failure", "--slack-webhook", "https://hooks.example.com/T0/%zzsecretpart"],
        2,
        "the Slack webhook has a malformed percent-escape:",
    ),
    Case(
        "release webhook env malformed",
        ["release", "--dry-run", "--service", "api"],
        2,
        "the webhook URL has a malformed percent-escape",
        env={"KARS_WEBHOOK_URL": "https://alerts.example.com/%zzsecretpart"},
    ),
    Case("header CR/LF", ["health", "http://127.0.0.1:9/", "--header", "X-A: b\r\nX-B: c"], 2, "line break"),
    Case("version field", ["health", "http://127.0.0.1:9/", "--version-field", "a..b"], 2, "'a..b': empty segment"),
    Case("nan timeout", ["health", "http://127.0.0.1:9/", "--timeout", "nan"], 2, "'nan' is not a finite number"),
    Case("inf deadline", ["deploy", "--timeout", "inf"], 2, "'inf' is not a finite number"),
    Case("tag prefix", ["tag", "--dry-run", "--tag-prefix", "../../x"], 2, "--tag-prefix '../../x' contains '..'"),
    # endpoint overrides
    *(
        Case(
            name,
            ["release-status", "--success", "--tag", "v1.0.0"],
            2,
            f"GITHUB_API_URL '{url}'{says}",
            env={"GITHUB_API_URL": url, "GITHUB_TOKEN": "x", "GITHUB_REPOSITORY": "a/b"},
        )
        for name, url, says in [
            ("GITHUB_API_URL", "not a url", ""),
            ("GITHUB_API_URL host", "https://api..github.com", " has an invalid host"),
        ]
    ),
    *(
        Case(
            name,
            ["deploy", "--service", "api", "--commit", "abcdef1" * 5 + "abcde"],
            2,
            f"RAILWAY_GRAPHQL_ENDPOINT '{url}'{says}",
            env={"RAILWAY_GRAPHQL_ENDPOINT": url, "RAILWAY_TOKEN": "x"},
        )
        for name, url, says in [
            ("RAILWAY_GRAPHQL_ENDPOINT", "http://[::1/graphql", ""),
            (
                "RAILWAY_GRAPHQL_ENDPOINT escape",
                "https://backboard.railway.com/graphql/%v2",
                " has a malformed percent-escape",
            ),
        ]
    ),
    # services that answer nonsense
    Case(
        "Railway projectToken null",
        ["deploy", "--service", "api", "--commit", "abcdef1" * 5 + "abcde"],
        3,
        "Railway: the answer to projectToken named no project",
        env={"RAILWAY_GRAPHQL_ENDPOINT": "{base}/graphql-null", "RAILWAY_TOKEN": "x"},
    ),
    Case(
        "Railway Retry-After 0",
        ["deploy", "--service", "api", "--commit", "abcdef1" * 5 + "abcde", "--timeout", "5"],
        3,
        "Railway: rate limit reached",
        # Its backoff pauses pass on the virtual clock: the deadline ends the retries all the same.
        env={"RAILWAY_GRAPHQL_ENDPOINT": "{base}/ratelimited", "RAILWAY_TOKEN": "x", "KARS_TEST_VIRTUAL_CLOCK": "1"},
    ),
    Case(
        "GitHub answers HTML",
        ["release-status", "--success", "--tag", "v1.0.0"],
        3,
        "GitHub: listing releases: the API answered with a page that is not JSON",
        env={"GITHUB_API_URL": "{base}/html", "GITHUB_TOKEN": "x", "GITHUB_REPOSITORY": "a/b"},
    ),
]


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    with echo_server() as url:
        yield url


def run_cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "KARS_", "RAILWAY_"))}
    full.update(env)
    return run_kars(
        [*args],
        capture_output=True,
        text=True,
        env=full,
        cwd=cwd,
        timeout=LIMIT,
        errors="backslashreplace",
    )


@pytest.mark.parametrize("debug", [False, True], ids=["plain", "debug"])
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_a_located_error_with_its_exit_code(case: Case, debug: bool, base: str, tmp_path: Path) -> None:
    if case.kars_yml is not None:
        (tmp_path / "kars.yml").write_text(case.kars_yml, encoding="utf-8", errors="surrogatepass")
    for name, text in case.files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    env = {k: v.replace("{base}", base) for k, v in case.env.items()} | {"KARS_DEBUG": "1" if debug else ""}
    proc = run_cli(case.args, env, tmp_path)
    output = proc.stdout + proc.stderr
    assert proc.returncode == case.code, output
    assert case.says in output
    assert "Traceback" not in output
    assert "internal error" not in output
    assert "secretpart" not in output  # a webhook URL is a secret: its error never quotes it
