"""What each operator command does (`authgate users|clients|keys|migrate`)."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import getpass
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from authgate.process.settings import Settings

if TYPE_CHECKING:  # the store stack loads with open_runtime, once a command needs it
    from authgate.core.admin import Administration
    from authgate.core.clients import NewSecret
    from authgate.core.key_management import KeyManagement
    from authgate.process.runtime import Runtime


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Password (again): ") != first:
        raise SystemExit("authgate: error: the passwords do not match")
    return first


async def run_admin(args: argparse.Namespace, settings: Settings) -> None:
    # Imported here: `serve --workers N` starts its workers before it needs the store stack.
    from authgate.process.runtime import open_runtime

    if args.command == "keys" and args.keys_command == "new-kek":
        from authgate.core.key_encryption import generate_text

        print(generate_text())
        return
    asks_password = getattr(args, "users_command", "") in ("create", "set-password")
    password = _read_password(args) if asks_password else ""
    if args.command == "migrate":  # what migrate_on_start=false leaves to the operator
        settings = dataclasses.replace(settings, migrate_on_start=True)
    async with open_runtime(settings) as runtime:
        core, admin = runtime.core, runtime.admin
        if args.command == "migrate":
            print("database is up to date")
        elif args.command == "keys":
            await key_command(args, runtime.keys)
        elif args.command == "clients":
            await _clients_command(args, admin)
        elif args.users_command == "create":
            user = await admin.create_user(args.email, password, is_staff=args.staff)
            print(f"created {user.email} ({user.id}){' as staff' if user.is_staff else ''}")
        elif args.users_command == "list":
            page_token = ""
            while True:
                page = await core.list_all_users(page_token)
                for user in page.users:
                    flags = ",".join(
                        name
                        for name, on in (("staff", user.is_staff), ("inactive", not user.is_active))
                        if on
                    )
                    print(f"{user.id}  {user.email}  {flags}".rstrip())
                if not (page_token := page.next_page_token):
                    break
        elif args.users_command == "import-django":
            await _import_django(args, runtime)
        elif args.users_command == "set-password":
            user = await admin.set_password(args.email, password)
            print(f"new password set for {user.email}; their tokens were revoked")
        else:
            user = await admin.set_active(args.email, args.users_command == "activate")
            print(f"{user.email} is now {'active' if user.is_active else 'inactive'}")


async def _import_django(args: argparse.Namespace, runtime: Runtime) -> None:
    from authgate.core.django_import import import_django_users
    from authgate.core.django_records import BadRecord
    from authgate.process.progress import ProgressBar
    from authgate.store.django_users import DjangoUserMap

    # An OSError (no such file...) is the CLI's one-line error.
    raw = await asyncio.to_thread(Path(args.file).read_bytes)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRecord("the file", "not UTF-8 (dumpdata writes UTF-8 JSON)") from None
    counts = await import_django_users(
        DjangoUserMap(runtime.core.store.database),
        text,
        username_as_email=args.username_as_email,
        progress=ProgressBar("importing"),
    )
    print(f"{counts.created} created, {counts.updated} updated, {counts.skipped} skipped")


async def _clients_command(args: argparse.Namespace, admin: Administration) -> None:
    command = args.clients_command
    if command == "create":
        _show_secret(await admin.create_client(args.name, frozenset(args.scope)), args.json)
    elif command == "list":
        for client in await admin.list_clients():
            state = "" if client.is_active else "  inactive"
            scopes = " ".join(sorted(client.scopes)) or "-"
            print(f"{client.id}  {client.name}  {scopes}{state}")
    elif command == "rotate-secret":
        secret = await admin.rotate_client_secret(args.client_id, args.keep_old)
        _show_secret(secret, args.json)
        if not args.json:
            old = f"works for {args.keep_old} s more" if args.keep_old else "stopped working"
            print(f"the old secret {old}", file=sys.stderr)
    else:
        client = await admin.set_client_active(args.client_id, command == "activate")
        print(f"{client.id} is now {'active' if client.is_active else 'inactive'}")


def _show_secret(secret: NewSecret, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"client_id": secret.client_id, "client_secret": secret.secret}))
        return
    print(f"client_id: {secret.client_id}")
    print(f"client_secret: {secret.secret}")
    print("the secret is shown once: store it now", file=sys.stderr)


async def key_command(args: argparse.Namespace, keys: KeyManagement) -> None:
    command = args.keys_command
    if command == "rotate":
        new = await keys.rotate(at_once=args.now)
        when = "now" if args.now else f"from {_when(new.activates_at)}"
        print(f"new signing key {new.kid} ({new.algorithm}), in the JWKS now, signs {when}")
    elif command == "retire":
        await keys.retire(args.kid)
        print(f"retired {args.kid}: its tokens no longer verify, and it left the JWKS")
    elif command == "rewrap":
        print(f"re-sealed {await keys.rewrap()} key(s) under the current key-encryption key")
    else:
        print(
            "kid                       algorithm  state     activates                  "
            "deactivates                retired"
        )
        for record, state in await keys.listing():
            dates = (record.activates_at, record.deactivates_at, record.retired_at)
            print(
                f"{record.kid:<25} {record.algorithm:<10} {state.value:<9} "
                + " ".join(f"{_when(d):<26}" for d in dates).rstrip()
            )


def _when(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds")
