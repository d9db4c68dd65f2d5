"""docs/architecture.md cannot drift: its RPC table agrees with the proto descriptors, the
OpenAPI document and the code, and its error table with both doors' status maps."""

from __future__ import annotations

import inspect
import re

import pytest
import yaml
from google.api import annotations_pb2

from authgate import declared_access
from authgate.core.client_grant import ClientCredentialsGrant
from authgate.core.errors import Code, Reason
from authgate.core.operations import AuthCore
from authgate.grpc.servicer import AuthServicer
from authgate.rest import handlers
from authgate.rest.problems import HTTP_STATUS
from authgate.store.clients import ClientStore
from authgate.store.refresh_tokens import RefreshTokenRegistry
from authgate.store.users import UserStore
from authgate.v1 import auth_pb2

from toolchain import ROOT

DOC = (ROOT / "docs" / "architecture.md").read_text()
SPEC = yaml.safe_load((ROOT / "openapi" / "authgate.yaml").read_text())
SERVICE = auth_pb2.DESCRIPTOR.services_by_name["AuthService"]
STORES = {
    "UserStore": UserStore,
    "RefreshTokenRegistry": RefreshTokenRegistry,
    "ClientStore": ClientStore,
}
# The attributes through which AuthCore (and the grant it delegates to) reach each store.
STORE_ATTRIBUTES = {
    "store": "UserStore",
    "registry": "RefreshTokenRegistry",
    "clients": "ClientStore",
}


def table(name: str) -> list[list[str]]:
    """The rows of the table between `<!-- name: begin -->` and its end marker, cells unquoted."""
    block = DOC.split(f"<!-- {name}: begin -->")[1].split(f"<!-- {name}: end -->")[0]
    lines = [line for line in block.strip().splitlines() if line.startswith("|")][2:]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]


def code_names(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


RPC_ROWS = {code_names(row[0])[0]: row for row in table("rpc-table")}


def http_rule(method_name: str) -> tuple[str, str]:
    rule = SERVICE.methods_by_name[method_name].GetOptions().Extensions[annotations_pb2.http]
    verb = rule.WhichOneof("pattern")
    return verb.upper(), getattr(rule, verb)


def store_calls(method_name: str) -> set[str]:
    """`Class.operation` for every store call AuthCore.<method> makes, through its own methods
    and the client credentials grant it delegates to."""
    calls: set[str] = set()
    seen: set[tuple[type, str]] = set()
    pending: list[tuple[type, str]] = [(AuthCore, method_name)]
    while pending:
        owner, name = pending.pop()
        if (owner, name) in seen:
            continue
        seen.add((owner, name))
        source = inspect.getsource(getattr(owner, name))
        pending += [(owner, called) for called in re.findall(r"self\.(\w+)\(", source)]
        pending += [
            (ClientCredentialsGrant, c) for c in re.findall(r"client_grant\.(\w+)\(", source)
        ]
        for attribute, operation in re.findall(r"self\.(store|registry|clients)\.(\w+)\(", source):
            calls.add(f"{STORE_ATTRIBUTES[attribute]}.{operation}")
    return calls


def test_the_table_has_one_row_per_rpc_of_the_service():
    assert sorted(RPC_ROWS) == sorted(method.name for method in SERVICE.methods)
    assert len(table("rpc-table")) == len(SERVICE.methods)


@pytest.mark.parametrize("rpc", sorted(RPC_ROWS))
def test_the_rest_column_is_the_rpcs_http_rule_and_openapi_operation(rpc):
    _, rest, handler, _, _ = RPC_ROWS[rpc]
    verb, path = code_names(rest)[0].split(" ", 1)
    assert (verb, path) == http_rule(rpc)
    operation = SPEC["paths"][path][verb.lower()]
    assert operation["operationId"] == f"authgate.rest.handlers.{code_names(handler)[0]}"
    assert operation["x-grpc-method"] == SERVICE.methods_by_name[rpc].full_name


@pytest.mark.parametrize("rpc", sorted(RPC_ROWS))
def test_protected_rpcs_are_marked_as_both_doors_guard_them(rpc):
    protected = "(protected)" in RPC_ROWS[rpc][0]
    operation = SPEC["paths"][http_rule(rpc)[1]][http_rule(rpc)[0].lower()]
    assert (not declared_access.requirements()[rpc].public) == protected
    assert bool(operation.get("security")) == protected


@pytest.mark.parametrize("rpc", sorted(RPC_ROWS))
def test_both_doors_call_the_core_method_the_table_names(rpc):
    _, _, handler, core_method, _ = RPC_ROWS[rpc]
    (core_name,) = code_names(core_method)
    assert callable(getattr(AuthCore, core_name))
    call = f".{core_name}("
    assert call in inspect.getsource(getattr(AuthServicer, rpc))
    assert call in inspect.getsource(getattr(handlers, code_names(handler)[0]))


@pytest.mark.parametrize("rpc", sorted(RPC_ROWS))
def test_the_store_column_is_every_store_call_of_the_core_method(rpc):
    _, _, _, core_method, stores = RPC_ROWS[rpc]
    listed = set(code_names(stores))
    for operation in listed:
        store, name = operation.split(".")
        assert callable(getattr(STORES[store], name)), operation
    assert listed == store_calls(code_names(core_method)[0])


def test_the_error_table_is_the_doors_status_maps():
    rows = {code_names(row[0])[0]: row for row in table("error-table")}
    assert sorted(rows) == sorted(reason.slug for reason in Reason)
    for reason in Reason:
        _, grpc_status, http_status, _ = rows[reason.slug]
        assert Code[code_names(grpc_status)[0]] is reason.code
        assert int(http_status) == HTTP_STATUS[reason.code]
