"""The cron validator: 5 fields with ranges, steps, lists and names, as crontab reads them."""

from __future__ import annotations

import pytest

from kars_actions.railway_config.cron import cron_problem


@pytest.mark.parametrize(
    "expression",
    [
        "* * * * *",
        "*/5 * * * *",
        "0 0 * * 0",
        "30 2 * * MON-FRI",
        "0 9 1,15 JAN-JUN *",
        "0-59/10 0-23/2 1-31 1-12 0-7",
        "15,45 8-18 * * mon,wed,fri",
        "  0 3 * * *  ",
        "5/15 * * * *",
    ],
)
def test_valid_expressions_pass(expression: str) -> None:
    assert cron_problem(expression) is None


@pytest.mark.parametrize(
    ("expression", "words"),
    [
        ("", "empty"),
        ("@daily", "shortcuts"),
        ("*/5 * * *", "this one has 4"),
        ("0 0 * * * *", "this one has 6"),
        ("60 * * * *", "minute field '60': 60 is outside 0-59"),
        ("0 24 * * *", "hour field"),
        ("0 0 0 * *", "day of month field '0': 0 is outside 1-31"),
        ("0 0 * 13 *", "month field"),
        ("0 0 * * 8", "day of week field"),
        ("*/0 * * * *", "a step must be at least 1"),
        ("*/x * * * *", "step 'x' is not a whole number"),
        ("0 18-8 * * *", "runs backwards"),
        ("0 0 * * MON-", "missing number"),
        ("0 0 * FOO *", "'FOO' is neither a number nor one of JAN"),
        ("0 0 * * MONDAY", "neither a number nor one of SUN"),
        ("a * * * *", "'a' is not a number"),
        ("1,,2 * * * *", "stray comma"),
        ("/5 * * * *", "missing value before '/'"),
        ("*/99 * * * *", "larger than the field's range"),
    ],
)
def test_invalid_expressions_say_what_is_wrong(expression: str, words: str) -> None:
    problem = cron_problem(expression)
    assert problem is not None
    assert words in problem
