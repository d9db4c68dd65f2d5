"""The mapping in messages.py: the REST door's direct JSON equals the protobuf JSON mapping of
the gRPC door's message, and our Timestamps equal Timestamp.FromDatetime's."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

# Hypothesis comes with schemathesis (a dev dependency).
from hypothesis import example, given, settings
from hypothesis import strategies as st

from authgate import messages
from authgate.core.users import User, UserPage

ZONES = [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]
# Microseconds in each of protobuf's JSON forms: no fraction, 3 digits, 6 digits.
MICROSECONDS = st.one_of(
    st.just(0), st.integers(1, 999).map(lambda ms: ms * 1000), st.integers(0, 999_999)
)
# A day inside year 1..9999 on each side, so no offset takes the UTC time out of range.
DATETIMES = st.builds(
    lambda value, micros: value.replace(microsecond=micros),
    st.datetimes(
        min_value=datetime(1, 1, 2),
        max_value=datetime(9999, 12, 30),
        timezones=st.one_of(st.none(), st.sampled_from(ZONES)),
    ),
    MICROSECONDS,
)
TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=30)  # protobuf refuses Cs
USERS = st.builds(
    User,
    id=TEXT,
    email=TEXT,
    is_active=st.booleans(),
    is_staff=st.booleans(),
    created_at=DATETIMES,
    last_login=st.one_of(st.none(), DATETIMES),
    token_version=st.integers(0, 2**31),
)
PAGES = st.builds(
    UserPage,
    users=st.lists(USERS, max_size=4).map(tuple),
    next_page_token=st.one_of(st.just(""), TEXT),
)
STAMP = datetime(2024, 5, 1, 12, 3, 4, tzinfo=UTC)


def from_datetime(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


USER = User(
    "01USER", "a@example.com", is_active=True, is_staff=False, created_at=STAMP, last_login=None
)


# No deadline: a shared CI machine can pause the process for longer than one example takes.
@settings(max_examples=500, database=None, deadline=None)
@given(PAGES)
@example(UserPage(users=(), next_page_token=""))
def test_user_list_json_equals_the_protobuf_json_mapping(page: UserPage) -> None:
    # Equal as JSON values. The key order differs where json_format moves fields holding their
    # default ("", false) to the end; ours is always the proto's field order.
    assert messages.list_users_json(page) == messages.to_json(messages.list_users_response(page))


@settings(max_examples=500, database=None, deadline=None)
@given(USERS)
def test_user_message_timestamps_equal_from_datetime(subject: User) -> None:
    message = messages.user_message(subject)

    assert message.create_time == from_datetime(subject.created_at)
    assert message.HasField("last_login_time") is (subject.last_login is not None)
    if subject.last_login is not None:
        assert message.last_login_time == from_datetime(subject.last_login)


@pytest.mark.parametrize(
    ("microsecond", "printed"),
    [(0, "12:03:04Z"), (120_000, "12:03:04.120Z"), (123_450, "12:03:04.123450Z")],
)
def test_timestamps_print_zero_three_or_six_fraction_digits(microsecond: int, printed: str) -> None:
    body = messages.user_json(replace(USER, created_at=STAMP.replace(microsecond=microsecond)))

    assert body["createTime"] == f"2024-05-01T{printed}"


def test_timestamps_are_printed_in_utc() -> None:
    created_at = datetime(2024, 5, 1, 14, 3, 4, tzinfo=timezone(timedelta(hours=2)))

    assert (
        messages.user_json(replace(USER, created_at=created_at))["createTime"]
        == "2024-05-01T12:03:04Z"
    )


def test_token_version_stays_off_the_wire() -> None:
    body = messages.user_json(replace(USER, token_version=7))

    assert "7" not in json.dumps(body)
    assert set(body) == {"id", "email", "isActive", "isStaff", "createTime"}


def test_last_login_is_printed_only_when_known() -> None:
    body = messages.user_json(replace(USER, last_login=STAMP))

    assert body["lastLoginTime"] == "2024-05-01T12:03:04Z"
