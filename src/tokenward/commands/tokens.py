"""The token lifecycle commands: create, list, show, update, rename, revoke, revoke-all,
rotate and purge-expired. Each is a thin translation of its flags into one service call."""

from __future__ import annotations

import argparse

from tokenward.commands.base import (
    Command,
    Context,
    access_options,
    creates_store,
    duration,
    expiry,
    expiry_options,
    realm_option,
    split,
    token_options,
)
from tokenward.management.text import describe_view, format_time, table, token_rows
from tokenward.management.views import KEEP, Keep, acl_warnings

__all__ = ["TOKEN_COMMANDS"]

# Yellow, red: as WHM shows them; a revoked token is red like an expired one.
_TINTS = {"expiring": "\033[33m", "expired": "\033[31m", "revoked": "\033[31m"}
_RESET = "\033[0m"
_READONLY_HELP = "read-only: any method but GET, HEAD, OPTIONS and TRACE is refused (403)"


def _json_flag(parser: argparse.ArgumentParser, what: str = "one JSON object") -> None:
    parser.add_argument("--json", action="store_true", help=f"print {what}")


def _configure_create(parser: argparse.ArgumentParser) -> None:
    creates_store(parser)
    token_options(parser)
    access_options(parser, any_ip=False)
    parser.add_argument("--readonly", action="store_true", help=_READONLY_HELP)
    expiry_options(parser, never=False)
    _json_flag(parser)


def _create(args: argparse.Namespace, ctx: Context) -> int:
    expires_at = expiry(args, ctx.clock())
    service = ctx.service()
    created = service.create(
        args.user,
        args.name,
        realm=args.realm,
        acls=None if args.acl is None else split(args.acl),
        whitelist_ips=split(args.ip or ()),
        expires_at=None if isinstance(expires_at, Keep) else expires_at,
        readonly=args.readonly,
    )
    ctx.secret(created, service, as_json=args.json, what="Created")
    return 0


def _configure_list(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--user", help="only this user's tokens")
    realm_option(parser, extra=["all"])
    parser.add_argument("--search", metavar="TEXT", help="names containing TEXT, any case")
    _json_flag(parser, "a JSON array")


def _list(args: argparse.Namespace, ctx: Context) -> int:
    realm = None if args.realm == "all" else args.realm
    views = ctx.service().list_tokens(user=args.user, realm=realm, search=args.search)
    if args.json:
        ctx.json([view.to_json() for view in views])
        return 0
    if not views:
        ctx.say(f"No tokens in {ctx.store!r}.")  # which store: a wrong one is a common mistake
        return 0
    header, *lines = table(token_rows(views))
    colour = ctx.colour()
    tinted = [
        f"{tint}{line}{_RESET}" if colour and (tint := _TINTS.get(view.status.value)) else line
        for view, line in zip(views, lines, strict=True)
    ]
    ctx.say(header, *tinted)
    return 0


def _configure_show(parser: argparse.ArgumentParser) -> None:
    token_options(parser)
    _json_flag(parser)


def _show(args: argparse.Namespace, ctx: Context) -> int:
    view = ctx.service().show(args.user, args.name, realm=args.realm)
    if args.json:
        ctx.json(view.to_json())
    else:
        ctx.say(*describe_view(view))
    return 0


def _configure_update(parser: argparse.ArgumentParser) -> None:
    token_options(parser)
    access_options(parser, any_ip=True)
    expiry_options(parser, never=True)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--readonly", action="store_true", default=None, help=_READONLY_HELP)
    mode.add_argument(
        "--read-write", dest="readonly", action="store_false", help="make it read-write again"
    )
    parser.set_defaults(readonly=None)  # neither: leave it as it is


def _update(args: argparse.Namespace, ctx: Context) -> int:
    ips: list[str] | Keep = KEEP
    if args.any_ip:
        ips = []
    elif args.ip is not None:
        ips = split(args.ip)
    service = ctx.service()
    record = service.update(
        args.user,
        args.name,
        realm=args.realm,
        acls=KEEP if args.acl is None else split(args.acl),
        whitelist_ips=ips,
        expires_at=expiry(args, ctx.clock()),
        readonly=KEEP if args.readonly is None else args.readonly,
    )
    if args.acl is not None:
        for warning in acl_warnings(record.acls):
            ctx.warn(warning)
    ctx.say(f"Updated {record.realm.value} token {record.name!r} of {record.user}.", "")
    ctx.say(*describe_view(service.view(record)))
    return 0


def _configure_rename(parser: argparse.ArgumentParser) -> None:
    token_options(parser)
    parser.add_argument("--new-name", required=True, help="the token's new name")


def _rename(args: argparse.Namespace, ctx: Context) -> int:
    record = ctx.service().rename(args.user, args.name, args.new_name, realm=args.realm)
    ctx.say(
        f"Renamed {record.realm.value} token {args.name!r} of {record.user} to {record.name!r}."
    )
    return 0


def _configure_revoke(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--user", required=True, help="the tokens' owner")
    parser.add_argument("--name", required=True, action="append", help="repeatable")
    realm_option(parser)


def _revoke(args: argparse.Namespace, ctx: Context) -> int:
    """Idempotent: a name that is already gone is reported, not an error."""
    gone = {record.name for record in ctx.service().revoke(args.user, args.name, realm=args.realm)}
    for name in dict.fromkeys(args.name):
        if name in gone:
            ctx.say(f"Revoked {args.realm} token {name!r} of {args.user}.")
        else:
            ctx.say(f"No {args.realm} token {name!r} of {args.user}: nothing to revoke.")
    return 0


def _configure_revoke_all(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--user", required=True, help="the tokens' owner")
    realm_option(parser)


def _revoke_all(args: argparse.Namespace, ctx: Context) -> int:
    revoked = ctx.service().revoke_all(args.user, realm=args.realm)
    ctx.say(f"Revoked {len(revoked)} {args.realm} token(s) of {args.user}.")
    ctx.say(*(f"  {record.name}" for record in revoked))
    return 0


def _configure_rotate(parser: argparse.ArgumentParser) -> None:
    token_options(parser)
    parser.add_argument(
        "--grace", type=duration, metavar="1h", help="how long the old secret keeps working"
    )
    _json_flag(parser)


def _rotate(args: argparse.Namespace, ctx: Context) -> int:
    """A ``--grace`` longer than the token has left is cut to its expiry, with a warning on
    stderr, by the service's one rule for every entry point (``TokenService.rotate``)."""
    service = ctx.service()
    created = service.rotate(args.user, args.name, realm=args.realm, grace=args.grace)
    ctx.secret(created, service, as_json=args.json, what="New secret for")
    if not args.json:
        until = created.record.previous_until
        ctx.say(
            "",
            "The old secret no longer works."
            if until is None
            else f"The old secret keeps working until {format_time(until)}.",
        )
    return 0


def _configure_purge(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--older-than", type=duration, default=0, metavar="30d", help="expired at least this long"
    )


def _purge(args: argparse.Namespace, ctx: Context) -> int:
    purged = ctx.service().purge_expired(args.older_than)
    if not purged:
        ctx.say("No expired tokens to purge.")
    for record in purged:
        ctx.say(
            f"Purged {record.realm.value} token {record.name!r} of {record.user} "
            f"(expired {format_time(record.expires_at)})."
        )
    return 0


TOKEN_COMMANDS: tuple[Command, ...] = (
    Command("create", "create a token and print its secret, once", _configure_create, _create),
    Command("list", "list tokens (never a secret)", _configure_list, _list),
    Command("show", "show one token", _configure_show, _show),
    Command("update", "change a token's ACLs, addresses or expiry", _configure_update, _update),
    Command("rename", "rename a token", _configure_rename, _rename),
    Command("revoke", "revoke tokens by name", _configure_revoke, _revoke),
    Command("revoke-all", "revoke every token of a user", _configure_revoke_all, _revoke_all),
    Command("rotate", "give a token a new secret", _configure_rotate, _rotate),
    Command("purge-expired", "delete expired tokens", _configure_purge, _purge),
)
