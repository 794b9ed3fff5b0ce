"""The fast yes/no check must agree with jsonschema on Railway's schema, or step aside (None)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft7Validator

from kars_actions.railway_config.config import SchemaChecker
from kars_actions.railway_config.schema_fast import is_valid

FILES = Path(__file__).parent / "files"
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
