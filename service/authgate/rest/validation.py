"""Connexion validators that report every offending field, as the REST error format promises.

Connexion's own validators stop at the first error and return free text; ours collect all of
them into `errors` (field -> messages) and raise the core's invalid-request AuthError.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl

from connexion.json_schema import Draft4RequestValidator
from connexion.utils import is_null, is_nullable
from connexion.validators import FormDataValidator, JSONRequestBodyValidator, ParameterValidator
from jsonschema import Draft4Validator, ValidationError
from starlette.datastructures import Headers

from authgate.core.errors import invalid_request
from authgate.rest.handler_calls import keep_parsed_body
from authgate.rest.schema_checks import Check, compile_check

_TYPE_NAMES = {
    "string": "a string",
    "integer": "an integer",
    "boolean": "a boolean",
    "object": "a JSON object",
    "array": "a list",
}


def _message(error: ValidationError) -> str:
    """A DRF-style message for one jsonschema error."""
    schema: Any = error.schema
    if error.validator == "required":
        return "This field is required."
    if error.validator == "type":
        return f"Must be {_TYPE_NAMES.get(str(error.validator_value), error.validator_value)}."
    if error.validator in ("minLength", "pattern"):
        return "This field may not be blank."
    if error.validator == "maxLength":
        return f"Ensure this field has no more than {schema['maxLength']} characters."
    if error.validator == "minimum":
        return f"Ensure this value is greater than or equal to {schema['minimum']}."
    if error.validator == "maximum":
        return f"Ensure this value is less than or equal to {schema['maximum']}."
    return str(error.message)


def _field(error: ValidationError) -> str:
    if error.validator == "required":
        # jsonschema reports a missing property on its parent: "'email' is a required property".
        missing: str = error.message.split("'")[1]
        return ".".join([*map(str, error.absolute_path), missing])
    return ".".join(map(str, error.absolute_path)) or "body"


class _SchemaValidators:
    """One jsonschema validator per schema of the spec, and its compiled check, built on
    first use and kept.

    Connexion builds a new validator for every request (its `_validator` is a property, and
    the parameter validator deep-copies each parameter and builds a Draft4Validator for it);
    a validator holds no per-call state, so one per schema serves every request. Keyed by the
    schema's identity: Connexion hands the spec's own dicts over on every request, and the
    entry keeps its schema alive, so an id is never reused while it is cached.
    """

    def __init__(self, make: Any) -> None:
        self._make = make
        self._keywords = frozenset(make.VALIDATORS)
        self._formats = frozenset(Draft4Validator.FORMAT_CHECKER.checkers)
        self._built: dict[int, tuple[Any, Any, Check | None]] = {}

    def __call__(self, schema: Any) -> tuple[Any, Check | None]:
        """(the validator, a compiled yes-or-no check or None) for `schema`."""
        found = self._built.get(id(schema))
        if found is None or found[0] is not schema:
            validator = self._make(schema, format_checker=Draft4Validator.FORMAT_CHECKER)
            found = (schema, validator, compile_check(schema, self._keywords, self._formats))
            self._built[id(schema)] = found
        return found[1], found[2]


# Bodies: what Connexion's JSON and form validators build (nullable-aware Draft 4).
_body_validator = _SchemaValidators(Draft4RequestValidator)
# Query parameters: what ParameterValidator.validate_parameter builds (plain Draft 4).
_parameter_validator = _SchemaValidators(Draft4Validator)


class _DuplicateKey(ValueError):
    """A JSON object named the same key twice; the message is the key."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Parsers disagree on which duplicate wins; refusing them leaves nothing to disagree on.
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


class FieldErrorsJSONBodyValidator(JSONRequestBodyValidator):
    async def _parse(self, stream: Any, scope: Any) -> Any:
        raw = b"".join([chunk async for chunk in stream])
        if not raw.strip():
            return None
        try:
            body = json.loads(raw.decode(self._encoding), object_pairs_hook=_unique_keys)
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
            raise invalid_request({"body": [f"JSON parse error: {error}"]}) from error
        except _DuplicateKey as error:
            raise invalid_request({str(error): ["Duplicate key in JSON object."]}) from error
        keep_parsed_body(scope, body, self._encoding)  # the handler's `body`, not parsed again
        return body

    async def wrap_receive(self, receive: Any, *, scope: Any) -> Any:
        if self._required and not int(Headers(scope=scope).get("content-length", 0) or 0):
            raise invalid_request({"body": ["Request body must not be empty."]})
        return await super().wrap_receive(receive, scope=scope)

    def _validate(self, body: Any) -> dict[str, Any] | None:
        if body is None:
            if not self._required:
                return None
            raise invalid_request({"body": ["Request body must not be empty."]})
        _refuse_schema_errors(self._schema, body)
        return None


class FieldErrorsParameterValidator(ParameterValidator):
    @staticmethod
    def validate_parameter(
        parameter_type: str, value: Any, param: dict[str, Any], param_name: str | None = None
    ) -> str | None:
        """ParameterValidator.validate_parameter with its validator built once per parameter;
        the same checks, in the same order, and the same message."""
        if is_nullable(param) and is_null(value):
            return None
        if value is not None:
            validator, check = _parameter_validator(param.get("schema", param))
            if check is not None and check(value):
                return None
            try:
                validator.validate(value)
            except ValidationError as exception:
                return str(exception)
        elif param.get("required"):
            return f"Missing {parameter_type} parameter '{param['name']}'"
        return None

    def validate_request(self, request: Any) -> None:
        errors: dict[str, list[str]] = {}
        for param in self.parameters.get("query", []):
            if self.validate_query_parameter(param, request):
                value = request.query_params.get(param["name"])
                errors[param["name"]] = [self._describe(param, value)]
        if errors:
            raise invalid_request(errors)

    @staticmethod
    def _describe(param: dict[str, Any], value: Any) -> str:
        schema = param.get("schema", {})
        try:
            from jsonschema import Draft4Validator

            error = next(iter(Draft4Validator(schema).iter_errors(value)))
        except StopIteration:  # pragma: no cover - only called for invalid values
            return "Invalid value."
        return _message(error)


class StrictFormValidator(FormDataValidator):
    """Form bodies as RFC 6749 §3.2 has them: ASCII form encoding, each parameter once.

    Starlette's form parser keeps the last of repeated parameters and replaces what does not
    decode; an OAuth endpoint must refuse both. The handler reads the values as parsed here.
    """

    async def _parse(self, stream: Any, scope: Any) -> dict[str, str]:
        return parse_form(b"".join([chunk async for chunk in stream]))

    def _validate(self, body: Any) -> dict[str, Any] | None:
        _refuse_schema_errors(self._schema, body)
        return None


def _refuse_schema_errors(schema: Any, body: Any) -> None:
    """invalid_request naming every field the schema refuses, each with its messages."""
    validator, check = _body_validator(schema)
    if check is not None and check(body):
        return
    errors: dict[str, list[str]] = {}
    for error in validator.iter_errors(body):
        errors.setdefault(_field(error), []).append(_message(error))
    if errors:
        raise invalid_request(errors)


_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def parse_form(raw: bytes) -> dict[str, str]:
    """The body's parameters; each may appear once (RFC 6749 §3.2), in ASCII form encoding."""
    try:
        text = raw.decode("ascii")
        if _BAD_ESCAPE.search(text):
            raise ValueError("a % not followed by two hex digits")
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text), errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise invalid_request(
            {"body": ["Not application/x-www-form-urlencoded UTF-8 text."]}
        ) from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise invalid_request({name: ["Sent more than once."]})
        if "\x00" in value:
            raise invalid_request({name: ["May not contain NUL."]})
        form[name] = value
    return form
