"""The doors tier serves on uvloop, the loop `authgate serve` serves on by default.

Both doors run on the test session's loop (tests/conftest.py picks uvloop for it); the
processes `authgate serve` starts: tests/system/test_event_loop_process.py.
"""

from __future__ import annotations

import asyncio

import uvloop

from door_clients import GrpcDoor, RestDoor, login


async def test_the_session_loop_is_uvloop() -> None:
    assert isinstance(asyncio.get_running_loop(), uvloop.Loop)


async def test_each_door_answers_on_uvloop(door: RestDoor | GrpcDoor) -> None:
    pair = await login(door)

    assert (await door.list_users(pair["access"])).ok
    assert isinstance(asyncio.get_running_loop(), uvloop.Loop)
