"""`authgate`: serve both doors, administer users and keys. Errors are one line, never a trace."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from authgate.core.errors import AuthError
from authgate.core.memory import configure_allocator
from authgate.observability.logs import configure_logging, stop_logging
from authgate.process.event_loop import run_on
from authgate.process.settings import Settings


def _settings_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per setting (--http-addr for AUTHGATE_HTTP_ADDR, ...); a flag beats its variable."""
    group = parser.add_argument_group("settings (flag, or the AUTHGATE_* variable)")
    for f in dataclasses.fields(Settings):
        if not f.metadata["flag"]:
            continue
        flag = "--" + f.name.replace("_", "-")
        help_text = f"{f.metadata['help']} [{f.metadata['env']}, default {f.default!s}]"
        group.add_argument(flag, dest=f.name, default=None, metavar="VALUE", help=help_text)


class _Parser(argparse.ArgumentParser):
    """Usage mistakes are one line too (`authgate ... --help` shows the usage)."""

    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix("authgate").strip()
        self.exit(2, f"authgate: error: {command + ': ' if command else ''}{message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="authgate", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve the REST and gRPC doors")
    _settings_flags(serve)

    users = commands.add_parser("users", help="manage users").add_subparsers(
        dest="users_command", required=True
    )
    create = users.add_parser("create", help="create a user (password from a prompt or stdin)")
    create.add_argument("--email", required=True)
    create.add_argument("--staff", action="store_true", help="staff see every user")
    create.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    _settings_flags(create)
    listing = users.add_parser("list", help="list every user")
    _settings_flags(listing)
    set_password = users.add_parser(
        "set-password", help="set a new password; every token of the user stops working"
    )
    set_password.add_argument("--email", required=True)
    set_password.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    _settings_flags(set_password)
    _on_and_off(users, "--email", "refuse the user tokens")
    django = users.add_parser(
        "import-django", help="import the users of a Django `manage.py dumpdata` JSON file"
    )
    django.add_argument("file", help="dumpdata of one user model (auth.user or a custom one)")
    django.add_argument(
        "--username-as-email", action="store_true", help="take each email from the username"
    )
    _settings_flags(django)

    _client_commands(commands)

    _key_commands(commands)

    _settings_flags(commands.add_parser("migrate", help="apply database migrations"))
    return parser


def _key_commands(commands: Any) -> None:
    keys = commands.add_parser("keys", help="manage signing keys").add_subparsers(
        dest="keys_command", required=True
    )
    rotate = keys.add_parser(
        "rotate", help="publish a new signing key now; it signs after the publish-ahead"
    )
    rotate.add_argument(
        "--now", action="store_true", help="sign with it at once (a compromised key)"
    )
    _settings_flags(rotate)
    retire = keys.add_parser("retire", help="stop a key verifying at once, and destroy it")
    retire.add_argument("kid")
    _settings_flags(retire)
    _settings_flags(keys.add_parser("list", help="every key: kid, algorithm, state, dates"))
    _settings_flags(
        keys.add_parser("rewrap", help="re-seal every key under AUTHGATE_KEY_ENCRYPTION_KEY")
    )
    keys.add_parser("new-kek", help="print a new key-encryption key")


def _client_commands(commands: Any) -> None:
    clients = commands.add_parser("clients", help="manage clients (service accounts)")
    clients = clients.add_subparsers(dest="clients_command", required=True)
    create = clients.add_parser("create", help="create a client; its secret is shown once")
    create.add_argument("--name", required=True)
    create.add_argument(
        "--scope", action="append", default=[], help="a scope it may ask for (repeat for more)"
    )
    create.add_argument("--json", action="store_true", help="print {client_id, client_secret}")
    _settings_flags(create)
    _settings_flags(clients.add_parser("list", help="list every client"))
    rotate = clients.add_parser(
        "rotate-secret", help="give a client a new secret; the old one stops after --keep-old"
    )
    rotate.add_argument("--client-id", required=True)
    rotate.add_argument(
        "--keep-old", type=int, default=0, metavar="SECONDS", help="overlap, default 0"
    )
    rotate.add_argument("--json", action="store_true", help="print {client_id, client_secret}")
    _settings_flags(rotate)
    _on_and_off(clients, "--client-id", "refuse the client's tokens at once")


def _on_and_off(commands: Any, identified_by: str, deactivate_help: str) -> None:
    """`deactivate` and `activate`, each naming its user or client by `identified_by`."""
    for name, help_text in (("deactivate", deactivate_help), ("activate", "undo deactivate")):
        command = commands.add_parser(name, help=help_text)
        command.add_argument(identified_by, required=True)
        _settings_flags(command)


def main(argv: Sequence[str] | None = None) -> int:
    # First, before any thread starts and before any argon2 hash.
    configure_allocator()
    args = build_parser().parse_args(argv)
    overrides: dict[str, Any] = {
        f.name: getattr(args, f.name, None) for f in dataclasses.fields(Settings)
    }
    try:
        settings = Settings.from_env(os.environ, **overrides)
    except ValueError as error:
        print(f"authgate: error: {error}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    try:
        return _run(args, settings)
    finally:
        stop_logging()  # every queued log line is written before the process ends


def _run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        if args.command == "serve":
            # Imported here: the admin commands need neither door's stack (a second saved).
            if settings.workers > 1:
                from authgate.process.workers import supervise

                return supervise(settings)
            from authgate.process.server import serve_forever

            run_on(settings.event_loop, serve_forever(settings))
        else:
            from authgate.process.commands import run_admin

            asyncio.run(run_admin(args, settings))
    except AuthError as error:
        fields = "; ".join(f"{k}: {' '.join(v)}" for k, v in sorted(error.field_errors.items()))
        return _error(fields or error.detail)
    except KeyboardInterrupt:
        return 130
    except OSError as error:
        return _error(str(error))
    return 0


def _error(message: str) -> int:
    """The one-line error, written after the log lines queued before it; exit code 1."""
    stop_logging()
    print(f"authgate: error: {message}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
