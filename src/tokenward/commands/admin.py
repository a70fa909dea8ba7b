"""Commands about the deployment rather than one token: ``check`` (why is this header
refused?) and ``migrate`` (create or upgrade the store's schema)."""

from __future__ import annotations

import argparse
import sys

from tokenward.commands.base import Command, Context, UsageError, creates_store, realm_option
from tokenward.management.diagnose import check_header

__all__ = ["ADMIN_COMMANDS"]


def _configure_check(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--header", help="the Authorization value, 'cpanel USER:TOKEN' ('-': read it from stdin)"
    )
    parser.add_argument("--user", help="with --token, instead of --header")
    parser.add_argument("--token", help="with --user, instead of --header")
    realm_option(parser)
    parser.add_argument("--ip", metavar="ADDRESS", help="the client address (default: unknown)")
    parser.add_argument("--path", default="/", help="the request path (default: /)")
    parser.add_argument("--method", default="GET", help="the request method (default: GET)")


def _check(args: argparse.Namespace, ctx: Context) -> int:
    """Exit 0 when accepted, 1 when refused, with the precise reason either way."""
    if args.header is not None and (args.user or args.token):
        raise UsageError("give either --header or --user with --token, not both")
    if args.header is None and not (args.user and args.token):
        raise UsageError("give --header 'cpanel USER:TOKEN', or --user and --token")
    if args.header == "-":  # keeps the secret out of the process list and shell history
        header = sys.stdin.readline().rstrip("\r\n")
    elif args.header is not None:
        header = args.header
    else:
        header = f"{args.realm} {args.user}:{args.token}"
    result = check_header(
        ctx.store,
        header,
        ip=args.ip,
        path=args.path,
        method=args.method,
        argon2=ctx.argon2(),
        clock=ctx.clock,
    )
    ctx.say(*result.lines)
    return 0 if result.accepted else 1


def _configure_migrate(parser: argparse.ArgumentParser) -> None:
    """Only the common options; a SQLite file that does not exist yet is created."""
    creates_store(parser)


def _migrate(args: argparse.Namespace, ctx: Context) -> int:
    """Every store migrates (``TokenStore.migrate``) and says what it did, or that there
    was nothing to do."""
    ctx.say(f"{ctx.store!r}: {ctx.store.migrate()}")
    return 0


ADMIN_COMMANDS: tuple[Command, ...] = (
    Command("check", "say why a header is accepted or refused", _configure_check, _check),
    Command("migrate", "create or upgrade the store's schema", _configure_migrate, _migrate),
)
