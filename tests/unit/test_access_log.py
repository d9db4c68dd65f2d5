"""The access log's request ids: a sane id offered by the caller, else a fresh UUID 4."""

from __future__ import annotations

import uuid

from authgate.observability.access_log import new_request_id, request_id


def test_a_new_id_is_a_version_4_uuid_in_hex() -> None:
    ids = {new_request_id() for _ in range(2000)}
    assert len(ids) == 2000
    for found in ids:
        parsed = uuid.UUID(hex=found)
        assert (parsed.version, parsed.variant, parsed.hex) == (4, uuid.RFC_4122, found)


def test_a_sane_offered_id_is_kept_and_anything_else_replaced() -> None:
    assert request_id("trace-42") == "trace-42"
    for offered in (None, "", "a b", "x" * 129, "é"):
        replaced = request_id(offered)
        assert replaced != offered
        assert uuid.UUID(hex=replaced).version == 4
