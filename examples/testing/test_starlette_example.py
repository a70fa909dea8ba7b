from __future__ import annotations

from typing import Any

import pytest
from starlette_app import app as starlette_app


@pytest.fixture
def app() -> Any:
    return starlette_app


@pytest.mark.tokenward("alice", acls=["edit-dns"])
def test_zones_with_the_acl(tokenward_client: Any) -> None:
    assert tokenward_client.get("/dns/zones").status_code == 200


def test_without_a_token(tokenward_client: Any) -> None:
    assert tokenward_client.get("/health").status_code == 200
