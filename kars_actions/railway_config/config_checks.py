"""Railway's schema, and its errors turned into findings with line:column and a fix; then the checks past the schema."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kars_actions.core.errors import UsageError

# Only a file with problems needs positions, hints or schema errors: keep them off the import path of a clean run.
if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError

    from kars_actions.railway_config.positions import JsonPath
from kars_actions.railway_config.findings import ERROR, WARNING, Finding, Locator, display_path, format_path

SCHEMA_FILE = Path(__file__).parent.parent / "schemas" / "railway.schema.json"
# Keys the dashboard exports at the top-level build/deploy that the schema allows only per environment.
LEGACY_KEYS = frozenset({("build", "buildEnvironment"), ("deploy", "useLegacyStacker")})


# The schema ------------------------------------------------------------------------------------------------------


def _unresolvable_ref(schema: Any) -> tuple[str, str] | None:
    """The first ``$ref`` that does not point inside ``schema`` (and where it is), or None.

    Found up front: the validator would only fail on it halfway through a file, as an internal error."""
    pending: list[tuple[Any, str]] = [(schema, "")]
    while pending:
        node, where = pending.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and not _points_inside(schema, ref):
                return ref, where or "/"
            pending.extend((value, f"{where}/{key}") for key, value in node.items())
        elif isinstance(node, list):
            pending.extend((value, f"{where}/{index}") for index, value in enumerate(node))
    return None


def _points_inside(schema: Any, ref: str) -> bool:
    if not ref.startswith("#"):
        return False
    from urllib.parse import unquote

    node = schema
    for part in (p for p in ref[1:].split("/") if p):
        key = unquote(part).replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and key in node:
            node = node[key]
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            return False
    return True


class SchemaChecker:
    """Railway's schema and its Draft-07 validator, built on first use (jsonschema costs ~40 ms to import)."""

    def __init__(self, schema: dict[str, Any] | None = None, source: Path = SCHEMA_FILE) -> None:
        self._schema = schema
        self.source = source
        self._validator: Any = None

    @classmethod
    def from_file(cls, path: Path) -> SchemaChecker:
        """Another copy of the schema (``--schema``): any problem with it is a usage error naming the file."""
        try:
            data = json.loads(path.read_bytes())
        except FileNotFoundError:
            raise UsageError(f"schema file {path} does not exist") from None
        except IsADirectoryError:
            raise UsageError(f"schema file {path} is a folder, not a file") from None
        except OSError as error:
            raise UsageError(f"cannot read schema file {path}: {error.strerror}") from None
        except json.JSONDecodeError as error:
            raise UsageError(
                f"schema file {path}:{error.lineno}:{error.colno} is not valid JSON: {error.msg}"
            ) from None
        except (UnicodeDecodeError, RecursionError) as error:
            raise UsageError(f"schema file {path} is not readable JSON: {error}") from None
        if not isinstance(data, dict):
            raise UsageError(f"schema file {path} is not a JSON Schema (its top level is not an object)")
        from jsonschema import Draft7Validator
        from jsonschema.exceptions import SchemaError

        try:
            Draft7Validator.check_schema(data)
        except SchemaError as error:
            at = "/".join(str(p) for p in error.absolute_path) or "(top level)"
            raise UsageError(f"schema file {path} is not a valid Draft-07 schema at {at}: {error.message}") from None
        broken = _unresolvable_ref(data)
        if broken is not None:
            ref, at = broken
            raise UsageError(
                f"schema file {path}: $ref {ref!r} at {at} cannot be resolved",
                hint="only references inside the file (#/definitions/...) are followed; nothing is fetched",
            )
        return cls(data, path)

    @property
    def schema(self) -> dict[str, Any]:
        if self._schema is None:
            loaded: dict[str, Any] = json.loads(self.source.read_bytes())
            self._schema = loaded
        return self._schema

    def iter_errors(self, instance: Any) -> Iterator[ValidationError]:
        if self._validator is None:
            from jsonschema import Draft7Validator

            self._validator = Draft7Validator(self.schema)
        errors: Iterator[ValidationError] = self._validator.iter_errors(instance)
        return errors

    def section_keys(self, section: str) -> list[str]:
        props = self.schema.get("properties", {}).get(section, {}).get("properties", {})
        return list(props) if isinstance(props, dict) else []


# Schema errors into findings -----------------------------------------------------------------------------------------


def _field_name(path: Sequence[object]) -> str:
    """How a message names the field: its key, with list indexes (``watchPatterns[1]``)."""
    name = ""
    for part in reversed(path):
        name = f"[{part}]{name}" if isinstance(part, int) else f"{part}{name}"
        if not isinstance(part, int):
            break
    return name or "the document"


def _where(path: Sequence[object]) -> str:
    return "in " + ".".join(str(p) for p in path) if path else "at the top level"


def _describe(value: Any) -> str:
    kind = _json_type(value)
    shown = json.dumps(value) if kind in ("string", "number", "integer", "boolean") else None
    if shown is not None and len(shown) > 40:
        shown = shown[:37] + "..."
    return f"{kind} {shown}" if shown else kind


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__  # TOML dates and times


_TYPE_WORDS = {
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "a boolean (true or false)",
    "null": "null",
    "array": "a list",
    "object": "an object",
}


def _types_phrase(types: Iterable[str]) -> str:
    order = ["string", "integer", "number", "boolean", "array", "object", "null"]
    chosen = sorted(set(types), key=lambda t: order.index(t) if t in order else len(order))
    if "number" in chosen and "integer" in chosen:
        chosen.remove("integer")
    words = [_TYPE_WORDS.get(t, t) for t in chosen]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _wanted_types(error: ValidationError) -> set[str]:
    wanted: Any = error.validator_value
    return {wanted} if isinstance(wanted, str) else set(wanted)


def _collect(error: ValidationError) -> tuple[set[str], list[ValidationError]]:
    """Flatten anyOf/oneOf: the types the failing branches wanted, and the errors of branches whose type
    matched (those explain the failure better than "is not valid under any of the given schemas")."""
    if error.validator in ("anyOf", "oneOf") and error.context:
        types: set[str] = set()
        specific: list[ValidationError] = []
        branches: dict[object, list[ValidationError]] = {}
        for sub in error.context:
            branches.setdefault(sub.relative_schema_path[0], []).append(sub)
        for subs in branches.values():
            branch_types: set[str] = set()
            branch_specific: list[ValidationError] = []
            type_failed = False
            for sub in subs:
                if sub.relative_path:  # an error inside the value (a list item, a member) is specific
                    branch_specific.append(sub)
                    continue
                sub_types, sub_specific = _collect(sub)
                if sub.validator == "type" or (sub_types and not sub_specific):
                    type_failed = True
                branch_types |= sub_types
                branch_specific.extend(sub_specific)
            types |= branch_types
            if not type_failed:
                specific.extend(branch_specific)
        return types, specific
    if error.validator == "type":
        return _wanted_types(error), []
    if error.validator == "not":
        return set(), []
    return set(), [error]


def schema_findings(instance: Any, checker: SchemaChecker, locator: Locator, *, strict: bool) -> list[Finding]:
    """Every schema error, one finding per problem, at the offending key or value."""
    from kars_actions.core.schema_fast import is_valid

    if is_valid(instance, checker.schema) is True:
        return []  # the common case answers without importing jsonschema (~40 ms)
    findings: list[Finding] = []
    for error in checker.iter_errors(instance):
        findings.extend(_explain(error, checker, locator, strict))
    return findings


def _explain(error: ValidationError, checker: SchemaChecker, locator: Locator, strict: bool) -> list[Finding]:
    path: JsonPath = tuple(error.absolute_path)
    name = _field_name(path)
    if error.validator in ("anyOf", "oneOf"):
        types, specific = _collect(error)
        if specific:
            same_place = [s for s in specific if tuple(s.absolute_path) == path]
            if len(same_place) > 1 and len(same_place) == len(specific):
                reasons = "; or ".join(s.message for s in same_place)
                return [
                    _value_finding(
                        path, locator, "value", f"{name}: {_describe(error.instance)} is not accepted ({reasons})"
                    )
                ]
            out: list[Finding] = []
            for sub in specific:
                out.extend(_explain(sub, checker, locator, strict))
            return out
        return [_type_finding(path, name, types, error.instance, locator)]
    if error.validator == "type":
        return [_type_finding(path, name, _wanted_types(error), error.instance, locator)]
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        return _unknown_keys(error, path, checker, locator, strict)
    if error.validator == "enum":
        values: Any = error.validator_value
        allowed = list(values)
        from kars_actions.railway_config.hints import enum_hint

        hint, case_only = enum_hint(name, error.instance, allowed)
        listed = ", ".join(str(a) for a in allowed)
        return [
            _value_finding(
                path,
                locator,
                "enum",
                f"{name} {json.dumps(error.instance)} is not one of {listed}",
                hint=hint,
                severity=WARNING if case_only and not strict else ERROR,
            )
        ]
    if error.validator in ("minimum", "exclusiveMinimum"):
        return [
            _value_finding(
                path, locator, "value", f"{name} must be at least {error.validator_value}, not {error.instance}"
            )
        ]
    if error.validator in ("maximum", "exclusiveMaximum"):
        return [
            _value_finding(
                path, locator, "value", f"{name} must be at most {error.validator_value}, not {error.instance}"
            )
        ]
    if error.validator == "maxItems":
        count = len(error.instance) if isinstance(error.instance, list) else 0
        return [
            _value_finding(
                path,
                locator,
                "value",
                f"{name} allows at most {error.validator_value} item(s), this list has {count}",
                hint="join the commands with && into one string" if name == "preDeployCommand" else None,
            )
        ]
    if error.validator == "const":
        return [
            _value_finding(
                path,
                locator,
                "value",
                f"{name} must be {json.dumps(error.validator_value)}, not {_describe(error.instance)}",
            )
        ]
    if error.validator == "pattern":
        return [
            _value_finding(
                path,
                locator,
                "value",
                f"{name} {_describe(error.instance)} has the wrong format (expected to match {error.validator_value})",
            )
        ]
    return [_value_finding(path, locator, "value", error.message)]


def _type_finding(path: JsonPath, name: str, types: set[str], value: Any, locator: Locator) -> Finding:
    hint = None
    if isinstance(value, str) and ({"number", "integer"} & types):
        try:
            float(value)
            hint = "remove the quotes: write the number itself"
        except ValueError:
            hint = None
    elif isinstance(value, str) and "boolean" in types and value.lower() in ("true", "false"):
        hint = f"remove the quotes: write {value.lower()}"
    if not path:
        message = f"the file's top level must be an object, not {_describe(value)}"
    else:
        message = f"{name} must be {_types_phrase(types)}, not {_describe(value)}"
    return _value_finding(path, locator, "type", message, hint=hint)


def _value_finding(
    path: JsonPath,
    locator: Locator,
    kind: str,
    message: str,
    *,
    hint: str | None = None,
    severity: str = ERROR,
) -> Finding:
    pos = locator.value(path)
    return Finding(severity, kind, message, path=format_path(path), line=pos.line, column=pos.column, hint=hint)


def _unknown_keys(
    error: ValidationError, path: JsonPath, checker: SchemaChecker, locator: Locator, strict: bool
) -> list[Finding]:
    schema = error.schema if isinstance(error.schema, dict) else {}
    allowed = list(schema.get("properties", {}))
    patterns = list(schema.get("patternProperties", {}))
    import re

    elsewhere: dict[str, Iterable[str]] = {}
    from kars_actions.railway_config.hints import LEGACY_HINT, section_of, unknown_key_hint

    if section_of(path) == "" and len(path) in (0, 2):
        elsewhere = {"deploy": checker.section_keys("deploy"), "build": checker.section_keys("build")}
    findings: list[Finding] = []
    instance: Any = error.instance
    for key in instance:
        if key in allowed or any(re.search(p, key) for p in patterns):
            continue
        key_path = (*path, key)
        legacy = len(path) == 1 and (path[0], key) in LEGACY_KEYS
        hint = LEGACY_HINT if legacy else unknown_key_hint(key, path, allowed, elsewhere)
        pos = locator.key(key_path)
        findings.append(
            Finding(
                WARNING if legacy and not strict else ERROR,
                "unknown-key",
                f"unknown key {key!r} {_where(path)}",
                path=format_path(key_path),
                line=pos.line,
                column=pos.column,
                hint=hint,
            )
        )
    return findings


# Past the schema ---------------------------------------------------------------------------------------------------


def semantic_findings(
    instance: Any, locator: Locator, *, base_dir: Path | None = None, root: Path | None = None
) -> list[Finding]:
    """Warnings the schema cannot express, for the top level and each ``environments.<name>`` override."""
    if not isinstance(instance, dict):
        return []
    scopes: list[tuple[JsonPath, dict[str, Any]]] = [((), instance)]
    environments = instance.get("environments")
    if isinstance(environments, dict):
        scopes.extend((("environments", name), env) for name, env in environments.items() if isinstance(env, dict))
    top_deploy = instance.get("deploy") if isinstance(instance.get("deploy"), dict) else {}
    findings: list[Finding] = []
    for scope, body in scopes:
        deploy = body.get("deploy")
        if isinstance(deploy, dict):
            findings.extend(_deploy_warnings((*scope, "deploy"), deploy, top_deploy or {}, locator))
        build = body.get("build")
        if isinstance(build, dict) and base_dir is not None:
            finding = _dockerfile_warning(
                (*scope, "build", "dockerfilePath"), build.get("dockerfilePath"), base_dir, root, locator
            )
            if finding:
                findings.append(finding)
    return findings


def _warn(locator: Locator, path: JsonPath, kind: str, message: str, hint: str | None = None) -> Finding:
    return _value_finding(path, locator, kind, message, hint=hint, severity=WARNING)


def _deploy_warnings(
    path: JsonPath, deploy: dict[str, Any], top_deploy: dict[str, Any], locator: Locator
) -> list[Finding]:
    found: list[Finding] = []
    health = deploy.get("healthcheckPath")
    if isinstance(health, str) and not health.startswith("/"):
        suggestion = "/" + health.lstrip("/") if "://" not in health else None
        found.append(
            _warn(
                locator,
                (*path, "healthcheckPath"),
                "healthcheck",
                f"healthcheckPath {json.dumps(health)} does not start with /",
                hint=f'Railway requests this path on the service: write "{suggestion}"'
                if suggestion
                else "write only the path (e.g. /api/health); Railway calls it on the service itself",
            )
        )
    retries = deploy.get("restartPolicyMaxRetries")
    policy = deploy.get("restartPolicyType", top_deploy.get("restartPolicyType"))
    if retries is not None and isinstance(policy, str) and policy.upper() != "ON_FAILURE":
        found.append(
            _warn(
                locator,
                (*path, "restartPolicyMaxRetries"),
                "restart-policy",
                f"restartPolicyMaxRetries only applies with restartPolicyType ON_FAILURE, and the policy here is "
                f"{policy}",
                hint='set restartPolicyType to "ON_FAILURE", or delete restartPolicyMaxRetries',
            )
        )
    cron = deploy.get("cronSchedule")
    if isinstance(cron, str):
        from kars_actions.railway_config.cron import cron_problem

        problem = cron_problem(cron)
        if problem:
            found.append(
                _warn(
                    locator,
                    (*path, "cronSchedule"),
                    "cron",
                    f"cronSchedule {json.dumps(cron)} is not a valid cron expression: {problem}",
                    hint='5 fields: minute hour day-of-month month day-of-week, e.g. "*/15 * * * *" (times are UTC)',
                )
            )
    return found


def _dockerfile_warning(
    path: JsonPath, value: Any, base_dir: Path, root: Path | None, locator: Locator
) -> Finding | None:
    if not isinstance(value, str) or not value.strip():
        return None
    relative = value.lstrip("/")
    tried = [base_dir / relative]
    if root is not None:
        tried.append(root / relative)
    if any(p.is_file() for p in tried):
        return None
    shown = ", ".join(dict.fromkeys(display_path(p) for p in tried))
    return _warn(
        locator,
        path,
        "dockerfile",
        f"dockerfilePath {json.dumps(value)} does not exist (tried {shown})",
        hint="Railway resolves the path from the service's root directory: fix the path or add the Dockerfile",
    )
