from google.protobuf import descriptor_pb2 as _descriptor_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor
ACCESS_FIELD_NUMBER: _ClassVar[int]
access: _descriptor.FieldDescriptor

class Access(_message.Message):
    __slots__ = ("public", "scopes", "self_without_scopes", "clients_only")
    PUBLIC_FIELD_NUMBER: _ClassVar[int]
    SCOPES_FIELD_NUMBER: _ClassVar[int]
    SELF_WITHOUT_SCOPES_FIELD_NUMBER: _ClassVar[int]
    CLIENTS_ONLY_FIELD_NUMBER: _ClassVar[int]
    public: bool
    scopes: _containers.RepeatedScalarFieldContainer[str]
    self_without_scopes: bool
    clients_only: bool
    def __init__(self, public: _Optional[bool] = ..., scopes: _Optional[_Iterable[str]] = ..., self_without_scopes: _Optional[bool] = ..., clients_only: _Optional[bool] = ...) -> None: ...
