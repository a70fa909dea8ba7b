"""Tokens as people read and type them: durations and dates in; times, tables and hints out.

Pure string work, shared by the CLI and the web page; printing stays with the caller.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Sequence

from tokenward.errors import FailureReason, ValidationError
from tokenward.management.rules import MAX_EPOCH
from tokenward.management.views import TokenView

__all__ = [
    "FAILURE_HINTS",
    "describe_view",
    "end_of_day",
    "format_time",
    "parse_duration",
    "table",
    "token_rows",
]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400, "y": 365 * 86_400}
_DURATION_RE = re.compile(r"\d+|(?:\d+[smhdwy])+")
_PART_RE = re.compile(r"(\d+)([smhdwy])")
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")

# What to look at when ``tokenward check`` reports a refusal: the point of the command is
# to turn an anonymous 401 into a reason and a next step.
FAILURE_HINTS: dict[FailureReason, str] = {
    FailureReason.MISSING: "the header does not use the cpanel or whm scheme",
    FailureReason.MALFORMED: "the header must read '<realm> <user>:<32 characters of 0-9A-Z>'",
    FailureReason.UNKNOWN_TOKEN: (
        "no token in this store and realm has this secret: revoked, mistyped, "
        "another store, or the other realm (cpanel and whm tokens never mix)"
    ),
    FailureReason.WRONG_USER: "the token exists but belongs to another user",
    FailureReason.BAD_SECRET: "the stored verifier does not match: the record may be damaged",
    FailureReason.EXPIRED: "the token has expired: create a new one (expired tokens stay listed)",
    FailureReason.ROTATED_OUT: "this is a rotated token's old secret and its grace period is over",
    FailureReason.REVOKED: (
        "the token was revoked (see `tokenward show`, e.g. reported leaked): it stays listed "
        "but never works again; delete it and create a new one"
    ),
    FailureReason.IP_NOT_ALLOWED: (
        "the client address is not in the token's allow-list (pass --ip to check one)"
    ),
    FailureReason.OWNER_UNKNOWN: "the user directory does not know the token's owner",
    FailureReason.OWNER_SUSPENDED: "the token's owner is suspended",
    FailureReason.INSECURE_TRANSPORT: "the token was sent over plain HTTP",
    FailureReason.MISSING_ACL: "the token is valid but lacks an ACL the route requires (403)",
    FailureReason.READ_ONLY: (
        "the token is read-only: only GET, HEAD, OPTIONS and TRACE are accepted, whatever its "
        "ACLs (403); use a read-write token, or `tokenward update --read-write`"
    ),
    FailureReason.STORE_UNAVAILABLE: "the store could not answer (503)",
    FailureReason.OVERLOADED: "too many first-time verifications are queued (503)",
    FailureReason.UNSAFE_PATH: (
        "the path holds a control character or is not origin-form: refused whatever the token (400)"
    ),
}


def parse_duration(text: str) -> int:
    """Seconds from ``90``, ``90s``, ``30m``, ``24h``, ``7d``, ``2w``, ``1y`` or ``1h30m``."""
    value = text.strip().lower()
    if _DURATION_RE.fullmatch(value) is None:
        raise ValidationError(
            f"invalid duration {text!r}: use a number with a unit, e.g. 90s, 30m, 24h, 7d, 1y"
        )
    if value.isdigit():
        seconds = int(value)
    else:
        seconds = sum(int(n) * _UNITS[unit] for n, unit in _PART_RE.findall(value))
    if seconds > MAX_EPOCH:
        raise ValidationError(f"duration {text!r} is too long")
    return seconds


def end_of_day(text: str) -> int:
    """``YYYY-MM-DD`` as cPanel's UI means it: 23:59:59 server (local) time that day."""
    if _DATE_RE.fullmatch(text.strip()) is None:
        raise ValidationError(f"invalid date {text!r}: use YYYY-MM-DD")
    try:
        day = datetime.date.fromisoformat(text.strip())
        moment = datetime.datetime.combine(day, datetime.time(23, 59, 59))
        return int(moment.timestamp())  # a naive datetime is local time
    except (ValueError, OverflowError, OSError):
        raise ValidationError(f"invalid date {text!r}: use YYYY-MM-DD") from None


def format_time(epoch: int | None, none: str = "never") -> str:
    """Local time to the second (expiry is to the second); ``none`` for a missing value."""
    if epoch is None:
        return none
    try:
        return datetime.datetime.fromtimestamp(epoch).strftime("%Y-%m-%d %H:%M:%S")
    except (ValueError, OverflowError, OSError):
        return str(epoch)


def _short(values: Sequence[str], empty: str, keep: int) -> str:
    if not values:
        return empty
    shown = ",".join(values[:keep])
    return shown if len(values) <= keep else f"{shown} +{len(values) - keep} more"


def _access(view: TokenView) -> str:
    return "read-only" if view.readonly else "read-write"


def _requests(view: TokenView) -> str:
    """``today/last 7 days``; ``-`` when the counts were not read."""
    if view.requests_today is None or view.requests_last_7_days is None:
        return "-"
    return f"{view.requests_today}/{view.requests_last_7_days}"


def token_rows(views: Sequence[TokenView]) -> list[list[str]]:
    header = [
        *("REALM", "USER", "NAME", "STATUS", "ACCESS", "EXPIRES"),
        *("LAST USED", "FROM", "REQUESTS TODAY/7D", "IPS", "ACLS"),
    ]
    rows = [header]
    for view in views:
        rows.append(
            [
                view.realm.value,
                view.user,
                view.name,
                view.status_text,
                _access(view),
                format_time(view.expires_at),
                format_time(view.last_used_at, "-"),
                view.last_used_ip or "-",
                _requests(view),
                _short(view.whitelist_ips, "any", 2),
                _short(sorted(view.acls), "-", 4),
            ]
        )
    return rows


def table(rows: Sequence[Sequence[str]]) -> list[str]:
    """Left-aligned columns, two spaces apart; the last column is not padded."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def describe_view(view: TokenView) -> list[str]:
    """``show``'s lines: one field per line, every list in full."""
    fields = [
        ("name", view.name),
        ("user", view.user),
        ("realm", view.realm.value),
        ("status", view.status_text),
        ("access", _access(view)),
        ("created", format_time(view.create_time)),
        ("expires", format_time(view.expires_at)),
        ("last used", format_time(view.last_used_at, "-")),
        ("last used from", view.last_used_ip or "-"),
        ("ACLs", ", ".join(sorted(view.acls))),
        ("IP addresses", ", ".join(view.whitelist_ips) or "any"),
    ]
    if view.requests_today is not None:
        fields.append(
            (
                "requests",
                f"{view.requests_today} today, {view.requests_last_7_days} in 7 days (UTC)",
            )
        )
    if view.revoked_at is not None:
        fields.append(("revoked", format_time(view.revoked_at)))
    if view.previous_secret_until is not None:
        fields.append(("old secret until", format_time(view.previous_secret_until)))
    width = max(len(label) for label, _ in fields) + 1
    return [f"{label + ':':<{width}} {value}" for label, value in fields]
