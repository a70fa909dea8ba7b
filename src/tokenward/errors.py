"""One exception root for everything tokenward raises.

Failure is always an exception, never a falsy return. No message ever contains a secret: the
classes that could be handed one (credentials, verifiers) keep it out of ``str`` and ``repr``.
"""

from __future__ import annotations

import enum

__all__ = [
    "AuthenticationError",
    "ConfigurationError",
    "DuplicateTokenError",
    "FailureReason",
    "MalformedCredentialsError",
    "OverloadedError",
    "PermissionDeniedError",
    "StoreError",
    "TokenNotFoundError",
    "TokenwardError",
    "ValidationError",
]


class TokenwardError(Exception):
    """Root of every exception tokenward raises on purpose."""


class ConfigurationError(TokenwardError):
    """Settings that cannot work; raised once, at start-up."""


class ValidationError(TokenwardError, ValueError):
    """A value given to tokenward (a name, an address, an expiry) is not acceptable."""


class StoreError(TokenwardError):
    """The store could not answer. The request path turns this into a 503, never a pass."""


class DuplicateTokenError(ValidationError):
    """A token with that name already exists for that user and realm."""


class TokenNotFoundError(TokenwardError, LookupError):
    """No token with that name exists for that user and realm."""


class OverloadedError(TokenwardError):
    """Too many first-time verifications are queued; the caller should retry shortly."""


class FailureReason(enum.Enum):
    """Why a request was refused. Logged and audited; never sent to the client."""

    MISSING = "missing"
    MALFORMED = "malformed"
    UNKNOWN_TOKEN = "unknown_token"
    WRONG_USER = "wrong_user"
    BAD_SECRET = "bad_secret"
    EXPIRED = "expired"
    ROTATED_OUT = "rotated_out"
    REVOKED = "revoked"  # kept on record but revoked (e.g. reported leaked): 401
    IP_NOT_ALLOWED = "ip_not_allowed"
    OWNER_UNKNOWN = "owner_unknown"
    OWNER_SUSPENDED = "owner_suspended"
    INSECURE_TRANSPORT = "insecure_transport"
    MISSING_ACL = "missing_acl"
    READ_ONLY = "read_only"  # a read-only token sent a method that may change something (403)
    STORE_UNAVAILABLE = "store_unavailable"
    OVERLOADED = "overloaded"
    UNSAFE_PATH = "unsafe_path"


class AuthenticationError(TokenwardError):
    """The credentials do not authenticate anyone. Clients only ever see a generic 401."""

    def __init__(self, reason: FailureReason, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)


class MalformedCredentialsError(AuthenticationError):
    """The Authorization header uses our scheme but does not follow its grammar."""

    def __init__(self, detail: str) -> None:
        super().__init__(FailureReason.MALFORMED, detail)


class PermissionDeniedError(TokenwardError):
    """A valid token lacks an ACL the route requires (403)."""

    def __init__(self, missing: frozenset[str]) -> None:
        self.missing = missing
        super().__init__("missing ACL: " + ", ".join(sorted(missing)))
