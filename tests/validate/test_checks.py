"""check_bytes and validate(): parse errors, lenient mode, checks past the schema, discovery, the notice, and
how a result renders."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from kars_actions.core.config import load_config
from kars_actions.core.errors import ConfigError, UsageError
from kars_actions.core.report import Style
from kars_actions.railway_config.config import (
    FileResult,
    ValidateOptions,
    ValidationResult,
    check_bytes,
    deprecation_notice,
    validate,
)
from kars_actions.release.repository import validate_repository


def one(result: FileResult) -> tuple[str, int | None, int | None, str]:
    assert len(result.findings) == 1, result.findings
    f = result.findings[0]
    return f.message, f.line, f.column, f.hint or ""


# Parsing ------------------------------------------------------------------------------------------------------------


def test_invalid_json_names_line_and_column_from_the_decoder() -> None:
    message, line, column, _ = one(check_bytes(b'{\n  "deploy": {\n    "a" 1\n  }\n}', "json"))
    assert message.startswith("invalid JSON: Expecting ':' delimiter")
    assert (line, column) == (3, 9)


def test_trailing_comma_gets_a_hint() -> None:
    *_, hint = one(check_bytes(b'{"deploy": {"startCommand": "x",}}', "json"))
    assert "trailing comma" in hint


def test_json_comments_get_a_hint() -> None:
    *_, hint = one(check_bytes(b'{\n  // the deploy\n  "deploy": {}\n}', "json"))
    assert "no comments" in hint


def test_nan_is_not_json() -> None:
    message, line, column, _ = one(check_bytes(b'{"deploy": {"numReplicas": NaN}}', "json"))
    assert "NaN is not valid JSON" in message
    assert (line, column) == (1, 28)


def test_toml_error_position_is_extracted_from_the_message() -> None:
    message, line, column, _ = one(check_bytes(b"[deploy]\nstartCommand = npm start\n", "toml"))
    assert message == "invalid TOML: Invalid value"
    assert (line, column) == (2, 16)


def test_duplicated_toml_table_names_both_places() -> None:
    message, line, column, hint = one(check_bytes(b"[deploy]\na = 1\n\n[deploy]\nb = 2\n", "toml"))
    assert message == "invalid TOML: table [deploy] is declared twice (first at line 1)"
    assert (line, column) == (4, 2)
    assert "merge" in hint


def test_toml_key_set_twice_is_explained() -> None:
    message, line, _, _ = one(check_bytes(b'[deploy]\nstartCommand = "a"\nstartCommand = "b"\n', "toml"))
    assert "a key is set twice" in message and line == 3


def test_bom_is_named_with_the_fix() -> None:
    message, line, column, hint = one(check_bytes(b'\xef\xbb\xbf{"deploy": {}}', "json"))
    assert "byte order mark" in message and (line, column) == (1, 1)
    assert "without BOM" in hint


def test_not_utf8_names_the_byte_and_its_place() -> None:
    message, line, column, _ = one(check_bytes(b'{\n  "deploy": {"startCommand": "caf\xe9"}\n}', "json"))
    assert "not UTF-8" in message and "0xe9" in message
    assert (line, column) == (2, 34)


def test_binary_junk_is_called_binary() -> None:
    message, *_ = one(check_bytes(bytes(range(256)) * 4, "json"))
    assert "binary" in message


def test_utf16_is_named() -> None:
    message, *_ = one(check_bytes("{}".encode("utf-16"), "json"))
    assert "UTF-16" in message


@pytest.mark.parametrize("fmt", ["json", "toml"])
def test_whitespace_only_file_is_empty(fmt: str) -> None:
    message, line, _, _ = one(check_bytes(b"  \n\n", fmt))
    assert message == "file is empty" and line == 1


def test_each_merge_conflict_is_reported_at_its_opening_marker() -> None:
    text = b'{\n<<<<<<< HEAD\n"a": 1\n=======\n"a": 2\n>>>>>>> x\n,\n<<<<<<< HEAD\n=======\n>>>>>>> y\n}'
    result = check_bytes(text, "json")
    assert [(f.line, f.message.split(" (")[0]) for f in result.findings] == [
        (2, "unresolved merge conflict at line 2"),
        (8, "unresolved merge conflict at line 8"),
    ]
    assert not result.parsed


def test_a_stray_separator_alone_is_still_a_conflict() -> None:
    result = check_bytes(b"[deploy]\n=======\n", "toml")
    assert result.findings[0].line == 2 and "merge conflict" in result.findings[0].message


def test_deeply_nested_json_is_a_clear_error() -> None:
    depth = 100_000
    message, *_ = one(check_bytes(b"[" * depth + b"]" * depth, "json"))
    assert "nested too deeply" in message


def test_deeply_nested_toml_is_a_clear_error() -> None:
    depth = 100_000
    message, *_ = one(check_bytes(b"a = " + b"[" * depth + b"]" * depth, "toml"))
    assert "nested too deeply" in message


def test_every_duplicate_json_key_is_reported_with_both_places() -> None:
    text = b'{\n "deploy": {"numReplicas": 1, "numReplicas": 2, "numReplicas": 3},\n "build": {}, "build": {}\n}'
    result = check_bytes(text, "json")
    dupes = [(f.path, f.line, f.column) for f in result.findings if f.kind == "duplicate-key"]
    assert dupes == [("$.deploy.numReplicas", 2, 31), ("$.deploy.numReplicas", 2, 49), ("$.build", 3, 15)]
    assert "first written at line 2, column 13" in result.findings[0].message


# Schema findings -----------------------------------------------------------------------------------------------------


def test_all_errors_are_reported_not_just_the_first() -> None:
    text = b'{"deploy": {"port": 1, "restartPolicyType": "x", "numReplicas": 0}, "env": {}}'
    result = check_bytes(text, "json")
    assert sorted(f.path for f in result.errors) == [
        "$.deploy.numReplicas",
        "$.deploy.port",
        "$.deploy.restartPolicyType",
        "$.env",
    ]


def test_unknown_keys_are_one_error_each_at_the_key() -> None:
    result = check_bytes(b'{"a": 1,\n "b": 2}', "json")
    assert [(f.message, f.line, f.column) for f in result.errors] == [
        ("unknown key 'a' at the top level", 1, 2),
        ("unknown key 'b' at the top level", 2, 2),
    ]


def test_enum_error_lists_the_allowed_values_at_the_value() -> None:
    result = check_bytes(b'[deploy]\nrestartPolicyType = "sometimes"\n', "toml")
    f = result.errors[0]
    assert f.message == 'restartPolicyType "sometimes" is not one of ON_FAILURE, ALWAYS, NEVER'
    assert (f.line, f.column, f.path) == (2, 21, "$.deploy.restartPolicyType")


def test_multi_region_stacker_explains_both_accepted_forms() -> None:
    text = b'{"deploy": {"multiRegionConfig": {"us-west2": {"stackerAssignment": "somewhere"}}}}'
    f = check_bytes(text, "json").errors[0]
    assert f.path == '$.deploy.multiRegionConfig["us-west2"].stackerAssignment'
    assert "ALL_STACKERS" in f.message and "somewhere" in f.message


def test_unknown_key_inside_a_nullable_object_is_found() -> None:
    f = check_bytes(b'{"deploy": {"registryCredentials": {"user": "x"}}}', "json").errors[0]
    assert (f.path, f.kind, f.hint) == ("$.deploy.registryCredentials.user", "unknown-key", None)


def test_strict_rejects_lower_case_enums_and_legacy_keys() -> None:
    text = b'{"build": {"builder": "nixpacks", "buildEnvironment": "V3"}, "deploy": {"useLegacyStacker": true}}'
    assert len(check_bytes(text, "json", strict=True).errors) == 3


def test_lenient_turns_case_only_enums_and_legacy_keys_into_warnings() -> None:
    text = b'{"build": {"builder": "nixpacks", "buildEnvironment": "V3"}, "deploy": {"useLegacyStacker": true}}'
    result = check_bytes(text, "json", strict=False)
    assert result.ok
    assert len(result.warnings) == 3


def test_lenient_still_rejects_real_errors() -> None:
    result = check_bytes(b'{"build": {"builder": "DOCKER"}, "deploy": {"port": 1}}', "json", strict=False)
    assert len(result.errors) == 2


# Past the schema -----------------------------------------------------------------------------------------------------


def test_retries_with_a_policy_inherited_from_the_top_level_warn_in_the_override() -> None:
    text = (
        b'{"deploy": {"restartPolicyType": "NEVER"}, '
        b'"environments": {"pr": {"deploy": {"restartPolicyMaxRetries": 2}}}}'
    )
    result = check_bytes(text, "json")
    assert [f.path for f in result.warnings] == ["$.environments.pr.deploy.restartPolicyMaxRetries"]


def test_retries_with_on_failure_or_default_policy_are_fine() -> None:
    assert check_bytes(b'{"deploy": {"restartPolicyMaxRetries": 2}}', "json").findings == []
    assert check_bytes(b'[deploy]\nrestartPolicyType="ON_FAILURE"\nrestartPolicyMaxRetries=2\n', "toml").findings == []


def test_missing_dockerfile_names_every_path_tried(tmp_path: Path) -> None:
    service = tmp_path / "backend"
    service.mkdir()
    text = b'[build]\ndockerfilePath = "docker/app.Dockerfile"\n'
    result = check_bytes(text, "toml", base_dir=service, root=tmp_path)
    f = result.warnings[0]
    assert (f.line, f.column) == (2, 18)
    assert str(service / "docker" / "app.Dockerfile") in f.message or "backend/docker/app.Dockerfile" in f.message
    assert "tried" in f.message and f.message.count("app.Dockerfile") == 3


def test_dockerfile_found_at_the_repo_root_is_fine(tmp_path: Path) -> None:
    (tmp_path / "backend").mkdir()
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    text = b'{"build": {"dockerfilePath": "Dockerfile"}}'
    assert check_bytes(text, "json", base_dir=tmp_path / "backend", root=tmp_path).findings == []


def test_both_files_in_one_folder_warn_on_the_json(tmp_path: Path) -> None:
    (tmp_path / "railway.json").write_text("{}")
    (tmp_path / "railway.toml").write_text("[deploy]\n")
    result = validate(ValidateOptions(paths=(str(tmp_path),), deprecation_notice=False))
    by_name = {Path(f.path).name: f for f in result.files}
    assert by_name["railway.toml"].findings == []
    assert [f.kind for f in by_name["railway.json"].warnings] == ["shadowed"]
    assert result.exit_code() == 0


# Discovery -----------------------------------------------------------------------------------------------------------


def test_missing_path_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such file or folder"):
        validate(ValidateOptions(paths=(str(tmp_path / "nope.json"),)))


def test_folder_without_config_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"no railway\.json or railway\.toml in this folder"):
        validate(ValidateOptions(paths=(str(tmp_path),)))


def test_file_with_another_ending_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "railway.yaml").write_text("deploy: {}\n")
    with pytest.raises(UsageError, match="cannot tell whether this is JSON or TOML"):
        validate(ValidateOptions(paths=(str(tmp_path / "railway.yaml"),)))


def test_without_paths_the_root_and_immediate_subfolders_are_searched(tmp_path: Path) -> None:
    (tmp_path / "railway.json").write_text("{}")
    for name in ("backend", "frontend", "node_modules", ".hidden"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "railway.toml").write_text("[deploy]\n")
    (tmp_path / "backend" / "deep").mkdir()
    (tmp_path / "backend" / "deep" / "railway.json").write_text("{}")
    result = validate_repository(ValidateOptions(), load_config(None, tmp_path))
    found = sorted(Path(f.path).resolve().relative_to(tmp_path.resolve()).as_posix() for f in result.files)
    assert found == ["backend/railway.toml", "frontend/railway.toml", "railway.json"]


def test_without_paths_kars_yml_names_the_files(tmp_path: Path) -> None:
    (tmp_path / "kars.yml").write_text(
        "services:\n  api:\n    directory: backend\n    railway_config: /backend/railway.api.json\n"
    )
    (tmp_path / "backend").mkdir()
    (tmp_path / "backend" / "railway.api.json").write_text('{"deploy": {"port": 1}}')
    (tmp_path / "railway.json").write_text("{}")  # not named: not checked
    result = validate_repository(ValidateOptions(), load_config(None, tmp_path))
    assert [Path(f.path).name for f in result.files] == ["railway.api.json"]
    assert result.exit_code() == 1


def test_kars_yml_naming_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "kars.yml").write_text("services:\n  api:\n    railway_config: backend/railway.json\n")
    with pytest.raises(ConfigError, match=r"service api: railway_config 'backend/railway\.json' does not exist"):
        validate_repository(ValidateOptions(), load_config(None, tmp_path))


def test_empty_repo_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"no railway\.json or railway\.toml to check"):
        validate_repository(ValidateOptions(), load_config(None, tmp_path))


def test_oversized_file_is_refused_without_reading_it(tmp_path: Path) -> None:
    big = tmp_path / "railway.json"
    with big.open("wb") as handle:
        handle.truncate(6 * 1024 * 1024)
    result = validate(ValidateOptions(paths=(str(big),), deprecation_notice=False))
    assert "files over 5 MB are refused" in result.files[0].errors[0].message


# Schema option -----------------------------------------------------------------------------------------------------


def test_another_schema_copy_is_used(tmp_path: Path) -> None:
    schema = tmp_path / "s.json"
    schema.write_text(json.dumps({"type": "object", "properties": {"deploy": {"type": "object"}}}))
    config = tmp_path / "railway.json"
    config.write_text('{"deploy": {"port": 3000}}')
    result = validate(ValidateOptions(paths=(str(config),), schema_path=str(schema)))
    assert result.valid and result.error_count == 0
    # Railway's own schema has no deploy.port: the file is valid only because the other copy was read.
    default = validate(ValidateOptions(paths=(str(config),)))
    assert [f.message for f in default.files[0].errors] == ["unknown key 'port' in deploy"]


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (None, "does not exist"),
        ("{not json", "is not valid JSON"),
        ("[]", "top level is not an object"),
        ('{"type": 5}', "is not a valid Draft-07 schema"),
    ],
)
def test_bad_schema_file_is_a_usage_error_naming_it(tmp_path: Path, content: str | None, words: str) -> None:
    schema = tmp_path / "schema.json"
    if content is not None:
        schema.write_text(content)
    (tmp_path / "railway.json").write_text("{}")
    with pytest.raises(UsageError, match=words) as caught:
        validate(ValidateOptions(paths=(str(tmp_path / "railway.json"),), schema_path=str(schema)))
    assert str(schema) in caught.value.message


# Notice and rendering -------------------------------------------------------------------------------------------


def test_notice_before_the_date_says_will_stop() -> None:
    text = deprecation_notice(date(2026, 11, 30))
    assert "will stop being read on 2026-12-01" in text and "https://docs.railway.com/" in text


@pytest.mark.parametrize("day", [date(2026, 12, 1), date(2027, 3, 1)])
def test_notice_on_or_after_the_date_says_no_longer_read(day: date) -> None:
    assert "are no longer read since 2026-12-01" in deprecation_notice(day)


def test_notice_the_day_before_counts_down_and_names_the_way_to_keep_the_settings() -> None:
    text = deprecation_notice(date(2026, 11, 30))
    assert "(in 1 day)" in text and "settings that only this file held are lost" in text
    assert "`kars-actions config apply` keeps it in force" in text


def test_notice_after_the_cutoff_says_railway_ignores_the_file_and_kars_keeps_it_in_force() -> None:
    text = deprecation_notice(date(2026, 12, 1))
    assert "Railway deploys with the service settings alone" in text
    assert "`kars-actions config plan` shows where the service settings differ" in text
    assert "will stop" not in text


def test_notice_can_be_silenced_and_never_changes_the_exit_code(tmp_path: Path) -> None:
    (tmp_path / "railway.json").write_text("{}")
    options = ValidateOptions(paths=(str(tmp_path),), today=date(2027, 1, 1))
    with_notice = validate(options)
    assert with_notice.notice and with_notice.exit_code() == 0
    assert validate(ValidateOptions(paths=(str(tmp_path),), deprecation_notice=False)).notice is None


def _result() -> ValidationResult:
    bad = check_bytes(b'{"deploy": {"restartPolicyType": "on_failure", "healthcheckPath": "x"}}', "json")
    bad.path = "api/railway.json"
    good = check_bytes(b"{}", "json")
    good.path = "web/railway.json"
    return ValidationResult(files=[bad, good], notice=deprecation_notice(date(2026, 3, 1)))


def test_text_lines_put_file_line_col_message_and_path_then_the_hint() -> None:
    lines = _result().text_lines(Style(False))
    assert lines[0] == (
        'api/railway.json:1:34: error: restartPolicyType "on_failure" is not one of ON_FAILURE, ALWAYS, NEVER '
        "(at $.deploy.restartPolicyType)"
    )
    assert lines[1] == '    hint: values are upper-case: use "ON_FAILURE"'
    assert "web/railway.json: ok" in lines
    assert lines[-1] == "2 files checked: 1 error, 1 warning — invalid"


def test_outputs_json_and_annotations() -> None:
    result = _result()
    assert result.outputs() == {"valid": "false", "files": "2", "errors": "1", "warnings": "1"}
    body = result.to_json()
    assert body["files"][0]["errors"][0]["path"] == "$.deploy.restartPolicyType"
    assert body["files"][1]["valid"] is True
    levels = [(a.level, a.file, a.line) for a in result.annotations()]
    assert levels == [("error", "api/railway.json", 1), ("warning", "api/railway.json", 1), ("notice", None, None)]


def test_summary_has_a_table_per_file_and_the_notice() -> None:
    summary = _result().summary_markdown()
    assert "#### ❌ `api/railway.json`" in summary and "#### ✅ `web/railway.json`" in summary
    assert "| error | 1:34 | `$.deploy.restartPolicyType` |" in summary
    assert "2026-12-01" in summary
