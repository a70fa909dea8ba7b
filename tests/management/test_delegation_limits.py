"""Delegation, continued: only a token that carries ``all`` grants ``all``, and a narrow token
may rename or revoke its owner's broader tokens but not rewrite their limits."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from tests.web.conftest import SignedIn, web_server
from tokenward import Owner, Realm, TokenService, ValidationError
from tokenward.core.tokens import Identity, TokenRecord
from tokenward.stores.base import TokenStore
from tokenward.testing import FAST_ARGON2, FrozenClock

IdentityOf = Callable[[TokenRecord], Identity]
DAY = 86_400
NOW = 1_800_000_000  # FrozenClock's start
MANAGER_ACLS = ["manage-api-tokens", "edit-dns"]


class Directory:
    def __init__(self, **owners: Owner) -> None:
        self.owners = owners

    def owner(self, realm: Realm, user: str) -> Owner | None:
        return self.owners.get(user)


def snapshot(store: TokenStore) -> list[object]:
    return [dataclasses.astuple(record) for record in store.list()]


# -- granting all -------------------------------------------------------------------------


@pytest.fixture
def directory() -> Directory:
    """alice may do exactly what her manager token holds, so far."""
    return Directory(alice=Owner(acls=frozenset(MANAGER_ACLS)))


@pytest.fixture
def restricted(backend: TokenStore, clock: FrozenClock, directory: Directory) -> TokenService:
    return TokenService(backend, argon2=FAST_ARGON2, clock=clock, directory=directory)


@pytest.fixture
def manager(restricted: TokenService, identity_of: IdentityOf) -> Identity:
    """A token with every ACL its owner has, listed one by one: not ``all``."""
    return identity_of(restricted.create("alice", "manager", acls=MANAGER_ACLS).record)


Attempt = Callable[[TokenService, Identity], object]


@pytest.mark.parametrize(
    "attempt",
    [
        pytest.param(
            lambda s, me: s.create("alice", "new", acls=["all"], actor=me), id="create-with-all"
        ),
        pytest.param(
            lambda s, me: s.create("alice", "new", acls=["all", "edit-dns"], actor=me),
            id="create-with-all-and-more",
        ),
        pytest.param(
            lambda s, me: s.update("alice", "child", acls=["all"], actor=me), id="update-to-all"
        ),
        pytest.param(
            lambda s, me: s.rotate("alice", "full", actor=me), id="rotate-a-token-with-all"
        ),
    ],
)
def test_a_caller_without_all_cannot_grant_all_even_when_it_holds_all_its_owner_has(
    restricted: TokenService, backend: TokenStore, manager: Identity, attempt: Attempt
) -> None:
    restricted.create("alice", "child", acls=["edit-dns"])
    restricted.create("alice", "full", acls=["all"])
    before = snapshot(backend)
    with pytest.raises(ValidationError, match=r"cannot grant ACL\(s\) it does not hold: all"):
        attempt(restricted, manager)
    assert snapshot(backend) == before


def test_a_token_minted_without_acls_does_not_grow_with_its_owner(
    restricted: TokenService, manager: Identity, directory: Directory
) -> None:
    child = restricted.create("alice", "child", actor=manager).record
    assert child.acls == frozenset(MANAGER_ACLS)
    directory.owners["alice"] = Owner(acls=frozenset({*MANAGER_ACLS, "passwd"}))
    assert restricted.show("alice", "child").acls == frozenset(MANAGER_ACLS)


# -- editing a broader token --------------------------------------------------------------


@pytest.fixture
def narrow(service: TokenService, identity_of: IdentityOf) -> Identity:
    """Two ACLs, one IPv4 and one IPv6 network, expiring in a week."""
    created = service.create(
        "alice",
        "narrow",
        acls=MANAGER_ACLS,
        whitelist_ips=["192.0.2.0/24", "2001:db8::/32"],
        expires_at=NOW + 7 * DAY,
    )
    return identity_of(created.record)


WITHIN: dict[str, Any] = {
    "acls": ["edit-dns"],
    "whitelist_ips": ["192.0.2.1"],
    "expires_at": NOW + DAY,
}
BROADER = [
    pytest.param({"acls": ["all"], "whitelist_ips": [], "expires_at": None}, id="admin"),
    pytest.param({**WITHIN, "acls": ["edit-dns", "passwd"]}, id="acl-beyond"),
    pytest.param({**WITHIN, "whitelist_ips": []}, id="any-address"),
    pytest.param({**WITHIN, "whitelist_ips": ["198.51.100.0/24"]}, id="other-network"),
    pytest.param({**WITHIN, "expires_at": None}, id="never-expires"),
    pytest.param({**WITHIN, "expires_at": NOW + 8 * DAY}, id="outlives-the-caller"),
]


@pytest.mark.parametrize("target", BROADER)
@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"acls": ["edit-dns"]}, id="narrow-acls"),
        pytest.param({"whitelist_ips": ["192.0.2.7"]}, id="narrow-addresses"),
        pytest.param({"expires_at": NOW + 60}, id="expire-soon"),
        pytest.param({"new_name": "renamed", "expires_at": NOW + 60}, id="rename-and-expire"),
    ],
)
def test_a_narrow_token_cannot_rewrite_the_limits_of_a_broader_token(
    service: TokenService,
    backend: TokenStore,
    narrow: Identity,
    target: dict[str, Any],
    change: dict[str, Any],
) -> None:
    service.create("alice", "broad", **target)
    before = snapshot(backend)
    with pytest.raises(ValidationError, match="may rename or revoke token 'broad' but not change"):
        service.update("alice", "broad", actor=narrow, **change)
    assert snapshot(backend) == before


@pytest.mark.parametrize("target", BROADER)
def test_a_narrow_token_may_still_rename_and_revoke_a_broader_token(
    service: TokenService, narrow: Identity, target: dict[str, Any]
) -> None:
    service.create("alice", "broad", **target)
    assert service.rename("alice", "broad", "renamed", actor=narrow).name == "renamed"
    assert [r.name for r in service.revoke("alice", ["renamed"], actor=narrow)] == ["renamed"]


def test_a_narrow_token_may_rewrite_a_token_within_its_limits(
    service: TokenService, narrow: Identity
) -> None:
    service.create("alice", "child", **WITHIN)
    updated = service.update(
        "alice", "child", whitelist_ips=["192.0.2.8"], expires_at=NOW + 60, actor=narrow
    )
    assert (updated.whitelist_ips, updated.expires_at) == (("192.0.2.8",), NOW + 60)


# -- the same rule on the web page --------------------------------------------------------


def test_the_token_page_refuses_a_narrow_token_rewriting_a_broader_tokens_limits(
    clock: FrozenClock,
) -> None:
    with web_server(clock) as web:
        web.admin()  # "admin": all, any address, never expires
        client = SignedIn(web, web.mint("narrow", acls=MANAGER_ACLS))
        form = {"csrf": client.csrf, "token": "admin", "expiry": "keep"}

        narrowed = client.post("/edit", {**form, "name": "admin", "acl": ["edit-dns"]})
        renamed = client.post("/edit", {**form, "name": "old-admin", "acl": ["all"]})

        assert narrowed.status_code == 400
        assert "but not change its ACLs, allow-list or expiry" in narrowed.text
        assert renamed.status_code == 303
        assert web.service.show("alice", "old-admin").acls == frozenset({"all"})
