"""The one redaction layer: every form a secret can be printed in, pieces left by truncation, and the edge
streams every byte passes through."""

from __future__ import annotations

import base64
import html
import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from kars_actions.core import gha
from kars_actions.core.masking import config_secret_names, register_process_secrets
from tests.fakes.cli_process import run_cli

TOKEN = "tok-Canary-0123456789abcdefXYZ"


@pytest.fixture
def registry() -> gha.SecretRegistry:
    reg = gha.SecretRegistry()
    reg.register(TOKEN)
    return reg


def test_the_bare_token_of_a_header_value_is_a_secret_of_its_own() -> None:
    reg = gha.SecretRegistry()
    reg.register("Authorization: Bearer hdr-Canary-4455667788")
    reg.register("token gh-Canary-99887766")
    assert reg.redact("sent hdr-Canary-4455667788 alone") == "sent *** alone"
    assert reg.redact("echo gh-Canary-99887766") == "echo ***"


def test_the_basic_credential_built_from_a_url_is_redacted() -> None:
    reg = gha.SecretRegistry()
    reg.register("https://deploy:pw-Canary-123456@app.example.com/health")
    basic = base64.b64encode(b"deploy:pw-Canary-123456").decode()
    assert reg.redact(f"Authorization: Basic {basic}") == "Authorization: Basic ***"
    assert "pw-Canary-123456" not in reg.redact("password pw-Canary-123456")


ODD = 'pa%ss|w"rd\\Canary é+/:@&<>'


@pytest.mark.parametrize(
    "shown",
    [
        quote(ODD, safe=""),
        quote(ODD, safe="/:@"),
        quote(ODD, safe="/:@?&=+$,;~!*'()#[]%"),
        quote_plus(ODD),
        json.dumps(ODD)[1:-1],
        json.dumps(ODD, ensure_ascii=False)[1:-1],
        gha.escape_data(ODD),
        gha.escape_property(ODD),
        gha.md_escape(ODD),
        gha.escape_data(gha.md_escape(ODD)),
        repr(ODD)[1:-1],
        html.escape(ODD, quote=True),
        html.escape(ODD, quote=False),
    ],
    ids=lambda shown: shown[:24],
)
def test_escaped_forms_of_a_secret_are_redacted(shown: str) -> None:
    reg = gha.SecretRegistry()
    reg.register(ODD)
    assert reg.redact(f"answer: {shown} end") == "answer: *** end"


@pytest.mark.parametrize(
    ("outer", "inner"),
    [
        ("json", "json"),  # a JSON body quoted inside a JSON output
        ("url", "json"),  # a JSON value put in a query string
        ("json", "url"),
        ("url", "url"),
        ("md", "json"),
        ("html", "json"),
        ("repr", "url"),
        ("plus", "json"),
    ],
)
def test_a_secret_escaped_twice_is_redacted(outer: str, inner: str) -> None:
    escape = {
        "json": lambda v: json.dumps(v)[1:-1],
        "url": lambda v: quote(v, safe=""),
        "plus": quote_plus,
        "md": gha.md_escape,
        "html": html.escape,
        "repr": lambda v: repr(v)[1:-1],
    }
    secret = 'hdr"Cnry\\q7Z2k4 Lm%Np8/x'
    reg = gha.SecretRegistry()
    reg.register(f"X-Key: {secret}")
    shown = escape[outer](escape[inner](secret))
    assert shown != secret
    assert reg.redact(f'{{"body": "{shown}"}}') == '{"body": "***"}'


def test_redaction_runs_on_the_final_annotation_and_table_text(registry: gha.SecretRegistry) -> None:
    secret = "50%|odd\\Canary-secret"
    registry.register(secret)
    annotation = gha.annotation_command("error", f"health said {secret}", title=secret)
    table = gha.md_table(["said"], [[secret]])
    assert "Canary" not in registry.redact(annotation) + registry.redact(table)


@pytest.mark.parametrize("cut", [60, 77, 12, 8])
def test_a_truncated_excerpt_leaves_no_prefix_of_a_secret(registry: gha.SecretRegistry, cut: int) -> None:
    body = f'{{"echo": "{TOKEN}"}}'
    start = body.index(TOKEN)
    excerpt = body[: start + min(cut, len(TOKEN) - 1)]
    for shown in (excerpt + "...", excerpt + "…", excerpt, excerpt + "\nnext line", excerpt + " — hint: rerun"):
        out = registry.redact(shown)
        assert TOKEN[:6] not in out, shown


def _pieces_left(text: str, secret: str = TOKEN) -> list[str]:
    """Every piece of 4 or more characters of ``secret`` still in ``text``."""
    return [secret[i : i + 4] for i in range(len(secret) - 3) if secret[i : i + 4] in text]


def test_a_left_truncated_secret_leaves_no_piece_of_four_characters(registry: gha.SecretRegistry) -> None:
    # The 8-character tail used to be redacted first, hiding the longer piece it ends: 13 characters stayed.
    assert registry.redact("…" + TOKEN[9:] + " more") == "…*** more"
    for start in range(1, len(TOKEN) - 3):
        tail = TOKEN[start:]
        for shown in (f"…{tail} more", f"[dropped]\n{tail}\n", f"...{tail}", f'"{tail}"', f"'{tail}', next"):
            assert not _pieces_left(registry.redact(shown)), shown


def test_a_right_truncated_secret_leaves_no_piece_that_looks_like_a_token(registry: gha.SecretRegistry) -> None:
    # "tok-" alone says nothing (no digit, one case); from "tok-C" on, nothing of the secret stays.
    for end in range(5, len(TOKEN)):
        head = TOKEN[:end]
        for shown in (f"sent {head}…", f'"{head}', f"x={head}...", f"{head}\nnext"):
            assert not _pieces_left(registry.redact(shown)), shown


def test_four_or_five_characters_count_only_alone_and_when_they_look_like_a_token() -> None:
    reg = gha.SecretRegistry()
    reg.register("hunter2-plain-words")
    reg.register("tok-Canary-0123456789abcdefXYZ")
    assert reg.redact("…fXYZ and …efXYZ") == "…*** and …***"
    assert reg.redact("…fXYZW, …fXYZ9 and tok-C…") == "…fXYZW, …fXYZ9 and ***…"
    assert reg.redact("…ords and xtok-C… and tok-C7…") == "…ords and xtok-C… and tok-C7…"


def test_the_end_of_a_url_that_ends_at_its_host_is_no_secret() -> None:
    reg = gha.SecretRegistry()
    reg.register("postgres://app:dbp-Canary-7b8c9d@db.internal:5432/app")
    reg.register("https://hooks.example.com/services/T0/B0/hook-Canary-5432ab")
    shown = "connected to db.internal:5432/app; hook ends ...Canary-5432ab"
    assert reg.redact(shown) == "connected to db.internal:5432/app; hook ends ...***"
    assert reg.redact("tail nary-5432ab here") == "tail nar*** here"  # a webhook's path is its secret


def test_ordinary_words_that_start_a_header_secret_are_left_alone() -> None:
    reg = gha.SecretRegistry()
    reg.register("Authorization: Bearer hdr-Canary-4455667788")
    text = "health checks never carry Authorization\n"
    assert reg.redact(text) == text


def test_the_user_name_beside_a_password_stays_readable_but_a_token_user_is_a_secret() -> None:
    reg = gha.SecretRegistry()
    reg.register("https://deploy:pw-Canary-123456@app.example.com/health")
    reg.register("https://tok-Canary-654321@github.com/acme/app.git")
    assert reg.redact("deploy failed") == "deploy failed"
    assert reg.redact("user tok-Canary-654321") == "user ***"


def test_a_token_given_as_a_url_user_is_redacted_escaped_unescaped_and_as_basic() -> None:
    reg = gha.SecretRegistry()
    reg.register("https://tok%2fen-Canary-77@git.example.com/acme/app.git")  # escaped in lower case: as typed
    basic = base64.b64encode(b"tok/en-Canary-77:").decode()
    shown = f"user tok%2fen-Canary-77, tok/en-Canary-77, Basic {basic}"
    assert reg.redact(shown) == "user ***, ***, Basic ***"


def test_a_password_is_redacted_escaped_and_unescaped_with_its_user() -> None:
    reg = gha.SecretRegistry()
    reg.register("postgres://deploy:pw%2fCanary-88@db.example:5432/app")
    basic = base64.b64encode(b"deploy:pw/Canary-88").decode()
    shown = f"pw%2fCanary-88 pw/Canary-88 deploy:pw%2fCanary-88 deploy:pw/Canary-88 {basic}"
    assert reg.redact(shown) == "*** *** *** *** ***"


def test_a_basic_header_gives_its_user_password_and_its_password() -> None:
    reg = gha.SecretRegistry()
    reg.register("Authorization: Basic " + base64.b64encode(b"ci-user:pass-Canary-99").decode())
    reg.register("Authorization: Basic aGVsbG8g*d29ybGQ=")  # "hello world" with a character base64 has not
    reg.register("Authorization: Basic " + base64.b64encode(b"\xff\xfe-not-text").decode())
    reg.register("Authorization: Bearer " + base64.b64encode(b"hello world").decode())  # a token, not Basic
    assert reg.redact("pass-Canary-99 and ci-user:pass-Canary-99") == "*** and ***"
    assert reg.redact("hello world, ci-user") == "hello world, ci-user"


def test_a_url_that_cannot_be_parsed_or_has_a_short_path_is_still_a_secret() -> None:
    reg = gha.SecretRegistry()
    reg.register("http://[::1:80/hook-Canary-31")  # an unclosed IPv6 bracket: urlsplit refuses it
    reg.register("https://user:pw-Canary-12@db.example/x")
    assert reg.redact("[http://[::1:80/hook-Canary-31] pw-Canary-12") == "[***] ***"


def test_a_webhook_url_printed_with_another_host_spelling_keeps_its_path_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delitem(sys.modules, "httpx", raising=False)  # as in a command that never loads httpx
    reg = gha.SecretRegistry()
    reg.register("https://hooks.slack.com/services/T0/B0/hook-Canary-1234")
    shown = "POST https://HOOKS.SLACK.COM:443/services/T0/B0/hook-Canary-1234 failed"
    assert reg.redact(shown) == "POST https://HOOKS.SLACK.COM:443*** failed"


def test_a_secret_registered_after_output_began_is_redacted_from_then_on(registry: gha.SecretRegistry) -> None:
    assert registry.redact(f"{TOKEN} hook-Canary-4321") == "*** hook-Canary-4321"
    registry.register("hook-Canary-4321")
    assert registry.redact(f"{TOKEN} hook-Canary-4321") == "*** ***"


def test_a_cleared_registry_forgets_every_secret_and_learns_again(monkeypatch: pytest.MonkeyPatch) -> None:
    import httpx  # noqa: F401 - loaded, as in a command that talks to an API

    reg = gha.SecretRegistry()
    hook = "https://hooks.example.com/services/T0/B0/wh|k^{Canary}9d8c7b"
    reg.register(TOKEN)
    reg.register(hook)
    shown = f"{TOKEN[:12]}… https://hooks.example.com/services/T0/B0/wh|k^%7BCanary%7D9d8c7b"
    assert reg.redact(shown) == "***… ***"  # the URL as httpx prints it: { } escaped, | ^ left
    reg.clear()
    assert TOKEN not in reg and reg.redact(shown) == shown
    reg.register("unrelated-Canary-1")
    assert reg.redact(shown) == shown
    reg.register(hook)
    assert reg.redact(shown).endswith("… ***")


def test_pieces_at_both_ends_of_one_line_are_all_redacted(registry: gha.SecretRegistry) -> None:
    # The end of one copy early in the line, the start of another late in it: both go, in order.
    assert registry.redact(f"…{TOKEN[14:]} and later {TOKEN[:12]}…") == "…*** and later ***…"


def test_a_secret_that_begins_another_leaves_nothing_of_the_longer_one() -> None:
    reg = gha.SecretRegistry()
    reg.register("abcd-Canary-9")
    reg.register("abcd-Canary-9-extended")
    assert reg.redact("[abcd-Canary-9-extended] [abcd-Canary-9]") == "[***] [***]"


def test_the_last_8_characters_alone_are_redacted_from_a_secret_of_12() -> None:
    reg = gha.SecretRegistry()
    reg.register("ab12cd34ef56")
    reg.register("ab12cd34e5f")  # 11 characters: too short for its end to stand for it
    assert reg.redact("x cd34ef56 z 2cd34e5f") == "x *** z 2cd34e5f"


def test_an_end_that_looks_like_a_word_is_no_piece_of_a_secret() -> None:
    reg = gha.SecretRegistry()
    reg.register("Canary-9abcdefgh")  # its last 8 characters are one lower-case word
    reg.register("Canary-1234-vwxyz")
    assert reg.redact("the abcdefgh here …vwxyz") == "the abcdefgh here …vwxyz"


def test_a_piece_is_only_as_long_as_what_matches_before_the_cut() -> None:
    reg = gha.SecretRegistry()
    reg.register("abcdefXabcdefY")  # "abcdef" twice: the start, and inside
    assert reg.redact("hello world abcdef…") == "hello world ***…"
    assert reg.redact("…abcdefY done") == "…*** done"


def test_a_piece_found_twice_is_redacted_once() -> None:
    reg = gha.SecretRegistry()
    reg.register("k9q-abc123")
    reg.register("abc123-k9q")
    assert reg.redact("…abc123…") == "…***…"  # the end of one, the start of the other


def test_a_secret_urls_scheme_and_host_are_no_piece_of_it() -> None:
    reg = gha.SecretRegistry()
    reg.register("https://hooks.example.com/services/T0/B0/hook-Canary-5544")
    text = 'posting to "https://hooks.example.com" and "https://hooks.exa…"'
    assert reg.redact(text) == text
    assert reg.redact('"https://hooks.example.com/…"') == '"***…"'  # one character of the path is a piece
    assert reg.redact('"https://hooks.example.com/services/T0…"') == '"***…"'  # the path is the secret


def test_a_short_secret_cut_short_leaves_nothing_either() -> None:
    reg = gha.SecretRegistry()
    reg.register("pw3-x7Q")  # 7 characters
    assert reg.redact('"pw3-x7…" and "…w3-x7Q"') == '"***…" and "…***"'


def test_empty_and_blank_values_are_no_secrets() -> None:
    reg = gha.SecretRegistry()
    for value in (None, "", "      ", "\n\t\n\t"):
        reg.register(value)
    text = "a      b\n\t\n\tc"
    assert reg.redact(text) == text


def test_a_truncated_webhook_url_leaves_no_piece_of_its_path() -> None:
    reg = gha.SecretRegistry()
    hook = "https://hooks.example.com/services/T0/B0/hookpath-Canary-5544"
    reg.register(hook)
    for cut in range(len("https://hooks.example.com/services/T0/B0/hoo"), len(hook)):
        assert "Canary" not in reg.redact(f'"url": "{hook[:cut]}…"').replace("hooks.example.com", ""), cut
    assert reg.redact("see https://hooks.example.com/ …") == "see https://hooks.example.com/ …"


def test_a_header_name_alone_is_no_piece_of_a_secret() -> None:
    reg = gha.SecretRegistry()
    reg.register("X-Api-Key:hdr-Canary-7788")
    assert reg.redact('send the "X-Api-Key:" header') == 'send the "X-Api-Key:" header'
    assert reg.redact('"hdr-Canary-77…') == '"***…'


def test_a_url_path_is_a_secret_of_its_own_from_eight_characters() -> None:
    reg = gha.SecretRegistry()
    reg.register("https://one.example/abcdefgh")
    reg.register("https://two.example/ijklmno/")
    shown = "other.example/abcdefgh and other.example/ijklmno/"
    assert reg.redact(shown) == "other.example*** and other.example/ijklmno/"


def test_four_characters_are_the_shortest_secret_redacted() -> None:
    import httpx  # noqa: F401 - loaded: what it would print is learned, for URLs only

    reg = gha.SecretRegistry()
    reg.register("x9Q!")
    reg.register("ab7")
    assert reg.redact("k x9Q! k ab7") == "k *** k ab7"


def test_credentials_in_any_printed_url_are_redacted_even_unregistered() -> None:
    reg = gha.SecretRegistry()
    out = reg.redact("cloning http://x-access-token:abc123@host/r.git failed")
    assert out == "cloning http://***@host/r.git failed"


def test_the_redacting_stream_finds_a_secret_written_in_pieces(registry: gha.SecretRegistry) -> None:
    raw = io.StringIO()
    stream = gha.RedactingStream(raw, registry)
    stream.write("first " + TOKEN[:10])
    stream.flush()
    assert raw.getvalue() == ""
    stream.write(TOKEN[10:] + " done\nheld")
    assert raw.getvalue() == "first *** done\n"
    stream.drain()
    assert raw.getvalue() == "first *** done\nheld"


def test_the_redacting_stream_has_no_buffer_to_write_around_it(registry: gha.SecretRegistry) -> None:
    stream = gha.RedactingStream(io.StringIO(), registry)
    assert not hasattr(stream, "buffer")
    with pytest.raises(TypeError, match=r"write\(\) argument must be str, not bytes"):
        stream.write(b"bytes")  # type: ignore[arg-type]


def test_masks_go_out_raw_through_the_redacting_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    raw = io.StringIO()
    reg = gha.SecretRegistry()
    reg._stream = gha.RedactingStream(raw, reg)
    reg.register(TOKEN)
    assert f"::add-mask::{TOKEN}\n" in raw.getvalue()


def test_an_output_file_that_cannot_be_written_is_one_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path))  # a folder
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "missing" / "summary.md"))
    monkeypatch.setattr(gha, "_FILE_WARNED", set())
    assert gha.set_outputs({"a": "1"}) is False
    assert gha.set_outputs({"b": "2"}) is False
    assert gha.append_summary("# x") is False
    err = capsys.readouterr().err
    assert err.count("cannot write GITHUB_OUTPUT") == 1
    assert err.count("cannot write GITHUB_STEP_SUMMARY") == 1


def test_process_secrets_cover_credential_flags_urls_and_kars_yml_names(tmp_path: Path) -> None:
    (tmp_path / "kars.yml").write_text(
        "alerts:\n  slack_webhook_env: MY_HOOK\nservices:\n  api:\n    health:\n"
        "      url: http://x/\n      headers: {X-Key: '${API_KEY_VAR}'}\n"
    )
    env = {"MY_HOOK": "https://hooks.example/T1/B2/hook-Canary-11", "API_KEY_VAR": "key-Canary-22", "HOME": "/h"}
    env["DATABASE_PUBLIC_URL"] = "postgresql://postgres:db-Canary-77@proxy.rlwy.net:5432/railway"
    assert config_secret_names([], env, tmp_path) == ["API_KEY_VAR", "MY_HOOK"]
    reg = gha.SecretRegistry()
    argv = ["health", "--header", "X-T: hdr-Canary-33", "--github-token=gh-Canary-44", "u:pw-Canary-55@app.example"]
    argv += ["--service-url", "api=https://deploy:pw-Canary-66@api.example.com"]
    register_process_secrets(argv, env, tmp_path, reg)
    for value in (
        "hook-Canary-11",
        "key-Canary-22",
        "hdr-Canary-33",
        "gh-Canary-44",
        "pw-Canary-55",
        "pw-Canary-66",
        "db-Canary-77",
    ):
        assert value[-8:] not in reg.redact(f"x {value} y"), value
    assert "/h" in reg.redact("/h")


def _cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_cli(args, cwd, env, actions=False, timeout=60)


def _leaks(text: str, secret: str) -> list[str]:
    return [line for line in text.splitlines() if not line.startswith("::add-mask::") and secret[-8:] in line]


def test_a_usage_error_never_prints_a_token_given_as_an_argument(tmp_path: Path) -> None:
    proc = _cli(["tag", "--dry-run", TOKEN], {"GITHUB_ACTIONS": "true", "GITHUB_TOKEN": TOKEN}, tmp_path)
    assert proc.returncode == 2
    assert f"::add-mask::{TOKEN}" in proc.stdout.splitlines()[0]
    assert not _leaks(proc.stdout + proc.stderr, TOKEN)
    assert "***" in proc.stderr


def test_a_test_that_echoes_the_webhook_kars_yml_names_prints_it_masked(tmp_path: Path) -> None:
    hook = "https://hooks.example.com/services/T0/B0/hook-Canary-7766"
    (tmp_path / "kars.yml").write_text(
        "alerts:\n  slack_webhook_env: TEAM_HOOK\nservices:\n  api:\n    directory: .\n"
        f"    test: {sys.executable} -c \"import os; print(os.environ['TEAM_HOOK'])\"\n"
    )
    proc = _cli(["test"], {"GITHUB_ACTIONS": "true", "TEAM_HOOK": hook}, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not _leaks(proc.stdout + proc.stderr, hook)
    assert "***" in proc.stdout


def test_debug_puts_the_redacted_traceback_after_the_message(tmp_path: Path) -> None:
    # A crash inside a command whose message holds a token: the redacted message first, then the traceback.
    code = (
        "import sys\n"
        "from kars_actions.cli import main\n"
        "def boom(*a, **k):\n"
        f"    raise RuntimeError('lost {TOKEN}')\n"
        "import kars_actions.railway_config.config as rc\n"
        "rc.validate = boom\n"
        "main(['validate', 'railway.json'])\n"
    )
    (tmp_path / "railway.json").write_text("{}")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "KARS_"))}
    env.update({"KARS_DEBUG": "1", "GITHUB_TOKEN": TOKEN})
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 1
    assert "internal error: RuntimeError: lost ***" in proc.stderr
    assert proc.stderr.index("internal error") < proc.stderr.index("Traceback")
    assert TOKEN not in proc.stderr and TOKEN[-8:] not in proc.stderr


def test_an_unwritable_output_file_leaves_the_exit_code_as_it_was(tmp_path: Path) -> None:
    (tmp_path / "railway.json").write_text('{"deploy": {"restartPolicyType": "ON_FAILURE"}}')
    proc = _cli(
        ["validate", "railway.json"],
        {"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(tmp_path), "GITHUB_STEP_SUMMARY": str(tmp_path)},
        tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.count("cannot write GITHUB_OUTPUT") == 1


# --- the edge: streams, masks, log records --------------------------------------------------------------------


class _Recorder(io.StringIO):
    """A stream that says what was flushed and can refuse to encode (an ASCII terminal) or to flush."""

    def __init__(self, encoding: str | None = None, flush_error: type[Exception] | None = None) -> None:
        super().__init__()
        self._encoding = encoding
        self.flush_error = flush_error
        self.flushed: list[str] = []

    @property
    def encoding(self) -> str | None:  # type: ignore[override]
        return self._encoding

    def write(self, text: str) -> int:
        if self._encoding == "ascii":
            text.encode("ascii")
        return super().write(text)

    def flush(self) -> None:
        if self.flush_error is not None:
            raise self.flush_error("closed")
        self.flushed.append(self.getvalue())

    def isatty(self) -> bool:
        return True

    def fileno(self) -> int:
        return 7


def test_masks_go_out_longest_first_and_flushed_before_anything_else(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    raw = _Recorder()
    reg = gha.SecretRegistry()
    reg._stream = raw
    reg.register("Authorization: Bearer tok-Canary-4455667788")
    lines = [line.removeprefix("::add-mask::") for line in raw.getvalue().splitlines()]
    assert {"Authorization: Bearer tok-Canary-4455667788", "tok-Canary-4455667788"} <= set(lines)
    forms = [line.replace("%0A", "\n").replace("%0D", "\r").replace("%25", "%") for line in lines]
    assert [len(form) for form in forms] == sorted((len(form) for form in forms), reverse=True)
    assert raw.flushed == [raw.getvalue()]


def test_outside_actions_nothing_is_announced_but_everything_is_redacted() -> None:
    raw = _Recorder()
    reg = gha.SecretRegistry()
    reg._stream = raw
    reg.register(TOKEN)
    assert raw.getvalue() == "" and reg.redact(TOKEN) == "***"


def test_the_redacting_stream_looks_like_the_stream_it_wraps(registry: gha.SecretRegistry) -> None:
    stream = gha.RedactingStream(_Recorder(encoding="latin-1"), registry)
    assert (stream.encoding, stream.errors, stream.writable(), stream.isatty(), stream.fileno()) == (
        "latin-1",
        "backslashreplace",
        True,
        True,
        7,
    )
    assert gha.RedactingStream(_Recorder(), registry).encoding == "utf-8"
    assert gha.RedactingStream(io.StringIO(), registry).isatty() is False

    class Bare:  # a stream with nothing but write
        def write(self, text: str) -> int:
            return len(text)

    assert gha.RedactingStream(Bare(), registry).isatty() is False  # type: ignore[arg-type]


def test_flush_and_drain_reach_the_stream_but_a_partial_line_waits(registry: gha.SecretRegistry) -> None:
    raw = _Recorder()
    stream = gha.RedactingStream(raw, registry)
    stream.write(f"done\npartial {TOKEN[:10]}")
    stream.flush()
    assert raw.flushed == ["done\n"]
    stream.drain()
    assert raw.flushed == ["done\n", "done\npartial ***"]


def test_the_redacting_stream_writes_what_its_stream_cannot_encode_escaped(registry: gha.SecretRegistry) -> None:
    raw = _Recorder(encoding="ascii")
    stream = gha.RedactingStream(raw, registry)
    assert stream.write(f"café {TOKEN}\n") == len(f"café {TOKEN}\n")
    assert raw.getvalue() == "caf\\xe9 ***\n"


def test_a_long_line_without_an_end_is_written_once_it_passes_the_cap(registry: gha.SecretRegistry) -> None:
    raw = _Recorder()
    stream = gha.RedactingStream(raw, registry)
    stream.write("x" * (64 * 1024 - len(TOKEN)) + TOKEN)  # 64 KiB held: the rest of the line may follow
    assert raw.getvalue() == ""
    stream.write("y")
    assert raw.getvalue() == "x" * (64 * 1024 - len(TOKEN)) + "***y"


def test_a_stream_that_cannot_flush_does_not_stop_the_program(registry: gha.SecretRegistry) -> None:
    for error in (OSError, ValueError):
        raw = _Recorder(flush_error=error)
        stream = gha.RedactingStream(raw, registry)
        stream.write(f"{TOKEN}\nrest")
        stream.drain()
        assert raw.getvalue() == "***\nrest"


def test_streams_are_wrapped_once_and_drained_at_exit(
    monkeypatch: pytest.MonkeyPatch, registry: gha.SecretRegistry
) -> None:
    out, err = _Recorder(), _Recorder()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    at_exit: list[object] = []
    monkeypatch.setattr(gha.atexit, "register", at_exit.append)
    gha.install_redacting_streams(registry)
    wrapped = sys.stdout
    gha.install_redacting_streams(registry)
    assert sys.stdout is wrapped and isinstance(sys.stderr, gha.RedactingStream)
    assert at_exit == [sys.stdout.drain, sys.stderr.drain]
    print(f"held {TOKEN}", end="")
    sys.stderr.write("also held")
    assert out.getvalue() == err.getvalue() == ""
    gha.drain_streams()
    assert (out.getvalue(), err.getvalue()) == ("held ***", "also held")


def test_a_missing_stream_is_left_missing(monkeypatch: pytest.MonkeyPatch, registry: gha.SecretRegistry) -> None:
    monkeypatch.setattr(sys, "stdout", None)
    monkeypatch.setattr(sys, "stderr", _Recorder())
    monkeypatch.setattr(gha.atexit, "register", lambda _f: None)
    gha.install_redacting_streams(registry)
    assert sys.stdout is None and isinstance(sys.stderr, gha.RedactingStream)


def test_log_records_of_every_handler_are_redacted_and_others_left_as_they_were(
    registry: gha.SecretRegistry,
) -> None:
    root = logging.getLogger()
    handler = logging.StreamHandler(io.StringIO())
    root.addHandler(handler)
    try:
        gha.install_log_redaction(registry)
        gha.install_log_redaction(registry)
        assert sum(isinstance(f, gha.RedactingFilter) for f in root.filters) == 1
        assert sum(isinstance(f, gha.RedactingFilter) for f in handler.filters) == 1
    finally:
        root.removeHandler(handler)
        root.filters = [f for f in root.filters if not isinstance(f, gha.RedactingFilter)]
    plain = logging.LogRecord("x", logging.INFO, __file__, 1, "step %s done", ("api",), None)
    assert gha.RedactingFilter(registry).filter(plain) is True
    assert (plain.msg, plain.args) == ("step %s done", ("api",))
