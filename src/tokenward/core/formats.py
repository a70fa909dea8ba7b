"""Token formats: cPanel's own, and a prefixed one that secret scanners recognise.

``cpanel`` (the default) is cPanel's shape, 32 characters of ``0-9A-Z``: clients written
for cPanel accept it, and nothing in it says what it is. ``prefixed`` is ``twcp_`` (cpanel
realm) or ``twwh_`` (whm realm), 30 random base62 characters, and a CRC32 of everything
before it in 6 base62 characters, like GitHub's ``ghp_`` tokens: a scanner that finds one
knows what it is and which realm it opens, and the checksum lets it reject a random string
of that shape without a store read. Both formats authenticate in any deployment, whichever
one it mints: changing the setting never breaks a token already issued.

The scanner patterns here are the one source of the rules shipped in ``docs/rules/`` and of
``tokenward scan``; they use only what RE2 (Go's ``regexp``: gitleaks, trufflehog) and
Python's ``re`` read the same way.
"""

from __future__ import annotations

import collections
import dataclasses
import math
import re
import secrets
import zlib
from typing import Literal

from tokenward.core.tokens import SECRET_PATTERN, Realm, generate_secret, is_well_formed_secret
from tokenward.errors import ValidationError

__all__ = [
    "BASE62",
    "CHECKSUM_LENGTH",
    "CONTEXT_REGEX",
    "DIGEST_PATTERN",
    "MIN_ENTROPY",
    "PREFIXED_LENGTH",
    "PREFIXED_PATTERN",
    "PREFIXED_REGEX",
    "PREFIXES",
    "RANDOM_LENGTH",
    "SHAPE_REGEX",
    "TOKEN_FORMATS",
    "TOKEN_PATTERN",
    "Found",
    "Recognised",
    "TokenFormat",
    "checksum",
    "find_tokens",
    "generate",
    "parse_format",
    "realms_of",
    "recognise",
    "shannon_entropy",
]

TokenFormat = Literal["cpanel", "prefixed"]
TOKEN_FORMATS: tuple[TokenFormat, ...] = ("cpanel", "prefixed")

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# "tw" names tokenward, the next two letters the realm. Lower case, so that no prefixed token
# is ever mistaken for a cPanel-format one; "_" so that a double click selects the whole.
PREFIXES: dict[Realm, str] = {Realm.CPANEL: "twcp_", Realm.WHM: "twwh_"}
RANDOM_LENGTH = 30  # 30 * log2(62) ≈ 178.6 bits of entropy
CHECKSUM_LENGTH = 6  # a CRC32 is below 62**6

_PREFIX_LENGTH = len(PREFIXES[Realm.CPANEL])  # the same for every realm (a test checks)
_REALM_OF_PREFIX = {prefix: realm for realm, prefix in PREFIXES.items()}
PREFIXED_LENGTH = _PREFIX_LENGTH + RANDOM_LENGTH + CHECKSUM_LENGTH
_BODY = f"[0-9A-Za-z]{{{RANDOM_LENGTH + CHECKSUM_LENGTH}}}"

# The shape of a prefixed token (the checksum is not a pattern: ``recognise`` checks it).
PREFIXED_PATTERN = f"(?:{'|'.join(_REALM_OF_PREFIX)}){_BODY}"
# A secret of either format, as the Authorization header accepts it.
TOKEN_PATTERN = f"(?:{SECRET_PATTERN}|{PREFIXED_PATTERN})"

# What scanners search for, the secret in group 1. ``\b`` is ASCII in RE2 and in ``re.ASCII``.
PREFIXED_REGEX = rf"\b({PREFIXED_PATTERN})\b"
# A cPanel-format token only where the text says what it is: after "cpanel USER:" or "whm
# USER:" (an Authorization header, a curl command), or as the value of a key naming cpanel or
# whm (CPANEL_TOKEN=…, "whm_api_token": "…"). Every repetition is bounded, so Python's
# backtracking stays linear too. \x22 \x27 \x60 are " ' ` (no quote to escape in TOML/YAML).
CONTEXT_REGEX = (
    r"(?i:cpanel|whm)"
    r"(?:[ \t]+[^\s:\x22\x27\x60]{1,128}:|[\w.-]{0,40}[\x22\x27]?[ \t]*[:=][ \t]*[\x22\x27]?)"
    rf"({SECRET_PATTERN})\b"
)
# Any word of cPanel's shape (``tokenward scan --all-shapes``): noisy, so never a shipped rule.
SHAPE_REGEX = rf"\b({SECRET_PATTERN})\b"
# An upper-case hex digest (MD5) has cPanel's shape; a random token is all hex once in 10^11
# (16/36 to the 32nd), so a match of this is taken for a digest, never for a token.
DIGEST_PATTERN = "[0-9A-F]{32}"
# Bits per character below which a match is a placeholder (XXXX…, 0123…), as gitleaks and
# trufflehog measure it. Random tokens sit near 4.3 (cPanel's) and 4.8 (prefixed); one in
# well over a billion cPanel-format tokens falls below 3.
MIN_ENTROPY = 3.0

_PREFIXED_RE = re.compile(PREFIXED_PATTERN)
_DIGEST_RE = re.compile(DIGEST_PATTERN)
_SCANS = {
    shapes: [re.compile(PREFIXED_REGEX, re.ASCII), re.compile(cpanel, re.ASCII)]
    for shapes, cpanel in ((False, CONTEXT_REGEX), (True, SHAPE_REGEX))
}


@dataclasses.dataclass(frozen=True, slots=True)
class Recognised:
    """What a string is: its format, and the realm a prefixed token names (a cPanel-format
    token names none: it may belong to either)."""

    format: TokenFormat
    realm: Realm | None


def parse_format(value: str) -> TokenFormat:
    for known in TOKEN_FORMATS:
        if value == known:
            return known
    raise ValidationError(f"unknown token format {value!r}: use {' or '.join(TOKEN_FORMATS)}")


def generate(realm: Realm | str, token_format: TokenFormat = "cpanel") -> str:  # noqa: S107
    """A new secret of ``token_format`` for ``realm``, from the operating system's CSPRNG."""
    realm = Realm.parse(realm)
    if parse_format(token_format) == "cpanel":
        return generate_secret()
    head = PREFIXES[realm] + "".join(secrets.choice(BASE62) for _ in range(RANDOM_LENGTH))
    return head + checksum(head)


def checksum(head: str) -> str:
    """The CRC32 of a prefixed token's prefix and random part, in 6 base62 characters.

    The prefix is covered too, so a token whose realm letters were changed is refused."""
    value = zlib.crc32(head.encode("ascii"))
    digits = []
    for _ in range(CHECKSUM_LENGTH):
        value, digit = divmod(value, 62)
        digits.append(BASE62[digit])
    return "".join(reversed(digits))


def recognise(text: str) -> Recognised | None:
    """The format of a whole string, or ``None``: a prefixed token counts only with a valid
    checksum. Cheap (a match and a CRC32), for use before any store read."""
    if is_well_formed_secret(text):
        return Recognised("cpanel", None)
    if len(text) != PREFIXED_LENGTH or _PREFIXED_RE.fullmatch(text) is None:
        return None
    head = text[:-CHECKSUM_LENGTH]
    if checksum(head) != text[-CHECKSUM_LENGTH:]:
        return None
    return Recognised("prefixed", _REALM_OF_PREFIX[text[:_PREFIX_LENGTH]])


def realms_of(secret: str) -> tuple[Realm, ...]:
    """The realms a secret may open: the one a prefixed token names (if its checksum holds),
    either for a cPanel-format one, none for anything else. What a leak report, ``tokenward
    scan`` and ``TokenService.find_by_secret`` look it up in."""
    recognised = recognise(secret)
    if recognised is None:
        return ()
    return tuple(Realm) if recognised.realm is None else (recognised.realm,)


@dataclasses.dataclass(frozen=True, slots=True)
class Found:
    """A token found in a text: where its secret starts, and what it is."""

    start: int
    secret: str = dataclasses.field(repr=False)
    recognised: Recognised


def find_tokens(text: str, *, all_shapes: bool = False) -> list[Found]:
    """The tokens in ``text``, in order: a prefixed one wherever it is, if its checksum holds;
    a cPanel-format one where the text says what it is (``CONTEXT_REGEX``), or with
    ``all_shapes`` any word of its shape, unless it is a hex digest or a placeholder."""
    found: dict[int, Found] = {}
    for pattern in _SCANS[all_shapes]:
        for match in pattern.finditer(text):
            secret = match.group(1)
            recognised = recognise(secret)
            if recognised is not None and (recognised.format == "prefixed" or _plausible(secret)):
                found.setdefault(match.start(1), Found(match.start(1), secret, recognised))
    return [found[start] for start in sorted(found)]


def _plausible(secret: str) -> bool:
    """A cPanel-format match that is neither a hex digest nor a placeholder (the checksum
    rules those out for a prefixed one)."""
    return _DIGEST_RE.fullmatch(secret) is None and shannon_entropy(secret) >= MIN_ENTROPY


def shannon_entropy(text: str) -> float:
    """Bits per character of ``text``'s own character frequencies (what scanners call
    entropy)."""
    size = len(text)
    return -sum(n / size * math.log2(n / size) for n in collections.Counter(text).values())
