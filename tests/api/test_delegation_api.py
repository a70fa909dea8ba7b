"""Delegation through the HTTP API: a manager token that does not carry ``all`` cannot grant
it (even when it holds every ACL its owner has), and may rename a broader token but not
rewrite its limits. Refusals are cPanel's logical failures: HTTP 200, ``status``/``result`` 0."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tokenward import Owner, Realm
from tokenward.testing import MintedToken

from .harness import DAY, Directory, InProcessApi, snapshot

MANAGER_ACLS = ["manage-api-tokens", "edit-dns"]
GRANT_ALL = "cannot grant ACL(s) it does not hold: all"
REWRITE = "may rename or revoke token 'admin' but not change its ACLs, allow-list or expiry"


@pytest.fixture
def api() -> Iterator[InProcessApi]:
    """alice may do exactly what her managers hold; in each realm she has ``manager`` (those
    ACLs one by one, any address, a week), ``admin`` (all, anywhere, forever), ``full``
    (all, but within the manager's time) and ``child`` (within the manager)."""
    harness = InProcessApi(Directory(alice=Owner(acls=frozenset(MANAGER_ACLS))))
    now = int(harness.clock())
    within: dict[str, Any] = {"whitelist_ips": ["127.0.0.1"], "expires_at": now + DAY}
    for realm in Realm:
        harness.mint("alice", "admin", realm=realm, acls=["all"])
        harness.mint("alice", "full", realm=realm, acls=["all"], **within)
        harness.mint("alice", "child", realm=realm, acls=["edit-dns"], **within)
    yield harness
    harness.close()


def manager(api: InProcessApi, realm: Realm) -> MintedToken:
    return api.mint(
        "alice",
        "manager",
        realm=realm,
        acls=MANAGER_ACLS,
        expires_at=int(api.clock()) + 7 * DAY,
    )


TOMORROW = 1_800_000_000 + DAY  # FrozenClock's start, plus a day


@pytest.mark.parametrize(
    ("path", "params", "message"),
    [
        pytest.param(
            "/execute/Tokens/create_full_access",
            {"name": "new", "expires_at": str(TOMORROW)},
            GRANT_ALL,
            id="uapi-create-full",
        ),
        pytest.param("/execute/Tokens/rotate", {"name": "full"}, GRANT_ALL, id="uapi-rotate-all"),
        pytest.param(
            "/json-api/api_token_create",
            {"token_name": "new", "acl": "all", "expires_at": str(TOMORROW)},
            GRANT_ALL,
            id="whm-create-with-all",
        ),
        pytest.param(
            "/json-api/api_token_update",
            {"token_name": "child", "acl": "all"},
            GRANT_ALL,
            id="whm-update-to-all",
        ),
        pytest.param(
            "/json-api/api_token_rotate", {"token_name": "full"}, GRANT_ALL, id="whm-rotate-all"
        ),
        pytest.param(
            "/json-api/api_token_update",
            {"token_name": "admin", "acl": "edit-dns"},
            REWRITE,
            id="whm-narrow-admins-acls",
        ),
        pytest.param(
            "/json-api/api_token_update",
            {"token_name": "admin", "whitelist_ip-0": "127.0.0.1"},
            REWRITE,
            id="whm-narrow-admins-addresses",
        ),
        pytest.param(
            "/json-api/api_token_update",
            {"token_name": "admin", "expires_at": str(TOMORROW)},
            REWRITE,
            id="whm-expire-admin",
        ),
    ],
)
def test_the_api_refuses_a_manager_token_reaching_beyond_itself(
    api: InProcessApi, path: str, params: dict[str, str], message: str
) -> None:
    realm = Realm.CPANEL if path.startswith("/execute") else Realm.WHM
    caller = manager(api, realm)
    before = snapshot(api.service)

    response = api.post(caller, path, data=params)

    assert response.status_code == 200, response.text
    body = response.json()
    if realm is Realm.CPANEL:
        assert body["status"] == 0
        reason = body["errors"][0]
    else:
        assert body["metadata"]["result"] == 0
        reason = body["metadata"]["reason"]
    assert message in reason
    assert snapshot(api.service) == before


@pytest.mark.parametrize(
    ("path", "params"),
    [
        pytest.param(
            "/execute/Tokens/rename", {"name": "admin", "new_name": "old"}, id="uapi-rename"
        ),
        pytest.param(
            "/json-api/api_token_update",
            {"token_name": "admin", "new_name": "old"},
            id="whm-update-name-only",
        ),
    ],
)
def test_the_api_lets_a_manager_token_rename_a_broader_token(
    api: InProcessApi, path: str, params: dict[str, str]
) -> None:
    realm = Realm.CPANEL if path.startswith("/execute") else Realm.WHM
    response = api.post(manager(api, realm), path, data=params)
    body = response.json()
    assert body.get("status", body.get("metadata", {}).get("result")) == 1, response.text
    assert api.service.show("alice", "old", realm=realm).acls == frozenset({"all"})
