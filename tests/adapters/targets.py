"""Every integration, built from its example app, behind one tiny client interface, so one
behaviour table runs through all of them with each framework's own test client."""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib.util
import os
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

import httpx
import webtest
from starlette.testclient import TestClient

EXAMPLES = Path(__file__).parents[2] / "examples"
CLIENT_IP = "192.0.2.10"


class Target(Protocol):
    def get(self, path: str, headers: dict[str, str]) -> tuple[int, bytes]: ...


class WebTestTarget:
    def __init__(self, app: Any) -> None:
        self.app = webtest.TestApp(app, extra_environ={"REMOTE_ADDR": CLIENT_IP})

    def get(self, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
        response = self.app.get(path, headers=headers, expect_errors=True)
        return response.status_int, response.body


class StarletteTarget:
    def __init__(self, app: Any) -> None:
        self.client = TestClient(app, client=(CLIENT_IP, 50000))

    def get(self, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
        response = self.client.get(path, headers=headers)
        return response.status_code, response.content


class HttpxASGITarget:
    def __init__(self, app: Any) -> None:
        self.transport = httpx.ASGITransport(app=app, client=(CLIENT_IP, 50000))

    def get(self, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
        async def fetch() -> httpx.Response:
            async with httpx.AsyncClient(transport=self.transport, base_url="http://t") as c:
                return await c.get(path, headers=headers)

        # A loop of its own, on a thread of its own: this thread may already run one (the
        # browser tests' Playwright keeps one for the whole session).
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            response = pool.submit(asyncio.run, fetch()).result()
        return response.status_code, response.content


def load_example(name: str) -> ModuleType:
    """A fresh import, so the app reads $TOKENWARD_STORE now, as it would at start-up."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def django_app(kind: str) -> Any:
    project = str(EXAMPLES / "django_project")
    if project not in sys.path:
        sys.path.insert(0, project)
    os.environ["DJANGO_SETTINGS_MODULE"] = "project.settings"
    import django
    from django.conf import settings

    if not settings.configured or not getattr(settings, "_tokenward_setup", False):
        django.setup()
        settings._tokenward_setup = True
    from tokenward.contrib import django as tokenward_django

    tokenward_django._forget(setting="TOKENWARD")  # the store URL comes from this test's env
    settings.TOKENWARD = {**settings.TOKENWARD, "STORE": os.environ["TOKENWARD_STORE"]}
    if kind == "wsgi":
        from django.core.wsgi import get_wsgi_application

        return get_wsgi_application()
    from django.core.asgi import get_asgi_application

    return get_asgi_application()


TARGETS: dict[str, Callable[[], Target]] = {
    "wsgi": lambda: WebTestTarget(load_example("wsgi_app").app),
    "asgi": lambda: StarletteTarget(load_example("asgi_app").app),
    "flask": lambda: WebTestTarget(load_example("flask_app").app),
    "starlette": lambda: StarletteTarget(load_example("starlette_app").app),
    "fastapi": lambda: StarletteTarget(load_example("fastapi_app").app),
    "django-wsgi": lambda: WebTestTarget(django_app("wsgi")),
    "django-asgi": lambda: HttpxASGITarget(django_app("asgi")),
}
