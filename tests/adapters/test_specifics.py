"""What each framework adds beyond the shared table: its own idioms."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any, ClassVar

import pytest
from starlette.testclient import TestClient

from tests.adapters.targets import django_app, load_example
from tokenward import ConfigurationError, MemoryStore, Rule, open_store
from tokenward.testing import FrozenClock, TokenFactory


@pytest.fixture
def store_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'specific.db'}"
    monkeypatch.setenv("TOKENWARD_STORE", url)
    return url


def factory_for(url: str) -> TokenFactory:
    return TokenFactory(open_store(url), FrozenClock(time.time()))


def test_importing_tokenward_imports_no_framework_and_no_driver() -> None:
    code = (
        "import sys, tokenward, tokenward.cli, tokenward.server, tokenward.testing\n"
        "banned = ('flask', 'django', 'starlette', 'fastapi', 'werkzeug', 'psycopg', 'redis',"
        " 'uvicorn', 'rest_framework')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in banned))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"


def test_fastapi_documents_the_token_as_a_security_scheme(store_url: str) -> None:
    app = load_example("fastapi_app").app
    document = TestClient(app).get("/openapi.json").json()
    scheme = document["components"]["securitySchemes"]["cpanelToken"]
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "Authorization")
    assert document["paths"]["/dns/zones"]["get"]["security"] == [{"cpanelToken": []}]
    assert "security" not in document["paths"]["/health"]["get"]


def test_starlette_request_user_and_scopes(store_url: str) -> None:
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.middleware.authentication import AuthenticationMiddleware
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from tokenward.contrib.starlette import TokenwardBackend

    backend = TokenwardBackend(MemoryStore())
    token = TokenFactory(backend.authenticator.store).mint("alice", acls=["edit-dns", "x"])

    async def endpoint(request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "user": request.user.display_name,
                "scopes": list(request.auth.scopes),
                "authenticated": request.user.is_authenticated,
            }
        )

    app = Starlette(
        routes=[Route("/", endpoint)],
        middleware=[
            Middleware(AuthenticationMiddleware, backend=backend, on_error=backend.on_error)
        ],
    )
    body = TestClient(app).get("/", headers=token.headers).json()
    assert body == {"user": "alice", "scopes": ["edit-dns", "x"], "authenticated": True}
    refused = TestClient(app).get("/", headers={"Authorization": "cpanel alice"})
    assert refused.status_code == 401  # Starlette's own default would be 400
    assert "cpanel" in refused.headers["www-authenticate"]


def test_flask_reads_settings_from_app_config_and_refuses_typos(store_url: str) -> None:
    from flask import Flask

    from tokenward.contrib.flask import Tokenward, current_identity

    app = Flask(__name__)
    app.config.update(TOKENWARD_STORE=MemoryStore(), TOKENWARD_RULES=[Rule.public("/open")])
    extension = Tokenward(app)
    assert extension.authenticator is not None
    token = TokenFactory(extension.authenticator.store).mint("bob")

    @app.get("/me")
    def me() -> dict[str, Any]:
        identity = current_identity()
        assert identity is not None
        return {"user": identity.user}

    @app.get("/open")
    def open_route() -> dict[str, Any]:
        return {"identity": current_identity() is None}

    client = app.test_client()
    assert client.get("/me", headers=token.headers).json == {"user": "bob"}
    assert client.get("/open").json == {"identity": True}
    assert client.get("/me").status_code == 401

    typo = Flask("typo")
    typo.config["TOKENWARD_RULEZ"] = []
    with pytest.raises(ConfigurationError, match="rulez"):
        Tokenward(typo)


def test_drf_sets_request_user_and_auth_and_checks_acls(store_url: str) -> None:
    django_app("wsgi")
    from django.test import RequestFactory
    from rest_framework.response import Response
    from rest_framework.views import APIView

    from tokenward.contrib.drf import HasTokenACLs, TokenwardAuthentication

    class Zones(APIView):
        authentication_classes = (TokenwardAuthentication,)
        permission_classes = (HasTokenACLs,)
        required_acls: ClassVar = ("edit-dns",)

        def get(self, request: Any) -> Response:
            return Response({"user": str(request.user), "token": request.auth.token_name})

    factory = factory_for(store_url)
    good = factory.mint("carol", "dns", acls=["edit-dns"])
    weak = factory.mint("carol", "weak", acls=["list-accts"])
    view = Zones.as_view()
    rf = RequestFactory()
    ok = view(rf.get("/zones", headers=good.headers))
    assert ok.status_code == 200
    assert ok.data == {"user": "carol", "token": "dns"}
    assert view(rf.get("/zones", headers=weak.headers)).status_code == 403
    anonymous = view(rf.get("/zones"))
    assert anonymous.status_code == 401
    assert "cpanel" in anonymous["WWW-Authenticate"]
    assert view(rf.get("/zones", HTTP_AUTHORIZATION="cpanel carol:" + "Z" * 32)).status_code == 401


def test_django_system_checks_report_a_broken_setting(store_url: str) -> None:
    django_app("wsgi")
    from django.test import override_settings

    from tokenward.contrib.django.checks import check_tokenward_settings

    assert check_tokenward_settings() == []
    with override_settings(TOKENWARD={"STORE": "mysql://nope", "RULEZ": []}):
        ids = sorted(str(error.id) for error in check_tokenward_settings())
    assert ids == ["tokenward.E002", "tokenward.E003"]
    with override_settings(TOKENWARD=["not", "a", "dict"]):
        assert [e.id for e in check_tokenward_settings()] == ["tokenward.E001"]


def test_django_management_command_runs_the_cli_on_the_projects_store(
    store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    django_app("wsgi")
    from django.core.management import call_command

    call_command("tokenward", "create", "--user", "dave", "--name", "cmd", "--argon2", "fast")
    assert "cmd" in capsys.readouterr().out
    assert [r.name for r in open_store(store_url).list()] == ["cmd"]
