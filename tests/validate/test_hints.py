"""Hints: what to write instead of a key or value Railway does not know."""

from __future__ import annotations

import pytest

from kars_actions.railway_config.hints import enum_hint, section_of, unknown_key_hint

DEPLOY_KEYS = ["startCommand", "healthcheckPath", "healthcheckTimeout", "restartPolicyType", "numReplicas"]
BUILD_KEYS = ["builder", "dockerfilePath", "buildCommand", "watchPatterns"]


def test_case_only_key_mismatch_names_the_right_spelling() -> None:
    hint = unknown_key_hint("healthCheckPath", ("deploy",), DEPLOY_KEYS)
    assert hint is not None and '"healthcheckPath"' in hint and "case-sensitive" in hint


def test_near_miss_key_gets_did_you_mean() -> None:
    assert unknown_key_hint("startComand", ("deploy",), DEPLOY_KEYS) == 'did you mean "startCommand"?'


def test_unrelated_key_gets_no_guess() -> None:
    assert unknown_key_hint("zzz", ("deploy",), DEPLOY_KEYS) is None


@pytest.mark.parametrize(
    ("key", "parent", "words"),
    [
        ("variables", (), "railway variables"),
        ("env", (), "dashboard"),
        ("variables", ("environments", "production"), "railway variables"),
        ("env", ("build",), "build-time variables"),
        ("args", ("build",), "build-time variables"),
        ("services", (), "one service"),
        ("port", ("deploy",), "$PORT"),
        ("healthcheck", ("deploy",), "deploy.healthcheckPath"),
        ("releaseCommand", ("deploy",), "preDeployCommand"),
        ("dockerfile", ("build",), "dockerfilePath"),
        ("plugins", (), "separate services"),
        ("regions", (), "deploy.region"),
    ],
)
def test_keys_that_are_not_railway_config_say_what_to_do_instead(key: str, parent: tuple[str, ...], words: str) -> None:
    hint = unknown_key_hint(key, parent, DEPLOY_KEYS)
    assert hint is not None and words in hint


def test_a_deploy_key_at_the_top_level_is_sent_under_deploy() -> None:
    hint = unknown_key_hint("startCommand", (), ["build", "deploy"], {"deploy": DEPLOY_KEYS, "build": BUILD_KEYS})
    assert hint == 'this key belongs under "deploy": move it to deploy.startCommand'


@pytest.mark.parametrize(("value", "fix"), [("on_failure", "ON_FAILURE"), ("always", "ALWAYS"), ("Never", "NEVER")])
def test_case_only_enum_mismatch_suggests_upper_case(value: str, fix: str) -> None:
    hint, case_only = enum_hint("restartPolicyType", value, ["ON_FAILURE", "ALWAYS", "NEVER"])
    assert case_only
    assert hint == f'values are upper-case: use "{fix}"'


@pytest.mark.parametrize(("value", "fix"), [("dockerfile", "DOCKERFILE"), ("nixpacks", "NIXPACKS")])
def test_lower_case_builders_are_case_only(value: str, fix: str) -> None:
    hint, case_only = enum_hint("builder", value, ["NIXPACKS", "DOCKERFILE", "RAILPACK"])
    assert case_only and fix in (hint or "")


def test_docker_builder_points_to_dockerfile() -> None:
    hint, case_only = enum_hint("builder", "DOCKER", ["NIXPACKS", "DOCKERFILE", "RAILPACK"])
    assert not case_only
    assert hint is not None and '"DOCKERFILE"' in hint


def test_near_miss_enum_value_gets_did_you_mean() -> None:
    assert enum_hint("runtime", "LEGASY", ["UNSPECIFIED", "LEGACY", "V2"]) == ('did you mean "LEGACY"?', False)


def test_section_ignores_the_environment_name() -> None:
    assert section_of(("environments", "pr", "deploy")) == "deploy"
    assert section_of(("environments", "pr")) == ""
    assert section_of(()) == ""
