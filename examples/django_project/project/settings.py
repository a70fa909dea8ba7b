"""A minimal Django project behind tokenward (the routes are in docs/examples.md). No
database: tokens live in tokenward's own store ($TOKENWARD_STORE), and the request path never
touches the ORM."""

from __future__ import annotations

import logging
import os

from tokenward import Rule

# Served, the server's output says why each request was refused (the ``tokenward.auth``
# logger, at INFO). A no-op where logging is configured already, as under a test runner;
# a LOGGING setting for the root logger would replace a test runner's handlers instead.
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-only-not-a-secret")
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "project.urls"
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",  # DRF's anonymous user; tokenward itself needs neither
    "rest_framework",
    "tokenward.contrib.django",
]
MIDDLEWARE = ["tokenward.contrib.django.TokenwardMiddleware"]
DATABASES: dict[str, object] = {}
USE_TZ = True
TIME_ZONE = "UTC"  # Django sets the whole process's TZ from this setting

TOKENWARD = {
    "STORE": os.environ.get("TOKENWARD_STORE", "sqlite:///tokenward.db"),
    "RULES": [Rule.public("/health")],  # every other path needs a token
}
