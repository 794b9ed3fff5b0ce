"""The fast yes/no check must agree with jsonschema on Railway's schema and kars.yml's, or step aside (None)."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft7Validator

from kars_actions.core.config import kars_schema, parse_yaml_with_positions
from kars_actions.core.schema_fast import is_valid
from kars_actions.railway_config.config import SchemaChecker

FILES = Path(__file__).parent / "files"
ROOT = Path(__file__).resolve().parents[2]
SCHEMA = SchemaChecker().schema
VALIDATOR = Draft7Validator(SCHEMA)


def _parsed_examples() -> list[tuple[str, Any]]:
    found = []
    for path in sorted(FILES.glob("*/*")):
        try:
            if path.suffix == ".json":
                found.append((path.name, json.loads(path.read_bytes())))
            elif path.suffix == ".toml":
                found.append((path.name, tomllib.loads(path.read_text(encoding="utf-8"))))
        except (ValueError, UnicodeDecodeError):
            continue  # broken on purpose: those never reach a schema check
    return found


EXAMPLES = _parsed_examples()


def test_there_are_valid_and_invalid_examples_to_compare() -> None:
    verdicts = {VALIDATOR.is_valid(doc) for _, doc in EXAMPLES}
    assert verdicts == {True, False}


@pytest.mark.parametrize(("name", "document"), EXAMPLES, ids=[name for name, _ in EXAMPLES])
def test_fast_verdict_matches_jsonschema_on_every_example(name: str, document: Any) -> None:
    assert is_valid(document, SCHEMA) is VALIDATOR.is_valid(document)


def _section_keys(section: str) -> list[str]:
    return [*SCHEMA["properties"][section]["properties"], "port", "healthCheckPath", "env"]


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-5, max_value=5000),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.sampled_from(["NIXPACKS", "nixpacks", "DOCKERFILE", "RAILPACK", "ON_FAILURE", "on_failure", "ALWAYS", "V2"]),
    st.text(max_size=8),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=6,
)
documents = st.fixed_dictionaries(
    {},
    optional={
        "build": st.dictionaries(st.sampled_from(_section_keys("build")), values, max_size=4),
        "deploy": st.dictionaries(st.sampled_from(_section_keys("deploy")), values, max_size=5),
        "$schema": st.one_of(st.text(max_size=5), st.integers()),
        "environments": st.dictionaries(
            st.sampled_from(["production", "pr"]),
            st.dictionaries(
                st.sampled_from(["build", "deploy", "variables"]),
                st.dictionaries(st.text(max_size=4), values, max_size=2),
            ),
            max_size=2,
        ),
        "variables": values,
    },
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_fast_verdict_matches_jsonschema_on_generated_documents(document: dict[str, Any]) -> None:
    assert is_valid(document, SCHEMA) is VALIDATOR.is_valid(document)


def test_unknown_keywords_step_aside_instead_of_guessing() -> None:
    assert is_valid({"a": 1}, {"type": "object", "dependencies": {"a": ["b"]}}) is None
    assert is_valid({"a": 1}, {"$ref": "https://example.com/schema.json"}) is None


def test_integer_follows_json_not_python() -> None:
    assert is_valid(3.0, {"type": "integer"}) is True
    assert is_valid(True, {"type": "integer"}) is False
    assert is_valid(1, {"enum": [True]}) is False


# kars.yml: a valid file is answered without jsonschema, so every keyword its schema uses must agree with it.
KARS_SCHEMA = kars_schema()
KARS_VALIDATOR = Draft7Validator(KARS_SCHEMA)
SERVICE = "services:\n  api:\n    health: {url: 'http://127.0.0.1:9/health'}\n"
KARS_DOCUMENTS = {
    "bundled example": (ROOT / "examples" / "kars-app" / "kars.yml").read_text(encoding="utf-8"),
    "minimal": SERVICE,
    "no services (minProperties)": "services: {}\n",
    "service name (propertyNames)": "services:\n  -api: {}\n",
    "environment name (propertyNames)": SERVICE + "environments:\n  _prod: {}\n",
    "alert events (uniqueItems)": SERVICE + "alerts:\n  on: [failure, failure]\n",
    "distinct alert events": SERVICE + "alerts:\n  on: [failure, rollback]\n",
    "variables (uniqueItems)": "services:\n  api:\n    required_variables: [A, A]\n",
    "migrations without paths (if/then)": SERVICE + "backup: {service: db, when: migrations}\n",
    "migrations with paths": SERVICE + "backup: {service: db, when: migrations, paths: [db/**]}\n",
    "always without paths": SERVICE + "backup: {service: db, when: always}\n",
    "unknown key": SERVICE + "alerts:\n  slack: x\n",
}


@pytest.mark.parametrize("text", KARS_DOCUMENTS.values(), ids=KARS_DOCUMENTS.keys())
def test_fast_verdict_matches_jsonschema_on_kars_yml(text: str) -> None:
    document, _ = parse_yaml_with_positions(text, "kars.yml")
    fast = is_valid(document, KARS_SCHEMA)
    assert fast is not None, "kars.yml's schema uses a keyword the fast check does not know"
    assert fast is KARS_VALIDATOR.is_valid(document)


def test_both_verdicts_occur_among_the_kars_yml_documents() -> None:
    verdicts = {KARS_VALIDATOR.is_valid(parse_yaml_with_positions(t, "kars.yml")[0]) for t in KARS_DOCUMENTS.values()}
    assert verdicts == {True, False}


def test_a_valid_kars_yml_loads_without_importing_jsonschema(tmp_path: Path) -> None:
    """The start of every command that reads kars.yml: jsonschema is imported only to explain an invalid one."""
    (tmp_path / "kars.yml").write_text(KARS_DOCUMENTS["bundled example"], encoding="utf-8")
    (tmp_path / "bad.yml").write_text(KARS_DOCUMENTS["no services (minProperties)"], encoding="utf-8")
    probe = (
        "import sys\n"
        "from kars_actions.core.config import load_config\n"
        "from kars_actions.core.errors import ConfigError\n"
        "load_config('kars.yml')\n"
        "print('after valid:', 'jsonschema' in sys.modules)\n"
        "try:\n    load_config('bad.yml')\nexcept ConfigError as error:\n    print('invalid:', error)\n"
        "print('after invalid:', 'jsonschema' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "after valid: False" in proc.stdout
    assert "invalid: bad.yml:1:11: services: {} should be non-empty" in proc.stdout  # jsonschema's explanation
    assert "after invalid: True" in proc.stdout


def test_keywords_kars_yml_uses_follow_draft_07() -> None:
    assert is_valid({}, {"minProperties": 1}) is False and is_valid({"a": 1}, {"minProperties": 1}) is True
    assert is_valid({"a": 1, "b": 2}, {"maxProperties": 1}) is False
    assert is_valid({"-a": 1}, {"propertyNames": {"pattern": "^[a-z]"}}) is False
    assert is_valid([1, 1.0], {"uniqueItems": True}) is False  # JSON numbers: 1 and 1.0 are the same
    assert is_valid([1, True], {"uniqueItems": True}) is True  # but true is not 1
    assert is_valid([1, 1], {"uniqueItems": False}) is True
    conditional = {"if": {"required": ["a"]}, "then": {"required": ["b"]}, "else": {"required": ["c"]}}
    assert is_valid({"a": 1}, conditional) is False and is_valid({"a": 1, "b": 2}, conditional) is True
    assert is_valid({}, conditional) is False and is_valid({"c": 1}, conditional) is True
    assert is_valid({}, {"then": {"required": ["b"]}}) is True  # without "if", "then" is ignored
