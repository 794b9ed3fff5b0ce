"""A yes/no Draft-07 check for the keywords Railway's schema and kars.yml's use, so a valid file never pays for
jsonschema (~0.1 s of a command's start).

jsonschema stays the authority: it explains every error. This only answers "valid?" quickly, and answers
``None`` (ask jsonschema) for anything it does not know, so it can never accept what jsonschema would reject
for a schema it fully understands. Tests hold its verdicts against jsonschema's on every example file and on
generated documents, for both schemas.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

_ANNOTATIONS = frozenset(
    {"$schema", "$id", "$comment", "title", "description", "default", "examples", "definitions", "markdownDescription"}
)


class Unsupported(Exception):
    """The schema uses something this checker does not implement: fall back to jsonschema."""


@lru_cache(maxsize=64)
def _pattern(source: str) -> re.Pattern[str]:
    return re.compile(source)


def _type_ok(value: Any, name: str) -> bool:
    if name == "object":
        return isinstance(value, dict)
    if name == "array":
        return isinstance(value, list)
    if name == "string":
        return isinstance(value, str)
    if name == "boolean":
        return isinstance(value, bool)
    if name == "null":
        return value is None
    if name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if name == "integer":
        if isinstance(value, bool):
            return False
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    raise Unsupported(f"type {name}")


def _equal(a: Any, b: Any) -> bool:
    """JSON equality: 1 == 1.0, but True is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    return bool(a == b)


class FastChecker:
    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root

    def _resolve(self, ref: str) -> Any:
        if not ref.startswith("#"):
            raise Unsupported(f"remote $ref {ref}")
        node: Any = self.root
        for part in (p for p in ref[1:].split("/") if p):
            part = part.replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                raise Unsupported(f"unresolvable $ref {ref}")
        return node

    def valid(self, value: Any, schema: Any) -> bool:
        if schema is True or schema == {}:
            return True
        if schema is False:
            return False
        if not isinstance(schema, dict):
            raise Unsupported("schema is not an object")
        if "$ref" in schema:  # Draft-07: $ref ignores its siblings
            return self.valid(value, self._resolve(schema["$ref"]))
        for key, arg in schema.items():
            if key in _ANNOTATIONS:
                continue
            if key == "type":
                names = arg if isinstance(arg, list) else [arg]
                if not any(_type_ok(value, n) for n in names):
                    return False
            elif key == "enum":
                if not any(_equal(value, option) for option in arg):
                    return False
            elif key == "const":
                if not _equal(value, arg):
                    return False
            elif key == "properties":
                if isinstance(value, dict):
                    for name, sub in arg.items():
                        if name in value and not self.valid(value[name], sub):
                            return False
            elif key == "additionalProperties":
                if isinstance(value, dict):
                    known = schema.get("properties", {})
                    if "patternProperties" in schema:
                        raise Unsupported("patternProperties")
                    for name, item in value.items():
                        if name not in known and not self.valid(item, arg):
                            return False
            elif key == "required":
                if isinstance(value, dict) and any(name not in value for name in arg):
                    return False
            elif key == "items":
                if isinstance(value, list):
                    if isinstance(arg, list):
                        if "additionalItems" in schema:
                            raise Unsupported("additionalItems")
                        if not all(self.valid(v, s) for v, s in zip(value, arg, strict=False)):
                            return False
                    elif not all(self.valid(v, arg) for v in value):
                        return False
            elif key in ("minProperties", "maxProperties"):
                if isinstance(value, dict) and not (len(value) >= arg if key == "minProperties" else len(value) <= arg):
                    return False
            elif key == "propertyNames":
                if isinstance(value, dict) and not all(self.valid(name, arg) for name in value):
                    return False
            elif key == "uniqueItems":
                if arg is True and isinstance(value, list):
                    for index, item in enumerate(value):
                        if any(_equal(item, other) for other in value[index + 1 :]):
                            return False
            elif key == "if":
                branch = "then" if self.valid(value, arg) else "else"
                if branch in schema and not self.valid(value, schema[branch]):
                    return False
            elif key in ("then", "else"):
                continue  # decided with their "if"; without one, Draft-07 ignores them
            elif key in ("minItems", "maxItems"):
                if isinstance(value, list) and not (len(value) >= arg if key == "minItems" else len(value) <= arg):
                    return False
            elif key in ("minLength", "maxLength"):
                if isinstance(value, str):
                    length = len(value)  # code points, as Draft-07 counts
                    if not (length >= arg if key == "minLength" else length <= arg):
                        return False
            elif key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    ok = {
                        "minimum": value >= arg,
                        "maximum": value <= arg,
                        "exclusiveMinimum": value > arg,
                        "exclusiveMaximum": value < arg,
                    }[key]
                    if not ok:
                        return False
            elif key == "pattern":
                if isinstance(value, str) and _pattern(arg).search(value) is None:
                    return False
            elif key == "anyOf":
                if not any(self.valid(value, sub) for sub in arg):
                    return False
            elif key == "allOf":
                if not all(self.valid(value, sub) for sub in arg):
                    return False
            elif key == "oneOf":
                if sum(1 for sub in arg if self.valid(value, sub)) != 1:
                    return False
            elif key == "not":
                if self.valid(value, arg):
                    return False
            else:
                raise Unsupported(key)
        return True


def is_valid(instance: Any, schema: dict[str, Any]) -> bool | None:
    """True or False when sure; None when the schema uses a keyword this checker leaves to jsonschema."""
    try:
        return FastChecker(schema).valid(instance, schema)
    except (Unsupported, re.error, RecursionError, TypeError):
        return None
