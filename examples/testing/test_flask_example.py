from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask_app import app as flask_app


@pytest.fixture
def app() -> Flask:
    return flask_app


@pytest.mark.tokenward("alice", acls=["edit-dns"])
def test_zones_with_the_acl(tokenward_client: Any) -> None:
    assert tokenward_client.get("/dns/zones").json["zones"]


def test_flask_test_client_with_a_minted_token(tokenward_factory: Any) -> None:
    token = tokenward_factory.mint("bob", acls=["list-accts"])
    client = flask_app.test_client()
    assert client.get("/whoami", headers=token.headers).json["user"] == "bob"
    assert client.get("/dns/zones", headers=token.headers).status_code == 403
