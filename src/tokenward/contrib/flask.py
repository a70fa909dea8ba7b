"""Flask: ``Tokenward(app)`` or ``tokenward.init_app(app)``.

Configuration is read once, in ``init_app``, from ``app.config``: ``TOKENWARD_STORE`` (a URL
or a store; default ``$TOKENWARD_STORE``), ``TOKENWARD_DIRECTORY``, ``TOKENWARD_AUDIT`` and
``TOKENWARD_LIMITER`` (objects or dotted paths), and either ``TOKENWARD_SETTINGS`` (a
``Settings``) or individual ``TOKENWARD_<FIELD>`` keys (``TOKENWARD_RULES``, …): the same
names as Django's ``TOKENWARD`` and the environment (``Guard.from_mapping``). Or pass a
``Guard`` built elsewhere: ``Tokenward(app, guard=guard)``. Route rules decide which paths need
a token; ``@requires("edit-dns")`` adds ACLs per view. The identity is ``current_identity()``
(or ``g.tokenward_identity``). Pending last-used times are written by ``close()`` (call it
from your server's shutdown hook; a normal interpreter exit does it too).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from flask import Flask, Response, current_app, g, request

from tokenward.authenticator import Authenticator
from tokenward.core.acl import grants
from tokenward.core.responses import Refusal
from tokenward.core.tokens import Identity
from tokenward.factory import IDENTITY_KEY
from tokenward.guard import Guard
from tokenward.wsgi import request_from_environ

__all__ = ["Tokenward", "current_identity", "requires"]

P = ParamSpec("P")
R = TypeVar("R")
_EXTENSION = "tokenward"


class Tokenward:
    def __init__(
        self, app: Flask | None = None, *, guard: Guard | None = None, **options: Any
    ) -> None:
        """``options`` go to the ``Guard`` built from ``app.config`` (``clock``, …)."""
        self.guard = guard
        self.options = options
        self.authenticator: Authenticator | None = None
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        if self.guard is None:
            self.guard = Guard.from_mapping(config_values(app.config), **self.options)
        self.authenticator = self.guard.start().authenticator
        app.extensions[_EXTENSION] = self
        app.before_request(self._authenticate)

    def close(self) -> None:
        """Write pending last-used times (a server's shutdown hook calls this)."""
        if self.guard is not None:
            self.guard.close()

    def _authenticate(self) -> Response | None:
        assert self.authenticator is not None
        environ = request.environ
        decision = self.authenticator.authenticate(
            request_from_environ(environ, self.authenticator.settings)
        )
        if decision.refusal is not None:
            return to_flask(decision.refusal)
        g.tokenward_identity = decision.identity
        if decision.identity is not None:
            environ[IDENTITY_KEY] = decision.identity
        return None


def config_values(config: Any) -> dict[str, Any]:
    """The ``TOKENWARD_*`` keys without their prefix; ``Guard.from_mapping`` refuses
    unknown ones, so a typo never leaves a route open."""
    return {
        key[len("TOKENWARD_") :]: value
        for key, value in config.items()
        if key.startswith("TOKENWARD_")
    }


def to_flask(refusal: Refusal) -> Response:
    return Response(refusal.body, status=refusal.status, headers=list(refusal.headers))


def current_identity() -> Identity | None:
    """The request's identity, or ``None`` on a public route. A function rather than a
    proxy, so that ``current_identity() is None`` means what it says."""
    identity: Identity | None = g.get("tokenward_identity")
    return identity


def requires(*acls: str) -> Callable[[Callable[P, R]], Callable[P, R | Response]]:
    """The view needs a token holding ``acls`` (401 without a token, 403 without the ACLs)."""
    required = frozenset(acls)

    def decorate(view: Callable[P, R]) -> Callable[P, R | Response]:
        @functools.wraps(view)
        def wrapped(*args: P.args, **kwargs: P.kwargs) -> R | Response:
            extension: Tokenward = current_app.extensions[_EXTENSION]
            assert extension.authenticator is not None
            responses = extension.authenticator.responses
            identity = current_identity()
            if identity is None:
                return to_flask(responses.unauthorized)
            if not grants(identity.acls, required):
                return to_flask(responses.forbidden)
            return view(*args, **kwargs)

        return wrapped

    return decorate
