"""Section 7: the same in-process verification through djangorestframework-api-key and
django-rest-knox (Django ORM on SQLite), measured in this run as the reference."""

from __future__ import annotations

import tempfile
from typing import Any

from benchmarks.inprocess import timed


def reference_costs(iterations: int) -> list[dict[str, Any]]:
    try:
        import django
        from django.conf import settings
    except ImportError as exc:
        return [{"skipped": f"install the bench extra: {exc}"}]
    directory = tempfile.mkdtemp(prefix="tokenward-bench-")
    try:
        settings.configure(
            DATABASES={
                "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": f"{directory}/ref.db"}
            },
            INSTALLED_APPS=[
                "django.contrib.contenttypes",
                "django.contrib.auth",
                "rest_framework",
                "rest_framework_api_key",
                "knox",
            ],
            SECRET_KEY="benchmark-only",  # noqa: S106 - a throwaway in-process Django
            USE_TZ=True,
            TIME_ZONE="UTC",
        )
        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
    except Exception as exc:  # noqa: BLE001 - reported as skipped, with the reason
        return [{"skipped": f"Django could not be set up: {type(exc).__name__}: {exc}"}]
    rows: list[dict[str, Any]] = []
    rows.append(_api_key(iterations))
    rows.append(_knox(iterations))
    return rows


def _api_key(iterations: int) -> dict[str, Any]:
    try:
        from django.test import RequestFactory
        from rest_framework.request import Request
        from rest_framework_api_key.models import APIKey
        from rest_framework_api_key.permissions import HasAPIKey

        _, key = APIKey.objects.create_key(name="bench")
        request = Request(RequestFactory().get("/", HTTP_AUTHORIZATION=f"Api-Key {key}"))
        permission = HasAPIKey()
        assert permission.has_permission(request, None)
        return {
            "library": "djangorestframework-api-key (HasAPIKey)",
            **timed(lambda: permission.has_permission(request, None), iterations, 50),
        }
    except Exception as exc:  # noqa: BLE001 - reported as skipped
        return {"library": "djangorestframework-api-key", "skipped": repr(exc)}


def _knox(iterations: int) -> dict[str, Any]:
    try:
        from django.contrib.auth.models import User
        from django.test import RequestFactory
        from knox.auth import TokenAuthentication
        from knox.models import AuthToken
        from rest_framework.request import Request

        user = User.objects.create_user("bench")
        _, token = AuthToken.objects.create(user)
        request = Request(RequestFactory().get("/", HTTP_AUTHORIZATION=f"Token {token}"))
        auth = TokenAuthentication()
        assert auth.authenticate(request) is not None
        return {
            "library": "django-rest-knox (TokenAuthentication)",
            **timed(lambda: auth.authenticate(request), iterations, 50),
        }
    except Exception as exc:  # noqa: BLE001 - reported as skipped
        return {"library": "django-rest-knox", "skipped": repr(exc)}
