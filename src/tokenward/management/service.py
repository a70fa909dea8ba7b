"""Creating and managing tokens. Every path that changes tokens goes through here."""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Iterable

from tokenward.audit import AuditEvent, AuditHook
from tokenward.core.acl import dangerous_in, normalize_acls
from tokenward.core.clock import Clock
from tokenward.core.crypto import Argon2Profile, SecretHasher, lookup_digest
from tokenward.core.network import parse_allow_list
from tokenward.core.policy import UserDirectory
from tokenward.core.tokens import Realm, TokenRecord, generate_secret, validate_name
from tokenward.errors import DuplicateTokenError, ValidationError
from tokenward.stores.base import TokenStore

__all__ = ["CreatedToken", "TokenService"]


@dataclasses.dataclass(frozen=True, slots=True)
class CreatedToken:
    """The one moment the secret exists outside the client: print it, then drop it."""

    record: TokenRecord
    secret: str = dataclasses.field(repr=False)
    warnings: tuple[str, ...] = ()


class TokenService:
    def __init__(
        self,
        store: TokenStore,
        *,
        argon2: Argon2Profile | None = None,
        clock: Clock = time.time,
        directory: UserDirectory | None = None,
        acl_vocabulary: frozenset[str] | None = None,
        audit: AuditHook | None = None,
    ) -> None:
        self.store = store
        self.hasher = SecretHasher(argon2)
        self.clock = clock
        self.directory = directory
        self.acl_vocabulary = acl_vocabulary
        self.audit = audit

    def create(
        self,
        user: str,
        name: str,
        *,
        realm: Realm | str = Realm.CPANEL,
        acls: Iterable[str] = ("all",),
        whitelist_ips: Iterable[str] = (),
        expires_at: int | None = None,
        actor: str | None = None,
    ) -> CreatedToken:
        realm = Realm.parse(realm)
        validate_name(name)
        if not user or not user.isprintable() or ":" in user or " " in user:
            raise ValidationError(f"invalid user name {user!r}")
        acl_set = normalize_acls(acls, self.acl_vocabulary)
        ips = parse_allow_list(whitelist_ips)
        now = int(self.clock())
        if expires_at is not None and expires_at <= now:
            raise ValidationError("expiry must be in the future")
        if self.store.find(realm, user, name) is not None:
            raise DuplicateTokenError(f"{user} already has a {realm.value} token named {name!r}")
        secret = generate_secret()
        record = TokenRecord(
            id=uuid.uuid4().hex,
            realm=realm,
            user=user,
            name=name,
            digest=lookup_digest(realm, secret),
            verifier=self.hasher.hash(secret),
            created_at=now,
            expires_at=expires_at,
            acls=acl_set,
            whitelist_ips=ips,
        )
        self.store.add(record)
        self._audit("token.create", record, actor)
        warnings = tuple(f"ACL {acl!r}: {why}" for acl, why in dangerous_in(acl_set).items())
        return CreatedToken(record, secret, warnings)

    def _audit(self, kind: str, record: TokenRecord, actor: str | None, detail: str = "") -> None:
        if self.audit is not None:
            self.audit(
                AuditEvent(
                    kind=kind,
                    at=self.clock(),
                    realm=record.realm.value,
                    user=record.user,
                    token_name=record.name,
                    actor=actor,
                    detail=detail,
                )
            )
