"""Example files: every file under files/valid and files/invalid is checked, and each finding must sit at the
line:column and JSON path its ``<name>.expect`` sidecar names (JSON cannot hold comments, so sidecars)."""

from __future__ import annotations

import hashlib
import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator

from kars_actions.railway_config.config import SCHEMA_FILE, FileResult, SchemaChecker, validate_file

FILES = Path(__file__).parent / "files"
CHECKER = SchemaChecker()


def _examples(folder: str) -> list[Path]:
    return sorted(p for p in (FILES / folder).iterdir() if p.suffix in (".json", ".toml"))


def _expected(path: Path) -> list[str]:
    sidecar = path.with_name(path.name + ".expect")
    if not sidecar.exists():
        return []
    return [line.strip() for line in sidecar.read_text().splitlines() if line.strip() and not line.startswith("#")]


def _found(result: FileResult) -> list[str]:
    return [f"{f.severity} {f'{f.line}:{f.column}' if f.line else '-'} {f.path} {f.kind}" for f in result.findings]


def _check(path: Path) -> FileResult:
    return validate_file(path, checker=CHECKER, root=path.parent.parent)


def test_the_example_folders_hold_both_formats() -> None:
    for folder in ("valid", "invalid"):
        suffixes = {p.suffix for p in _examples(folder)}
        assert suffixes == {".json", ".toml"}


def test_every_invalid_example_has_an_expect_sidecar() -> None:
    missing = [p.name for p in _examples("invalid") if not _expected(p)]
    assert missing == []


@pytest.mark.parametrize("path", _examples("valid"), ids=lambda p: p.name)
def test_valid_example_has_no_errors_and_exactly_the_expected_warnings(path: Path) -> None:
    result = _check(path)
    assert result.ok, _found(result)
    assert _found(result) == _expected(path)
    assert all(line.startswith("warning ") for line in _expected(path))


@pytest.mark.parametrize("path", _examples("invalid"), ids=lambda p: p.name)
def test_invalid_example_reports_each_expected_finding_at_its_line_and_column(path: Path) -> None:
    result = _check(path)
    assert not result.ok
    assert _found(result) == _expected(path)


def _plain_verdict(path: Path) -> bool:
    """What a plain Draft-07 check says (as check-jsonschema would): parse with the stdlib, validate."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
        instance: Any = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except ValueError:
        return False
    # The vendored copy, held to its recorded hash below.
    schema = json.loads(SCHEMA_FILE.read_bytes())
    return Draft7Validator(schema).is_valid(instance)


# Where we are stricter than a plain parse-and-validate, on purpose: an empty TOML file parses as {} (Railway
# would read nothing), and JSON parsers silently drop all but the last of a repeated key.
STRICTER_THAN_PLAIN = {"empty.toml", "duplicate-keys.json"}


@pytest.mark.parametrize("path", _examples("valid") + _examples("invalid"), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_verdict_agrees_with_plain_draft7_validator_on_the_reference_schema(path: Path) -> None:
    ours = _check(path).ok
    if path.name in STRICTER_THAN_PLAIN:
        assert _plain_verdict(path) is True and ours is False
    else:
        assert ours == _plain_verdict(path)


def test_vendored_schema_matches_its_recorded_sha256() -> None:
    recorded = (SCHEMA_FILE.parent / "railway.schema.json.sha256").read_text().split()[0]
    assert hashlib.sha256(SCHEMA_FILE.read_bytes()).hexdigest() == recorded
    assert recorded in (SCHEMA_FILE.parent / "RAILWAY_SCHEMA_SOURCE.md").read_text()
