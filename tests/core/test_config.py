"""kars.yml: search order, typed values, and errors that point at file:line:column."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from kars_actions.core import gha
from kars_actions.core.config import find_config, kars_schema, load_config, parse_yaml_with_positions
from kars_actions.core.errors import EXIT_USAGE, ConfigError

REPO = Path(__file__).resolve().parents[2]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_the_bundled_example_loads_with_its_health_checks() -> None:
    config = load_config(str(REPO / "examples/kars-app/kars.yml"))
    backend = config.service("backend")
    assert backend.required_variables == ["DATABASE_URL", "JWT_SECRET"]
    check = backend.health[0]
    assert (check.path, check.port, check.interval, check.timeout, check.retries) == ("/api/health", 3000, 2, 5, 30)
    assert check.expect_json == {"status": "ok", "database": "connected"}
    assert config.environment("staging").prerelease == "rc"
    assert config.alerts.on == ["failure", "rollback", "recovery"]


def test_search_order_prefers_explicit_then_env_then_github_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "kars.yml", "project: root\n")
    assert find_config(None, tmp_path) == tmp_path / "kars.yml"
    write(tmp_path / ".github/kars.yml", "project: dotgithub\n")
    assert find_config(None, tmp_path) == tmp_path / ".github/kars.yml"
    other = write(tmp_path / "other.yml", "project: other\n")
    monkeypatch.setenv("KARS_CONFIG", str(other))
    assert find_config(None, tmp_path) == other
    explicit = write(tmp_path / "explicit.yml", "project: explicit\n")
    assert find_config(str(explicit), tmp_path) == explicit


def test_config_in_github_folder_describes_the_repository_above_it(tmp_path: Path) -> None:
    path = write(tmp_path / ".github/kars.yml", "services:\n  api: {directory: api}\n")
    assert load_config(str(path)).root == tmp_path.resolve()


def test_no_config_file_gives_empty_defaults(tmp_path: Path) -> None:
    config = load_config(None, tmp_path)
    assert config.path is None and config.services == {}
    assert config.release.tag_prefix == "v" and config.release.initial_version == "0.1.0"


def test_missing_explicit_config_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(str(tmp_path / "nope.yml"), tmp_path)
    assert info.value.exit_code == EXIT_USAGE
    assert "does not exist" in info.value.message


def test_unknown_key_is_reported_at_the_key_with_a_suggestion(tmp_path: Path) -> None:
    path = write(tmp_path / "kars.yml", "services:\n  api:\n    directory: api\n    helth:\n      path: /health\n")
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    error = info.value
    assert (error.location.line, error.location.column) == (4, 5)  # type: ignore[union-attr]
    assert "services.api.helth" in error.message and "did you mean 'health'" in error.message


def test_wrong_type_is_reported_at_the_value_with_its_key_path(tmp_path: Path) -> None:
    path = write(tmp_path / "kars.yml", "services:\n  api:\n    health:\n      path: /h\n      port: eighty\n")
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    assert (info.value.location.line, info.value.location.column) == (5, 13)  # type: ignore[union-attr]
    assert "services.api.health.port" in info.value.message


def test_every_error_is_reported_not_just_the_first(tmp_path: Path) -> None:
    path = write(tmp_path / "kars.yml", "bogus: 1\nrelease:\n  bump: sometimes\n  tag_prefix: 'v v'\n")
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    lines = info.value.message.splitlines()
    assert len(lines) == 3
    assert any(":3:9:" in line and "release.bump" in line for line in lines)
    assert any(":4:15:" in line and "release.tag_prefix" in line for line in lines)


def test_duplicate_keys_are_errors_not_silently_overwritten(tmp_path: Path) -> None:
    path = write(tmp_path / "kars.yml", "project: a\nproject: b\n")
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    assert (info.value.location.line, info.value.location.column) == (2, 1)  # type: ignore[union-attr]
    assert "duplicate key 'project'" in info.value.message


def test_yaml_syntax_error_has_a_position(tmp_path: Path) -> None:
    path = write(tmp_path / "kars.yml", "services:\n  api: [unclosed\n")
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    assert info.value.location is not None and info.value.location.line == 3
    assert info.value.message.startswith("invalid YAML")


def test_yaml_1_1_booleans_are_not_taken_as_keys(tmp_path: Path) -> None:
    path = write(tmp_path / "kars.yml", "alerts:\n  on: [failure]\n")
    assert load_config(str(path)).alerts.on == ["failure"]


def test_health_header_reads_the_environment_and_becomes_a_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEALTH_TOKEN", "s3cr3t-health-token")
    path = write(
        tmp_path / "kars.yml",
        "services:\n  api:\n    health:\n      path: /h\n      headers: {Authorization: 'Bearer ${HEALTH_TOKEN}'}\n",
    )
    check = load_config(str(path)).service("api").health[0]
    assert check.request_headers() == {"Authorization": "Bearer s3cr3t-health-token"}
    assert gha.SECRETS.redact("sent Bearer s3cr3t-health-token") == "sent ***"


def test_unset_environment_reference_is_a_config_error_when_the_header_is_needed(tmp_path: Path) -> None:
    """kars.yml loads without the value (the tests, validate and init need none); the check that sends the header
    cannot, and says which variable and which check."""
    path = write(
        tmp_path / "kars.yml", "services:\n  api:\n    health:\n      path: /h\n      headers: {X: '${NOPE_UNSET}'}\n"
    )
    config = load_config(str(path))
    assert config.health_variables() == {"NOPE_UNSET": ["api"]}
    with pytest.raises(ConfigError, match=r"\$\{NOPE_UNSET\} \(services.api.health: header X\), which is not set"):
        config.service("api").health[0].request_headers("services.api.health")


def test_an_empty_environment_reference_is_refused_as_github_passes_a_missing_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On GitHub a secret that does not exist reads as empty: "Bearer " must not be sent as if it were a token."""
    monkeypatch.setenv("HEALTH_TOKEN_EMPTY", "")
    path = write(
        tmp_path / "kars.yml",
        "services:\n  api:\n    health:\n      path: /h\n      headers: {A: 'Bearer ${HEALTH_TOKEN_EMPTY}'}\n",
    )
    check = load_config(str(path)).service("api").health[0]
    said = r"\$\{HEALTH_TOKEN_EMPTY\} \(services.api.health: header A\), which is empty"
    with pytest.raises(ConfigError, match=said):
        check.request_headers("services.api.health")


def test_unknown_service_lists_the_known_ones() -> None:
    config = load_config(str(REPO / "examples/kars-app/kars.yml"))
    with pytest.raises(ConfigError, match="backend, frontend"):
        config.service("worker")


def test_schema_is_valid_draft7_and_shipped_as_package_data() -> None:
    from jsonschema import Draft7Validator

    Draft7Validator.check_schema(kars_schema())
    shipped = json.loads((REPO / "kars_actions/schemas/kars.schema.json").read_text())
    assert shipped == kars_schema()


def _alias_bomb(levels: int = 9) -> str:
    text = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    names = "abcdefghijklmnop"[: levels + 1]
    for low, high in itertools.pairwise(names):
        text += f"{high}: &{high} [" + ",".join([f"*{low}"] * 9) + "]\n"
    return text


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        (_alias_bomb(), "anchors and aliases expand", 1),
        ("project: a\x00b\n", "NUL byte", 1),
        ('project: "a\\0b"\n', "NUL character", 1),
        ('project: "\\ud800"\n', "lone surrogate", 1),
        ("services:\n  api:\n    health:\n      url: http://x/\n      interval: .nan\n", "not a usable number", 5),
        ("services:\n  api:\n    health:\n      url: http://x/\n      timeout: .inf\n", "not a usable number", 5),
        ("release:\n  tag_prefix: ../../x\n", "tag_prefix '../../x'", 2),
        ("x: " + "[" * 5000 + "]" * 5000 + "\n", "nested more than", 1),
        ("services:\n" + "".join("  " * (i + 1) + f"k{i}:\n" for i in range(900)), "nested more than", None),
        (
            'services:\n  api:\n    health:\n      url: http://x/\n      headers:\n        X-A: "a\\r\\nX-B: c"\n',
            "a header is one line",
            6,
        ),
    ],
)
def test_hostile_kars_yml_is_a_located_config_error(tmp_path: Path, text: str, message: str, line: int | None) -> None:
    path = write(tmp_path / "kars.yml", text)
    with pytest.raises(ConfigError) as caught:
        load_config(str(path))
    assert message in caught.value.message
    assert caught.value.exit_code == EXIT_USAGE
    assert caught.value.location is not None and caught.value.location.file == str(path)
    assert caught.value.location.line is not None
    if line is not None:
        assert caught.value.location.line == line


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [
        # "x:" holds the first list; the 65th bracket opens a list at a path 65 deep.
        ("x: " + "[" * 5000 + "]" * 5000 + "\n", 1, 3 + 65),
        ("[" * 66 + "]" * 66 + "\n", 1, 66),
        # 64 keys hold a list, and the list in it is at a path 65 deep: its bracket is where it goes too deep.
        ("".join("  " * i + f"k{i}:\n" for i in range(64)) + "  " * 64 + "[[1]]\n", 65, 130),
        ("services:\n" + "".join("  " * (i + 1) + f"k{i}:\n" for i in range(900)), 66, 134),
    ],
)
def test_nesting_past_the_limit_is_refused_where_it_goes_too_deep(
    tmp_path: Path, text: str, line: int, column: int
) -> None:
    path = write(tmp_path / "kars.yml", text)
    with pytest.raises(ConfigError, match="nested more than 64 levels deep") as caught:
        load_config(str(path))
    assert caught.value.location is not None
    assert (caught.value.location.line, caught.value.location.column) == (line, column)


def test_nesting_up_to_the_limit_is_read() -> None:
    _, positions = parse_yaml_with_positions("[" * 64 + "1" + "]" * 64 + "\n", "kars.yml")
    assert positions[(0,) * 64] == (1, 65)
    text = "".join("  " * i + f"k{i}:\n" for i in range(63)) + "  " * 63 + "[1]\n"
    value, _ = parse_yaml_with_positions(text, "kars.yml")
    for i in range(63):
        value = value[f"k{i}"]
    assert value == [1]


def test_a_kars_yml_over_one_mebibyte_is_refused_before_parsing(tmp_path: Path) -> None:
    path = write(tmp_path / "kars.yml", "services:\n" + "".join(f"  s{i}: {{}}\n" for i in range(120_000)))
    with pytest.raises(ConfigError, match="larger than 1024 KiB"):
        load_config(str(path))


def test_anchors_used_a_few_times_still_load(tmp_path: Path) -> None:
    path = write(
        tmp_path / "kars.yml",
        "services:\n  api:\n    required_variables: &vars [A, B]\n  worker:\n    required_variables: *vars\n",
    )
    assert load_config(str(path)).service("worker").required_variables == ["A", "B"]


def test_railway_config_is_a_path_a_mode_or_both_and_bare_off_works(tmp_path: Path) -> None:
    (tmp_path / "kars.yml").write_text(
        "railway_config: off\n"
        "validate: lenient\n"
        "services:\n"
        "  api: {railway_config: apply}\n"
        "  web: {railway_config: web/railway.json}\n"
        "  jobs: {railway_config: {file: jobs/railway.toml, mode: check}}\n"
    )
    config = load_config(None, tmp_path)
    assert config.railway_config == "off" and config.validate == "lenient"
    got = {name: (s.railway_config, s.railway_config_mode) for name, s in config.services.items()}
    assert got == {"api": (None, "apply"), "web": ("web/railway.json", None), "jobs": ("jobs/railway.toml", "check")}


def test_an_unknown_railway_config_mode_is_reported_at_its_value(tmp_path: Path) -> None:
    (tmp_path / "kars.yml").write_text("services:\n  api:\n    railway_config: enforce\n")
    with pytest.raises(ConfigError) as caught:
        load_config(None, tmp_path)
    assert caught.value.location is not None and caught.value.location.line == 3
    assert "services.api.railway_config" in caught.value.message
