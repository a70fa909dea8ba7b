"""Input the APIs do not know is never silently accepted: a misspelt ACL is refused with the
likely fix; a parameter a function does not take is ignored with a warning, or refused
(nothing written) when ignoring it would leave the token less restricted than asked."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tokenward import Realm
from tokenward.core.acl import WHM_ACLS
from tokenward.testing import MintedToken

from .harness import DAY, InProcessApi, snapshot

LATER = str(1_800_000_000 + DAY)


@pytest.fixture
def api() -> Iterator[InProcessApi]:
    harness = InProcessApi()
    yield harness
    harness.close()


def caller(api: InProcessApi, path: str) -> MintedToken:
    if path.startswith("/json-api"):
        return api.mint("root", "admin", realm="whm", acls=["all"])
    return api.mint("alice", "admin", acls=["all"])


def outcome(body: dict[str, Any]) -> tuple[int, str, list[str]]:
    """(result, reason, warnings) from either envelope."""
    if "metadata" in body and "command" in body["metadata"]:
        meta = body["metadata"]
        return meta["result"], meta["reason"], meta.get("output", {}).get("warnings", [])
    return body["status"], " ".join(body["errors"] or ()), body["warnings"] or []


CREATE_FULL = "/execute/Tokens/create_full_access"
WHM_CREATE = "/json-api/api_token_create"
WHM_UPDATE = "/json-api/api_token_update"


@pytest.mark.parametrize(
    ("path", "params", "reason"),
    [
        pytest.param(
            CREATE_FULL, {"name": "x", "acl": "edit-dns"}, "takes no “acl”", id="full-acl"
        ),
        pytest.param(
            CREATE_FULL, {"name": "x", "acl-0": "edit-dns"}, "takes no “acl”", id="full-acl-0"
        ),
        pytest.param(
            CREATE_FULL,
            {"name": "x", "whitelist_ip-0": "192.0.2.1"},
            "takes no “whitelist_ip”",
            id="full-whitelist_ip-0",
        ),
        pytest.param(
            CREATE_FULL,
            {"name": "x", "whitelist_ip": "300.0.0.1"},
            "takes no “whitelist_ip”",
            id="full-invalid-address",
        ),
        pytest.param(
            CREATE_FULL,
            {"name": "x", "acls": "edit-dns"},
            "did you mean “acl”",
            id="full-acls-typo",
        ),
        pytest.param(
            CREATE_FULL,
            {"name": "x", "expires_in": "3600"},
            "did you mean “expires_at”",
            id="full-expires_in-would-mean-never",
        ),
        pytest.param(
            WHM_CREATE,
            {"token_name": "x", "acl": "edit-dsn"},
            "unknown ACL 'edit-dsn' (did you mean 'edit-dns'?)",
            id="whm-create-edit-dsn",
        ),
        pytest.param(
            WHM_CREATE,
            {"token_name": "x", "acl-0": "lsit-accts"},
            "unknown ACL 'lsit-accts' (did you mean 'list-accts'?)",
            id="whm-create-lsit-accts",
        ),
        pytest.param(
            WHM_CREATE,
            {"token_name": "x", "acl": "billing-read"},
            "unknown ACL 'billing-read'",
            id="whm-create-acl-outside-the-vocabulary",
        ),
        pytest.param(
            WHM_CREATE,
            {"token_name": "x", "whitelist_ips": "192.0.2.1"},
            "did you mean “whitelist_ip”",
            id="whm-create-whitelist_ips-typo",
        ),
        pytest.param(
            WHM_CREATE,
            {"token_name": "x", "expire_at": LATER},
            "did you mean “expires_at”",
            id="whm-create-expire_at-typo",
        ),
        pytest.param(
            WHM_UPDATE,
            {"token_name": "admin", "acl-0": "edit-dsn"},
            "did you mean 'edit-dns'",
            id="whm-update-edit-dsn",
        ),
        pytest.param(
            WHM_UPDATE,
            {"token_name": "admin", "acls": "edit-dns"},
            "did you mean “acl”",
            id="whm-update-acls-typo-would-keep-all",
        ),
    ],
)
def test_input_that_would_leave_a_token_wider_than_asked_is_refused(
    api: InProcessApi, path: str, params: dict[str, str], reason: str
) -> None:
    token = caller(api, path)
    before = snapshot(api.service)

    response = api.post(token, path, data=params)

    assert response.status_code == 200, response.text
    result, said, _ = outcome(response.json())
    assert result == 0
    assert reason in said
    assert snapshot(api.service) == before


@pytest.mark.parametrize(
    ("path", "params", "warning"),
    [
        pytest.param(
            "/execute/Tokens/list",
            {"verbose": "1"},
            "Tokens::list does not take “verbose”; it was ignored.",
            id="uapi-list-extra",
        ),
        pytest.param(
            "/execute/Tokens/revoke",
            {"name": "ghost", "names": "x"},
            "Tokens::revoke does not take “names”; it was ignored. Did you mean “name”?",
            id="uapi-revoke-did-you-mean",
        ),
        pytest.param(
            "/json-api/api_token_list",
            {"api.version": "1", "api.filter.enable": "1"},
            "tokenward does not implement “api.filter.enable”",
            id="whm-api-filter-but-not-api-version",
        ),
        pytest.param(
            "/json-api/api_token_revoke",
            {"token_name": "ghost", "force": "1"},
            "api_token_revoke does not take “force”; it was ignored.",
            id="whm-revoke-extra",
        ),
    ],
)
def test_a_parameter_a_function_does_not_take_is_ignored_with_a_warning(
    api: InProcessApi, path: str, params: dict[str, str], warning: str
) -> None:
    response = api.post(caller(api, path), path, data=params)

    result, _, warnings = outcome(response.json())
    assert result == 1
    assert len(warnings) == 1, warnings  # one for the unknown parameter, none for the rest
    assert warning in warnings[0]


@pytest.mark.parametrize(
    "request_",
    [
        pytest.param({"data": {"token": "{secret}"}}, id="form-body"),
        pytest.param({"json": {"token": "{secret}"}}, id="json-body"),
    ],
)
def test_get_details_takes_the_secret_in_a_post_body_without_a_warning(
    api: InProcessApi, request_: dict[str, dict[str, str]]
) -> None:
    root = caller(api, WHM_CREATE)
    ((kind, body),) = request_.items()
    filled = {key: value.format(secret=root.secret) for key, value in body.items()}

    response = api.post(root, "/json-api/api_token_get_details", **{kind: filled})

    assert response.json()["data"]["name"] == "admin"
    assert "output" not in response.json()["metadata"]


def test_get_details_with_the_secret_in_the_url_works_but_warns(api: InProcessApi) -> None:
    """Kept for compatibility; the warning says why a body is better."""
    root = caller(api, WHM_CREATE)
    response = api.post(root, "/json-api/api_token_get_details", params={"token": root.secret})
    body = response.json()
    assert body["data"]["name"] == "admin"
    assert "access logs" in body["metadata"]["output"]["warnings"][0]


def test_update_with_values_equal_to_the_current_ones_succeeds_unchanged(
    api: InProcessApi,
) -> None:
    """cPanel keeps what is left out; giving a value the token already has is no error."""
    root = caller(api, WHM_CREATE)
    api.mint("root", "dns", realm="whm", acls=["edit-dns"], whitelist_ips=["2001:db8::/64"])
    before = snapshot(api.service)

    response = api.post(
        root,
        WHM_UPDATE,
        data={"token_name": "dns", "acl": "edit-dns", "whitelist_ip": "2001:db8::/64"},
    )

    assert response.json()["metadata"]["result"] == 1, response.text
    assert snapshot(api.service) == before


# -- the ACL vocabulary ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("vocabulary", "acl", "accepted"),
    [
        pytest.param(None, "edit-dns", True, id="default-whm-chart"),
        pytest.param(None, "billing-read", False, id="default-nothing-outside-the-chart"),
        pytest.param(frozenset({"billing-read"}), "billing-read", True, id="own-name"),
        pytest.param(frozenset({"billing-read"}), "all", True, id="own-all-always-known"),
        pytest.param(frozenset({"billing-read"}), "edit-dns", False, id="own-replaces-chart"),
        pytest.param(WHM_ACLS | {"billing-read"}, "billing-read", True, id="extended-own"),
        pytest.param(WHM_ACLS | {"billing-read"}, "edit-dns", True, id="extended-chart"),
    ],
)
def test_the_api_knows_the_configured_vocabulary_else_whms_chart(
    vocabulary: frozenset[str] | None, acl: str, accepted: bool
) -> None:
    """The vocabulary replaces the chart (as in the service, the CLI and the web page);
    ``WHM_ACLS | {...}`` is how an application adds its own names to it."""
    api = InProcessApi(acl_vocabulary=vocabulary)
    try:
        root = caller(api, WHM_CREATE)
        response = api.post(root, WHM_CREATE, data={"token_name": "x", "acl": acl})
        assert response.json()["metadata"]["result"] == int(accepted), response.text
        created = api.store.find(Realm.WHM, "root", "x")
        assert (created is not None) == accepted
    finally:
        api.close()


def test_a_misspelt_own_acl_gets_the_own_name_suggested() -> None:
    api = InProcessApi(acl_vocabulary=frozenset({"billing-read"}))
    try:
        root = caller(api, WHM_CREATE)
        response = api.post(root, WHM_CREATE, data={"token_name": "x", "acl": "biling-read"})
        assert "did you mean 'billing-read'" in response.json()["metadata"]["reason"]
    finally:
        api.close()


def test_the_acl_map_of_a_listing_shows_the_vocabulary() -> None:
    api = InProcessApi(acl_vocabulary=frozenset({"billing-read", "billing-write"}))
    try:
        root = caller(api, WHM_CREATE)
        api.mint("root", "billing", realm="whm", acls=["billing-read"])
        tokens = api.post(root, "/json-api/api_token_list").json()["data"]["tokens"]
        assert tokens["billing"]["acls"] == {"all": 0, "billing-read": 1, "billing-write": 0}
    finally:
        api.close()
