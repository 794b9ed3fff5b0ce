"""Check a 5-field cron expression (``deploy.cronSchedule``) the way crontab reads it, and say what is wrong."""

from __future__ import annotations

from dataclasses import dataclass

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: dict[str, int]


_FIELDS = (
    _Field("minute", 0, 59, {}),
    _Field("hour", 0, 23, {}),
    _Field("day of month", 1, 31, {}),
    _Field("month", 1, 12, {name: i + 1 for i, name in enumerate(_MONTHS)}),
    # 7 is Sunday too, as in Vixie cron.
    _Field("day of week", 0, 7, {name: i for i, name in enumerate(_DAYS)}),
)


def cron_problem(expression: str) -> str | None:
    """``None`` when ``expression`` is a valid 5-field cron expression, else one sentence saying why not."""
    text = expression.strip()
    if not text:
        return "the cron expression is empty"
    if text.startswith("@"):
        return f"'{text.split()[0]}' shortcuts are not accepted; write the 5 fields (e.g. '0 0 * * *' for daily)"
    parts = text.split()
    if len(parts) != len(_FIELDS):
        return f"a cron expression has 5 fields (minute hour day-of-month month day-of-week), this one has {len(parts)}"
    for part, spec in zip(parts, _FIELDS, strict=True):
        problem = _field_problem(part, spec)
        if problem:
            return f"{spec.name} field '{part}': {problem}"
    return None


def _field_problem(part: str, spec: _Field) -> str | None:
    for item in part.split(","):
        if not item:
            return "empty item in a list (check for a stray comma)"
        problem = _item_problem(item, spec)
        if problem:
            return problem
    return None


def _item_problem(item: str, spec: _Field) -> str | None:
    base, slash, step = item.partition("/")
    if slash:
        if not step.isdigit():
            return f"step '{step}' is not a whole number"
        if int(step) < 1:
            return "a step must be at least 1"
        if int(step) > spec.high:
            return f"step {step} is larger than the field's range ({spec.low}-{spec.high})"
    if base == "*":
        return None
    if not base:
        return "missing value before '/'"
    low_text, dash, high_text = base.partition("-")
    low, problem = _number(low_text, spec)
    if problem:
        return problem
    if not dash:
        return None
    high, problem = _number(high_text, spec)
    if problem:
        return problem
    if low > high:
        return f"range {low_text}-{high_text} runs backwards"
    return None


def _number(text: str, spec: _Field) -> tuple[int, str | None]:
    if not text:
        return 0, "missing number in a range"
    if text.isdigit():
        value = int(text)
    elif text.upper() in spec.names:
        return spec.names[text.upper()], None
    elif spec.names:
        allowed = ", ".join(spec.names)
        return 0, f"'{text}' is neither a number nor one of {allowed}"
    else:
        return 0, f"'{text}' is not a number"
    if not spec.low <= value <= spec.high:
        return 0, f"{value} is outside {spec.low}-{spec.high}"
    return value, None
