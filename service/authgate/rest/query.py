"""Query parameters as a gRPC-JSON transcoder reads them: one field, two spellings."""

from __future__ import annotations

from typing import TypeVar

from authgate.core.errors import invalid_request

Value = TypeVar("Value")


def one_spelling(
    json_name: tuple[str, Value | None], proto_name: tuple[str, Value | None], default: Value
) -> Value:
    """The field's value under whichever spelling was sent (`pageSize` or `page_size`).

    Sent under both with different values, the request is ambiguous: grpc-gateway would keep
    whichever it happened to read last, so we refuse it and name both.
    """
    (json_key, json_value), (proto_key, proto_value) = json_name, proto_name
    if json_value is not None and proto_value is not None and json_value != proto_value:
        message = f"{json_key} and {proto_key} name the same field; send one of them."
        raise invalid_request({json_key: [message], proto_key: [message]})
    if json_value is not None:
        return json_value
    return proto_value if proto_value is not None else default
