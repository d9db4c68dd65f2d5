"""The compiled request checks (rest/schema_checks.py) say yes exactly when jsonschema finds
no error, for every request body and query parameter schema of the OpenAPI document."""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest
from connexion.json_schema import Draft4RequestValidator, resolve_refs

# Hypothesis comes with schemathesis (a dev dependency).
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft4Validator

from authgate.rest.app import load_spec, operations
from authgate.rest.schema_checks import compile_check

FORMATS = frozenset(Draft4Validator.FORMAT_CHECKER.checkers)


def _request_schemas() -> list[tuple[str, Any, Any]]:
    """(name, schema, the validator Connexion uses for it), as Connexion resolves them."""
    spec = resolve_refs(copy.deepcopy(load_spec()))
    found = []
    for path, operation in operations(spec):
        for media_type, content in operation.get("requestBody", {}).get("content", {}).items():
            found.append((f"{path} {media_type}", content["schema"], Draft4RequestValidator))
        for parameter in operation.get("parameters", []):
            found.append((f"{path} ?{parameter['name']}", parameter["schema"], Draft4Validator))
    return found


SCHEMAS = _request_schemas()
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.sampled_from([0, 1, -1, 2147483647, 2147483648, 1.0, 0.5, -0.0, math.nan, math.inf]),
    st.floats(allow_nan=True),
    st.text(max_size=5),
    st.sampled_from(["", " ", "\t\n", "x", " x ", "a" * 1024, "a" * 1025, "a" * 300]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=3), inner)
    ),
    max_leaves=6,
)


def _objects_for(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Objects with the schema's own property names (some left out), and any value."""
    names = sorted(schema.get("properties", {}))
    if not names:
        return VALUES
    return st.one_of(
        VALUES,
        st.fixed_dictionaries({}, optional=dict.fromkeys(names, VALUES)),
        st.fixed_dictionaries({}, optional={name: SCALARS for name in names}),
    )


@pytest.mark.parametrize(("name", "schema", "make"), SCHEMAS, ids=[s[0] for s in SCHEMAS])
def test_every_request_schema_compiles(name: str, schema: Any, make: Any) -> None:
    # Otherwise the schema silently goes back to jsonschema's slower walk on every request.
    assert compile_check(schema, frozenset(make.VALIDATORS), FORMATS) is not None


@pytest.mark.parametrize(("name", "schema", "make"), SCHEMAS, ids=[s[0] for s in SCHEMAS])
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_check_agrees_with_jsonschema(name: str, schema: Any, make: Any, data: Any) -> None:
    check = compile_check(schema, frozenset(make.VALIDATORS), FORMATS)
    assert check is not None
    value = data.draw(_objects_for(schema))
    validator = make(schema, format_checker=Draft4Validator.FORMAT_CHECKER)
    assert check(value) == validator.is_valid(value)


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "nullable": True},  # Connexion's request validator accepts null
        {"type": "string", "format": "email"},  # a format the checker checks
        {"type": ["string", "null"]},
        {"enum": ["a"]},
        {"type": "integer", "minimum": 0, "exclusiveMinimum": True},
        {"properties": {"a": {"anyOf": [{"type": "string"}]}}},
        {"$ref": "#/definitions/x"},
    ],
)
def test_what_it_does_not_model_stays_with_jsonschema(schema: dict[str, Any]) -> None:
    assert compile_check(schema, frozenset(Draft4RequestValidator.VALIDATORS), FORMATS) is None


@pytest.mark.parametrize(
    ("schema", "value", "valid"),
    [
        ({"type": "integer"}, 1.0, False),  # draft 4: 1.0 is no integer
        ({"type": "integer"}, True, False),
        ({"type": "number"}, True, False),
        ({"minimum": 0}, True, True),  # minimum ignores what is not a number
        ({"type": "string", "pattern": r"\S"}, "  ", False),
        ({"type": "string", "minLength": 2}, "\U0001f600", False),  # code points, not bytes
        ({"type": "string", "format": "password"}, "", True),  # an annotation only
        ({"required": ["a"]}, [], True),  # required applies to objects only
        ({"x-proto-message": "a", "description": "b"}, 1, True),
    ],
)
def test_draft4_details(schema: dict[str, Any], value: Any, valid: bool) -> None:
    check = compile_check(schema, frozenset(Draft4Validator.VALIDATORS), FORMATS)
    assert check is not None
    assert Draft4Validator(schema).is_valid(value) is valid
    assert check(value) is valid
