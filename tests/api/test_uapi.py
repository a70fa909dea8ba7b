"""UAPI ``Tokens`` functions through real HTTP, with cPanel's envelopes and quirks."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from tests.api.conftest import LiveServer
from tokenward import Realm
from tokenward.testing import MintedToken


@pytest.fixture
def admin(live: LiveServer) -> MintedToken:
    return live.mint(f"user-{uuid.uuid4().hex[:12]}", "admin", acls=["all"])


def call(live: LiveServer, token: MintedToken, fn: str, **params: Any) -> dict[str, Any]:
    with live.client(token) as client:
        response = client.post(f"/execute/Tokens/{fn}", data=params)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def test_create_full_access_returns_the_secret_once_and_it_works(
    live: LiveServer, admin: MintedToken
) -> None:
    result = call(live, admin, "create_full_access", name="deploy")
    assert result["status"] == 1
    assert result["errors"] is None
    assert set(result["data"]) >= {"token", "create_time"}
    secret = result["data"]["token"]
    user = admin.created.record.user
    with live.client() as client:
        listed = client.get(
            "/execute/Tokens/list", headers={"Authorization": f"cpanel {user}:{secret}"}
        )
    names = [t["name"] for t in listed.json()["data"]]
    assert names == ["admin", "deploy"]
    assert secret not in listed.text


def test_list_has_cpanels_fields_and_tokenwards_extras(
    live: LiveServer, admin: MintedToken
) -> None:
    live.mint(
        admin.created.record.user, "scoped", acls=["edit-dns"], expires_at=int(time.time()) + 3600
    )
    data = call(live, admin, "list")["data"]
    scoped = next(t for t in data if t["name"] == "scoped")
    assert scoped["has_full_access"] == 0
    assert scoped["features"] == ["edit-dns"]
    assert scoped["status"] == "expiring"
    assert {"create_time", "expires_at", "last_used_at", "last_used_ip", "whitelist_ips"} <= set(
        scoped
    )
    assert next(t for t in data if t["name"] == "admin")["has_full_access"] == 1


def test_rename_needs_a_different_name_and_keeps_the_token_working(
    live: LiveServer, admin: MintedToken
) -> None:
    victim = live.mint(admin.created.record.user, "old-name")
    assert call(live, admin, "rename", name="old-name", new_name="new-name")["data"] is None
    same = call(live, admin, "rename", name="new-name", new_name="new-name")
    assert same["status"] == 0
    assert same["errors"]
    with live.client(victim) as client:
        assert client.get("/execute/Tokens/list").status_code == 200


def test_revoke_stops_the_token_at_once(live: LiveServer, admin: MintedToken) -> None:
    victim = live.mint(admin.created.record.user, "victim")
    assert call(live, admin, "revoke", name="victim")["data"] == 1
    with live.client(victim) as client:
        assert client.get("/execute/Tokens/list").status_code == 401


@pytest.mark.parametrize(
    ("fn", "params", "fragment"),
    [
        pytest.param("create_full_access", {}, "name", id="create-without-name"),
        pytest.param("create_full_access", {"name": "bad name"}, "name", id="bad-name"),
        pytest.param("create_full_access", {"name": "x", "expires_at": "1"}, "future", id="past"),
        pytest.param(
            "create_full_access",
            {"name": "x", "expires_at": "soon"},
            "expires_at",
            id="not-a-number",
        ),
        pytest.param("rename", {"name": "ghost", "new_name": "x"}, "ghost", id="unknown-token"),
    ],
)
def test_logical_failures_are_200_with_status_0(
    live: LiveServer, admin: MintedToken, fn: str, params: dict[str, str], fragment: str
) -> None:
    result = call(live, admin, fn, **params)
    assert result["status"] == 0
    assert result["data"] is None
    assert fragment in " ".join(result["errors"])


def test_expires_at_zero_means_never(live: LiveServer, admin: MintedToken) -> None:
    call(live, admin, "create_full_access", name="forever", expires_at="0")
    data = call(live, admin, "list")["data"]
    assert next(t for t in data if t["name"] == "forever")["expires_at"] is None


def test_parameters_come_from_query_string_form_or_json(
    live: LiveServer, admin: MintedToken
) -> None:
    with live.client(admin) as client:
        by_query = client.get("/execute/Tokens/create_full_access", params={"name": "q"})
        by_json = client.post("/execute/Tokens/create_full_access", json={"name": "j"})
    assert by_query.json()["status"] == by_json.json()["status"] == 1


def test_a_scoped_token_cannot_mint_a_full_access_token(live: LiveServer) -> None:
    scoped = live.mint("scoped-owner", "mgr", acls=["manage-api-tokens"])
    result = call(live, scoped, "create_full_access", name="escalate")
    assert result["status"] == 0
    assert live.store.find(Realm.CPANEL, "scoped-owner", "escalate") is None


def test_bad_credentials_are_401_and_missing_acl_is_403(live: LiveServer) -> None:
    with live.client() as client:
        assert client.get("/execute/Tokens/list").status_code == 401
    weak = live.mint("weak", "weak", acls=["edit-dns"])
    with live.client(weak) as client:
        assert client.get("/execute/Tokens/list").status_code == 403


def test_a_whm_token_is_refused_by_uapi(live: LiveServer) -> None:
    whm = live.mint("root", "whm-admin", realm="whm")
    with live.client(whm) as client:
        assert client.get("/execute/Tokens/list").status_code == 401


def test_unknown_function_is_404_in_the_envelope(live: LiveServer, admin: MintedToken) -> None:
    with live.client(admin) as client:
        response = client.get("/execute/Tokens/explode")
    assert response.status_code == 404
    assert response.json()["status"] == 0


def test_tokenward_extras_rotate_revoke_all_and_purge(live: LiveServer, admin: MintedToken) -> None:
    user = admin.created.record.user
    live.mint(user, "spare")
    rotated = call(live, admin, "rotate", name="spare", grace="60")["data"]
    assert rotated["previous_secret_until"] is not None
    assert len(rotated["token"]) == 32
    assert call(live, admin, "purge_expired")["data"] == {"purged": []}
    gone = call(live, admin, "revoke_all")["data"]["revoked"]
    assert sorted(gone) == ["admin", "spare"]
