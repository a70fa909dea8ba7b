"""cPanel's session prefix (``/cpsess<10 digits>``) and WHM's ``create_user_session``,
through the server app as ``tokenward serve`` mounts it: the prefix is accepted and grants
nothing, and the session is cosmetic."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest

from tests.api.conftest import LiveServer
from tokenward.testing import MintedToken

PREFIX = "/cpsess0123456789"


@pytest.fixture
def cpanel(live: LiveServer) -> MintedToken:
    return live.mint(f"alice-{uuid.uuid4().hex[:8]}", "admin", acls=["all"])


@pytest.fixture
def whm(live: LiveServer) -> MintedToken:
    return live.mint(f"root-{uuid.uuid4().hex[:8]}", "root", realm="whm", acls=["all"])


def session(live: LiveServer, token: MintedToken, **params: str) -> dict[str, Any]:
    with live.client(token) as client:
        response = client.post(
            "/json-api/create_user_session", params={"api.version": "1"}, data=params
        )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def test_a_uapi_call_behind_a_cpsess_prefix_is_answered_as_without_it(
    live: LiveServer, cpanel: MintedToken
) -> None:
    with live.client(cpanel) as client:
        listed = client.get(f"{PREFIX}/execute/Tokens/list")
        assert listed.status_code == 200, listed.text
        assert [token["name"] for token in listed.json()["data"]] == ["admin"]
        # Only cPanel's own form is taken off: ten digits, before the API.
        assert client.get("/cpsess12345/execute/Tokens/list").status_code == 404
        assert client.get(f"{PREFIX}/tokens/").status_code == 404


def test_a_whm_call_behind_a_cpsess_prefix_is_answered_as_without_it(
    live: LiveServer, whm: MintedToken
) -> None:
    with live.client(whm) as client:
        listed = client.get(f"{PREFIX}/json-api/api_token_list", params={"api.version": "1"})
    assert listed.status_code == 200, listed.text
    assert list(listed.json()["data"]["tokens"]) == ["root"]


@pytest.mark.parametrize("realm", ["cpanel", "whm"])
def test_a_cpsess_prefix_grants_nothing_the_token_is_still_needed(
    live: LiveServer, cpanel: MintedToken, whm: MintedToken, realm: str
) -> None:
    token, path = {
        "cpanel": (cpanel, f"{PREFIX}/execute/Tokens/list"),
        "whm": (whm, f"{PREFIX}/json-api/api_token_list?api.version=1"),
    }[realm]
    with live.client(token) as client:
        assert client.get(path).status_code == 200
    with live.client() as client:
        refused = client.get(path)
    assert refused.status_code == 401
    assert "www-authenticate" in refused.headers


def test_create_user_session_answers_a_session_and_a_cpsess_url_shaped_like_cpanels(
    live: LiveServer, whm: MintedToken
) -> None:
    answer = session(live, whm, user="alice", service="cpaneld")
    assert answer["metadata"]["result"] == 1, answer
    data = answer["data"]
    assert re.fullmatch(r"alice:[A-Za-z0-9_-]+:CREATE_USER_SESSION,[0-9a-f]{32}", data["session"])
    found = re.fullmatch(rf"{re.escape(live.url)}(/cpsess[0-9]{{10}})/", data["url"])
    assert found is not None, data["url"]
    assert data["cp_security_token"] == found[1]
    again = session(live, whm, user="alice", service="whostmgrd")["data"]
    assert again["session"] != data["session"]


def test_the_session_url_is_followed_with_the_token_and_refused_without_it(
    live: LiveServer, whm: MintedToken
) -> None:
    url = session(live, whm, user="root", service="whostmgrd")["data"]["url"]
    listing = f"{url}json-api/api_token_list?api.version=1"
    assert httpx.get(listing, headers=whm.headers, timeout=30).status_code == 200
    assert httpx.get(listing, timeout=30).status_code == 401


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        pytest.param({"service": "cpaneld"}, "“user” is required", id="no-user"),
        pytest.param({"user": "alice"}, "“service” is required", id="no-service"),
        pytest.param({"user": "alice", "service": "webmaild"}, "not supported", id="webmail"),
    ],
)
def test_create_user_session_refuses_what_it_cannot_describe(
    live: LiveServer, whm: MintedToken, params: dict[str, str], reason: str
) -> None:
    answer = session(live, whm, **params)
    assert answer["metadata"]["result"] == 0
    assert reason in answer["metadata"]["reason"]
    assert "data" not in answer
