"""Parsing and evaluating what a health answer must look like, and the waits between attempts."""

from __future__ import annotations

import email.utils
import json
import random
import re

import pytest

from kars_actions.core.errors import UsageError
from kars_actions.health.assertions import (
    HealthCheck,
    JsonExpectation,
    Observation,
    StatusRange,
    is_missing,
    lookup,
    parse_header,
    parse_statuses,
    parse_typed,
    show,
    split_path,
    version_matches,
)
from kars_actions.health.http import parse_retry_after, same_host
from kars_actions.health.poll import Backoff


def answer(payload: object, status: int = 200, **headers: str) -> Observation:
    lowered = {k.lower(): v for k, v in headers.items()}
    return Observation(status=status, body=json.dumps(payload).encode(), headers=lowered)


def test_status_specs_accept_codes_ranges_and_classes() -> None:
    ranges = parse_statuses("200,201, 300-399")
    assert ranges == (StatusRange(200, 200), StatusRange(201, 201), StatusRange(300, 399))
    assert parse_statuses(["2xx"]) == (StatusRange(200, 299),)
    assert parse_statuses([]) == (StatusRange(200, 200),)
    assert str(StatusRange(200, 299)) == "2xx"
    assert str(StatusRange(200, 204)) == "200-204" and str(StatusRange(201, 300)) == "201-300"


@pytest.mark.parametrize("spec", ["20", "abc", "600", "299-200", "2xxx"])
def test_bad_status_specs_are_usage_errors(spec: str) -> None:
    with pytest.raises(UsageError, match=rf"invalid expected status( range)? '{re.escape(spec)}'"):
        parse_statuses(spec)



def test_the_first_and_last_http_status_codes_are_accepted_and_those_outside_are_not() -> None:
    assert parse_statuses("100,599") == (StatusRange(100, 100), StatusRange(599, 599))
    assert parse_statuses("100-599") == (StatusRange(100, 599),)
    for outside in ("99", "600"):
        with pytest.raises(UsageError, match=rf"'{outside}' is not an HTTP status code \(100-599\)"):
            parse_statuses(outside)


def test_a_json_path_splits_on_dots_and_brackets_and_refuses_what_names_no_field() -> None:
    assert split_path("items[0].id") == ["items", "0", "id"]
    assert split_path("a\\.b.c") == ["a.b", "c"]
    assert split_path("trailing\\") == ["trailing\\"]  # a backslash with nothing after it is itself
    for empty in ("", "   "):
        with pytest.raises(UsageError, match=r"^empty JSON path$") as caught:
            split_path(empty)
        assert caught.value.hint == "name a field such as status or checks.db.ok"
    with pytest.raises(UsageError, match=r"invalid JSON path 'items\[0': '\[' without '\]'"):
        split_path("items[0")
    for gap in ("a..b", ".a", "a[]"):
        with pytest.raises(UsageError, match=rf"invalid JSON path '{re.escape(gap)}': empty segment"):
            split_path(gap)

def test_json_values_are_typed_like_json() -> None:
    assert parse_typed("true") is True
    assert parse_typed("false") is False
    assert parse_typed("null") is None
    assert parse_typed("42") == 42
    assert parse_typed("1.5") == 1.5
    assert parse_typed('"42"') == "42"
    assert parse_typed('""') == ""  # an empty quoted string is the empty string, not two quote marks
    assert parse_typed('"a\\"') == '"a\\"'  # quotes around what JSON cannot read: the text as written
    assert parse_typed("ok") == "ok"


def test_a_value_is_shown_as_json_and_cut_to_80_characters() -> None:
    assert show({"ok": True}) == '{"ok": true}'
    assert show(lookup({}, "status")) == "(missing)"
    exact = "x" * 78
    assert show(exact) == json.dumps(exact)  # 80 characters with its quotes: shown whole
    long = show("y" * 100)
    assert len(long) == 80 and long == '"' + "y" * 76 + "..."


def test_typed_equality_keeps_true_apart_from_1_and_strings_apart_from_numbers() -> None:
    check = JsonExpectation.parse("checks.redis.ok=true")
    assert check.check({"checks": {"redis": {"ok": True}}}) is None
    assert check.check({"checks": {"redis": {"ok": 1}}}) is not None
    assert check.check({"checks": {"redis": {"ok": "true"}}}) is not None
    assert JsonExpectation.parse("count=3").check({"count": "3"}) is not None
    assert JsonExpectation.parse("count=3").check({"count": 3}) is None


def test_paths_index_lists_and_report_missing() -> None:
    doc = {"items": [{"id": 7}], "a.b": 1}
    assert lookup(doc, "items.0.id") == 7
    assert lookup(doc, "items[0].id") == 7
    assert is_missing(lookup(doc, "items.1.id"))
    assert is_missing(lookup(doc, "items.x"))
    assert lookup(doc, "a\\.b") == 1


def test_presence_and_regex_expectations() -> None:
    present = JsonExpectation.present("checks.redis")
    assert present.check({"checks": {"redis": None}}) is None
    failure = present.check({"checks": {}})
    assert failure is not None and failure.actual == "missing"
    regex = JsonExpectation.parse(r"version~^v1\.")
    assert regex.check({"version": "v1.4.0"}) is None
    failed = regex.check({"version": "v2.0.0"})
    assert failed is not None and failed.expected == r"matches /^v1\./" and failed.actual == '"v2.0.0"'


def test_a_malformed_expectation_is_a_usage_error() -> None:
    with pytest.raises(UsageError) as caught:
        JsonExpectation.parse("status")
    assert caught.value.hint is not None and "PATH=VALUE" in caught.value.hint
    with pytest.raises(UsageError, match="regex"):
        JsonExpectation.parse("version~(")
    with pytest.raises(UsageError, match=r"^empty JSON path$"):
        JsonExpectation.parse("~^v1")  # a regex with no path before it


def test_an_expectation_says_what_kind_of_check_it_is() -> None:
    assert JsonExpectation.parse("status=ok") == JsonExpectation("status", "equals", "ok")
    assert JsonExpectation.parse("version~^v1") == JsonExpectation("version", "matches", "^v1")
    assert JsonExpectation.parse("a~b=c").kind == "matches" and JsonExpectation.parse("a=b~c").kind == "equals"


@pytest.mark.parametrize(
    ("expected", "actual", "match"),
    [
        ("v1.4.0", "1.4.0", True),
        ("1.4.0", "v1.4.0", True),
        ("v1.4.0", "1.4.1", False),
        ("abc1234", "abc1234def5678", True),
        ("abc1234def5678", "abc1234", True),
        ("abc12", "abc1234def", False),
        ("abc1234", "abd1234def", False),
        ("V1.4.0", "1.4.0", True),
        (" v1.4.0 ", "1.4.0", True),
        ("vnext", "next", False),  # a v before a word is part of the word
        ("v", "v", True),
        ("v2", "2", True),
        ("1.4.0", "1.4.0-rc.1", False),
    ],
)
def test_version_matching_ignores_v_and_accepts_sha_prefixes(expected: str, actual: str, match: bool) -> None:
    assert version_matches(expected, actual) is match


FULL_SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.mark.parametrize(
    ("reported", "match"),
    [
        (FULL_SHA[:7], True),  # git's default short SHA (git rev-parse --short, git log --oneline)
        (FULL_SHA[:12], True),
        (FULL_SHA.upper(), True),  # some CIs and UIs print commits in upper case
        (FULL_SHA[:7].upper(), True),
        (FULL_SHA, True),
        (FULL_SHA[:6], False),  # six characters name too many commits to prove one
        ("0123457", False),  # another commit, seven characters
        ("0123456789ABCDEF0123456789ABCDEF01234568", False),  # another commit, upper case
        ("0123456z", False),  # not hex: not a commit
        (FULL_SHA[:7] + "-dirty", False),
    ],
)
def test_a_commit_matches_by_its_short_or_upper_case_form_and_another_commit_never(reported: str, match: bool) -> None:
    assert version_matches(FULL_SHA, reported) is match
    assert version_matches(reported, FULL_SHA) is match  # the expected side may be the short or upper-case one


@pytest.mark.parametrize("where", ["json", "header"])
@pytest.mark.parametrize("reported", [FULL_SHA[:7], FULL_SHA.upper()])
def test_the_version_rule_accepts_a_short_or_upper_case_commit_and_refuses_another(where: str, reported: str) -> None:
    check = HealthCheck(expect_versions=("v1.4.0", "1.4.0", FULL_SHA), version_rule="required")

    def seen(commit: str) -> Observation:
        if where == "header":
            return Observation(status=200, body=b"ok", headers={"x-commit-sha": commit})
        return answer({"status": "ok", "commit": commit})

    assert check.evaluate(seen(reported)) == []
    other = "fedcba9" if len(reported) == 7 else "FEDCBA9876543210FEDCBA9876543210FEDCBA98"
    failures = check.evaluate(seen(other))
    assert [f.actual for f in failures] == [f"{other} (another version is answering)"]


def test_the_old_version_answering_is_named_as_such() -> None:
    check = HealthCheck(expect_versions=("v1.4.0",))
    failures = check.evaluate(answer({"status": "ok", "version": "1.3.0"}))
    assert len(failures) == 1
    assert failures[0].check == "version field version"
    assert "another version" in failures[0].actual
    assert check.evaluate(answer({"version": "1.4.0"})) == []


def test_the_version_can_come_from_a_header() -> None:
    check = HealthCheck(expect_versions=("1.4.0",), version_header="X-App-Version", version_rule="required")
    assert check.evaluate(Observation(status=200, body=b"plain", headers={"x-app-version": "v1.4.0"})) == []
    missing = check.evaluate(Observation(status=200, body=b"plain"))
    assert missing[0].actual == "(missing)"


# The version rule: one rule, with or without JSON assertions -------------------------------------------------

RELEASE = ("v1.4.0", "1.4.0", "0123456789abcdef0123456789abcdef01234567")


@pytest.mark.parametrize("json_asserted", [False, True])
def test_a_plain_status_ok_answer_passes_by_default(json_asserted: bool) -> None:
    check = HealthCheck(expect_versions=RELEASE, json=(JsonExpectation.parse("status=ok"),) if json_asserted else ())
    assert check.evaluate(answer({"status": "ok"})) == []


@pytest.mark.parametrize("json_asserted", [False, True])
@pytest.mark.parametrize(
    ("reported", "where"),
    [
        ({"status": "ok", "version": "1.3.0"}, "version field version"),
        ({"status": "ok", "commit": "fedcba9876543210fedcba9876543210fedcba98"}, "version field commit"),
    ],
)
def test_an_old_version_that_reports_itself_is_refused(
    json_asserted: bool, reported: dict[str, str], where: str
) -> None:
    check = HealthCheck(expect_versions=RELEASE, json=(JsonExpectation.parse("status=ok"),) if json_asserted else ())
    failures = check.evaluate(answer(reported))
    assert [f.check for f in failures] == [where] and "another version" in failures[0].actual


def test_the_commit_railway_injects_proves_the_new_version() -> None:
    check = HealthCheck(expect_versions=RELEASE)
    assert check.evaluate(answer({"status": "ok", "version": "dev", "commit": RELEASE[2]})) == []
    assert check.evaluate(answer({"status": "ok", "commit": RELEASE[2][:7]})) == []


def test_a_default_header_reports_the_version_of_a_non_json_answer() -> None:
    check = HealthCheck(expect_versions=RELEASE)
    assert check.evaluate(Observation(status=200, body=b"<html>", headers={"x-app-version": "1.4.0"})) == []
    old = check.evaluate(Observation(status=200, body=b"<html>", headers={"x-commit-sha": "fedcba98765"}))
    assert old[0].check == "version header X-Commit-Sha"


def test_required_refuses_an_answer_that_reports_no_version() -> None:
    check = HealthCheck(expect_versions=RELEASE, version_rule="required")
    failures = check.evaluate(answer({"status": "ok"}))
    assert failures[0].actual == "(missing)" and "field version or field commit" in failures[0].check


def test_off_accepts_any_version() -> None:
    check = HealthCheck(expect_versions=RELEASE, version_rule="off")
    assert check.evaluate(answer({"status": "ok", "version": "0.0.1"})) == []


def test_an_unknown_version_rule_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="unknown version check"):
        HealthCheck(version_rule="sometimes")


def test_status_failure_comes_alone_with_expected_and_actual() -> None:
    check = HealthCheck(statuses=parse_statuses("2xx"), json=(JsonExpectation.parse("status=ok"),))
    failures = check.evaluate(answer({"status": "down"}, status=503))
    assert [str(f) for f in failures] == ["status: expected 2xx, got 503"]


def test_body_header_and_latency_assertions() -> None:
    check = HealthCheck(
        body_contains="ok",
        body_regex=r"\bok\b",
        headers=(("Content-Type", "application/json"),),
        max_response_time=0.5,
    )
    good = Observation(status=200, body=b'{"status": "ok"}', headers={"content-type": "application/json"}, latency=0.1)
    assert check.evaluate(good) == []
    slow = Observation(status=200, body=b"nope", headers={}, latency=0.9)
    names = [f.check for f in check.evaluate(slow)]
    assert names == ["body", "body", "header Content-Type", "response time"]


def test_invalid_and_truncated_json_fail_the_json_checks() -> None:
    check = HealthCheck(json=(JsonExpectation.parse("status=ok"),))
    invalid = check.evaluate(Observation(status=200, body=b"<html>oops"))
    assert invalid[0].check == "json body" and "invalid JSON" in invalid[0].actual
    assert invalid[0].expected == "a JSON document"
    truncated = check.evaluate(Observation(status=200, body=b'{"status": "ok"', truncated=True))
    assert "larger than" in truncated[0].actual and truncated[0].expected == "a JSON document"


def test_the_assertions_are_described_in_words_for_the_summary() -> None:
    check = HealthCheck(
        statuses=(StatusRange(200, 299), StatusRange(304, 304)),
        json=(JsonExpectation.parse("status=ok"),),
        body_contains="ok",
        body_regex=r"v\d",
        headers=(("x-a", "b"),),
        max_response_time=1.5,
        expect_versions=("v1.2.0", "abc1234"),
        version_field="build.sha",
        version_rule="required",
    )
    assert check.describe() == [
        "status 2xx or 304",
        "version field build.sha = v1.2.0 or abc1234 (must be reported)",
        'json status = "ok"',
        "body contains 'ok'",
        r"body ~ /v\d/",
        "header x-a: b",
        "response time <= 1.5s",
    ]
    assert HealthCheck(expect_versions=("v1.2.0",)).describe() == [
        "status 200",
        "version field version or field commit or header X-App-Version or header X-Commit-Sha = v1.2.0 (when reported)",
    ]


def test_transport_errors_are_failures_with_the_reason() -> None:
    failures = HealthCheck().evaluate(Observation(error="connection refused"))
    assert str(failures[0]) == "connection refused"
    assert failures[0].expected == "an HTTP response"


def test_header_specs_never_echo_the_value_in_errors() -> None:
    assert parse_header("Authorization: Bearer abc") == ("Authorization", "Bearer abc")
    with pytest.raises(UsageError, match="expected 'Name: value'") as caught:
        parse_header("Bearer s3cr3t-value")
    assert "s3cr3t" not in str(caught.value)
    assert caught.value.hint == "write it as --header 'Authorization: Bearer $TOKEN'"
    with pytest.raises(UsageError, match="contains a line break or NUL; a header is one line") as broken:
        parse_header("X-Token: s3cr3t\r\nX-Other: 1")
    assert "s3cr3t" not in str(broken.value)
    assert broken.value.hint == "pass one header per --header, without CR or LF in its value"


def test_backoff_grows_to_the_cap_without_jitter() -> None:
    backoff = Backoff(1.0, 2.0, 5.0, "none")
    assert [backoff.next() for _ in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    backoff.reset()
    assert backoff.next() == 1.0


def test_full_jitter_stays_between_the_floor_and_the_exponential_ceiling() -> None:
    backoff = Backoff(1.0, 1.5, 5.0, "full", random.Random(7))
    delays = [backoff.next() for _ in range(200)]
    ceilings = [min(5.0, 1.5**n) for n in range(200)]
    assert all(0.25 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert len({round(d, 3) for d in delays[10:]}) > 50  # spread out, not in step


def test_decorrelated_jitter_is_capped() -> None:
    backoff = Backoff(1.0, 2.0, 8.0, "decorrelated", random.Random(3))
    delays = [backoff.next() for _ in range(100)]
    assert all(1.0 <= d <= 8.0 for d in delays)


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert parse_retry_after("7") == 7.0
    date = email.utils.formatdate(1_000_030, usegmt=True)
    assert parse_retry_after(date, now=1_000_000) == pytest.approx(30.0)
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_same_host_allows_https_upgrade_but_not_downgrade_or_other_hosts() -> None:
    assert same_host("http://a.example/x", "http://a.example/y")
    assert same_host("http://a.example/x", "https://a.example/y")
    assert not same_host("https://a.example/x", "http://a.example/y")
    assert not same_host("http://127.0.0.1:80/x", "http://localhost:80/x")
    assert not same_host("http://a.example:8080/x", "http://a.example:9090/x")


# Where the version is read from --------------------------------------------------------------------------------


def test_a_configured_header_replaces_the_default_fields() -> None:
    check = HealthCheck(expect_versions=("1.4.0",), version_header="X-App-Version")
    # The body's "version" is not where this app reports it: an old value there proves nothing either way.
    assert check.evaluate(answer({"status": "ok", "version": "1.3.0"})) == []
    assert check.version_fields == () and check.version_headers == ("X-App-Version",)


def test_a_configured_field_replaces_the_default_headers() -> None:
    check = HealthCheck(expect_versions=("1.4.0",), version_field="build.sha")
    seen = Observation(status=200, body=b'{"status": "ok"}', headers={"x-app-version": "1.3.0"})
    assert check.evaluate(seen) == []
    assert check.version_fields == ("build.sha",) and check.version_headers == ()


def test_reported_versions_are_trimmed_and_blank_ones_are_not_reported() -> None:
    check = HealthCheck(expect_versions=("1.4.0",))
    seen = Observation(status=200, body=b'{"version": " 1.4.0 ", "commit": "  "}', headers={"x-app-version": " 1.4.0 "})
    reported = check.reported_versions(seen)
    assert reported == [("version header X-App-Version", "1.4.0"), ("version field version", "1.4.0")]
    blank = Observation(status=200, body=b'{"version": "   "}', headers={"x-commit-sha": "  "})
    required = HealthCheck(expect_versions=("1.4.0",), version_rule="required")
    assert [f.actual for f in required.evaluate(blank)] == ["(missing)"]


def test_a_wrong_version_names_the_first_place_it_was_reported_and_every_accepted_one() -> None:
    check = HealthCheck(expect_versions=("v1.4.0", "1.4.0"))
    seen = Observation(status=200, body=b'{"version": "1.2.0"}', headers={"x-app-version": "1.3.0"})
    [failure] = check.evaluate(seen)
    assert failure.check == "version header X-App-Version"
    assert failure.expected == "v1.4.0 or 1.4.0" and failure.actual == "1.3.0 (another version is answering)"


def test_a_cut_body_is_not_read_for_its_version() -> None:
    check = HealthCheck(expect_versions=("1.4.0",))
    cut = Observation(status=200, body=b'{"version": "1.3.0"}', truncated=True)
    assert check.reported_versions(cut) == []
