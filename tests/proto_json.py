"""What the proto says, read from compiled descriptors: its google.api.http rules, which
fields are REQUIRED, and the JSON type each field has under the protobuf JSON mapping."""

from __future__ import annotations

import re
from typing import Any

from google.api import annotations_pb2, field_behavior_pb2, http_pb2
from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import FieldDescriptor

from authgate.v1 import access_pb2

HTTP_PATTERNS = ("get", "put", "post", "delete", "patch")
_T = FieldDescriptor
SCALAR_JSON_TYPES = {
    **dict.fromkeys((_T.TYPE_INT32, _T.TYPE_SINT32, _T.TYPE_SFIXED32), "integer"),
    **dict.fromkeys((_T.TYPE_UINT32, _T.TYPE_FIXED32), "integer"),
    # Proto3 JSON: 64-bit integers are strings, so JavaScript does not lose precision.
    **dict.fromkeys((_T.TYPE_INT64, _T.TYPE_SINT64, _T.TYPE_SFIXED64), "string"),
    **dict.fromkeys((_T.TYPE_UINT64, _T.TYPE_FIXED64), "string"),
    **dict.fromkeys((_T.TYPE_FLOAT, _T.TYPE_DOUBLE), "number"),
    _T.TYPE_BOOL: "boolean",
    _T.TYPE_STRING: "string",
    _T.TYPE_BYTES: "string",
    _T.TYPE_ENUM: "string",
}
# Well-known types with a JSON form of their own: (type, format).
WELL_KNOWN_JSON_TYPES = {
    "google.protobuf.Timestamp": ("string", "date-time"),
    "google.protobuf.Duration": ("string", None),
    "google.protobuf.FieldMask": ("string", None),
    "google.protobuf.Struct": ("object", None),
    "google.protobuf.ListValue": ("array", None),
    "google.protobuf.Value": (None, None),  # any JSON value
    "google.protobuf.Any": ("object", None),
    "google.protobuf.Empty": ("object", None),
    **{
        f"google.protobuf.{name}Value": (json_type, None)
        for name, json_type in {
            "Double": "number",
            "Float": "number",
            "Int64": "string",
            "UInt64": "string",
            "Int32": "integer",
            "UInt32": "integer",
            "Bool": "boolean",
            "String": "string",
            "Bytes": "string",
        }.items()
    },
}


def http_rules(method: Any) -> list[tuple[str, str, http_pb2.HttpRule]]:
    """(HTTP method, path, rule) of a method's google.api.http rule and additional bindings."""
    # Re-parse with the generated MethodOptions so the extension is read from any pool.
    options = descriptor_pb2.MethodOptions.FromString(method.GetOptions().SerializeToString())
    if not options.HasExtension(annotations_pb2.http):
        return []
    top = options.Extensions[annotations_pb2.http]
    found = []
    for rule in (top, *top.additional_bindings):
        pattern = rule.WhichOneof("pattern")
        if pattern == "custom":
            found.append((rule.custom.kind.lower(), rule.custom.path, rule))
        elif pattern in HTTP_PATTERNS:
            found.append((pattern, getattr(rule, pattern), rule))
    return found


def declared_access(method: Any) -> access_pb2.Access | None:
    """The method's `(authgate.v1.access)` option, or None when it declares none."""
    options = descriptor_pb2.MethodOptions.FromString(method.GetOptions().SerializeToString())
    if not options.HasExtension(access_pb2.access):
        return None
    return options.Extensions[access_pb2.access]


def is_required(field: FieldDescriptor) -> bool:
    """Whether the field has `(google.api.field_behavior) = REQUIRED` (AIP-203)."""
    options = descriptor_pb2.FieldOptions.FromString(field.GetOptions().SerializeToString())
    behaviors = options.Extensions[field_behavior_pb2.field_behavior]
    return field_behavior_pb2.REQUIRED in behaviors


def openapi_path(template: str) -> tuple[str, list[str]]:
    """The OpenAPI path of an http rule's template, and the fields it binds."""
    bound = re.findall(r"\{([\w.]+)(?:=[^}]*)?\}", template)
    return re.sub(r"\{([\w.]+)(?:=[^}]*)?\}", r"{\1}", template), bound


def label(field: FieldDescriptor) -> str:
    """`Message.field`, with its JSON name when that differs: how problems name a field."""
    json_note = f" (json {field.json_name})" if field.json_name != field.name else ""
    return f"{field.containing_type.name}.{field.name}{json_note}"
