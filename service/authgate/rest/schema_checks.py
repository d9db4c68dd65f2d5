"""Yes-or-no checks compiled from the JSON Schemas of our requests, for the valid request.

jsonschema walks a schema keyword by keyword on every call: 23 µs for VerifyTokenRequest's one
string property, plus 13 µs to build the validator, which Connexion does per request (measured
with timeit on this project's 2-core benchmark VM). Every request the schema accepts paid that
to learn "no errors". A check compiled here answers the same yes or no in about 1 µs; only a
request it refuses goes on to jsonschema, which names the errors exactly as before.

`compile_check` gives None for any schema using a Draft 4 keyword it does not model: that
schema keeps jsonschema alone. A keyword jsonschema does not know is ignored, as jsonschema
ignores it. tests/unit/test_schema_checks.py holds every check equal to jsonschema's verdict.
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Callable
from typing import Any

Check = Callable[[Any], bool]

# Draft 4's type names as jsonschema's draft 4 type checker reads them: bool is no number,
# and 1.0 is no integer.
_TYPES: dict[str, Check] = {
    "object": lambda value: isinstance(value, dict),
    "string": lambda value: isinstance(value, str),
    "boolean": lambda value: isinstance(value, bool),
    "integer": lambda value: isinstance(value, int) and not isinstance(value, bool),
    "number": lambda value: isinstance(value, numbers.Number) and not isinstance(value, bool),
}
_MODELLED = {"type", "properties", "required", "minLength", "maxLength", "pattern"}
_MODELLED |= {"minimum", "maximum", "format"}
# Connexion's request validator lets a nullable schema take null; such schemas stay with it.
_NULLABLE = {"nullable", "x-nullable"}


def compile_check(
    schema: Any, keywords: frozenset[str], formats_checked: frozenset[str]
) -> Check | None:
    """A check equal to `is_valid` of a Draft 4 validator over `schema`, or None.

    `keywords` are the validator's keywords (`VALIDATORS`); `formats_checked` the formats its
    format checker checks (a format it does not check is an annotation).
    """
    if not isinstance(schema, dict) or _NULLABLE & schema.keys():
        return None
    used = keywords & schema.keys()
    if not used <= _MODELLED:
        return None
    if {"exclusiveMinimum", "exclusiveMaximum"} & schema.keys():
        return None
    if "format" in used and schema["format"] in formats_checked:
        return None
    checks: list[Check] = []
    if "type" in used:
        named = _TYPES.get(schema["type"]) if isinstance(schema["type"], str) else None
        if named is None:
            return None
        checks.append(named)
    if "required" in used or "properties" in used:
        object_check = _object_check(schema, keywords, formats_checked)
        if object_check is None:
            return None
        checks.append(object_check)
    string_check = _string_check(schema)
    if string_check is not None:
        checks.append(string_check)
    number_check = _number_check(schema)
    if number_check is not None:
        checks.append(number_check)
    return _all_of(checks)


def _object_check(
    schema: dict[str, Any], keywords: frozenset[str], formats_checked: frozenset[str]
) -> Check | None:
    required = tuple(schema.get("required", ()))
    if not all(isinstance(name, str) for name in required):
        return None
    properties: list[tuple[str, Check]] = []
    for name, subschema in schema.get("properties", {}).items():
        check = compile_check(subschema, keywords, formats_checked)
        if check is None:
            return None
        properties.append((name, check))

    def object_check(value: Any) -> bool:
        if not isinstance(value, dict):
            return True  # required and properties apply to objects only
        if not all(name in value for name in required):
            return False
        return all(check(value[name]) for name, check in properties if name in value)

    return object_check


def _string_check(schema: dict[str, Any]) -> Check | None:
    if not {"minLength", "maxLength", "pattern"} & schema.keys():
        return None
    shortest = schema.get("minLength", 0)
    longest = schema.get("maxLength")
    pattern = re.compile(schema["pattern"]) if "pattern" in schema else None

    def string_check(value: Any) -> bool:
        if not isinstance(value, str):
            return True  # the string keywords apply to strings only
        if len(value) < shortest or (longest is not None and len(value) > longest):
            return False
        return pattern is None or pattern.search(value) is not None

    return string_check


def _number_check(schema: dict[str, Any]) -> Check | None:
    if "minimum" not in schema and "maximum" not in schema:
        return None
    low, high = schema.get("minimum"), schema.get("maximum")
    is_number = _TYPES["number"]

    def number_check(value: Any) -> bool:
        if not is_number(value):
            return True  # minimum and maximum apply to numbers only
        return not ((low is not None and value < low) or (high is not None and value > high))

    return number_check


def _all_of(checks: list[Check]) -> Check:
    if len(checks) == 1:
        return checks[0]
    found = tuple(checks)
    return lambda value: all(check(value) for check in found)
