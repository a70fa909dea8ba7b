"""Tokens kept in the Django project's own database: created by `manage.py migrate`, minted
with `manage.py tokenward`, visible in the admin without the digest or verifier, and read
on the request path by tokenward's own store, not the ORM. Run in a fresh interpreter, since
Django's settings are process-wide."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

SCRIPT = textwrap.dedent("""
    import json, sys
    import django
    from django.conf import settings
    from tokenward import Rule

    settings.configure(
        DEBUG=True, SECRET_KEY="test-only", ALLOWED_HOSTS=["*"], USE_TZ=True, TIME_ZONE="UTC",
        ROOT_URLCONF=__name__,
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": sys.argv[1]}},
        INSTALLED_APPS=["django.contrib.admin", "django.contrib.auth",
                        "django.contrib.contenttypes", "django.contrib.sessions",
                        "django.contrib.messages", "tokenward.contrib.django"],
        MIDDLEWARE=["django.contrib.sessions.middleware.SessionMiddleware",
                    "django.contrib.auth.middleware.AuthenticationMiddleware",
                    "django.contrib.messages.middleware.MessageMiddleware",
                    "tokenward.contrib.django.TokenwardMiddleware"],
        TEMPLATES=[{"BACKEND": "django.template.backends.django.DjangoTemplates",
                    "APP_DIRS": True, "OPTIONS": {"context_processors": [
                        "django.template.context_processors.request",
                        "django.contrib.auth.context_processors.auth",
                        "django.contrib.messages.context_processors.messages"]}}],
        TOKENWARD={"STORE": "django", "RULES": [Rule.public("/admin")],
                   "ARGON2": {"time_cost": 1, "memory_cost": 8}},
    )
    django.setup()
    from django.contrib import admin
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import connection
    from django.http import JsonResponse
    from django.test import Client
    from django.urls import path
    from tokenward.contrib.django.models import Token

    def whoami(request):
        return JsonResponse(request.tokenward_identity.as_dict())

    urlpatterns = [path("admin/", admin.site.urls), path("whoami", whoami)]

    call_command("migrate", verbosity=0)
    call_command("tokenward", "create", "--user", "alice", "--name", "ci", "--json",
                 "--argon2", "fast")
""")

CHECKS = textwrap.dedent("""
    out = sys.stdout
    sys.stdout = sys.__stdout__
    secret = json.loads(out.getvalue())["token"]
    token = Token.objects.get()
    fields = sorted(f.name for f in Token._meta.get_fields())
    queries = []
    with connection.execute_wrapper(lambda run, sql, *a: queries.append(sql) or run(sql, *a)):
        status = Client().get("/whoami", HTTP_AUTHORIZATION=f"cpanel alice:{secret}").status_code
    User.objects.create_superuser("admin", "a@example.com", "pw")
    browser = Client()
    browser.login(username="admin", password="pw")
    page = browser.get("/admin/tokenward/token/").content.decode()
    print(json.dumps({"name": token.name, "user": token.username, "fields": fields,
                      "status": status, "orm_queries": len(queries),
                      "admin_lists_it": "ci" in page, "secret_in_page": secret in page,
                      "digest_in_page": "digest" in page.lower()}))
""")


def _run_project(checks: str, database: Path) -> Any:
    """SCRIPT then ``checks`` in a fresh interpreter (Django is set up once per process);
    the JSON report the checks print last."""
    script = "import io, sys\nsys.stdout = io.StringIO()\n" + SCRIPT + checks
    result = subprocess.run(
        [sys.executable, "-c", script, str(database)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_tokens_in_the_projects_database(tmp_path: Path) -> None:
    database = tmp_path / "project.db"
    report = _run_project(CHECKS, database)
    assert report["name"] == "ci"
    assert report["user"] == "alice"
    assert "digest" not in report["fields"]
    assert "verifier" not in report["fields"]
    assert report["status"] == 200
    assert report["orm_queries"] == 0  # the request path never touched Django's connection
    assert report["admin_lists_it"]
    assert not report["secret_in_page"]
    assert not report["digest_in_page"]
    secret_free = database.read_bytes()
    assert b"$argon2id$" in secret_free  # the real table is in this file


ADMIN_CHECKS = textwrap.dedent("""
    import re
    from tokenward.contrib.django.store import store_url_for_database
    from tokenward.management.service import TokenService
    from tokenward.stores.url import open_store
    from tokenward.testing import FAST_ARGON2

    store = open_store(store_url_for_database("default"))
    service = TokenService(store, argon2=FAST_ARGON2)
    leaked = service.create("alice", "leaked-one")
    service.create("alice", "kept-one")
    assert service.revoke_leaked(service.find_by_secret(leaked.secret), source="test") == 1
    revoked_at = store.find(leaked.record.realm, "alice", "leaked-one").revoked_at
    store.close()
    call_command("makemigrations", "tokenward", check=True, dry_run=True)  # model = migrations
    sys.stdout = sys.__stdout__
    User.objects.create_superuser("admin", "a@example.com", "pw")
    browser = Client()
    browser.login(username="admin", password="pw")

    def names(query):
        page = browser.get("/admin/tokenward/token/" + query).content.decode()
        return page, sorted(set(re.findall(r"(?:leaked|kept)-one", page)))

    listing, everything = names("")
    _, revoked = names("?revoked=yes")
    _, kept = names("?revoked=no")
    detail = browser.get(f"/admin/tokenward/token/{leaked.record.id}/change/")
    page = detail.content.decode()
    print(json.dumps({
        "revoked_at": revoked_at, "everything": everything, "revoked": revoked, "kept": kept,
        "list_headers": re.findall(r'<th [^>]*class="[^"]*column-(revoked_[a-z]+)', listing),
        "list_reason": "reported leaked" in listing, "list_time": str(revoked_at) in listing,
        "filter_offered": "?revoked=yes" in listing and "?revoked=no" in listing,
        "detail_status": detail.status_code, "detail_reason": "reported leaked" in page,
        "detail_time": str(revoked_at) in page, "detail_labels": [
            label in page for label in ("Revoked (epoch)", "Revoked because")],
        "detail_inputs": re.findall(r'name="(revoked_[a-z]+)"', page),
        "secret_anywhere": leaked.secret in listing + page,
    }))
""")


def test_the_admin_shows_and_filters_tokens_revoked_in_place(tmp_path: Path) -> None:
    """Schema version 3's ``revoked_at`` and ``revoked_reason``, read-only, in the list and
    the detail page, and a filter on them; the model and its migrations agree."""
    report = _run_project(ADMIN_CHECKS, tmp_path / "project.db")
    assert isinstance(report["revoked_at"], int)
    assert report["everything"] == ["kept-one", "leaked-one"]
    assert report["revoked"] == ["leaked-one"]
    assert report["kept"] == ["kept-one"]
    assert report["list_headers"] == ["revoked_at", "revoked_reason"]
    assert report["list_reason"]
    assert report["list_time"]
    assert report["filter_offered"]
    assert report["detail_status"] == 200
    assert report["detail_reason"]
    assert report["detail_time"]
    assert report["detail_labels"] == [True, True]
    assert report["detail_inputs"] == []  # shown, not editable
    assert not report["secret_anywhere"]
