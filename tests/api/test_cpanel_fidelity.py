"""Each cPanel token function against its documented shape, as tabled in docs/managing.md
("Fidelity to cPanel"): the documentation's sample call answers the documented fields with
the documented values, and a failure answers in the documented failure shape. A client or
script written against cPanel's documentation must not trip on any row."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tokenward import Owner
from tokenward.core.acl import WHM_ACLS
from tokenward.testing import MintedToken

from .harness import DAY, Directory, InProcessApi, snapshot

NOW = 1_800_000_000  # the harness's frozen clock
LATER = NOW + DAY
DNS_SECRET = "<the dns token's secret>"  # replaced by the real one when the call is made
V6 = "2001:0db8:0000:0000:0000:0000:0000:0000/64"  # how WHM writes 2001:db8::/64


class AnySecret:
    """Equal to any token as cPanel mints them: 32 characters of 0-9 A-Z."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and re.fullmatch(r"[0-9A-Z]{32}", other) is not None

    def __hash__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return "<any 32-character token>"


SECRET = AnySecret()


class Tokens:
    """alice (cPanel) has ``admin`` (the caller) and ``deploy``, both full access; root
    (WHM) has ``admin`` and ``dns`` (two ACLs, two prefixes, expires in a day)."""

    def __init__(self, api: InProcessApi) -> None:
        self.api = api
        self.cpanel = api.mint("alice", "admin", acls=["all"])
        api.mint("alice", "deploy", acls=["all"])
        self.whm = api.mint("root", "admin", realm="whm", acls=["all"])
        self.dns = api.mint(
            "root",
            "dns",
            realm="whm",
            acls=["edit-dns", "list-accts"],
            whitelist_ips=["192.0.2.0/24", "2001:db8::/64"],
            expires_at=LATER,
        )

    def call(self, function: str, params: dict[str, Any]) -> dict[str, Any]:
        """POST the function with ``params`` as a form, the way cPanel's examples do."""
        filled = {k: self.dns.secret if v == DNS_SECRET else v for k, v in params.items()}
        if function.startswith("api_token_"):
            caller: MintedToken = self.whm
            path, query = f"/json-api/{function}", {"api.version": "1"}
        else:
            caller, path, query = self.cpanel, f"/execute/Tokens/{function}", {}
        response = self.api.post(caller, path, params=query, data=filled)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


@pytest.fixture
def tokens() -> Iterator[Tokens]:
    api = InProcessApi()
    yield Tokens(api)
    api.close()


def data(body: dict[str, Any]) -> Any:
    return body["data"]


def listed(name: str) -> Callable[[dict[str, Any]], Any]:
    return lambda body: next(t for t in body["data"] if t["name"] == name)


def whm_listed(name: str) -> Callable[[dict[str, Any]], Any]:
    return lambda body: body["data"]["tokens"][name]


def acl_map(*held: str) -> dict[str, int]:
    return {"all": 0} | {acl: int(acl in held) for acl in WHM_ACLS}


UAPI_METADATA = {"list": {"transformed": 1}}  # every other function: {}
DNS_OBJECT = {
    "name": "dns",
    "create_time": NOW,
    "expires_at": LATER,
    "acls": ["edit-dns", "list-accts"],
    "whitelist_ips": ["192.0.2.0/24", V6],
}


@pytest.mark.parametrize(
    ("function", "params", "pick", "documented"),
    [
        pytest.param(
            "create_full_access",
            {"name": "new", "expires_at": str(LATER)},
            data,
            {"token": SECRET, "create_time": NOW},
            id="uapi-create_full_access",
        ),
        pytest.param(
            "list",
            {},
            listed("deploy"),
            {
                "name": "deploy",
                "create_time": NOW,
                "expires_at": None,
                "has_full_access": 1,
                "features": [],
            },
            id="uapi-list-full-access-has-no-features",
        ),
        pytest.param(
            "rename",
            {"name": "deploy", "new_name": "deploy-2"},
            lambda body: {"data": body["data"]},
            {"data": None},
            id="uapi-rename-data-null",
        ),
        pytest.param(
            "revoke",
            {"name": "deploy"},
            lambda body: {"data": body["data"]},
            {"data": 1},
            id="uapi-revoke",
        ),
        pytest.param(
            "api_token_create",
            {
                "token_name": "new",
                "acl-0": "edit-dns",
                "acl-1": "list-accts",
                "whitelist_ip-0": "2001:db8::/64",
                "expires_at": str(LATER),
            },
            data,
            {
                "name": "new",
                "token": SECRET,
                "create_time": NOW,
                "expires_at": LATER,
                "acls": ["edit-dns", "list-accts"],
                "whitelist_ips": [V6],
            },
            id="whm-api_token_create",
        ),
        pytest.param(
            "api_token_create",
            {"token_name": "open", "acl": "edit-dns"},
            lambda body: {"whitelist_ips": body["data"]["whitelist_ips"]},
            {"whitelist_ips": None},
            id="whm-api_token_create-any-address-is-null",
        ),
        pytest.param(
            "api_token_list",
            {},
            whm_listed("dns"),
            {**DNS_OBJECT, "acls": acl_map("edit-dns", "list-accts")},
            id="whm-api_token_list",
        ),
        pytest.param(
            "api_token_list",
            {},
            lambda body: {"whitelist_ips": body["data"]["tokens"]["admin"]["whitelist_ips"]},
            {"whitelist_ips": None},
            id="whm-api_token_list-any-address-is-null",
        ),
        pytest.param(
            "api_token_update",
            {"token_name": "dns"},
            data,
            DNS_OBJECT,
            id="whm-api_token_update-sample-call-changes-nothing",
        ),
        pytest.param(
            "api_token_update",
            {"token_name": "dns", "new_name": "dns-2", "whitelist_ip": "any", "expires_at": "0"},
            data,
            {**DNS_OBJECT, "name": "dns-2", "whitelist_ips": None, "expires_at": None},
            id="whm-api_token_update-any-and-never",
        ),
        pytest.param(
            "api_token_revoke",
            {"token_name-0": "dns", "token_name-1": "ghost"},
            lambda body: {"data": body["data"]},
            {"data": {}},
            id="whm-api_token_revoke-ignores-unknown-names",
        ),
        pytest.param(
            "api_token_get_details",
            {"token": DNS_SECRET},
            data,
            DNS_OBJECT,
            id="whm-api_token_get_details-data-is-the-token",
        ),
    ],
)
def test_the_sample_call_answers_the_documented_fields(
    tokens: Tokens,
    function: str,
    params: dict[str, Any],
    pick: Callable[[dict[str, Any]], Any],
    documented: dict[str, Any],
) -> None:
    """Field by field: tokenward's extras may be added, never a documented field changed."""
    body = tokens.call(function, params)

    found = pick(body)
    assert {field: found.get(field, "<missing>") for field in documented} == documented
    if function.startswith("api_token_"):
        assert body["metadata"] == {
            "command": function,
            "result": 1,
            "reason": "OK",
            "version": 1,
        }
    else:
        assert (body["status"], body["errors"], body["warnings"]) == (1, None, None)
        assert body["metadata"] == UAPI_METADATA.get(function, {})


def test_list_maps_the_effective_acls_narrowed_by_the_owners_current_ones() -> None:
    """WHM's list shows what a token can do now: taking an ACL from its owner shows at once."""
    directory = Directory(root=Owner(acls=frozenset({"manage-api-tokens", "edit-dns", "passwd"})))
    api = InProcessApi(directory)
    try:
        root = api.mint("root", "admin", realm="whm", acls=["all"])
        api.mint("root", "dns", realm="whm", acls=["edit-dns", "passwd"])
        directory.owners["root"] = Owner(acls=frozenset({"manage-api-tokens", "edit-dns"}))

        tokens = api.post(root, "/json-api/api_token_list").json()["data"]["tokens"]

        dns, admin = tokens["dns"]["acls"], tokens["admin"]["acls"]
        assert (dns["all"], dns["edit-dns"], dns["passwd"]) == (0, 1, 0)
        assert (admin["all"], admin["manage-api-tokens"], admin["passwd"]) == (0, 1, 0)
    finally:
        api.close()


def test_get_details_answers_the_token_object_not_a_map_of_tokens(tokens: Tokens) -> None:
    data = tokens.call("api_token_get_details", {"token": DNS_SECRET})["data"]
    assert "tokens" not in data
    assert isinstance(data["acls"], list)


@pytest.mark.parametrize(
    ("function", "params", "fragment"),
    [
        pytest.param("create_full_access", {}, "“name” is required", id="uapi-create-no-name"),
        pytest.param(
            "rename", {"name": "ghost", "new_name": "x"}, "'ghost'", id="uapi-rename-unknown"
        ),
        pytest.param("revoke", {}, "“name” is required", id="uapi-revoke-no-name"),
        pytest.param(
            "api_token_create",
            {"token_name": "x", "acl": "edit-dsn"},
            "did you mean 'edit-dns'",
            id="whm-create-misspelt-acl",
        ),
        pytest.param(
            "api_token_update", {"token_name": "ghost"}, "'ghost'", id="whm-update-unknown"
        ),
        pytest.param("api_token_revoke", {}, "“token_name” is required", id="whm-revoke-no-name"),
        pytest.param(
            "api_token_get_details",
            {"token": "U7HMR63FGY292DQZ4H5BFH16JLYMO01M"},
            "does not exist",
            id="whm-get_details-unknown-token-metadata-only",
        ),
    ],
)
def test_a_failure_answers_in_the_documented_failure_shape(
    tokens: Tokens, function: str, params: dict[str, str], fragment: str
) -> None:
    """UAPI: status 0, errors, data null. WHM: result 0, a reason, and no data at all."""
    before = snapshot(tokens.api.service)

    body = tokens.call(function, params)

    if function.startswith("api_token_"):
        assert set(body) == {"metadata"}
        assert body["metadata"]["result"] == 0
        assert fragment in body["metadata"]["reason"]
    else:
        assert (body["status"], body["data"]) == (0, None)
        assert fragment in " ".join(body["errors"])
    assert snapshot(tokens.api.service) == before
