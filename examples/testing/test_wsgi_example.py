from __future__ import annotations

from typing import Any

import pytest
from wsgi_app import app as wsgi_app


@pytest.fixture
def app() -> Any:
    return wsgi_app


@pytest.mark.tokenward(acls=["list-accts"])
def test_missing_acl_is_403(tokenward_client: Any) -> None:
    tokenward_client.get("/dns/zones", status=403)


@pytest.mark.tokenward(whitelist_ips=["198.51.100.0/24"])
def test_allow_list_is_enforced_in_tests_too(tokenward_client: Any) -> None:
    tokenward_client.get("/whoami", status=401, extra_environ={"REMOTE_ADDR": "192.0.2.1"})
    tokenward_client.get("/whoami", status=200, extra_environ={"REMOTE_ADDR": "198.51.100.7"})
