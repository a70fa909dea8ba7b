"""UAPI ``Tokens::list`` and WHM ``api_token_list`` / ``api_token_get_details`` show a token
revoked as leaked and the request counts as tokenward extension fields, next to cPanel's
own fields, which keep their meaning."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tokenward.stores.base import Usage, day_of
from tokenward.testing import MintedToken

from .harness import InProcessApi

EXTENSIONS = {"revoked_at", "revoked_reason", "requests_today", "requests_last_7_days"}


@pytest.fixture
def api() -> Iterator[InProcessApi]:
    harness = InProcessApi()
    yield harness
    harness.close()


def leak_and_use(api: InProcessApi, leaked: MintedToken, used: MintedToken) -> None:
    service = api.service
    assert service.revoke_leaked(service.find_by_secret(leaked.secret), source="scan") == 1
    today = day_of(api.clock())
    api.store.record_usage(
        [Usage(used.created.record.id, int(api.clock()), None, ((today - 1, 2), (today, 5)))]
    )


def test_uapi_list_reports_the_revocation_and_the_counts(api: InProcessApi) -> None:
    admin = api.mint("alice", "admin", acls=["all"])
    leaked = api.mint("alice", "leaked")
    leak_and_use(api, leaked, admin)
    response = api.post(admin, "/execute/Tokens/list")
    assert response.status_code == 200
    tokens: dict[str, dict[str, Any]] = {t["name"]: t for t in response.json()["data"]}
    assert {k: tokens["leaked"][k] for k in ("status", "revoked_at", "revoked_reason")} == {
        "status": "revoked",
        "revoked_at": int(api.clock()),
        "revoked_reason": "reported leaked",
    }
    assert (tokens["admin"]["requests_today"], tokens["admin"]["requests_last_7_days"]) == (5, 7)
    assert tokens["admin"]["revoked_at"] is None
    # cPanel's fields are all there, meaning what cPanel says they mean.
    assert tokens["leaked"]["has_full_access"] == 1
    assert tokens["leaked"]["features"] == []
    assert leaked.secret not in response.text


def test_whm_list_and_details_report_the_revocation_and_the_counts(api: InProcessApi) -> None:
    root = api.mint("root", "admin", realm="whm", acls=["all"])
    leaked = api.mint("root", "leaked", realm="whm", acls=["list-accts"])
    leak_and_use(api, leaked, root)
    listed = api.post(root, "/json-api/api_token_list", data={"api.version": "1"}).json()
    tokens = listed["data"]["tokens"]
    assert set(tokens["leaked"]) >= EXTENSIONS
    assert (tokens["leaked"]["status"], tokens["leaked"]["revoked_reason"]) == (
        "revoked",
        "reported leaked",
    )
    assert tokens["leaked"]["acls"]["list-accts"] == 1  # cPanel's ACL map, unchanged
    assert tokens["admin"]["requests_today"] == 5
    details = api.post(root, "/json-api/api_token_get_details", data={"token": root.secret}).json()
    assert details["data"]["requests_last_7_days"] == 7
    assert details["data"]["revoked_at"] is None
    assert leaked.secret not in str(listed)


def test_a_revoked_token_cannot_be_renamed_or_rotated_through_the_api(api: InProcessApi) -> None:
    admin = api.mint("alice", "admin", acls=["all"])
    leaked = api.mint("alice", "leaked")
    leak_and_use(api, leaked, admin)
    for fn, params in (
        ("rename", {"name": "leaked", "new_name": "x"}),
        ("rotate", {"name": "leaked"}),
    ):
        answer = api.post(admin, f"/execute/Tokens/{fn}", data=params).json()
        assert answer["status"] == 0
        assert "delete it" in answer["errors"][0]
    assert api.post(admin, "/execute/Tokens/revoke", data={"name": "leaked"}).json()["data"] == 1
    assert api.service.find_by_secret(leaked.secret) == []


def test_whm_update_answers_with_the_counts_list_reports(api: InProcessApi) -> None:
    """``api_token_update``'s token object is ``api_token_get_details``'s, counts included:
    not nulls for a token that has been used."""
    root = api.mint("root", "admin", realm="whm", acls=["all"])
    leak_and_use(api, api.mint("root", "spare", realm="whm"), root)
    answer = api.post(
        root, "/json-api/api_token_update", data={"token_name": "admin", "new_name": "boss"}
    ).json()
    assert answer["metadata"]["result"] == 1, answer
    listed = api.post(root, "/json-api/api_token_list").json()["data"]["tokens"]["boss"]
    assert (answer["data"]["requests_today"], answer["data"]["requests_last_7_days"]) == (5, 7)
    assert {k: answer["data"][k] for k in EXTENSIONS} == {k: listed[k] for k in EXTENSIONS}
