"""One behaviour table, run through both raw middlewares and every framework adapter."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.adapters.targets import CLIENT_IP, TARGETS, Target
from tokenward import TokenStore, open_store
from tokenward.core.responses import Responses
from tokenward.testing import FrozenClock, TokenFactory

Case = Callable[[TokenFactory, TokenStore, Target], tuple[str, dict[str, str]]]


def valid(factory: TokenFactory, store: TokenStore, target: Target) -> tuple[str, dict[str, str]]:
    return "/whoami", factory.mint("alice", acls=["edit-dns"]).headers


def missing(factory: TokenFactory, store: TokenStore, target: Target) -> tuple[str, dict[str, str]]:
    return "/whoami", {}


def malformed(
    factory: TokenFactory, store: TokenStore, target: Target
) -> tuple[str, dict[str, str]]:
    return "/whoami", {"Authorization": "cpanel alice"}


def unknown(factory: TokenFactory, store: TokenStore, target: Target) -> tuple[str, dict[str, str]]:
    return "/whoami", {"Authorization": "cpanel alice:" + "Q" * 32}


def expired(factory: TokenFactory, store: TokenStore, target: Target) -> tuple[str, dict[str, str]]:
    factory.clock.set(time.time() - 3600)
    return "/whoami", factory.mint(expires_in=60).headers


def revoked(factory: TokenFactory, store: TokenStore, target: Target) -> tuple[str, dict[str, str]]:
    token = factory.mint()
    assert target.get("/whoami", token.headers)[0] == 200
    store.delete([token.created.record.id])
    return "/whoami", token.headers


def wrong_realm(
    factory: TokenFactory, store: TokenStore, target: Target
) -> tuple[str, dict[str, str]]:
    token = factory.mint("root", realm="whm")
    return "/whoami", {"Authorization": f"cpanel root:{token.secret}"}


def wrong_address(
    factory: TokenFactory, store: TokenStore, target: Target
) -> tuple[str, dict[str, str]]:
    return "/whoami", factory.mint(whitelist_ips=["198.51.100.0/24"]).headers


def missing_acl(
    factory: TokenFactory, store: TokenStore, target: Target
) -> tuple[str, dict[str, str]]:
    return "/dns/zones", factory.mint(acls=["list-accts"]).headers


def granted_acl(
    factory: TokenFactory, store: TokenStore, target: Target
) -> tuple[str, dict[str, str]]:
    return "/dns/zones", factory.mint(acls=["edit-dns"]).headers


def full_access(
    factory: TokenFactory, store: TokenStore, target: Target
) -> tuple[str, dict[str, str]]:
    return "/dns/zones", factory.mint(acls=["all"]).headers


def public(factory: TokenFactory, store: TokenStore, target: Target) -> tuple[str, dict[str, str]]:
    return "/health", {}


TABLE = [
    pytest.param(valid, 200, id="valid"),
    pytest.param(missing, 401, id="missing"),
    pytest.param(malformed, 401, id="malformed"),
    pytest.param(unknown, 401, id="unknown"),
    pytest.param(expired, 401, id="expired"),
    pytest.param(revoked, 401, id="revoked"),
    pytest.param(wrong_realm, 401, id="wrong-realm"),
    pytest.param(wrong_address, 401, id="wrong-address"),
    pytest.param(missing_acl, 403, id="missing-acl"),
    pytest.param(granted_acl, 200, id="granted-acl"),
    pytest.param(full_access, 200, id="all-grants-everything"),
    pytest.param(public, 200, id="public"),
]


@pytest.fixture(params=sorted(TARGETS))
def setup(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Target, TokenFactory, TokenStore]:
    url = f"sqlite:///{tmp_path / 'adapter.db'}"
    monkeypatch.setenv("TOKENWARD_STORE", url)
    target = TARGETS[request.param]()
    store = open_store(url)
    return target, TokenFactory(store, FrozenClock(time.time())), store


@pytest.mark.parametrize(("case", "status"), TABLE)
def test_behaviour(setup: tuple[Target, TokenFactory, TokenStore], case: Case, status: int) -> None:
    target, factory, store = setup
    path, headers = case(factory, store, target)
    got, body = target.get(path, headers)
    assert got == status, body
    if case is valid:
        assert b'"user": "alice"' in body.replace(b'":"', b'": "')


def test_every_401_is_byte_identical_within_each_integration(
    setup: tuple[Target, TokenFactory, TokenStore],
) -> None:
    target, factory, store = setup
    bodies = set()
    for case in (missing, malformed, unknown, expired, wrong_realm, wrong_address):
        path, headers = case(factory, store, target)
        status, body = target.get(path, headers)
        assert status == 401
        bodies.add(body)
    assert len(bodies) == 1


def test_every_403_is_tokenwards_own_json_body_in_every_integration(
    setup: tuple[Target, TokenFactory, TokenStore],
) -> None:
    """A client handles one 403 shape whatever framework the app runs on."""
    target, factory, store = setup
    path, headers = missing_acl(factory, store, target)
    status, body = target.get(path, headers)
    assert status == 403
    assert body == Responses().forbidden.body
    assert json.loads(body) == {"error": "forbidden"}


def test_client_address_is_what_the_allow_list_sees(
    setup: tuple[Target, TokenFactory, TokenStore],
) -> None:
    target, factory, _ = setup
    assert target.get("/whoami", factory.mint(whitelist_ips=[CLIENT_IP]).headers)[0] == 200
