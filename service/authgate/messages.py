"""Core results as authgate.v1 messages: the one mapping both doors use.

The gRPC door returns these messages; the REST door renders them with the protobuf JSON
mapping, so its bodies are what a gRPC-JSON gateway would produce (shared/DESIGN.md).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from .core import RefreshedTokens, TokenPair
from .users import User, UserPage
from .v1 import auth_pb2


def _timestamp(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def user_message(user: User) -> auth_pb2.User:
    message = auth_pb2.User(
        id=user.id,
        email=user.email,
        is_active=user.is_active,
        is_staff=user.is_staff,
        create_time=_timestamp(user.created_at),
    )
    if user.last_login is not None:
        message.last_login_time.CopyFrom(_timestamp(user.last_login))
    return message


def issue_token_response(pair: TokenPair) -> auth_pb2.IssueTokenResponse:
    return auth_pb2.IssueTokenResponse(refresh=pair.refresh, access=pair.access)


def refresh_token_response(tokens: RefreshedTokens) -> auth_pb2.RefreshTokenResponse:
    response = auth_pb2.RefreshTokenResponse(access=tokens.access)
    if tokens.refresh is not None:  # rotation on; otherwise the guide's {"access"} alone
        response.refresh = tokens.refresh
    return response


def jwks_response(keys: list[dict[str, str]]) -> auth_pb2.GetJwksResponse:
    fields = set(auth_pb2.JsonWebKey.DESCRIPTOR.fields_by_name)
    return auth_pb2.GetJwksResponse(
        keys=[auth_pb2.JsonWebKey(**{k: v for k, v in key.items() if k in fields}) for key in keys]
    )


def list_users_response(page: UserPage) -> auth_pb2.ListUsersResponse:
    return auth_pb2.ListUsersResponse(
        users=[user_message(user) for user in page.users], next_page_token=page.next_page_token
    )


def to_json(message: Message) -> dict[str, Any]:
    """The protobuf JSON mapping, printing every scalar field (as grpc-gateway v2 does)."""
    return json_format.MessageToDict(message, always_print_fields_with_no_presence=True)
