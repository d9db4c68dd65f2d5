"""The two contracts cannot drift: the OpenAPI document says what the proto's http rules say
(checked on the committed descriptors and on edited copies of both)."""

from __future__ import annotations

import copy

import pytest
import yaml
from google.api import annotations_pb2, field_behavior_pb2
from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import FileDescriptor

from authgate.v1 import access_pb2, auth_pb2

from contract_drift import contract_drift
from toolchain import ROOT

SPEC_PATH = ROOT / "openapi" / "authgate.yaml"


@pytest.fixture
def spec() -> dict:
    return yaml.safe_load(SPEC_PATH.read_text())


def load_model(file_proto: descriptor_pb2.FileDescriptorProto) -> FileDescriptor:
    """A descriptor built from an (edited) copy of auth.proto's descriptor, in a fresh pool."""
    pool = descriptor_pool.DescriptorPool()
    added: set[str] = set()

    def add(file: FileDescriptor) -> None:
        for dependency in file.dependencies:
            if dependency.name not in added:
                add(dependency)
                dependency_proto = descriptor_pb2.FileDescriptorProto()
                dependency.CopyToProto(dependency_proto)
                pool.Add(dependency_proto)
                added.add(dependency.name)

    add(auth_pb2.DESCRIPTOR)
    pool.Add(file_proto)
    return pool.FindFileByName(file_proto.name)


def auth_proto_model() -> descriptor_pb2.FileDescriptorProto:
    file_proto = descriptor_pb2.FileDescriptorProto()
    auth_pb2.DESCRIPTOR.CopyToProto(file_proto)
    return file_proto


def field_of(file_proto, message: str, field: str) -> descriptor_pb2.FieldDescriptorProto:
    (found,) = (
        f for m in file_proto.message_type if m.name == message for f in m.field if f.name == field
    )
    return found


def test_openapi_document_agrees_with_every_http_rule_of_the_proto(spec):
    assert contract_drift(auth_pb2.DESCRIPTOR, spec) == []


def test_every_operation_is_an_rpcs_twin_or_says_why_it_is_rest_only(spec):
    """The one list of REST-only operations is the document's own `x-rest-only` marks."""
    operations = [
        (f"{verb.upper()} {path}", operation)
        for path, methods in spec["paths"].items()
        for verb, operation in methods.items()
        if verb != "parameters"
    ]
    untold = [
        where
        for where, operation in operations
        if bool(operation.get("x-grpc-method")) == bool(operation.get("x-rest-only"))
    ]
    rest_only = sorted(
        where.split(" ", 1)[1] for where, operation in operations if operation.get("x-rest-only")
    )

    assert untold == []
    assert rest_only == [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
        "/api/v1/oauth/introspect",
        "/api/v1/oauth/token",
        "/healthz",
        "/readyz",
    ]


def test_a_field_type_changed_in_the_descriptor_model_is_named(spec):
    model = auth_proto_model()
    field_of(
        model, "ListUsersRequest", "page_size"
    ).type = descriptor_pb2.FieldDescriptorProto.TYPE_STRING

    assert contract_drift(load_model(model), spec) == [
        "ListUsersRequest.page_size (json pageSize): JSON type string in the proto, "
        "integer in OpenAPI query parameter pageSize of GET /api/v1/users/",
        "ListUsersRequest.page_size (json pageSize): JSON type string in the proto, "
        "integer in OpenAPI query parameter page_size of GET /api/v1/users/",
    ]


def test_a_field_no_longer_required_in_the_descriptor_model_is_named(spec):
    model = auth_proto_model()
    field_of(model, "IssueTokenRequest", "password").options.ClearExtension(
        field_behavior_pb2.field_behavior
    )

    assert contract_drift(load_model(model), spec) == [
        "IssueTokenRequest.password: optional in the proto (not field_behavior REQUIRED), "
        "required in OpenAPI schema IssueTokenRequest"
    ]


def method_of(file_proto, name: str) -> descriptor_pb2.MethodDescriptorProto:
    (found,) = (m for m in file_proto.service[0].method if m.name == name)
    return found


def test_a_scope_removed_from_the_proto_option_is_named(spec):
    model = auth_proto_model()
    method_of(model, "ListUsers").options.Extensions[access_pb2.access].ClearField("scopes")

    assert contract_drift(load_model(model), spec) == [
        "AuthService.ListUsers: security of GET /api/v1/users/ in OpenAPI is "
        "[{'oauth2': ['users:read']}]; the proto declares [{'oauth2': []}]"
    ]


def test_an_rpc_made_public_in_the_proto_is_named(spec):
    model = auth_proto_model()
    access = method_of(model, "RevokeAllTokens").options.Extensions[access_pb2.access]
    access.public = True

    assert contract_drift(load_model(model), spec) == [
        "AuthService.RevokeAllTokens: security of POST /api/v1/token/revoke-all/ in OpenAPI "
        "is [{'oauth2': []}]; the proto declares []"
    ]


def test_an_rpc_added_to_the_proto_without_its_openapi_operation_is_named(spec):
    model = auth_proto_model()
    method = model.service[0].method.add(
        name="DescribeToken",
        input_type=".authgate.v1.RefreshTokenRequest",
        output_type=".authgate.v1.RefreshTokenResponse",
    )
    rule = method.options.Extensions[annotations_pb2.http]
    rule.post, rule.body = "/api/v1/token/describe/", "*"

    assert contract_drift(load_model(model), spec) == [
        "AuthService.DescribeToken: POST /api/v1/token/describe/ missing in OpenAPI"
    ]


def rename_property(schema: dict, old: str, new: str) -> None:
    schema["properties"][new] = schema["properties"].pop(old)
    schema["required"] = [new if name == old else name for name in schema.get("required", [])]


SPEC_EDITS = {
    "scope removed from the OpenAPI security": (
        lambda s: s["paths"]["/api/v1/users/"]["get"]["security"][0]["oauth2"].clear(),
        [
            "AuthService.ListUsers: security of GET /api/v1/users/ in OpenAPI is "
            "[{'oauth2': []}]; the proto declares [{'oauth2': ['users:read']}]"
        ],
    ),
    "security dropped from a protected operation": (
        lambda s: s["paths"]["/api/v1/token/revoke-all/"]["post"].pop("security"),
        [
            "AuthService.RevokeAllTokens: security of POST /api/v1/token/revoke-all/ in "
            "OpenAPI is []; the proto declares [{'oauth2': []}]"
        ],
    ),
    "query field without its proto spelling": (
        lambda s: s["paths"]["/api/v1/users/"]["get"]["parameters"].pop(1),
        [
            "ListUsersRequest.page_size (json pageSize): missing as OpenAPI query parameter "
            "page_size of GET /api/v1/users/"
        ],
    ),
    "renamed property": (
        lambda s: rename_property(
            s["components"]["schemas"]["IssueTokenRequest"], "email", "login"
        ),
        [
            "IssueTokenRequest.email: missing in OpenAPI schema IssueTokenRequest",
            "IssueTokenRequest.login: in OpenAPI schema IssueTokenRequest, "
            "not a field of authgate.v1.IssueTokenRequest",
        ],
    ),
    "wrong JSON type": (
        lambda s: s["components"]["schemas"]["User"]["properties"]["isActive"].update(
            type="string"
        ),
        [
            "User.is_active (json isActive): JSON type boolean in the proto, "
            "string in OpenAPI schema User"
        ],
    ),
    "Timestamp without date-time": (
        lambda s: s["components"]["schemas"]["User"]["properties"]["createTime"].pop("format"),
        [
            "User.create_time (json createTime): JSON format date-time in the proto, "
            "None in OpenAPI schema User"
        ],
    ),
    "request field not required": (
        lambda s: s["components"]["schemas"]["IssueTokenRequest"]["required"].remove("password"),
        [
            "IssueTokenRequest.password: required in the proto (field_behavior REQUIRED), "
            "optional in OpenAPI schema IssueTokenRequest"
        ],
    ),
    "always-printed response field not required": (
        lambda s: s["components"]["schemas"]["ListUsersResponse"]["required"].remove(
            "nextPageToken"
        ),
        [
            "ListUsersResponse.next_page_token (json nextPageToken): required in the proto "
            "(always printed), optional in OpenAPI schema ListUsersResponse"
        ],
    ),
    "query parameter missing": (
        lambda s: s["paths"]["/api/v1/users/"]["get"]["parameters"].pop(0),
        [
            "ListUsersRequest.page_size (json pageSize): missing as OpenAPI query parameter "
            "pageSize of GET /api/v1/users/"
        ],
    ),
    "path missing": (
        lambda s: s["paths"].pop("/api/v1/token/"),
        ["AuthService.IssueToken: POST /api/v1/token/ missing in OpenAPI"],
    ),
    "wrong x-grpc-method": (
        lambda s: s["paths"]["/api/v1/token/refresh/"]["post"].update(
            {"x-grpc-method": "authgate.v1.AuthService.IssueToken"}
        ),
        [
            "AuthService.RefreshToken: x-grpc-method of POST /api/v1/token/refresh/ in OpenAPI "
            "is 'authgate.v1.AuthService.IssueToken', not 'authgate.v1.AuthService.RefreshToken'",
            "OpenAPI POST /api/v1/token/refresh/: no google.api.http rule of "
            "authgate.v1.AuthService.IssueToken has this path and method",
        ],
    ),
    "wrong x-proto-message": (
        lambda s: s["components"]["schemas"]["User"].update(
            {"x-proto-message": "authgate.v1.ListUsersResponse"}
        ),
        [
            f"User: OpenAPI schema User (field {field}) is x-proto-message "
            "authgate.v1.ListUsersResponse, not authgate.v1.User"
            for field in (
                "ListUsersResponse.users",
                "CreateUserResponse.user",
                "UpdateUserResponse.user",
            )
        ],
    ),
}


@pytest.mark.parametrize("edit", SPEC_EDITS, ids=list(SPEC_EDITS))
def test_drift_in_a_copy_of_the_openapi_document_is_named(spec, edit):
    change, expected = SPEC_EDITS[edit]
    broken = copy.deepcopy(spec)
    change(broken)

    assert contract_drift(auth_pb2.DESCRIPTOR, broken) == expected
