"""WHM API 1 ``api_token_*`` functions through real HTTP, with the ``metadata`` envelope and
cPanel's parameter quirks (``acl-N``, ``whitelist_ip-N``, ``whitelist_ip=any``,
``token_name-N``, ``expires_at=0``)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from tests.api.conftest import LiveServer
from tokenward import Realm
from tokenward.testing import MintedToken


@pytest.fixture
def root(live: LiveServer) -> MintedToken:
    return live.mint(f"reseller-{uuid.uuid4().hex[:10]}", "root", realm="whm", acls=["all"])


def whm(live: LiveServer, token: MintedToken, fn: str, params: Any = None) -> dict[str, Any]:
    with live.client(token) as client:
        response = client.post(f"/json-api/{fn}", params={"api.version": "1"}, data=params or {})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    assert result["metadata"]["command"] == fn
    assert result["metadata"]["version"] == 1
    return result


def test_create_with_indexed_acls_and_addresses(live: LiveServer, root: MintedToken) -> None:
    params = {
        "token_name": "dns",
        "acl-0": "edit-dns",
        "acl-1": "list-accts",
        "whitelist_ip-0": "192.0.2.0/24",
        "whitelist_ip-1": "2001:db8::/64",
    }
    result = whm(live, root, "api_token_create", params)
    assert result["metadata"]["result"] == 1
    data = result["data"]
    assert data["acls"] == ["edit-dns", "list-accts"]
    assert data["whitelist_ips"] == ["192.0.2.0/24", "2001:0db8:0000:0000:0000:0000:0000:0000/64"]
    assert len(data["token"]) == 32
    assert set(data) >= {"name", "token", "create_time", "expires_at"}


def test_create_without_acl_gets_all_of_the_callers_privileges(live: LiveServer) -> None:
    caller = live.mint(
        f"r-{uuid.uuid4().hex[:8]}", "mgr", realm="whm", acls=["manage-api-tokens", "edit-dns"]
    )
    data = whm(live, caller, "api_token_create", {"token_name": "child"})["data"]
    assert data["acls"] == ["edit-dns", "manage-api-tokens"]


def test_list_shows_the_effective_acl_map(live: LiveServer, root: MintedToken) -> None:
    whm(live, root, "api_token_create", {"token_name": "dns", "acl": "edit-dns"})
    tokens = whm(live, root, "api_token_list")["data"]["tokens"]
    assert set(tokens) == {"root", "dns"}
    acls = tokens["dns"]["acls"]
    assert acls["edit-dns"] == 1
    assert acls["passwd"] == 0
    assert acls["all"] == 0
    assert all(value == 1 for value in tokens["root"]["acls"].values())
    assert {"create_time", "expires_at", "whitelist_ips", "last_used_at"} <= set(tokens["dns"])


def test_update_keeps_what_is_left_out_and_any_clears_the_list(
    live: LiveServer, root: MintedToken
) -> None:
    whm(
        live,
        root,
        "api_token_create",
        {
            "token_name": "edit-me",
            "acl": "edit-dns",
            "whitelist_ip": "192.0.2.1",
            "expires_at": str(int(time.time()) + 7200),
        },
    )
    renamed = whm(live, root, "api_token_update", {"token_name": "edit-me", "new_name": "edited"})
    assert renamed["data"]["name"] == "edited"
    assert renamed["data"]["acls"] == ["edit-dns"]
    assert renamed["data"]["whitelist_ips"] == ["192.0.2.1"]
    cleared = whm(
        live,
        root,
        "api_token_update",
        {"token_name": "edited", "whitelist_ip": "any", "expires_at": "0"},
    )
    assert cleared["data"]["whitelist_ips"] is None
    assert cleared["data"]["expires_at"] is None
    unchanged = whm(live, root, "api_token_update", {"token_name": "edited"})
    assert unchanged["metadata"]["result"] == 1
    assert unchanged["data"]["acls"] == ["edit-dns"]


def test_revoke_several_ignoring_unknown_names(live: LiveServer, root: MintedToken) -> None:
    user = root.created.record.user
    for name in ("a", "b"):
        live.mint(user, name, realm="whm")
    result = whm(
        live,
        root,
        "api_token_revoke",
        {"token_name-0": "a", "token_name-1": "b", "token_name-2": "ghost"},
    )
    assert result["metadata"]["result"] == 1
    assert live.store.find(Realm.WHM, user, "a") is None
    assert live.store.find(Realm.WHM, user, "b") is None


def test_get_details_by_plaintext_finds_only_the_callers_own_tokens(
    live: LiveServer, root: MintedToken
) -> None:
    mine = whm(live, root, "api_token_create", {"token_name": "mine"})["data"]["token"]
    details = whm(live, root, "api_token_get_details", {"token": mine})
    assert details["data"]["name"] == "mine"
    stranger = live.mint("someone-else", "theirs", realm="whm")
    refused = whm(live, root, "api_token_get_details", {"token": stranger.secret})
    assert refused["metadata"]["result"] == 0
    assert "data" not in refused


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({}, id="no-name"),
        pytest.param({"token_name": "x", "acl": "Not An ACL"}, id="bad-acl"),
        pytest.param({"token_name": "x", "whitelist_ip": "10.0.0.1/8"}, id="host-bits"),
        pytest.param({"token_name": "x", "expires_at": "100"}, id="past-expiry"),
        pytest.param({"token_name": "root"}, id="duplicate"),
    ],
)
def test_refusals_are_200_with_result_0_and_a_reason(
    live: LiveServer, root: MintedToken, params: dict[str, str]
) -> None:
    result = whm(live, root, "api_token_create", params)
    assert result["metadata"]["result"] == 0
    assert result["metadata"]["reason"]


def test_management_needs_manage_api_tokens_and_the_whm_realm(live: LiveServer) -> None:
    weak = live.mint("weak-root", "weak", realm="whm", acls=["edit-dns"])
    with live.client(weak) as client:
        assert client.get("/json-api/api_token_list").status_code == 403
    cpanel = live.mint("cp-user", "cp", acls=["all"])
    with live.client(cpanel) as client:
        assert client.get("/json-api/api_token_list").status_code == 401


def test_a_caller_cannot_widen_a_token_beyond_its_own_rights(live: LiveServer) -> None:
    fenced = live.mint(
        f"f-{uuid.uuid4().hex[:8]}",
        "mgr",
        realm="whm",
        acls=["manage-api-tokens"],
        whitelist_ips=["127.0.0.0/8"],
        expires_at=int(time.time()) + 3600,
    )
    for params in (
        {"token_name": "x", "acl": "passwd"},
        {"token_name": "x", "whitelist_ip": "0.0.0.0/0"},
        {"token_name": "x", "expires_at": "0"},
    ):
        assert whm(live, fenced, "api_token_create", params)["metadata"]["result"] == 0


def test_tokenward_extras(live: LiveServer, root: MintedToken) -> None:
    whm(live, root, "api_token_create", {"token_name": "spin"})
    rotated = whm(live, root, "api_token_rotate", {"token_name": "spin"})["data"]
    assert len(rotated["token"]) == 32
    assert whm(live, root, "api_token_purge_expired")["data"] == {"purged": []}
    gone = whm(live, root, "api_token_revoke_all")["data"]["revoked"]
    assert sorted(gone) == ["root", "spin"]


def test_unknown_function(live: LiveServer, root: MintedToken) -> None:
    with live.client(root) as client:
        response = client.get("/json-api/api_token_explode")
    assert response.status_code == 404
    assert response.json()["metadata"]["result"] == 0
