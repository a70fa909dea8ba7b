"""Django: a middleware, a view decorator, system checks and a management command.

    INSTALLED_APPS = [..., "tokenward.contrib.django"]        # system checks, `manage.py tokenward`
    MIDDLEWARE = [..., "tokenward.contrib.django.TokenwardMiddleware"]
    TOKENWARD = {"STORE": "sqlite:///tokens.db", "RULES": [Rule.public("/health")]}

``settings.TOKENWARD`` is read once (and again only when tests override it); its keys are
``STORE`` (a URL, or ``"django"`` for the project's own database), ``DIRECTORY``, ``AUDIT``
and ``LIMITER`` (objects or dotted paths) plus ``Settings`` fields in capitals: the names
Flask's config and the environment use too (``Guard.from_mapping``). The identity is
``request.tokenward_identity``. Under ASGI, wrap the application so that pending last-used
times are written at shutdown (see ``docs/deploy.md``); under WSGI a normal worker exit
writes them.
The request path never touches the ORM: the store is tokenward's own.
"""

from __future__ import annotations

import dataclasses
import functools
import threading
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings as django_settings
from django.core.signals import setting_changed
from django.http import HttpRequest, HttpResponse

from tokenward.authenticator import Authenticator, Decision
from tokenward.core.acl import grants
from tokenward.core.request import RequestInfo
from tokenward.core.responses import Refusal
from tokenward.core.settings import Settings
from tokenward.factory import IDENTITY_KEY
from tokenward.guard import Guard, configuration
from tokenward.wsgi import request_from_environ

__all__ = ["TokenwardMiddleware", "get_authenticator", "requires", "settings_from_django"]

P = ParamSpec("P")
_lock = threading.Lock()
_authenticator: Authenticator | None = None


def settings_from_django(config: dict[str, Any]) -> tuple[Any, Settings, dict[str, Any]]:
    """(store, Settings, the guard's objects) from a ``TOKENWARD`` dict, validated as every
    integration validates its configuration; unknown keys are refused."""
    from tokenward.contrib.django.store import resolve_store_url

    store, settings, options = configuration(config)
    return resolve_store_url(store), settings, options


def get_authenticator() -> Authenticator:
    """The project's authenticator, from the ``Guard`` built from ``settings.TOKENWARD`` on
    first use (Django builds middleware lazily, so the guard is the settings' to own)."""
    global _authenticator  # noqa: PLW0603 - one per settings, rebuilt when they change
    with _lock:
        if _authenticator is None:
            config = getattr(django_settings, "TOKENWARD", {})
            store, settings, options = settings_from_django(config)
            _authenticator = Guard(store, settings, **options).start().authenticator
        return _authenticator


def _forget(*, setting: str, **_: Any) -> None:
    global _authenticator  # noqa: PLW0603
    if setting == "TOKENWARD":
        with _lock:
            if _authenticator is not None:
                _authenticator.close()
            _authenticator = None


setting_changed.connect(_forget)


def request_info(request: HttpRequest, settings: Settings) -> RequestInfo:
    """The WSGI shell's reading of ``request.META`` (an environ under WSGI; under ASGI
    Django fills the same keys, ``PATH_INFO`` below ``SCRIPT_NAME`` included, all but the
    scheme)."""
    info = request_from_environ(request.META, settings)
    if "wsgi.url_scheme" in request.META:
        return info
    return dataclasses.replace(info, scheme=request.scheme or "http")


def to_django(refusal: Refusal) -> HttpResponse:
    response = HttpResponse(refusal.body, status=refusal.status)
    for name, value in refusal.headers:
        response[name] = value
    return response


class TokenwardMiddleware:
    """Sync and async capable: Django runs it in whichever mode the stack around it uses."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.authenticator = get_authenticator()
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self.__acall__(request)
        decision = self.authenticator.authenticate(
            request_info(request, self.authenticator.settings)
        )
        return self._after(request, decision) or self.get_response(request)

    async def __acall__(self, request: HttpRequest) -> Any:
        decision = await self.authenticator.authenticate_async(
            request_info(request, self.authenticator.settings)
        )
        return self._after(request, decision) or await self.get_response(request)

    @staticmethod
    def _after(request: HttpRequest, decision: Decision) -> HttpResponse | None:
        if decision.refusal is not None:
            return to_django(decision.refusal)
        request.tokenward_identity = decision.identity  # type: ignore[attr-defined]
        request.META[IDENTITY_KEY] = decision.identity
        return None


R = TypeVar("R")


def requires(*acls: str) -> Callable[[Callable[P, R]], Callable[P, R | HttpResponse]]:
    """The view needs a token holding ``acls``: 401 without a token, 403 without the ACLs.
    Works on sync and async views."""
    required = frozenset(acls)

    def refusal(request: HttpRequest) -> HttpResponse | None:
        responses = get_authenticator().responses
        identity = getattr(request, "tokenward_identity", None)
        if identity is None:
            return to_django(responses.unauthorized)
        if not grants(identity.acls, required):
            return to_django(responses.forbidden)
        return None

    def decorate(view: Callable[P, R]) -> Callable[P, R | HttpResponse]:
        if iscoroutinefunction(view):

            @functools.wraps(view)
            async def async_wrapped(*args: P.args, **kwargs: P.kwargs) -> Any:
                return refusal(args[0]) or await view(*args, **kwargs)  # type: ignore[arg-type]

            return async_wrapped  # type: ignore[return-value]

        @functools.wraps(view)
        def wrapped(*args: P.args, **kwargs: P.kwargs) -> R | HttpResponse:
            return refusal(args[0]) or view(*args, **kwargs)  # type: ignore[arg-type]

        return wrapped

    return decorate
