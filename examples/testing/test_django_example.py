from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def app() -> Any:
    from project.wsgi import application

    return application


@pytest.mark.tokenward("dave", acls=["edit-dns"])
def test_zones_through_webtest(tokenward_client: Any) -> None:
    assert tokenward_client.get("/dns/zones").json["zones"]


def test_django_test_client_and_request_factory(app: Any, tokenward_factory: Any) -> None:
    from django.test import Client, RequestFactory
    from project.urls import whoami

    from tokenward.contrib.django import TokenwardMiddleware

    token = tokenward_factory.mint("erin")
    assert Client().get("/whoami", headers=token.headers).json()["user"] == "erin"
    assert Client().get("/whoami").status_code == 401
    # RequestFactory skips middleware: wrap the view in tokenward's to test it alone.
    request = RequestFactory().get("/whoami", headers=token.headers)
    assert TokenwardMiddleware(whoami)(request).status_code == 200
