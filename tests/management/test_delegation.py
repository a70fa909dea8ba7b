"""Owners, accounts and delegation: a token never gets more than its owner has, and a token
acting on tokens never hands out more than it holds itself."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from tokenward import (
    FailureReason,
    Owner,
    Realm,
    RequestInfo,
    TokenService,
    ValidationError,
)
from tokenward.audit import AuditEvent
from tokenward.core.tokens import Identity, TokenRecord
from tokenward.guard import Guard
from tokenward.stores.base import TokenStore
from tokenward.testing import FAST_ARGON2, FrozenClock, fast_settings

Attempt = Callable[..., Any]
IdentityOf = Callable[[TokenRecord], Identity]
DAY = 86_400


class Directory:
    """A user directory the test edits as it goes."""

    def __init__(self, **owners: Owner) -> None:
        self.owners = owners

    def owner(self, realm: Realm, user: str) -> Owner | None:
        return self.owners.get(user)


def with_directory(backend: TokenStore, clock: FrozenClock, directory: Directory) -> TokenService:
    return TokenService(backend, argon2=FAST_ARGON2, clock=clock, directory=directory)


def snapshot(store: TokenStore) -> list[object]:
    return [dataclasses.astuple(record) for record in store.list()]


# -- owners -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("owner", "acls"),
    [
        pytest.param(None, ["all"], id="unknown-owner"),
        pytest.param(Owner(active=False), ["all"], id="suspended-owner"),
        pytest.param(Owner(acls=frozenset({"edit-dns"})), ["passwd"], id="acl-owner-lacks"),
        pytest.param(
            Owner(acls=frozenset({"edit-dns"})), ["edit-dns", "kill-acct"], id="one-acl-lacking"
        ),
    ],
)
def test_owner_standing_refuses_create(
    backend: TokenStore, clock: FrozenClock, owner: Owner | None, acls: list[str]
) -> None:
    directory = Directory() if owner is None else Directory(alice=owner)
    service = with_directory(backend, clock, directory)
    with pytest.raises(ValidationError):
        service.create("alice", "ci", acls=acls)
    assert backend.list() == []


@pytest.mark.parametrize(
    "owner_acls",
    [
        pytest.param(None, id="unrestricted-owner"),
        pytest.param(frozenset({"all"}), id="owner-with-all"),
        pytest.param(frozenset({"edit-dns"}), id="restricted-owner"),
    ],
)
def test_all_on_a_token_means_all_its_owner_has(
    backend: TokenStore, clock: FrozenClock, owner_acls: frozenset[str] | None
) -> None:
    service = with_directory(backend, clock, Directory(alice=Owner(acls=owner_acls)))
    assert service.create("alice", "ci", acls=["all"]).record.acls == frozenset({"all"})


def test_update_cannot_give_a_token_an_acl_its_owner_lacks(
    backend: TokenStore, clock: FrozenClock
) -> None:
    service = with_directory(backend, clock, Directory(alice=Owner(acls=frozenset({"edit-dns"}))))
    service.create("alice", "ci", acls=["edit-dns"])
    with pytest.raises(ValidationError, match="passwd"):
        service.update("alice", "ci", acls=["passwd"])
    assert service.show("alice", "ci").acls == frozenset({"edit-dns"})


def test_a_suspended_owner_cannot_rotate_but_can_still_revoke(
    backend: TokenStore, clock: FrozenClock
) -> None:
    directory = Directory(alice=Owner())
    service = with_directory(backend, clock, directory)
    service.create("alice", "ci")
    directory.owners["alice"] = Owner(active=False)
    with pytest.raises(ValidationError, match="suspended"):
        service.create("alice", "another")
    with pytest.raises(ValidationError, match="suspended"):
        service.rotate("alice", "ci")
    assert [r.name for r in service.revoke("alice", ["ci"])] == ["ci"]


# -- accounts -----------------------------------------------------------------------------------


def test_renamed_account_keeps_its_tokens_working_under_the_new_name(
    service: TokenService, attempt: Attempt
) -> None:
    created = service.create("alice", "ci")
    assert service.rename_user(Realm.CPANEL, "alice", "alicia") == 1
    assert attempt(f"cpanel alicia:{created.secret}").allowed
    assert attempt(f"cpanel alice:{created.secret}").reason is FailureReason.WRONG_USER


@pytest.mark.parametrize(
    ("old", "new"),
    [
        pytest.param("alice", "alice", id="same-name"),
        pytest.param("alice", "bob", id="new-name-has-tokens"),
        pytest.param("alice", "bad name", id="invalid-new-name"),
    ],
)
def test_refused_account_rename_moves_nothing(
    service: TokenService, backend: TokenStore, old: str, new: str
) -> None:
    service.create("alice", "ci")
    service.create("bob", "other")
    before = snapshot(backend)
    with pytest.raises(ValidationError):
        service.rename_user(Realm.CPANEL, old, new)
    assert snapshot(backend) == before


def test_deleting_an_account_revokes_all_its_tokens_in_that_realm(
    service: TokenService, attempt: Attempt, events: list[AuditEvent]
) -> None:
    ci = service.create("alice", "ci")
    service.create("alice", "backup")
    service.create("alice", "ci", realm="whm")
    revoked = service.delete_user(Realm.CPANEL, "alice")
    assert sorted(r.name for r in revoked) == ["backup", "ci"]
    assert attempt(f"cpanel alice:{ci.secret}").reason is FailureReason.UNKNOWN_TOKEN
    assert [(v.realm.value, v.name) for v in service.list_tokens()] == [("whm", "ci")]
    assert events[-1].kind == "user.delete"


# -- delegation ---------------------------------------------------------------------------------


@pytest.fixture
def caller(service: TokenService, clock: FrozenClock, identity_of: IdentityOf) -> Identity:
    """A narrow token that may manage tokens: two ACLs, one network, expiring in a week."""
    created = service.create(
        "alice",
        "manager",
        acls=["manage-api-tokens", "edit-dns"],
        whitelist_ips=["192.0.2.0/24", "2001:db8::/32"],
        expires_at=int(clock()) + 7 * DAY,
    )
    return identity_of(created.record)


def test_a_token_can_mint_a_narrower_token(
    service: TokenService, caller: Identity, clock: FrozenClock, events: list[AuditEvent]
) -> None:
    created = service.create(
        "alice",
        "child",
        acls=["edit-dns"],
        whitelist_ips=["192.0.2.128/25", "2001:db8:1::1"],
        expires_at=int(clock()) + DAY,
        actor=caller,
    )
    assert created.record.acls == frozenset({"edit-dns"})
    assert events[-1].actor == "cpanel:alice/manager"


def test_without_acls_a_minted_token_gets_the_callers(
    service: TokenService, caller: Identity, clock: FrozenClock
) -> None:
    created = service.create(
        "alice", "child", whitelist_ips=["192.0.2.1"], expires_at=int(clock()) + DAY, actor=caller
    )
    assert created.record.acls == frozenset({"manage-api-tokens", "edit-dns"})


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"acls": ["all"]}, id="all-beyond-own-acls"),
        pytest.param({"acls": ["edit-dns", "passwd"]}, id="acl-caller-lacks"),
        pytest.param({"whitelist_ips": []}, id="any-address"),
        pytest.param({"whitelist_ips": ["192.0.0.0/16"]}, id="broader-network"),
        pytest.param({"whitelist_ips": ["198.51.100.1"]}, id="other-network"),
        pytest.param({"whitelist_ips": ["::ffff:192.0.3.1"]}, id="mapped-outside"),
        pytest.param({"whitelist_ips": ["2001:db9::1"]}, id="ipv6-outside"),
        pytest.param({"expires_at": None}, id="never-expires"),
        pytest.param({"expires_at": 1_800_000_000 + 7 * DAY + 1}, id="expires-after-caller"),
        pytest.param({"user": "bob"}, id="another-users-token"),
        pytest.param({"realm": "whm"}, id="another-realm"),
    ],
)
def test_a_token_cannot_mint_beyond_itself(
    service: TokenService, backend: TokenStore, caller: Identity, overrides: dict[str, Any]
) -> None:
    arguments: dict[str, Any] = {
        "user": "alice",
        "acls": ["edit-dns"],
        "whitelist_ips": ["192.0.2.1"],
        "expires_at": 1_800_000_000 + DAY,
        **overrides,
    }
    before = snapshot(backend)
    with pytest.raises(ValidationError):
        service.create(arguments.pop("user"), "child", actor=caller, **arguments)
    assert snapshot(backend) == before


def test_a_token_may_mint_up_to_its_own_expiry_and_networks(
    service: TokenService, caller: Identity
) -> None:
    created = service.create(
        "alice",
        "twin",
        acls=["manage-api-tokens", "edit-dns"],
        whitelist_ips=["192.0.2.0/24", "::ffff:192.0.2.7"],
        expires_at=1_800_000_000 + 7 * DAY,
        actor=caller,
    )
    assert created.record.whitelist_ips == ("192.0.2.0/24", "192.0.2.7")


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"acls": ["all"]}, id="acls-to-all"),
        pytest.param({"whitelist_ips": []}, id="ips-to-any"),
        pytest.param({"expires_at": None}, id="expiry-to-never"),
    ],
)
def test_a_token_cannot_widen_a_token(
    service: TokenService, backend: TokenStore, caller: Identity, changes: dict[str, Any]
) -> None:
    service.create(
        "alice", "child", acls=["edit-dns"], whitelist_ips=["192.0.2.1"], expires_at=1_800_000_100
    )
    before = snapshot(backend)
    with pytest.raises(ValidationError, match="calling token"):
        service.update("alice", "child", actor=caller, **changes)
    assert snapshot(backend) == before


def test_a_token_cannot_rotate_a_broader_token_to_learn_its_secret(
    service: TokenService, caller: Identity
) -> None:
    service.create("alice", "admin")  # all, any address, never expires
    with pytest.raises(ValidationError, match="calling token"):
        service.rotate("alice", "admin", actor=caller)


def test_a_token_can_revoke_and_rename_but_only_its_own_users_tokens(
    service: TokenService, caller: Identity
) -> None:
    service.create("alice", "admin")
    service.create("bob", "admin")
    service.rename("alice", "admin", "old-admin", actor=caller)
    assert [r.name for r in service.revoke("alice", ["old-admin"], actor=caller)] == ["old-admin"]
    with pytest.raises(ValidationError, match="its own tokens"):
        service.revoke("bob", ["admin"], actor=caller)
    with pytest.raises(ValidationError, match="its own tokens"):
        service.list_tokens(user="bob", actor=caller)
    assert [v.name for v in service.list_tokens(actor=caller)] == ["manager"]


def test_a_revoked_or_expired_or_replaced_caller_can_do_nothing(
    service: TokenService, caller: Identity, clock: FrozenClock
) -> None:
    def mint() -> None:
        service.create(
            "alice",
            "child",
            acls=["edit-dns"],
            whitelist_ips=["192.0.2.1"],
            expires_at=int(clock()) + 60,
            actor=caller,
        )

    clock.advance(7 * DAY + 1)
    with pytest.raises(ValidationError, match="expired"):
        mint()
    clock.set(1_800_000_000)
    service.revoke("alice", ["manager"])
    with pytest.raises(ValidationError, match="no longer exists"):
        mint()
    service.create("alice", "manager")  # same name, another token: not the caller
    with pytest.raises(ValidationError, match="no longer exists"):
        mint()


def test_a_caller_holding_all_holds_what_its_owner_has_now(
    backend: TokenStore, clock: FrozenClock, identity_of: IdentityOf
) -> None:
    directory = Directory(alice=Owner())
    service = with_directory(backend, clock, directory)
    manager = service.create("alice", "manager", acls=["all"]).record
    directory.owners["alice"] = Owner(acls=frozenset({"edit-dns", "list-accts"}))
    child = service.create("alice", "child", actor=identity_of(manager))
    assert child.record.acls == frozenset({"edit-dns", "list-accts"})
    full = service.create("alice", "full", acls=["all"], actor=identity_of(manager))
    assert full.record.acls == frozenset({"all"})  # all the owner has: no more than the caller
    with pytest.raises(ValidationError):
        service.create("alice", "more", acls=["passwd"], actor=identity_of(manager))


def test_the_identity_from_a_real_request_works_as_an_actor(
    service: TokenService, backend: TokenStore, clock: FrozenClock
) -> None:
    manager = service.create("alice", "manager", acls=["manage-api-tokens"])
    auth = Guard(backend, fast_settings(), clock=clock, background_flush=False).authenticator
    decision = auth.authenticate(
        RequestInfo("POST", "/tokens", (f"cpanel alice:{manager.secret}",), "192.0.2.1")
    )
    auth.close()
    assert decision.identity is not None
    child = service.create("alice", "child", actor=decision.identity)
    assert child.record.acls == frozenset({"manage-api-tokens"})
