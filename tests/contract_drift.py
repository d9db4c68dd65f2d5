"""Where the OpenAPI document disagrees with the proto's `google.api.http` rules and messages.

The proto is read from compiled descriptors (the http and field_behavior options as parsed
extensions), and each operation is compared with the protobuf JSON mapping of its messages,
as grpc-gateway or Envoy's transcoder would serve them: json_name keys, 64-bit integers as
strings, Timestamp as an RFC 3339 string, repeated as array, message as object.
"""

from __future__ import annotations

from typing import Any

from google.api import http_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor, FileDescriptor

from proto_json import (
    SCALAR_JSON_TYPES,
    WELL_KNOWN_JSON_TYPES,
    declared_access,
    http_rules,
    is_required,
    label,
    openapi_path,
)

_T = FieldDescriptor


def contract_drift(proto_file: FileDescriptor, spec: dict[str, Any]) -> list[str]:
    """Every disagreement between `proto_file`'s services and `spec`, one message each."""
    return _Checker(spec).check(proto_file)


class _Checker:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.problems: list[str] = []
        self.checked: set[tuple[str, str, bool]] = set()

    def check(self, proto_file: FileDescriptor) -> list[str]:
        served: dict[str, set[tuple[str, str]]] = {}
        for service in proto_file.services_by_name.values():
            for method in service.methods:
                rules = http_rules(method)
                if not rules:
                    self.problems.append(f"{service.name}.{method.name}: no google.api.http rule")
                for verb, template, rule in rules:
                    path, bound = openapi_path(template)
                    name = f"{service.full_name}.{method.name}"
                    served.setdefault(name, set()).add((verb, path))
                    self._check_operation(method, verb, path, bound, rule)
        self._check_unknown_grpc_methods(proto_file, served)
        return self.problems

    def _check_operation(
        self, method: Any, verb: str, path: str, bound: list[str], rule: http_pb2.HttpRule
    ) -> None:
        where = f"{verb.upper()} {path}"
        name = f"{method.containing_service.name}.{method.name}"
        operation = self.spec.get("paths", {}).get(path, {}).get(verb)
        if operation is None:
            self.problems.append(f"{name}: {where} missing in OpenAPI")
            return
        expected = method.containing_service.full_name + "." + method.name
        if operation.get("x-grpc-method") != expected:
            self.problems.append(
                f"{name}: x-grpc-method of {where} in OpenAPI is "
                f"{operation.get('x-grpc-method')!r}, not {expected!r}"
            )
        self._check_security(method, operation, where)
        request = method.input_type
        parameters = self._parameters(self.spec["paths"][path], operation)
        for field_name in bound:
            self._check_parameter(request.fields_by_name.get(field_name), "path", parameters, where)
        unbound = [f for f in request.fields if f.name not in bound]
        if rule.body == "*":
            self._check_body(operation, where, request, unbound)
            query: list[FieldDescriptor] = []
        elif rule.body:
            # google.api.http: the named field is the body; the other fields are the query.
            self._check_body_field(operation, where, request.fields_by_name[rule.body])
            query = [f for f in unbound if f.name != rule.body]
        else:
            self._check_no_body(operation, where, request)
            query = unbound
        # A transcoder (grpc-gateway, Envoy) reads a query field under its JSON name and
        # under its proto name: the document declares both, each of the field's type.
        spellings = {name: f for f in query for name in (f.json_name, f.name)}
        for name, field in spellings.items():
            self._check_parameter(field, "query", parameters, where, name)
        known = set(spellings)
        for location, param_name in parameters:
            if location == "query" and param_name not in known:
                self.problems.append(
                    f"{request.name}: OpenAPI query parameter {param_name} of {where} "
                    f"is not a query field of {request.full_name}"
                )
        if method.server_streaming:
            self._check_stream(operation, where, method.output_type)
        else:
            self._check_response(operation, where, method.output_type, rule.response_body)

    def _check_security(self, method: Any, operation: dict, where: str) -> None:
        """The operation's `security` says what the RPC's `(authgate.v1.access)` declares:
        nothing when public, else the oauth2 scheme with exactly the RPC's scopes."""
        name = f"{method.containing_service.name}.{method.name}"
        access = declared_access(method)
        if access is None:
            self.problems.append(f"{name}: declares no (authgate.v1.access) option")
            return
        expected = [] if access.public else [{"oauth2": sorted(access.scopes)}]
        found = operation.get("security", self.spec.get("security", []))
        found = [{scheme: sorted(scopes) for scheme, scopes in r.items()} for r in found]
        if found != expected:
            self.problems.append(
                f"{name}: security of {where} in OpenAPI is {found}; the proto declares {expected}"
            )

    def _check_no_body(self, operation: dict, where: str, request: Descriptor) -> None:
        if "requestBody" in operation:
            self.problems.append(
                f"{request.name}: {where} has an OpenAPI request body; its google.api.http "
                "rule has none"
            )

    def _parameters(self, path_item: dict, operation: dict) -> dict[tuple[str, str], dict]:
        found = {}
        for parameter in [*path_item.get("parameters", []), *operation.get("parameters", [])]:
            parameter = self._resolve(parameter)
            found[(parameter.get("in"), parameter.get("name"))] = parameter
        return found

    def _check_parameter(
        self,
        field: FieldDescriptor | None,
        location: str,
        parameters: dict,
        where: str,
        name: str = "",
    ) -> None:
        if field is None:
            return
        name = name or field.name
        parameter = parameters.get((location, name))
        what = f"OpenAPI {location} parameter {name} of {where}"
        if parameter is None:
            self.problems.append(f"{label(field)}: missing as {what}")
            return
        if field.type == _T.TYPE_MESSAGE and field.message_type.full_name not in (
            WELL_KNOWN_JSON_TYPES
        ):
            self.problems.append(f"{label(field)}: a message cannot be the {what}")
            return
        required = location == "path" or is_required(field)
        if bool(parameter.get("required")) != required:
            self.problems.append(
                f"{label(field)}: {'required' if required else 'optional'} in the proto, "
                f"{'required' if parameter.get('required') else 'optional'} as {what}"
            )
        self._check_type(field, parameter.get("schema", {}), what, repeated=field.is_repeated)

    def _check_body(
        self, operation: dict, where: str, message: Descriptor, fields: list[FieldDescriptor]
    ) -> None:
        body = self._resolve(operation.get("requestBody", {}))
        schema = body.get("content", {}).get("application/json", {}).get("schema")
        if schema is None:
            if fields:
                self.problems.append(f"{message.name}: no JSON request body for {where}")
            return
        self._check_message(message, schema, f"{where} request body", request=True, fields=fields)

    def _check_body_field(self, operation: dict, where: str, field: FieldDescriptor) -> None:
        body = self._resolve(operation.get("requestBody", {}))
        schema = body.get("content", {}).get("application/json", {}).get("schema")
        if schema is None:
            self.problems.append(f"{label(field)}: no JSON request body for {where}")
        elif field.message_type is not None and not field.is_repeated:
            self._check_body(operation, where, field.message_type, list(field.message_type.fields))
        else:
            self._check_type(field, schema, f"{where} request body", repeated=field.is_repeated)

    def _check_response(
        self, operation: dict, where: str, message: Descriptor, response_body: str
    ) -> None:
        response = self._resolve(operation.get("responses", {}).get("200", {}))
        schema = response.get("content", {}).get("application/json", {}).get("schema")
        if schema is None:
            self.problems.append(f"{message.name}: no 200 JSON response for {where}")
            return
        if response_body:
            field = message.fields_by_name[response_body]
            self._check_type(field, schema, f"{where} response", repeated=field.is_repeated)
            return
        self._check_message(message, schema, f"{where} response", request=False)

    def _check_stream(self, operation: dict, where: str, message: Descriptor) -> None:
        """A server stream as grpc-gateway serves it: newline-delimited JSON, each line an
        object whose `result` is a message and whose `error` is a google.rpc.Status."""
        response = self._resolve(operation.get("responses", {}).get("200", {}))
        schema = response.get("content", {}).get("application/x-ndjson", {}).get("schema")
        if schema is None:
            self.problems.append(f"{message.name}: no 200 NDJSON stream for {where}")
            return
        properties = self._resolve(schema).get("properties", {})
        if set(properties) != {"result", "error"}:
            self.problems.append(f"{message.name}: the lines of {where} are not result/error")
            return
        self._check_message(message, properties["result"], f"{where} stream", request=False)

    def _check_message(
        self,
        message: Descriptor,
        schema: dict,
        context: str,
        *,
        request: bool,
        fields: list[FieldDescriptor] | None = None,
    ) -> None:
        schema_name = self._ref_name(schema) or context
        schema = self._resolve(schema)
        named = schema.get("x-proto-message")
        if named is not None and named != message.full_name:
            self.problems.append(
                f"{message.name}: OpenAPI schema {schema_name} ({context}) is "
                f"x-proto-message {named}, not {message.full_name}"
            )
            return
        fields = list(message.fields) if fields is None else fields
        if named is None and fields:
            # Only an empty message may share a schema (`{}`) with other messages.
            self.problems.append(
                f"{message.name}: OpenAPI schema {schema_name} ({context}) has no "
                f"x-proto-message: {message.full_name}"
            )
        key = (message.full_name, schema_name, request)
        if key in self.checked:
            return
        self.checked.add(key)
        if schema.get("type", "object") != "object":
            self.problems.append(f"{message.name}: OpenAPI schema {schema_name} is not an object")
            return
        properties = schema.get("properties", {})
        required = set(schema.get("required", []))
        for field in fields:
            where = f"OpenAPI schema {schema_name}"
            if field.json_name not in properties:
                self.problems.append(f"{label(field)}: missing in {where}")
                continue
            self._check_required(field, field.json_name in required, where, request=request)
            self._check_type(
                field,
                properties[field.json_name],
                where,
                repeated=field.is_repeated,
                request=request,
            )
        for name in sorted(set(properties) - {f.json_name for f in fields}):
            self.problems.append(
                f"{message.name}.{name}: in OpenAPI schema {schema_name}, not a field of "
                f"{message.full_name}"
            )

    def _check_required(
        self, field: FieldDescriptor, listed: bool, where: str, *, request: bool
    ) -> None:
        if request:
            # A request field is required exactly when the proto marks it REQUIRED (AIP-203).
            expected: bool | None = is_required(field)
            because = "field_behavior REQUIRED" if expected else "not field_behavior REQUIRED"
        elif not field.has_presence:
            # Scalars without presence, repeated and map fields are always printed.
            expected, because = True, "always printed"
        elif field.type != _T.TYPE_MESSAGE or field.containing_oneof is not None:
            # `optional` scalars and oneof members are printed only when set.
            expected, because = False, "printed only when set"
        else:
            # A singular message field has presence by necessity: the service may promise it.
            expected, because = None, ""
        if expected is not None and listed != expected:
            self.problems.append(
                f"{label(field)}: {'required' if expected else 'optional'} in the proto "
                f"({because}), {'required' if listed else 'optional'} in {where}"
            )

    def _check_type(
        self,
        field: FieldDescriptor,
        schema: dict,
        where: str,
        *,
        repeated: bool,
        request: bool = True,
    ) -> None:
        resolved = self._resolve(schema)
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            value = field.message_type.fields_by_name["value"]
            if resolved.get("type") != "object":
                self._type_problem(field, "object (map)", resolved, where)
                return
            self._check_type(value, resolved.get("additionalProperties", {}), where, repeated=False)
            return
        if repeated:
            if resolved.get("type") != "array":
                self._type_problem(field, "array", resolved, where)
                return
            self._check_type(
                field, resolved.get("items", {}), where, repeated=False, request=request
            )
            return
        if field.type == _T.TYPE_MESSAGE:
            full_name = field.message_type.full_name
            if full_name not in WELL_KNOWN_JSON_TYPES:
                context = f"field {label(field)}"
                self._check_message(field.message_type, schema, context, request=request)
                return
            json_type, json_format = WELL_KNOWN_JSON_TYPES[full_name]
        else:
            json_type, json_format = SCALAR_JSON_TYPES[field.type], None
        if json_type is not None and resolved.get("type") != json_type:
            self._type_problem(field, json_type, resolved, where)
        elif json_format is not None and resolved.get("format") != json_format:
            self.problems.append(
                f"{label(field)}: JSON format {json_format} in the proto, "
                f"{resolved.get('format')!r} in {where}"
            )
        if field.type == _T.TYPE_ENUM and "enum" in resolved:
            names = {value.name for value in field.enum_type.values}
            if set(resolved["enum"]) != names:
                self.problems.append(
                    f"{label(field)}: enum values {sorted(names)} in the proto, "
                    f"{sorted(resolved['enum'])} in {where}"
                )

    def _type_problem(self, field: FieldDescriptor, expected: str, schema: dict, where: str):
        self.problems.append(
            f"{label(field)}: JSON type {expected} in the proto, "
            f"{schema.get('type', 'untyped')} in {where}"
        )

    def _check_unknown_grpc_methods(
        self, proto_file: FileDescriptor, served: dict[str, set[tuple[str, str]]]
    ) -> None:
        names = {
            f"{service.full_name}.{method.name}"
            for service in proto_file.services_by_name.values()
            for method in service.methods
        }
        package = proto_file.package + "."
        for path, path_item in self.spec.get("paths", {}).items():
            for verb, operation in path_item.items():
                grpc_method = isinstance(operation, dict) and operation.get("x-grpc-method")
                if not grpc_method or not grpc_method.startswith(package):
                    continue
                if grpc_method not in names:
                    self.problems.append(
                        f"OpenAPI {verb.upper()} {path}: x-grpc-method {grpc_method} is no RPC"
                    )
                elif (verb, path) not in served.get(grpc_method, set()):
                    self.problems.append(
                        f"OpenAPI {verb.upper()} {path}: no google.api.http rule of "
                        f"{grpc_method} has this path and method"
                    )

    @staticmethod
    def _unwrap(schema: dict) -> dict:
        """`allOf: [{$ref: ...}]` (a $ref with a description beside it) is the $ref."""
        if isinstance(schema, dict) and len(schema.get("allOf", [])) == 1:
            return schema["allOf"][0]
        return schema

    def _ref_name(self, schema: dict) -> str | None:
        ref = self._unwrap(schema).get("$ref", "")
        return ref.rsplit("/", 1)[-1] if ref else None

    def _resolve(self, node: dict) -> dict:
        """Follow local `$ref`s (`#/components/...`) to the node they name."""
        node = self._unwrap(node)
        while isinstance(node, dict) and "$ref" in node:
            target: Any = self.spec
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target.get(part, {})
            node = target
        return node
