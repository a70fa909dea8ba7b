"""Section 4's Django project: one Django REST framework view, ``/whoami``, behind each
Django variant, served by Django's own WSGI or ASGI application (gunicorn's sync worker,
uvicorn[standard]).

Settings are configured in code (no settings module). The database is SQLite in the run's
directory (``TOKENWARD_BENCH_DJANGO_DB``), migrated, with one API key and one knox token,
by ``python -m benchmarks.django_project setup DIR`` before any server starts; the servers
only read it. The variants, one per server process:

- ``floor``: the Django floor, an authentication class doing the floor's ``str.partition``
  and dict lookup (benchmarks/apps.py), so each library's own cost is what it adds to it;
- ``drf-api-key``: djangorestframework-api-key's ``HasAPIKey`` permission (``Api-Key``);
- ``knox``: django-rest-knox's ``TokenAuthentication`` with ``IsAuthenticated`` (``Token``);
- ``tokenward``: tokenward's DRF adapter (``TokenwardAuthentication``, ``HasTokenACLs``) on
  the SQLite store the runner minted its token into (``TOKENWARD_STORE``).

No middleware, and under WSGI persistent database connections (``CONN_MAX_AGE=None``), so
a variant pays DRF's dispatch and its own authentication, not a reconnect to SQLite per
request; under ASGI none (Django's advice: its handler runs each request's sync code in a
thread of that request's own, so a kept connection would never be reused). That thread is
also why every Django variant is far below the floor under uvicorn: the ratio to the
Django floor is the one to read there.
Every variant answers with ``json.dumps(identity.as_dict())``, as every other variant of
section 4 does. ``HasAPIKey`` keeps no key on the request, and finding which key it was
would be a second lookup (its documentation's way), so that variant answers with the
benchmark's identity once the permission has passed.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from benchmarks import apps
from benchmarks.servers import ROOT
from tokenward import Identity
from tokenward.stores.url import STORE_ENV

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication
    from rest_framework.request import Request

    from tokenward.asgi_io import ASGIApp

DB_ENV = "TOKENWARD_BENCH_DJANGO_DB"
TOKENS_FILE = "django-tokens.json"  # {variant: Authorization header}, written by setup
DATABASE = "django.db"
VARIANTS = ("floor", "drf-api-key", "knox", "tokenward")
# The reference libraries' Django apps: installed when importable (the bench extra).
REFERENCES = {"drf-api-key": "rest_framework_api_key", "knox": "knox"}

# ROOT_URLCONF is this module (or __main__ when run with -m): filled by serve(), since a
# DRF view can only be built once the settings are configured.
urlpatterns: list[Any] = []


def available(variant: str) -> bool:
    """Whether a variant's library is installed (the references come with the bench extra)."""
    return importlib.util.find_spec(REFERENCES.get(variant, "rest_framework")) is not None


def configure(database: str, *, persistent: bool = True) -> None:
    """Django's settings, once per process, then ``django.setup()``; ``persistent``: keep
    database connections across requests (WSGI)."""
    import django
    from django.conf import settings

    references = [module for variant, module in REFERENCES.items() if available(variant)]
    settings.configure(
        DEBUG=False,
        SECRET_KEY="benchmark-only",  # noqa: S106 - nothing is signed; throwaway servers
        ALLOWED_HOSTS=["127.0.0.1", "localhost", "testserver"],
        ROOT_URLCONF=__name__,
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": database,
                "CONN_MAX_AGE": None if persistent else 0,
            }
        },
        INSTALLED_APPS=[
            "django.contrib.contenttypes",
            "django.contrib.auth",
            "rest_framework",
            *references,
        ],
        MIDDLEWARE=[],
        REST_FRAMEWORK={
            "DEFAULT_AUTHENTICATION_CLASSES": [],
            "DEFAULT_PERMISSION_CLASSES": [],
            "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
        },
        TOKENWARD={"STORE": os.environ[STORE_ENV]} if STORE_ENV in os.environ else {},
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
        USE_TZ=True,
        TIME_ZONE="UTC",
    )
    django.setup()


def setup(directory: Path) -> dict[str, str]:
    """Migrates ``directory/django.db`` and mints what the references check; their headers
    (also written to ``directory/django-tokens.json``, mode 0600, for the runner)."""
    configure(str(directory / DATABASE))
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    headers: dict[str, str] = {}
    if available("drf-api-key"):
        from rest_framework_api_key.models import APIKey

        _, key = APIKey.objects.create_key(name=apps.USER)
        headers["drf-api-key"] = f"Api-Key {key}"
    if available("knox"):
        from django.contrib.auth.models import User
        from knox.models import AuthToken

        _, token = AuthToken.objects.create(User.objects.create_user(apps.USER))
        headers["knox"] = f"Token {token}"
    descriptor = os.open(directory / TOKENS_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as out:
        json.dump(headers, out)
    return headers


def set_up_apart(directory: Path, env: dict[str, str]) -> dict[str, str]:
    """``setup`` in a process of its own, for the runner (Django's settings are per process,
    and section 7 configures its own in the runner's); the headers, from the file."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.django_project", "setup", str(directory)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the Django project could not be set up:\n{done.stderr[-2000:]}")
    headers: dict[str, str] = json.loads((directory / TOKENS_FILE).read_text())
    return headers


def serve(variant: str) -> None:
    """Routes ``/whoami`` to the variant's view (settings already configured)."""
    from django.urls import clear_url_caches, path

    urlpatterns[:] = [path("whoami", _view(variant))]
    clear_url_caches()


def _view(variant: str) -> Callable[..., Any]:
    from django.http import HttpResponse
    from rest_framework.authentication import BaseAuthentication
    from rest_framework.permissions import BasePermission, IsAuthenticated
    from rest_framework.views import APIView

    authentication: list[type[BaseAuthentication]] = []
    permission: list[type[BasePermission]] = [IsAuthenticated]
    identity_of: Callable[[Request], Identity]
    if variant == "floor":
        authentication = [_dict_authentication(apps.floor_tokens())]
        identity_of = _auth_identity
    elif variant == "drf-api-key":
        from rest_framework_api_key.permissions import HasAPIKey

        permission = [HasAPIKey]
        identity_of = _bench_identity
    elif variant == "knox":
        from knox.auth import TokenAuthentication

        authentication = [TokenAuthentication]
        identity_of = _user_identity
    elif variant == "tokenward":
        from tokenward.contrib.drf import HasTokenACLs, TokenwardAuthentication

        authentication, permission = [TokenwardAuthentication], [HasTokenACLs]
        identity_of = _auth_identity
    else:
        raise ValueError(f"no Django variant {variant!r}: one of {', '.join(VARIANTS)}")

    class WhoAmI(APIView):
        authentication_classes = authentication
        permission_classes = permission

        def get(self, request: Request) -> HttpResponse:
            body = json.dumps(identity_of(request).as_dict())
            return HttpResponse(body, content_type="application/json")

    return WhoAmI.as_view()


def _auth_identity(request: Request) -> Identity:
    identity = request.auth
    assert isinstance(identity, Identity)  # the permission has passed
    return identity


def _bench_identity(request: Request) -> Identity:
    return apps.bench_identity()


def _user_identity(request: Request) -> Identity:
    return apps.bench_identity(request.user.get_username())


def _dict_authentication(tokens: dict[str, Identity]) -> Any:
    """The Django floor's authentication class (DRF makes one per request: the tokens are
    the class's, loaded once)."""
    from rest_framework.authentication import BaseAuthentication

    class FloorUser:
        is_authenticated = True
        is_anonymous = False

        def __init__(self, identity: Identity) -> None:
            self.username = identity.user

        def get_username(self) -> str:
            return self.username

    class DictAuthentication(BaseAuthentication):
        def authenticate(self, request: Request) -> tuple[FloorUser, Identity] | None:
            header = request.META.get("HTTP_AUTHORIZATION")
            identity = None if header is None else apps.floor_lookup(tokens, header)
            return None if identity is None else (FloorUser(identity), identity)

    return DictAuthentication


# -- the servers' factories (benchmarks/http.py names them) ---------------------------------


def _wsgi(variant: str) -> WSGIApplication:
    configure(os.environ[DB_ENV])
    serve(variant)
    from django.core.wsgi import get_wsgi_application

    return get_wsgi_application()


def _asgi(variant: str) -> ASGIApp:
    configure(os.environ[DB_ENV], persistent=False)
    serve(variant)
    from django.core.asgi import get_asgi_application

    application = get_asgi_application()
    return cast("ASGIApp", application)  # its stubs type the scope as a dict


def wsgi_floor() -> WSGIApplication:
    return _wsgi("floor")


def wsgi_api_key() -> WSGIApplication:
    return _wsgi("drf-api-key")


def wsgi_knox() -> WSGIApplication:
    return _wsgi("knox")


def wsgi_tokenward() -> WSGIApplication:
    return _wsgi("tokenward")


def asgi_floor() -> ASGIApp:
    return _asgi("floor")


def asgi_api_key() -> ASGIApp:
    return _asgi("drf-api-key")


def asgi_knox() -> ASGIApp:
    return _asgi("knox")


def asgi_tokenward() -> ASGIApp:
    return _asgi("tokenward")


# -- the command line: setup for the runner, check for the tests ---------------------------


def check(directory: Path, headers: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Each available variant through Django's test client (after ``setup``): the status
    and body of ``/whoami`` with its header, and the statuses with a wrong one and none."""
    from django.test import Client

    client = Client()
    found: dict[str, dict[str, Any]] = {}
    for variant in (v for v in VARIANTS if available(v)):
        serve(variant)
        header = headers[variant]
        right = client.get("/whoami", HTTP_AUTHORIZATION=header)
        wrong = header[:-4] + ("AAAA" if not header.endswith("AAAA") else "BBBB")
        found[variant] = {
            "status": right.status_code,
            "body": json.loads(right.content),
            "wrong": client.get("/whoami", HTTP_AUTHORIZATION=wrong).status_code,
            "none": client.get("/whoami").status_code,
        }
    return found


def main(argv: Sequence[str] | None = None) -> int:
    """``setup DIR``: prints nothing (the tokens go to a 0600 file). ``check DIR``: reads
    every variant's header as JSON on stdin (floor, tokenward included), prints the results."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.django_project")
    parser.add_argument("command", choices=("setup", "check"))
    parser.add_argument("directory", type=Path)
    args = parser.parse_args(argv)
    if args.command == "setup":
        setup(args.directory)
        return 0
    headers = json.loads(sys.stdin.read())
    headers.update(setup(args.directory))
    print(json.dumps(check(args.directory, headers)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
