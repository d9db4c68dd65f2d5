"""The gRPC floor: a minimal grpc.aio AuthService doing AuthGate's JWT work and nothing else.

The same authgate.v1 messages and server options as AuthGate's gRPC door, but RefreshToken,
VerifyToken and ListUsers only decode and encode JWTs (floor_work.py), ListUsers returns a
fixed page of 50 users, and IssueToken verifies one account's argon2id hash: no interceptor,
no core, no database.

    .venv/bin/python bench/floor_grpc.py --key-file KEY.pem [--workers N] [--port 0]
        [--login EMAIL PASSWORD]

Prints `grpc listening on 127.0.0.1:PORT` on stderr once every worker listens.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Callable
from typing import Any, NoReturn

import floor_work
import grpc

from authgate.v1 import auth_pb2, auth_pb2_grpc

# authgate.grpc_api.start_grpc_door's options: configuration, not work.
OPTIONS = [
    ("grpc.max_metadata_size", 16384),
    ("grpc.absolute_max_metadata_size", 16384),
    ("grpc.max_receive_message_length", 65536),
]


async def _refuse(context: grpc.aio.ServicerContext, detail: str) -> NoReturn:
    await context.abort(grpc.StatusCode.UNAUTHENTICATED, detail)
    raise AssertionError("abort raises")  # pragma: no cover


class FloorServicer(auth_pb2_grpc.AuthServiceServicer):
    def __init__(self) -> None:
        self.page = floor_work.fixed_page()

    async def IssueToken(
        self, request: auth_pb2.IssueTokenRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.IssueTokenResponse:
        try:
            refresh, access = await floor_work.login(request.email, request.password)
        except floor_work.WrongCredentials as error:
            await _refuse(context, str(error))
        return auth_pb2.IssueTokenResponse(refresh=refresh, access=access)

    async def RefreshToken(
        self, request: auth_pb2.RefreshTokenRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.RefreshTokenResponse:
        try:
            claims = floor_work.decode(request.refresh, "refresh")
        except floor_work.InvalidToken as error:
            await _refuse(context, str(error))
        return auth_pb2.RefreshTokenResponse(access=floor_work.encode(claims["sub"], "access"))

    async def VerifyToken(
        self, request: auth_pb2.VerifyTokenRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.VerifyTokenResponse:
        try:
            floor_work.decode(request.token, None)
        except floor_work.InvalidToken as error:
            await _refuse(context, str(error))
        return auth_pb2.VerifyTokenResponse()

    async def ListUsers(
        self, request: auth_pb2.ListUsersRequest, context: grpc.aio.ServicerContext
    ) -> auth_pb2.ListUsersResponse:
        token = ""
        for key, value in context.invocation_metadata() or ():
            if key == "authorization" and isinstance(value, str):
                token = value.partition(" ")[2].strip()
        try:
            floor_work.decode(token, "access")
        except floor_work.InvalidToken as error:
            await _refuse(context, str(error))
        return self.page


async def serve(port: int, on_ready: Callable[[int], Any]) -> None:
    # grpc sets SO_REUSEPORT on its listeners by default: every worker binds the same port.
    server = grpc.aio.server(options=OPTIONS)
    auth_pb2_grpc.add_AuthServiceServicer_to_server(FloorServicer(), server)
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    on_ready(bound)
    await stop.wait()
    await server.stop(1)


def main() -> None:
    args = floor_work.parse_args(__doc__.split("\n\n")[0])
    floor_work.load_args(args)
    if args.child:
        asyncio.run(serve(args.port, lambda _port: floor_work.announce_child_ready()))
        return
    children: list[Any] = []

    async def first() -> None:
        def ready(port: int) -> None:
            children.extend(floor_work.start_siblings(__file__, args, port))
            print(f"grpc listening on 127.0.0.1:{port}", file=sys.stderr, flush=True)

        await serve(args.port, ready)

    try:
        asyncio.run(first())
    finally:
        floor_work.stop_siblings(children)


if __name__ == "__main__":
    main()
