"""Creating and managing tokens. Every path that changes tokens goes through here.

Each method checks everything first and writes once, so a refusal leaves the store as it
was. Methods that act on one user's tokens take ``actor``: the identity of the token making
the call (the HTTP management API passes it), which limits what may be granted.
"""

from __future__ import annotations

import builtins
import math
import time
import uuid
from collections.abc import Iterable, Sequence

from tokenward.audit import AuditHook
from tokenward.core.acl import normalize_acls
from tokenward.core.clock import Clock
from tokenward.core.crypto import Argon2Profile, SecretHasher, lookup_digest
from tokenward.core.formats import TokenFormat, generate, parse_format, realms_of
from tokenward.core.network import parse_allow_list
from tokenward.core.policy import UNRESTRICTED, Owner, UserDirectory
from tokenward.core.tokens import (
    Identity,
    Realm,
    TokenRecord,
    is_within_expiry,
    validate_name,
)
from tokenward.errors import DuplicateTokenError, TokenNotFoundError, ValidationError
from tokenward.management.rules import (
    CallerLimits,
    caller_limits,
    check_may_mint,
    check_owner_acls,
    grace_end,
    secret_end,
    strings,
    validate_expiry,
    validate_user,
)
from tokenward.management.trail import AuditTrail, describe, describe_changes, label
from tokenward.management.views import KEEP, CreatedToken, Keep, TokenView, acl_warnings
from tokenward.stores.base import TokenStore, day_of

__all__ = ["KEEP", "CreatedToken", "Keep", "TokenService"]


class TokenService:
    """The token lifecycle: create, read, update, rotate, revoke, purge, and the account
    events (rename, delete) that tokens must follow."""

    REVOKED_LEAKED = "reported leaked"  # ``revoked_reason`` of a token revoked as leaked

    def __init__(
        self,
        store: TokenStore,
        *,
        argon2: Argon2Profile | None = None,
        clock: Clock = time.time,
        directory: UserDirectory | None = None,
        acl_vocabulary: frozenset[str] | None = None,
        audit: AuditHook | None = None,
        operator: str | None = None,
        token_format: TokenFormat = "cpanel",  # noqa: S107 - a format's name, not a secret
    ) -> None:
        """``operator`` names who acts in audit events when no token does (the CLI passes
        the local user), so every change has a "who"."""
        self.store = store
        self.hasher = SecretHasher(argon2)
        self.clock = clock
        self.directory = directory
        self.acl_vocabulary = acl_vocabulary
        self.trail = AuditTrail(audit, clock, operator)
        self.token_format = parse_format(token_format)  # what create and rotate mint

    # -- minting --------------------------------------------------------------------------

    def create(
        self,
        user: str,
        name: str,
        *,
        realm: Realm | str = Realm.CPANEL,
        acls: Iterable[str] | None = None,
        whitelist_ips: Iterable[str] = (),
        expires_at: int | None = None,
        readonly: bool | None = None,
        actor: Identity | None = None,
    ) -> CreatedToken:
        """``acls=None``: ``all``, or with an ``actor`` the ACLs the actor holds (WHM's "no
        acl = all of the caller's privileges"). ``readonly=None`` likewise: read-write, or
        with an ``actor`` as the actor is (a read-only caller mints only read-only tokens)."""
        realm = Realm.parse(realm)
        validate_user(user)
        validate_name(name)
        now = self.clock()
        caller = self._caller(actor, realm, user, now)
        owner = check_may_mint(self._owner(realm, user), realm, user)
        if acls is None:
            acls = ("all",) if caller is None else caller.acls
        if readonly is None:
            readonly = caller is not None and caller.readonly
        acl_set = normalize_acls(strings(acls, "acls"), self.acl_vocabulary)
        check_owner_acls(owner, acl_set, user)
        ips = parse_allow_list(strings(whitelist_ips, "whitelist_ips"))
        expires_at = validate_expiry(expires_at, now)
        if caller is not None:
            caller.check_acls(acl_set, owner)
            caller.check_ips(ips)
            caller.check_expiry(expires_at)
            caller.check_readonly(readonly)
        if self.store.find(realm, user, name) is not None:
            raise DuplicateTokenError(f"{user} already has a {realm.value} token named {name!r}")
        secret = generate(realm, self.token_format)
        record = TokenRecord(
            id=uuid.uuid4().hex,
            realm=realm,
            user=user,
            name=name,
            digest=lookup_digest(realm, secret),
            verifier=self.hasher.hash(secret),
            created_at=int(now),
            expires_at=expires_at,
            acls=acl_set,
            whitelist_ips=ips,
            readonly=bool(readonly),
        )
        self.store.add(record)
        self.trail.token("token.create", record, actor, describe(record))
        return CreatedToken(record, secret, acl_warnings(acl_set, self.acl_vocabulary))

    def rotate(
        self,
        user: str,
        name: str,
        *,
        realm: Realm | str = Realm.CPANEL,
        grace: float | None = None,
        actor: Identity | None = None,
    ) -> CreatedToken:
        """A new secret for the same token (name, ACLs, addresses, expiry, read-only).

        With ``grace`` seconds the replaced secret keeps working until then, so clients can
        be switched over without an outage; without (or with 0), it stops at once. Rotating
        again ends any earlier grace period.

        A rotated-out secret never outlives its token: a grace period that would end after
        the token expires is cut to end when the token does (``previous_until`` is then the
        token's ``expires_at``), and the returned ``CreatedToken.warnings`` says so. The
        rotation still happens, so a scheduled one keeps working. This is the one rule for
        every entry point (the CLI's ``--grace``, the HTTP APIs' ``grace``, the web page's
        choice): ``management.rules.grace_end``. A negative or non-finite grace, or one
        ending after the year 9999, is refused with ``ValidationError`` and changes nothing.
        """
        realm = Realm.parse(realm)
        now = self.clock()
        caller = self._caller(actor, realm, user, now)
        record = _changeable(self._require(realm, user, name))
        owner = check_may_mint(self._owner(realm, user), realm, user)
        if caller is not None:
            caller.check_token(record, owner)
        if not is_within_expiry(record.expires_at, now):
            raise ValidationError(
                f"token {name!r} has expired; rotation keeps the expiry, so create a new token"
            )
        until, cut = grace_end(grace, record.expires_at, now)
        secret = generate(realm, self.token_format)
        rotated = record.replace(
            digest=lookup_digest(realm, secret),
            verifier=self.hasher.hash(secret),
            previous_digest=None if until is None else record.digest,
            previous_verifier=None if until is None else record.verifier,
            previous_until=until,
        )
        self.store.save(rotated)
        detail = (
            "previous secret revoked at once"
            if until is None
            else f"previous secret valid until {until}"
            + (" (grace cut to the token's expiry)" if cut else "")
        )
        self.trail.token("token.rotate", rotated, actor, detail)
        warnings = acl_warnings(record.acls, self.acl_vocabulary)
        return CreatedToken(rotated, secret, warnings if cut is None else (*warnings, cut))

    # -- editing --------------------------------------------------------------------------

    def update(
        self,
        user: str,
        name: str,
        *,
        realm: Realm | str = Realm.CPANEL,
        new_name: str | None = None,
        expires_at: int | Keep | None = KEEP,
        acls: Iterable[str] | Keep = KEEP,
        whitelist_ips: Iterable[str] | Keep = KEEP,
        readonly: bool | Keep = KEEP,
        actor: Identity | None = None,
    ) -> TokenRecord:
        """Change what is given and keep the rest, like WHM's ``api_token_update``.

        ``expires_at=None`` means never, ``whitelist_ips=()`` any address. At least one
        field must be given and differ from the token's current value. An ``actor`` may
        rename any of its owner's tokens, but change limits only of a token within its own.
        """
        realm = Realm.parse(realm)
        now = self.clock()
        caller = self._caller(actor, realm, user, now)
        record = _changeable(self._require(realm, user, name))
        given = (expires_at, acls, whitelist_ips, readonly)
        limits = [not isinstance(value, Keep) for value in given]
        if new_name is None and not any(limits):
            raise ValidationError(
                "nothing to update: give a new name, ACLs, IP addresses, an expiry or read-only"
            )
        owner = self._owner(realm, user)
        if owner is None:
            raise ValidationError(f"unknown {realm.value} user {user!r}")
        if caller is not None and any(limits):
            caller.check_may_edit(record, owner)
        changes: dict[str, object] = {}
        if new_name is not None:
            changes["name"] = validate_name(new_name)
        if not isinstance(acls, Keep):
            changes["acls"] = acl_set = normalize_acls(strings(acls, "acls"), self.acl_vocabulary)
            check_owner_acls(owner, acl_set, user)
        if not isinstance(whitelist_ips, Keep):
            changes["whitelist_ips"] = parse_allow_list(strings(whitelist_ips, "ips"))
        if not isinstance(expires_at, Keep):
            changes["expires_at"] = validate_expiry(expires_at, now)
        if not isinstance(readonly, Keep):
            changes["readonly"] = bool(readonly)
        changes = {k: v for k, v in changes.items() if getattr(record, k) != v}
        if not changes:
            raise ValidationError(f"nothing to change: token {name!r} already has these values")
        updated = _old_secret_within_life(record.replace(**changes))
        if caller is not None and any(limits):  # the token was within them: is it still?
            caller.check_token(updated, owner)
        if "name" in changes and self.store.find(realm, user, str(changes["name"])) is not None:
            raise DuplicateTokenError(
                f"{user} already has a {realm.value} token named {changes['name']!r}"
            )
        self.store.save(updated)
        kind = "token.rename" if set(changes) == {"name"} else "token.update"
        self.trail.token(kind, updated, actor, describe_changes(record, updated))
        return updated

    def rename(
        self,
        user: str,
        name: str,
        new_name: str,
        *,
        realm: Realm | str = Realm.CPANEL,
        actor: Identity | None = None,
    ) -> TokenRecord:
        if new_name == name:
            raise ValidationError("the new name must differ from the current one")
        return self.update(user, name, realm=realm, new_name=new_name, actor=actor)

    # -- revoking -------------------------------------------------------------------------

    def revoke(
        self,
        user: str,
        names: Iterable[str],
        *,
        realm: Realm | str = Realm.CPANEL,
        actor: Identity | None = None,
    ) -> builtins.list[TokenRecord]:
        """Idempotent, like ``api_token_revoke``: unknown names are no error. Returns the
        records that were revoked."""
        realm = Realm.parse(realm)
        wanted = dict.fromkeys(strings(names, "names"))
        if not wanted:
            raise ValidationError("no token names given")
        self._caller(actor, realm, user, self.clock())
        found = [r for n in wanted if (r := self.store.find(realm, user, n)) is not None]
        return self._delete(found, "token.revoke", actor, "revoked")

    def revoke_all(
        self, user: str, *, realm: Realm | str = Realm.CPANEL, actor: Identity | None = None
    ) -> builtins.list[TokenRecord]:
        realm = Realm.parse(realm)
        self._caller(actor, realm, user, self.clock())
        found = self.store.list(realm=realm, user=user)
        return self._delete(found, "token.revoke", actor, "revoked with all of the user's")

    def purge_expired(
        self,
        older_than: float = 0,
        *,
        realm: Realm | str | None = None,
        user: str | None = None,
        actor: Identity | None = None,
    ) -> builtins.list[TokenRecord]:
        """Delete tokens expired for more than ``older_than`` seconds. Expired tokens stay
        listed until revoked or purged (as in cPanel): nothing else deletes them. A token
        revoked in place is no exception either way: purged once it has also expired that
        long, kept (so its owner sees why it stopped) until then."""
        if not math.isfinite(older_than):  # NaN compares false to everything: purges nothing
            raise ValidationError(f"older_than must be a number of seconds, not {older_than!r}")
        if older_than < 0:
            raise ValidationError("older_than must not be negative")
        now = self.clock()
        parsed = None if realm is None else Realm.parse(realm)
        if actor is not None:  # a token purges only its own owner's tokens
            parsed, user = parsed or actor.realm, user or actor.user
            self._caller(actor, parsed, user, now)
        cutoff = int(now) - older_than
        found = [
            r
            for r in self.store.list(realm=parsed, user=user)
            if r.expires_at is not None and r.expires_at < cutoff
        ]
        return self._delete(found, "token.purge", actor, "expired and purged")

    def find_by_secret(self, secret: str) -> builtins.list[TokenRecord]:
        """The tokens ``secret`` is the current or previous (rotated) secret of, in each realm
        it may open (``core.formats.realms_of``: a leak report does not say which)."""
        found = (self.store.get(lookup_digest(realm, secret)) for realm in realms_of(secret))
        return [record for record in found if record is not None]

    def revoke_leaked(self, records: Iterable[TokenRecord], *, source: str) -> int:
        """Revoke tokens reported leaked, keeping each record, marked, so its owner sees why
        it stopped working (revoking by name deletes it instead). ``source`` says who
        reported it (``"scan"``, ``"revoke endpoint 203.0.113.7"``) in the audit event.
        Records already revoked, or gone, are skipped. Returns how many were marked."""
        marked = 0
        for given in records:
            # The record as it is now, so a rename or an edit made since is not undone.
            current = self.store.get(given.digest) or self.store.find(
                given.realm, given.user, given.name
            )
            if current is None or current.id != given.id or current.revoked:
                continue
            revoked = current.replace(
                revoked_at=int(self.clock()), revoked_reason=self.REVOKED_LEAKED
            )
            try:
                self.store.save(revoked)
            except TokenNotFoundError:
                continue  # deleted meanwhile: nothing left to revoke
            detail = f"{self.REVOKED_LEAKED} by {source}"
            self.trail.token("token.revoked_leaked", revoked, None, detail)
            marked += 1
        return marked

    # -- reading --------------------------------------------------------------------------

    def list_tokens(
        self,
        *,
        user: str | None = None,
        realm: Realm | str | None = None,
        search: str | None = None,
        actor: Identity | None = None,
    ) -> builtins.list[TokenView]:
        """Tokens sorted by realm, user and name; ``search`` matches names, any case."""
        now = self.clock()
        parsed = None if realm is None else Realm.parse(realm)
        if actor is not None:  # a token sees only its own owner's tokens
            parsed, user = parsed or actor.realm, user or actor.user
            self._caller(actor, parsed, user, now)
        needle = (search or "").casefold()
        found = self.store.list(realm=parsed, user=user)
        return self._views([r for r in found if needle in r.name.casefold()], now)

    def show(
        self,
        user: str,
        name: str,
        *,
        realm: Realm | str = Realm.CPANEL,
        actor: Identity | None = None,
    ) -> TokenView:
        realm = Realm.parse(realm)
        now = self.clock()
        self._caller(actor, realm, user, now)
        return self._views([self._require(realm, user, name)], now)[0]

    def view(self, record: TokenRecord) -> TokenView:
        """The read model of a record this service handed back (``create``, ``rotate``,
        ``update``), built as ``list_tokens`` and ``show`` build theirs: with the request
        counts, so that every answer about a token reports its use the same way."""
        return self._views([record], self.clock())[0]

    def show_by_secret(
        self, realm: Realm | str, secret: str, *, actor: Identity | None = None
    ) -> TokenView:
        """The token whose *current* secret is ``secret`` (WHM's ``api_token_get_details``),
        among the actor's owner's tokens when an actor asks; ``TokenNotFoundError`` else."""
        realm = Realm.parse(realm)
        digest = lookup_digest(realm, secret)
        record = self.store.get(digest)
        if (
            record is None
            or record.digest != digest
            or (actor is not None and (record.realm, record.user) != (actor.realm, actor.user))
        ):
            raise TokenNotFoundError("no token has that secret")
        return self.show(record.user, record.name, realm=realm, actor=actor)

    # -- accounts (called by the hosting system, not by tokens) ---------------------------

    def rename_user(self, realm: Realm | str, old: str, new: str) -> int:
        """The account was renamed: its tokens move along and keep working (clients then
        send the new name). Returns how many moved."""
        realm = Realm.parse(realm)
        validate_user(old)
        validate_user(new)
        if old == new:
            raise ValidationError("the new user name must differ from the current one")
        if self.store.list(realm=realm, user=new):
            raise ValidationError(f"{realm.value} user {new!r} already has tokens")
        moved = self.store.rename_user(realm, old, new)
        if moved:
            self.trail.user("user.rename", realm, new, f"from {old!r}; {moved} token(s)")
        return moved

    def delete_user(self, realm: Realm | str, user: str) -> builtins.list[TokenRecord]:
        """The account is gone: every token it had is revoked."""
        realm = Realm.parse(realm)
        found = self.store.list(realm=realm, user=user)
        self.store.delete_user(realm, user)
        for record in found:
            self.trail.token("token.revoke", record, None, "owner deleted")
        self.trail.user("user.delete", realm, user, f"{len(found)} token(s) revoked")
        return found

    # -- plumbing -------------------------------------------------------------------------

    def _views(self, records: Sequence[TokenRecord], now: float) -> builtins.list[TokenView]:
        """Read models with the last week's request counts (one store read for them all)."""
        today = day_of(now)
        ids = [record.id for record in records]
        counts = self.store.usage_counts(ids, since_day=today - 6) if ids else {}
        return [TokenView.from_record(r, now, counts.get(r.id, {})) for r in records]

    def _require(self, realm: Realm, user: str, name: str) -> TokenRecord:
        record = self.store.find(realm, user, name)
        if record is None:
            raise TokenNotFoundError(f"{user} has no {realm.value} token named {name!r}")
        return record

    def _owner(self, realm: Realm, user: str) -> Owner | None:
        return UNRESTRICTED if self.directory is None else self.directory.owner(realm, user)

    def _caller(
        self, actor: Identity | None, realm: Realm, user: str, now: float
    ) -> CallerLimits | None:
        if actor is None:
            return None
        name = label(actor)
        if (actor.realm, actor.user) != (realm, user):
            raise ValidationError(f"the calling token ({name}) can only manage its own tokens")
        record = self.store.find(actor.realm, actor.user, actor.token_name)
        return caller_limits(actor, record, self._owner(realm, user), name, now)

    def _delete(
        self, found: builtins.list[TokenRecord], kind: str, actor: Identity | None, detail: str
    ) -> builtins.list[TokenRecord]:
        if found:
            self.store.delete([record.id for record in found])
        for record in found:
            self.trail.token(kind, record, actor, detail)
        return found


def _changeable(record: TokenRecord) -> TokenRecord:
    """A token revoked in place stays as it was revoked: editing or rotating it would make a
    leaked token look cared for, or hand out a new secret under a revoked name."""
    if record.revoked:
        reason = f" ({record.revoked_reason})" if record.revoked_reason else ""
        raise ValidationError(
            f"token {record.name!r} was revoked{reason} and cannot be changed: delete it "
            "(revoke it by name) and create a new one"
        )
    return record


def _old_secret_within_life(record: TokenRecord) -> TokenRecord:
    """A rotated-out secret never outlives its token: an expiry brought forward cuts the
    grace period with it, so extending the expiry again later cannot revive an old secret
    (``management.rules.secret_end``)."""
    until = secret_end(record.previous_until, record.expires_at)
    return record if until == record.previous_until else record.replace(previous_until=until)
