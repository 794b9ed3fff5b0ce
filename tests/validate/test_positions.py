"""The locators: every key and value of JSON and TOML mapped to the line:column where it is written."""

from __future__ import annotations

import pytest

from kars_actions.railway_config.positions import MAX_DEPTH, Position, locate_json, locate_toml

JSON_TEXT = """{
  "build": {"builder": "dockerfile", "watchPatterns": ["a", "b\\\\\\"c", "d"]},
  "deploy": {"x": {"y": [1, {"z": null}]}, "e\\u0073c": true},
  "build": {"builder": "NIXPACKS"}
}"""


def test_json_value_and_key_positions_point_at_the_text() -> None:
    found = locate_json(JSON_TEXT)
    assert found.key(("deploy", "x", "y", 1, "z")) == Position(3, 30)
    assert found.value(("deploy", "x", "y", 1, "z")) == Position(3, 35)
    assert found.value(("build", "watchPatterns", 2)) == Position(2, 71)


def test_json_escaped_keys_are_decoded() -> None:
    found = locate_json(JSON_TEXT)
    assert found.key(("deploy", "esc")) == Position(3, 44)


def test_json_repeated_key_is_reported_and_positions_follow_the_last_one() -> None:
    found = locate_json(JSON_TEXT)
    assert [(d.path, d.position, d.first) for d in found.duplicates] == [(("build",), Position(4, 3), Position(2, 3))]
    # json keeps the last "build": the locator must point there too
    assert found.value(("build", "builder")) == Position(4, 24)


def test_json_unknown_path_falls_back_to_the_nearest_known_ancestor() -> None:
    found = locate_json('{"deploy": {"a": 1}}')
    assert found.value(("deploy", "missing")) == Position(1, 12)
    assert found.key(("deploy", "missing")) == Position(1, 2)


def test_json_scanner_survives_deep_nesting_and_keeps_the_shallow_positions() -> None:
    depth = 200_000
    found = locate_json("[" * depth + "]" * depth)
    assert found.value((0,) * 3) == Position(1, 4)
    assert len(found.values) <= MAX_DEPTH + 1


def test_json_scanner_keeps_what_it_found_in_broken_text() -> None:
    found = locate_json('{"a": 1, "b": ')
    assert found.key(("a",)) == Position(1, 2)


TOML_TEXT = """# comment
"$schema" = "x"
[build]
builder = "dockerfile" # trailing
watchPatterns = [
  "a", # c
  'b',
]
[deploy]
healthcheck.path = "/x"
multiRegionConfig = { "us-west1" = { numReplicas = 2 }, eu.numReplicas = 0 }
cronSchedule = \"\"\"
*/5 * * * *\"\"\"
at = 1979-05-27 07:32:00
after = 1
[ environments . "staging" . deploy ]
port = 3000
[[arr]]
a = 1
[[arr]]
a = 2
"""


@pytest.mark.parametrize(
    ("path", "key", "value"),
    [
        (("$schema",), (2, 1), (2, 13)),
        (("build", "builder"), (4, 1), (4, 11)),
        (("build", "watchPatterns", 1), (7, 3), (7, 3)),
        (("deploy", "healthcheck", "path"), (10, 13), (10, 20)),
        (("deploy", "multiRegionConfig", "us-west1", "numReplicas"), (11, 38), (11, 52)),
        (("deploy", "multiRegionConfig", "eu", "numReplicas"), (11, 60), (11, 74)),
        (("deploy", "cronSchedule"), (12, 1), (12, 16)),
        (("deploy", "after"), (15, 1), (15, 9)),
        (("environments", "staging", "deploy", "port"), (17, 1), (17, 8)),
        (("environments", "staging"), (16, 18), (16, 18)),
        (("arr", 1, "a"), (21, 1), (21, 5)),
    ],
)
def test_toml_positions_cover_tables_dotted_keys_inline_tables_and_arrays(
    path: tuple[str | int, ...], key: tuple[int, int], value: tuple[int, int]
) -> None:
    found = locate_toml(TOML_TEXT)
    assert found.key(path) == Position(*key)
    assert found.value(path) == Position(*value)


def test_toml_multiline_string_with_quotes_does_not_confuse_the_scanner() -> None:
    text = 'a = """x "" y\\""""\nb = 2\n'
    assert locate_toml(text).value(("b",)) == Position(2, 5)


def test_toml_scanner_survives_deep_nesting() -> None:
    depth = 100_000
    found = locate_toml("a = " + "[" * depth + "]" * depth + "\nb = 1\n")
    assert found.value(("a", 0, 0)) == Position(1, 7)


def test_toml_nesting_within_the_limit_is_walked_to_the_end() -> None:
    depth = 100
    found = locate_toml("a = " + "[" * depth + "]" * depth + "\nb = 1\n")
    assert found.value(("b",)) == Position(2, 5)
