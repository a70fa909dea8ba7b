"""tokenward: cPanel-style API-token authentication for any WSGI or ASGI application.

``import tokenward`` imports no web framework and no database driver.
"""

from tokenward.asgi import TokenwardASGIMiddleware, with_lifespan
from tokenward.audit import AuditEvent
from tokenward.authenticator import Authenticator, Decision
from tokenward.core.crypto import Argon2Profile
from tokenward.core.header import Credentials, format_authorization, parse_authorization
from tokenward.core.policy import Owner, UserDirectory
from tokenward.core.request import RequestInfo
from tokenward.core.responses import Refusal
from tokenward.core.settings import Rule, Settings
from tokenward.core.tokens import Identity, Realm, TokenRecord, TokenStatus, generate_secret
from tokenward.errors import (
    AuthenticationError,
    ConfigurationError,
    DuplicateTokenError,
    FailureReason,
    MalformedCredentialsError,
    OverloadedError,
    PermissionDeniedError,
    StoreError,
    TokenNotFoundError,
    TokenwardError,
    ValidationError,
)
from tokenward.factory import IDENTITY_KEY, build_authenticator
from tokenward.guard import Guard
from tokenward.management.service import CreatedToken, TokenService
from tokenward.stores.base import TokenStore, Usage
from tokenward.stores.memory import MemoryStore
from tokenward.stores.sqlite import SQLiteStore
from tokenward.stores.url import open_store
from tokenward.wsgi import TokenwardWSGIMiddleware

__all__ = [
    "IDENTITY_KEY",
    "Argon2Profile",
    "AuditEvent",
    "AuthenticationError",
    "Authenticator",
    "ConfigurationError",
    "CreatedToken",
    "Credentials",
    "Decision",
    "DuplicateTokenError",
    "FailureReason",
    "Guard",
    "Identity",
    "MalformedCredentialsError",
    "MemoryStore",
    "OverloadedError",
    "Owner",
    "PermissionDeniedError",
    "Realm",
    "Refusal",
    "RequestInfo",
    "Rule",
    "SQLiteStore",
    "Settings",
    "StoreError",
    "TokenNotFoundError",
    "TokenRecord",
    "TokenService",
    "TokenStatus",
    "TokenStore",
    "TokenwardASGIMiddleware",
    "TokenwardError",
    "TokenwardWSGIMiddleware",
    "Usage",
    "UserDirectory",
    "ValidationError",
    "build_authenticator",
    "format_authorization",
    "generate_secret",
    "open_store",
    "parse_authorization",
    "with_lifespan",
]

__version__ = "0.1.0"
