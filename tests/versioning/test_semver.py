"""Semver parsing and precedence, checked against an independent reading of semver.org item 11."""

from __future__ import annotations

import functools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kars_actions.github.versioning import SemVer, parse_tag


def reference_compare(a: str, b: str) -> int:
    """semver.org §11, written from the spec text: -1, 0 or 1."""

    def split(v: str) -> tuple[list[int], list[str]]:
        v = v.split("+", 1)[0]
        core, _, pre = v.partition("-")
        return [int(x) for x in core.split(".")], (pre.split(".") if pre else [])

    (ca, pa), (cb, pb) = split(a), split(b)
    if ca != cb:
        return -1 if ca < cb else 1
    if not pa and not pb:
        return 0
    if not pa:
        return 1
    if not pb:
        return -1
    for x, y in zip(pa, pb, strict=False):
        if x == y:
            continue
        xn, yn = x.isdigit(), y.isdigit()
        if xn and yn:
            return -1 if int(x) < int(y) else 1
        if xn != yn:
            return -1 if xn else 1
        return -1 if x < y else 1
    if len(pa) == len(pb):
        return 0
    return -1 if len(pa) < len(pb) else 1


numeric = st.integers(min_value=0, max_value=30).map(str)
alnum = st.text(alphabet="abcrz-AZ", min_size=1, max_size=4)
mixed = st.tuples(st.integers(0, 9), alnum).map(lambda t: f"{t[0]}{t[1]}")
identifier = st.one_of(numeric, alnum, mixed)
versions = st.builds(
    lambda core, pre, build: (
        ".".join(str(c) for c in core) + (("-" + ".".join(pre)) if pre else "") + (("+" + build) if build else "")
    ),
    st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 3)),
    st.lists(identifier, max_size=3),
    st.one_of(st.none(), st.sampled_from(["build.1", "sha.5114f85", "001"])),
)


@settings(max_examples=300, deadline=None)
@given(versions, versions)
def test_order_matches_the_spec(a: str, b: str) -> None:
    va, vb = SemVer.parse(a), SemVer.parse(b)
    assert va is not None and vb is not None
    expected = reference_compare(a, b)
    assert (va < vb) == (expected < 0)
    assert (va == vb) == (expected == 0)
    assert (va > vb) == (expected > 0)


@settings(max_examples=200, deadline=None)
@given(versions, versions, versions)
def test_order_is_transitive_and_antisymmetric(a: str, b: str, c: str) -> None:
    va, vb, vc = (SemVer.parse(x) for x in (a, b, c))
    assert va is not None and vb is not None and vc is not None
    if va <= vb and vb <= vc:
        assert va <= vc
    if va <= vb and vb <= va:
        assert va == vb
    assert not (va < vb and vb < va)


@settings(max_examples=100, deadline=None)
@given(st.lists(versions, min_size=1, max_size=8))
def test_sorting_agrees_with_the_spec(items: list[str]) -> None:
    ours = sorted(items, key=lambda v: SemVer.parse(v).precedence_key())  # type: ignore[union-attr]
    theirs = sorted(items, key=functools.cmp_to_key(reference_compare))
    assert [reference_compare(x, y) for x, y in zip(ours, theirs, strict=True)] == [0] * len(items)


@settings(max_examples=200, deadline=None)
@given(versions)
def test_round_trip(text: str) -> None:
    parsed = SemVer.parse(text)
    assert parsed is not None
    assert str(parsed) == text


def test_spec_example_order() -> None:
    chain = [
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
    ]
    parsed = [SemVer.parse(v) for v in chain]
    assert all(p is not None for p in parsed)
    assert sorted(parsed, key=lambda p: p.precedence_key()) == parsed  # type: ignore[union-attr]


def test_rc_two_before_rc_ten_before_final() -> None:
    assert SemVer.parse("1.4.0-rc.2") < SemVer.parse("1.4.0-rc.10") < SemVer.parse("1.4.0")  # type: ignore[operator]


def test_build_metadata_is_ignored_for_precedence() -> None:
    assert SemVer.parse("1.0.0+a") == SemVer.parse("1.0.0+b")


def test_a_version_is_never_equal_to_something_that_is_not_a_version() -> None:
    version = SemVer.parse("1.0.0")
    assert version is not None
    assert version != "1.0.0" and not version == "1.0.0"  # noqa: SIM201
    assert version in {SemVer.parse("1.0.0+build.5")} and version not in ["1.0.0", None]


@pytest.mark.parametrize("text", ["1", "1.2", "01.2.3", "1.2.3-", "1.2.3-01", "1.2.3+", "v1.2.3", "1.2.3-rc..1"])
def test_invalid_versions_are_rejected(text: str) -> None:
    assert SemVer.parse(text) is None


def test_parse_tag_requires_the_prefix() -> None:
    assert parse_tag("v1.2.3", "v") == SemVer(1, 2, 3)
    assert parse_tag("1.2.3", "v") is None
    assert parse_tag("1.2.3", "") == SemVer(1, 2, 3)


@pytest.mark.parametrize(
    "text",
    [
        "1\u0660.0.0",  # an Arabic-Indic zero after the 1: not 10.0.0
        "\u0661.2.3",  # an Arabic-Indic one
        "1.2.\u0663",
        "1.2.3-rc.\u0661",  # the prerelease number too
        "1.2.3-\u0661\u0662",
        "\uff11.2.3",  # a fullwidth one
    ],
)
def test_only_ascii_digits_make_a_version(text: str) -> None:
    assert SemVer.parse(text) is None
    assert parse_tag(f"v{text}", "v") is None
