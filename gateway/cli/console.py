"""``gateway console``: the web console's accounts (docs/console.md).

    gateway console add-user alice --role operator --name "สมหญิง ใจดี" --password-stdin
    gateway console users
    gateway console disable-user alice | enable-user alice
    gateway console set-password alice --password-stdin

Passwords are read from standard input (never from the command line, where
`ps` and the shell history would show them), or asked for at a terminal.
Every change is written to the console's audit log as done by ``cli:<login>``.
"""
from __future__ import annotations

import argparse
import getpass
import os
import sys

from gateway.adapters.clock import SystemClock
from gateway.cli.env import _epilog, load_config
from gateway.core.trust.passwords import PasswordError


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``console`` and its subcommands to the ``gateway`` command line."""
    top = sub.add_parser("console", help="accounts of the web console at /console")
    commands = top.add_subparsers(dest="console_command", required=True)

    def command(name: str, help_text: str, *, user: bool = True) -> argparse.ArgumentParser:
        p = commands.add_parser(name, help=help_text, epilog=_epilog(),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("--config", help="configuration file (TOML); default: built-in demo node, data in ./var")
        if user:
            p.add_argument("username", help="lower-case letters, digits, '.', '_', '-' (2-64)")
        return p

    add = command("add-user", "create an account")
    add.add_argument("--role", required=True, choices=("operator", "auditor"),
                     help="operator: reads and acts (retry, abandon); auditor: reads only")
    add.add_argument("--name", default="", help="the person's name as the console shows it (Thai is fine)")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add.set_defaults(func=cmd_add_user)
    command("users", "list the accounts", user=False).set_defaults(func=cmd_users)
    command("disable-user", "disable an account (its sessions end at once)").set_defaults(func=cmd_disable, disabled=True)
    command("enable-user", "enable a disabled account").set_defaults(func=cmd_disable, disabled=False)
    pw = command("set-password", "set an account's password")
    pw.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    pw.set_defaults(func=cmd_set_password)


def _store(args: argparse.Namespace):
    """The node's database, created or upgraded if needed (the first account may come before the first start)."""
    from gateway.runtime import wiring

    store = wiring.open_store(load_config(args).database_url)
    store.migrate()
    return store


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin or not sys.stdin.isatty():
        line = sys.stdin.readline()
        return line[:-1] if line.endswith("\n") else line
    first = getpass.getpass("รหัสผ่าน / password: ")
    if first != getpass.getpass("อีกครั้ง / again: "):
        raise SystemExit("gateway: the two passwords differ")
    return first


def _by() -> str:
    try:
        return f"cli:{os.getlogin()}"
    except OSError:
        return "cli"


def _run(args: argparse.Namespace, work) -> int:
    from gateway.operations.accounts import AccountError

    store = _store(args)
    try:
        work(store)
    except (AccountError, PasswordError) as exc:
        raise SystemExit(f"gateway: {exc}") from None
    finally:
        store.close()
    return 0


def cmd_add_user(args: argparse.Namespace) -> int:
    from gateway.operations import accounts

    password = _password(args)

    def work(store):
        row = accounts.add_account(store, username=args.username, display_name=args.name, password=password,
                                   role=accounts.Role(args.role), now=SystemClock().now(), by=_by())
        print(f"added {row.username} ({row.role}): log in at /console/login")

    return _run(args, work)


def cmd_users(args: argparse.Namespace) -> int:
    from gateway.operations import accounts
    from gateway.core.time import thai_datetime

    def work(store):
        rows = accounts.accounts(store)
        if not rows:
            print("no accounts yet: gateway console add-user NAME --role operator")
        for row in rows:
            state = "disabled" if row.disabled else "enabled"
            print(f"{row.username}\t{row.role}\t{state}\t{row.display_name}\t{thai_datetime(row.created_at)}")

    return _run(args, work)


def cmd_disable(args: argparse.Namespace) -> int:
    from gateway.operations import accounts

    def work(store):
        accounts.set_disabled(store, username=args.username, disabled=args.disabled, now=SystemClock().now(), by=_by())
        print(f"{args.username} {'disabled' if args.disabled else 'enabled'}")

    return _run(args, work)


def cmd_set_password(args: argparse.Namespace) -> int:
    from gateway.operations import accounts

    password = _password(args)

    def work(store):
        accounts.set_password(store, username=args.username, password=password, now=SystemClock().now(), by=_by())
        print(f"password of {args.username} set")

    return _run(args, work)
