"""``tokenward scan PATH…``: find tokens in files before they are pushed (a pre-commit hook,
a CI step), and say which of them still open something.

Prefixed tokens are found anywhere and only with a valid checksum; cPanel-format ones only
where the text says what they are (``cpanel USER:``, ``CPANEL_TOKEN=``), or with
``--all-shapes`` as any word of their shape. A finding is never printed with its secret:
only a fingerprint (the prefix and four characters) beside ``file:line:column``.

Whether a token is live is asked of the store named by ``--store`` or ``$TOKENWARD_STORE``,
never of a default file: a scan runs in any checkout, where ``tokenward.db`` means nothing.
Without a store the findings are reported as unchecked. Exit status: 0 nothing found, 1
something found (with ``--live-only``, something live), 2 a usage or store error.
"""

from __future__ import annotations

import argparse
import bisect
import dataclasses
import os
import sys
from collections.abc import Iterator

from tokenward.commands.base import Command, Context, UsageError
from tokenward.core.crypto import lookup_digest
from tokenward.core.formats import PREFIXES, Found, find_tokens
from tokenward.core.policy import opens
from tokenward.core.tokens import Realm, TokenRecord, TokenStatus
from tokenward.errors import TokenwardError
from tokenward.management.service import TokenService
from tokenward.management.text import format_time
from tokenward.stores.url import STORE_ENV

__all__ = ["SCAN_COMMANDS"]

SKIPPED_DIRECTORIES = frozenset({".git"})
DEFAULT_MAX_SIZE = 2 * 1024 * 1024
_SNIFF = 8192  # a NUL byte in the first 8 KiB: a binary file, as git decides it
_SHOWN = 4  # characters of a secret's random part that a fingerprint shows (~21-24 bits)
_SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


@dataclasses.dataclass(frozen=True, slots=True)
class Finding:
    path: str
    line: int
    column: int
    found: Found

    @property
    def fingerprint(self) -> str:
        """The prefix, if any, four characters, and an ellipsis: enough to tell tokens apart,
        far too little to use one."""
        secret = self.found.secret
        realm = self.found.recognised.realm
        head = len(PREFIXES[realm]) if realm is not None else 0
        return secret[: head + _SHOWN] + "…"


@dataclasses.dataclass(frozen=True, slots=True)
class Standing:
    """What the store says about one secret."""

    status: str  # live, revoked, expired, rotated_out, unknown, unchecked
    record: TokenRecord | None = None
    previous: bool = False  # the secret a rotation replaced (in or past its grace period)

    @property
    def live(self) -> bool:
        return self.status == "live"


_UNCHECKED = Standing("unchecked")


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="files or directories; '-': stdin")
    parser.add_argument(
        "--all-shapes",
        action="store_true",
        help="any word of 32 characters of 0-9A-Z, not only one after 'cpanel USER:' or in "
        "a CPANEL/WHM setting (noisy)",
    )
    parser.add_argument(
        "--live-only", action="store_true", help="exit 1 only for tokens live in the store"
    )
    parser.add_argument(
        "--revoke", action="store_true", help="revoke the live tokens found (as leaked)"
    )
    parser.add_argument("--format", choices=("text", "json"), default="text", help="output")
    parser.add_argument(
        "--max-size",
        type=_size,
        default=DEFAULT_MAX_SIZE,
        metavar="BYTES",
        help="skip larger files, with a warning (default: 2M; k, M, G suffixes)",
    )


def _scan(args: argparse.Namespace, ctx: Context) -> int:
    store_given = bool(getattr(args, "store", None) or os.environ.get(STORE_ENV))
    if (args.live_only or args.revoke) and not store_given:
        option = "--revoke" if args.revoke else "--live-only"
        raise UsageError(f"{option} needs a store: give --store URL or set {STORE_ENV}")
    missing = [path for path in args.paths if path != "-" and not os.path.lexists(path)]
    if missing:
        raise UsageError(f"no such file or directory: {missing[0]}")
    findings = list(_findings(args.paths, args.all_shapes, args.max_size, ctx))
    standings: dict[str, Standing] = {}
    revoked = 0
    try:
        if store_given and findings:
            service, now = ctx.service(), ctx.clock()
            for finding in findings:
                secret = finding.found.secret
                if secret not in standings:
                    standings[secret] = _standing(service, finding.found, now)
            live = {s.record.id: s.record for s in standings.values() if s.live and s.record}
            if args.revoke and live:
                where = dict.fromkeys(f.path for f in findings if standings[f.found.secret].live)
                revoked = service.revoke_leaked(live.values(), source=f"scan {' '.join(where)}")
    except (TokenwardError, OSError) as exc:
        raise UsageError(f"store: {exc}") from None
    report = [(f, standings.get(f.found.secret, _UNCHECKED)) for f in findings]
    if args.format == "json":
        ctx.json({"findings": [_as_json(f, s) for f, s in report], "revoked": revoked})
    else:
        _say(ctx, report, revoked, args.revoke)
    counted = [f for f, s in report if s.live or not args.live_only]
    return 1 if counted else 0


# -- finding ----------------------------------------------------------------------------


def _findings(paths: list[str], all_shapes: bool, max_size: int, ctx: Context) -> Iterator[Finding]:
    for path, text in _texts(paths, max_size, ctx):
        lines = _line_starts(text)
        for found in find_tokens(text, all_shapes=all_shapes):
            line = bisect.bisect_right(lines, found.start)
            yield Finding(path, line, found.start - lines[line - 1] + 1, found)


def _texts(paths: list[str], max_size: int, ctx: Context) -> Iterator[tuple[str, str]]:
    """(name, text) of every file to scan, in a stable order."""
    for path in paths:
        if path == "-":
            yield "<stdin>", sys.stdin.read()
        elif os.path.isdir(path):
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRECTORIES)
                for name in sorted(files):
                    file = os.path.normpath(os.path.join(root, name))
                    text = _read(file, max_size, ctx)
                    if text is not None:
                        yield file, text
        else:
            text = _read(path, max_size, ctx)
            if text is not None:
                yield path, text


def _read(path: str, max_size: int, ctx: Context) -> str | None:
    """The file's text; ``None`` (skipped) for what is no regular file, binary, too large or
    unreadable, the last two with a warning: a skipped file could hold a token."""
    try:
        if not os.path.isfile(path):
            return None
        if os.path.getsize(path) > max_size:
            ctx.warn(f"skipped {path}: larger than {max_size} bytes (--max-size)")
            return None
        with open(path, "rb") as file:
            data = file.read()
    except OSError as exc:
        ctx.warn(f"skipped {path}: {exc.strerror or exc}")
        return None
    if b"\0" in data[:_SNIFF]:
        return None
    return data.decode("utf-8", errors="replace")


def _line_starts(text: str) -> list[int]:
    starts = [0]
    at = text.find("\n")
    while at != -1:
        starts.append(at + 1)
        at = text.find("\n", at + 1)
    return starts


# -- judging ----------------------------------------------------------------------------


def _standing(service: TokenService, found: Found, now: float) -> Standing:
    """What the store says of a secret, by its digest in each realm (one indexed read each):
    the token whose current or previous (rotated) secret it is, and whether that opens it."""
    for record in service.find_by_secret(found.secret):  # only the realms it may open
        digest = lookup_digest(record.realm, found.secret)
        previous = record.digest != digest
        status = record.status(now)
        if status is TokenStatus.REVOKED:
            return Standing("revoked", record, previous)
        if status is TokenStatus.EXPIRED:
            return Standing("expired", record, previous)
        if not opens(record, digest, now):
            return Standing("rotated_out", record, previous)
        return Standing("live", record, previous)
    return Standing("unknown")


# -- saying -----------------------------------------------------------------------------


def _describe(standing: Standing) -> str:
    record = standing.record
    if record is None:
        if standing.status == "unknown":
            return "not in the store"
        return f"not checked (no store: --store or {STORE_ENV})"
    token = f"{record.realm.value} token {record.name!r} of {record.user}"
    if standing.previous:
        token = f"the old secret of {token}"
    if standing.live and standing.previous:
        return f"LIVE: {token}, until {format_time(record.previous_until)}"
    if standing.live:
        return f"LIVE: {token}"
    return f"{standing.status.replace('_', ' ')}: {token}"


def _say(ctx: Context, report: list[tuple[Finding, Standing]], revoked: int, revoke: bool) -> None:
    for finding, standing in report:
        recognised = finding.found.recognised
        kind = "prefixed" if recognised.format == "prefixed" else "cPanel-format"
        ctx.say(
            f"{finding.path}:{finding.line}:{finding.column}: {kind} token "
            f"{finding.fingerprint} {_describe(standing)}"
        )
    live = sum(1 for _, standing in report if standing.live)
    if live and revoke:
        ctx.say(f"Revoked {revoked} live token(s); their owners need new ones.")
    elif live:
        ctx.say(
            f"{live} live token(s): revoke them (tokenward scan --revoke PATH…) and remove "
            "them from the files and their history."
        )


def _as_json(finding: Finding, standing: Standing) -> dict[str, object]:
    recognised = finding.found.recognised
    record = standing.record
    return {
        "path": finding.path,
        "line": finding.line,
        "column": finding.column,
        "format": recognised.format,
        "realm": _realm(recognised.realm, record),
        "fingerprint": finding.fingerprint,
        "status": standing.status,
        "live": standing.live,
        "token": None
        if record is None
        else {
            "realm": record.realm.value,
            "user": record.user,
            "name": record.name,
            "previous_secret": standing.previous,
        },
    }


def _realm(named: Realm | None, record: TokenRecord | None) -> str | None:
    """The realm a prefix names, else the one the store found the token in."""
    if named is not None:
        return named.value
    return None if record is None else record.realm.value


def _size(text: str) -> int:
    number, unit = text.rstrip("kKmMgG"), text[len(text.rstrip("kKmMgG")) :].lower()
    if not number.isdigit() or len(unit) > 1:
        raise argparse.ArgumentTypeError(f"invalid size {text!r}: use bytes, or 500k, 2M, 1G")
    return int(number) * _SIZE_UNITS[unit]


SCAN_COMMANDS: tuple[Command, ...] = (
    Command("scan", "find tokens in files, and say which are live", _configure, _scan),
)
