"""What every command shares: the context it runs in, its output, and the common options.

Output goes through ``Context`` so that a secret can only be printed by the one helper that
prints it once (``Context.secret``), and an error is always one line.
"""

from __future__ import annotations

import argparse
import dataclasses
import getpass
import json
import os
import sys
from collections.abc import Callable, Iterable, Sequence

from tokenward.audit import log_event
from tokenward.core.clock import Clock
from tokenward.core.crypto import Argon2Profile
from tokenward.core.formats import TokenFormat, parse_format
from tokenward.core.tokens import Realm
from tokenward.errors import ValidationError
from tokenward.management.service import TokenService
from tokenward.management.text import describe_view, end_of_day, parse_duration
from tokenward.management.views import KEEP, CreatedToken, Keep
from tokenward.stores.base import TokenStore
from tokenward.stores.url import open_store, store_url_from_env

__all__ = [
    "ARGON2_ENV",
    "TOKEN_FORMAT_ENV",
    "Command",
    "Context",
    "UsageError",
    "access_options",
    "common_options",
    "creates_store",
    "expiry",
    "expiry_options",
    "realm_option",
    "split",
    "token_options",
]

ARGON2_ENV = "TOKENWARD_ARGON2"
# The variable a guard built from the environment reads too: the CLI mints what the app does.
TOKEN_FORMAT_ENV = "TOKENWARD_TOKEN_FORMAT"
ARGON2_PROFILES: dict[str, Callable[[], Argon2Profile]] = {
    "owasp": Argon2Profile.owasp,  # the default
    "rfc9106": Argon2Profile.rfc9106_low_memory,
    "fast": Argon2Profile.cheapest,  # test suites only
}


class UsageError(Exception):
    """A command line that cannot be run as written (exit status 2)."""


class Context:
    """What a handler needs. The store is opened on first use, so a command refused for its
    arguments never touches a store; and only a command configured with ``creates_store``
    may create one: for any other, a missing store is an error, never a new empty one."""

    def __init__(self, args: argparse.Namespace, clock: Clock) -> None:
        self.args = args
        self.clock = clock
        self._store: TokenStore | None = None

    @property
    def store(self) -> TokenStore:
        if self._store is None:
            url = store_url_from_env(getattr(self.args, "store", None))
            self._store = open_store(url, create=getattr(self.args, "creates_store", False))
        return self._store

    def argon2(self) -> Argon2Profile:
        """``--argon2`` or ``$TOKENWARD_ARGON2`` (``fast`` for test suites); else the real
        default profile."""
        name = getattr(self.args, "argon2", None) or os.environ.get(ARGON2_ENV) or "owasp"
        if name not in ARGON2_PROFILES:
            raise UsageError(f"unknown argon2 profile {name!r}: use {', '.join(ARGON2_PROFILES)}")
        return ARGON2_PROFILES[name]()

    def token_format(self) -> TokenFormat:
        """``$TOKENWARD_TOKEN_FORMAT`` (``cpanel`` or ``prefixed``); else cPanel's."""
        try:
            return parse_format(os.environ.get(TOKEN_FORMAT_ENV) or "cpanel")
        except ValidationError as exc:
            raise UsageError(f"{TOKEN_FORMAT_ENV}: {exc}") from None

    def service(self) -> TokenService:
        argon2 = self.argon2()  # a bad profile name is refused before the store is opened
        token_format = self.token_format()
        return TokenService(
            self.store,
            argon2=argon2,
            clock=self.clock,
            audit=log_event,
            operator=_who(),
            token_format=token_format,
        )

    def close(self) -> None:
        if self._store is not None:
            self._store.close()

    # -- output -------------------------------------------------------------------------

    @staticmethod
    def say(*lines: str) -> None:
        sys.stdout.write("".join(f"{line}\n" for line in lines))

    @staticmethod
    def warn(message: str) -> None:
        """Warnings go to stderr and never block: a script keeps running."""
        sys.stderr.write(f"tokenward: warning: {message}\n")

    @staticmethod
    def json(value: object) -> None:
        sys.stdout.write(json.dumps(value, indent=2) + "\n")

    @staticmethod
    def colour() -> bool:
        """Colour only for a person at a terminal who has not opted out (no-color.org)."""
        return sys.stdout.isatty() and "NO_COLOR" not in os.environ

    def secret(
        self, created: CreatedToken, service: TokenService, *, as_json: bool, what: str
    ) -> None:
        """The one place a secret is printed: once, with the note that it cannot be again.
        The token is shown as ``list`` and ``show`` show it (``service.view``: the same
        fields, its request counts included)."""
        view = service.view(created.record)
        for warning in created.warnings:
            self.warn(warning)
        if as_json:
            payload = {"token": created.secret, **view.to_json()}
            self.json({**payload, "warnings": list(created.warnings)})
            return
        self.say(
            f"{what} {view.realm.value} token {view.name!r} of {view.user}:",
            "",
            f"    {created.secret}",
            "",
            "Store it now, it cannot be shown again.",
            "",
            *describe_view(view),
        )


Handler = Callable[[argparse.Namespace, Context], int]


@dataclasses.dataclass(frozen=True, slots=True)
class Command:
    """One sub-command: adding a command is adding one of these to ``COMMANDS``."""

    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Handler


def _who() -> str:
    """Who acts, for the audit trail, when no token does."""
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):  # no login name in some containers
        return "cli"


# -- shared options ------------------------------------------------------------------------


def common_options(parser: argparse.ArgumentParser, *, top: bool = False) -> None:
    """Accepted before or after the command: the sub-command's copy defaults to "not given"
    so that it never resets a value given before the command."""
    default = None if top else argparse.SUPPRESS
    parser.add_argument(
        "--store", metavar="URL", default=default, help="store URL (else $TOKENWARD_STORE)"
    )
    parser.add_argument(
        "--argon2", choices=sorted(ARGON2_PROFILES), default=default, help=argparse.SUPPRESS
    )


def creates_store(parser: argparse.ArgumentParser) -> None:
    """The command may create the store when there is none yet: only those that write one
    (create, migrate, serve). Any other finds a missing store an error: a mistyped path must
    not "list no tokens" or "revoke nothing" while the real store is left as it was."""
    parser.set_defaults(creates_store=True)


def realm_option(parser: argparse.ArgumentParser, *, extra: Sequence[str] = ()) -> None:
    parser.add_argument(
        "--realm",
        type=str.lower,
        choices=[*(realm.value for realm in Realm), *extra],
        default=Realm.CPANEL.value,
        help=f"{' or '.join([*Realm, *extra])} (default: cpanel)",
    )


def token_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--user", required=True, help="the token's owner")
    parser.add_argument("--name", required=True, help="the token's name")
    realm_option(parser)


def duration(text: str) -> int:
    try:
        return parse_duration(text)
    except ValidationError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _date(text: str) -> int:
    try:
        return end_of_day(text)
    except ValidationError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def expiry_options(parser: argparse.ArgumentParser, *, never: bool) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--expires", type=_date, metavar="YYYY-MM-DD", help="23:59:59 local time that day"
    )
    group.add_argument("--expires-at", type=int, metavar="EPOCH", help="epoch seconds (0: never)")
    group.add_argument("--expires-in", type=duration, metavar="24h|7d|1y", help="from now")
    if never:
        group.add_argument("--never", action="store_true", help="remove the expiry")


def access_options(parser: argparse.ArgumentParser, *, any_ip: bool) -> None:
    parser.add_argument(
        "--acl", action="append", metavar="ACL", help="repeatable or comma-separated"
    )
    target = parser.add_mutually_exclusive_group() if any_ip else parser
    target.add_argument(
        "--ip", action="append", metavar="CIDR", help="allowed address or prefix (repeatable)"
    )
    if any_ip:
        target.add_argument("--any-ip", action="store_true", help="allow any address")


def split(values: Iterable[str]) -> list[str]:
    """``--acl a,b --acl c`` is ``[a, b, c]``: neither ACL names nor addresses hold commas."""
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def expiry(args: argparse.Namespace, now: float) -> int | Keep | None:
    """The expiry options as the service takes them: ``KEEP`` when none was given."""
    if getattr(args, "never", False) or args.expires_at == 0:  # 0 = never, as in cPanel's API
        return None
    if args.expires_at is not None:
        return int(args.expires_at)
    if args.expires is not None:
        return int(args.expires)
    if args.expires_in is not None:
        return int(now) + int(args.expires_in)
    return KEEP
