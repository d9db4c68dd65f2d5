"""Each AuthService RPC's access, as the proto declares it (`option (authgate.v1.access)`).

Both doors read it here at start; nothing else lists which operations are protected.
"""

from __future__ import annotations

from typing import Any

from authgate.core.access import Requirement
from authgate.v1 import access_pb2, auth_pb2

SERVICE = auth_pb2.DESCRIPTOR.services_by_name["AuthService"]
# The generated stub types the extension as a plain FieldDescriptor, which the typeshed
# stubs of Extensions[...] do not accept.
_ACCESS: Any = access_pb2.access


def requirements() -> dict[str, Requirement]:
    """RPC name -> what it requires of its caller. Every RPC must declare it."""
    found: dict[str, Requirement] = {}
    for method in SERVICE.methods:
        options = method.GetOptions()
        if not options.HasExtension(_ACCESS):
            raise ValueError(f"{method.full_name} declares no (authgate.v1.access) option")
        declared: access_pb2.Access = options.Extensions[_ACCESS]
        if declared.public and (
            declared.scopes or declared.self_without_scopes or declared.clients_only
        ):
            raise ValueError(f"{method.full_name} is public yet asks something of its caller")
        found[method.name] = Requirement(
            public=declared.public,
            scopes=frozenset(declared.scopes),
            self_without_scopes=declared.self_without_scopes,
            clients_only=declared.clients_only,
        )
    return found
