"""The ``Authorization: cpanel <user>:<token>`` grammar, with no I/O.

``parse_authorization`` answers three ways, like knox: ``None`` when the request does not use
one of our schemes (another middleware may handle it), ``Credentials`` when it does and is well
formed, and ``MalformedCredentialsError`` when it uses our scheme but breaks the grammar. It
never raises anything else, whatever the input (tests prove it with hypothesis).

The token may be of either format (``tokenward.core.formats``) in either realm, whichever
one the deployment mints. A prefixed token is refused here, before any store read, when its
checksum is wrong (mistyped, or made up) or its prefix names the other realm.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

from tokenward.core.formats import (
    PREFIXED_LENGTH,
    PREFIXED_PATTERN,
    PREFIXES,
    TOKEN_PATTERN,
    recognise,
)
from tokenward.core.tokens import Realm, is_well_formed_secret
from tokenward.errors import MalformedCredentialsError

__all__ = ["MAX_HEADER_LENGTH", "Credentials", "format_authorization", "parse_authorization"]

MAX_HEADER_LENGTH = 1024
MAX_USER_LENGTH = 128

# Printable ASCII without space: no control characters, no non-ASCII, no inner whitespace.
_CREDENTIALS_RE = re.compile(r"[\x21-\x7e]+")
_SCHEMES = {realm.value: realm for realm in Realm}
# The shape nearly every request has, accepted in one match: exactly what the step-by-step
# grammar below accepts for it (a hypothesis property checks they agree on any input).
_WELL_FORMED_RE = re.compile(
    rf"[ \t]*((?i:{'|'.join(_SCHEMES)})) +([\x21-\x39\x3b-\x7e]{{1,{MAX_USER_LENGTH}}}):"
    rf"({TOKEN_PATTERN})[ \t\r\n]*",
    re.ASCII,  # the scheme's case folds in ASCII only, as str.lower() does for it
)
_PREFIXED_RE = re.compile(PREFIXED_PATTERN)
_PREFIXES = tuple(PREFIXES.values())


@dataclasses.dataclass(frozen=True, slots=True)
class Credentials:
    realm: Realm
    user: str
    secret: str = dataclasses.field(repr=False)


def parse_authorization(values: str | Sequence[str] | None) -> Credentials | None:
    """Parse the Authorization header value(s) of one request.

    Pass every value the request carried: several Authorization headers are refused as
    malformed when one of them uses our scheme, never silently resolved.
    """
    if values is None:
        return None
    if isinstance(values, str):
        values = (values,)
    if not values:
        return None
    if len(values) > 1:
        if any(_scheme_of(value) is not None for value in values):
            raise MalformedCredentialsError("several Authorization headers")
        return None
    value = values[0]
    if len(value) <= MAX_HEADER_LENGTH and (well := _WELL_FORMED_RE.fullmatch(value)):
        scheme, user, secret = well.groups()
        realm = _SCHEMES[scheme.lower()]
        if len(secret) == PREFIXED_LENGTH:
            _check_prefixed(realm, secret)
        return Credentials(realm, user, secret)
    return _parse_one(value)


def _parse_one(value: str) -> Credentials | None:
    """The grammar step by step, so that a refusal says which rule the value broke."""
    realm = _scheme_of(value)
    if realm is None:
        return None
    if len(value) > MAX_HEADER_LENGTH:
        raise MalformedCredentialsError("header too long")
    # Clients append CR/LF or spaces; the scheme and credentials may be separated by several.
    rest = value.strip(" \t\r\n")[len(realm.value) :].lstrip(" ")
    if not rest:
        raise MalformedCredentialsError("no credentials after the scheme")
    if _CREDENTIALS_RE.fullmatch(rest) is None:
        raise MalformedCredentialsError("space, control or non-ASCII character in credentials")
    user, sep, secret = rest.partition(":")
    if not sep:
        raise MalformedCredentialsError("no ':' between user and token")
    if not user or len(user) > MAX_USER_LENGTH:
        raise MalformedCredentialsError("empty or oversized user")
    if _PREFIXED_RE.fullmatch(secret) is not None:
        _check_prefixed(realm, secret)
    elif secret.startswith(_PREFIXES):
        raise MalformedCredentialsError(
            f"a prefixed token is {PREFIXED_LENGTH} characters: its prefix, then letters and digits"
        )
    elif not is_well_formed_secret(secret):
        raise MalformedCredentialsError("token is not 32 characters of 0-9A-Z")
    return Credentials(realm, user, secret)


def _check_prefixed(realm: Realm, secret: str) -> None:
    """A prefixed token of the right shape: its checksum, then its realm."""
    recognised = recognise(secret)
    if recognised is None:
        raise MalformedCredentialsError("token checksum does not match: mistyped or made up")
    if recognised.realm is not realm:
        raise MalformedCredentialsError(
            f"a {recognised.realm} token sent with the {realm.value} scheme"
        )


def format_authorization(realm: Realm | str, user: str, secret: str) -> str:
    """The header value a client sends; the inverse of ``parse_authorization``."""
    return f"{Realm.parse(realm).value} {user}:{secret}"


def _scheme_of(value: str) -> Realm | None:
    head = value.lstrip(" \t")
    scheme, _, _ = head.partition(" ")
    return _SCHEMES.get(scheme.lower())
