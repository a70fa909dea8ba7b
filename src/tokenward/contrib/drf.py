"""Django REST framework: an authentication class and a permission class.

    REST_FRAMEWORK = {
        "DEFAULT_AUTHENTICATION_CLASSES": ["tokenward.contrib.drf.TokenwardAuthentication"],
    }

    class ZoneView(APIView):
        permission_classes = [HasTokenACLs]
        required_acls = ("edit-dns",)

``request.user`` is a ``TokenUser`` (not a database row: the request path never touches the
ORM) and ``request.auth`` the ``Identity``. Failures give DRF's 401 with the cpanel challenge.
"""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from tokenward.contrib.django import get_authenticator, request_info
from tokenward.core.acl import grants
from tokenward.core.tokens import Identity
from tokenward.errors import FailureReason

__all__ = ["HasTokenACLs", "TokenUser", "TokenwardAuthentication"]


class TokenUser:
    """Enough of Django's user interface for DRF, permissions and templates."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False

    def __init__(self, identity: Identity) -> None:
        self.identity = identity
        self.username = identity.user
        self.pk = self.id = f"{identity.realm.value}:{identity.user}"

    def __str__(self) -> str:
        return self.username

    def get_username(self) -> str:
        return self.username


class TokenwardAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[TokenUser, Identity] | None:
        authenticator = get_authenticator()
        http = request._request
        known = getattr(http, "tokenward_identity", None)  # the middleware already decided
        if isinstance(known, Identity):
            return TokenUser(known), known
        decision = authenticator.authenticate(request_info(http, authenticator.settings))
        if decision.reason is FailureReason.MISSING:
            return None  # not our scheme: let other authentication classes try
        if decision.reason in (FailureReason.STORE_UNAVAILABLE, FailureReason.OVERLOADED):
            raise exceptions.APIException("service unavailable")
        if decision.reason in (FailureReason.MISSING_ACL, FailureReason.READ_ONLY):
            raise exceptions.PermissionDenied()
        if decision.reason is FailureReason.UNSAFE_PATH:
            raise exceptions.ParseError("bad request path")
        if decision.refusal is not None or decision.identity is None:
            raise exceptions.AuthenticationFailed()
        return TokenUser(decision.identity), decision.identity

    def authenticate_header(self, request: Request) -> str:
        """Makes DRF answer 401 (not 403) to unauthenticated requests."""
        return dict(get_authenticator().responses.unauthorized.headers)["www-authenticate"]


class HasTokenACLs(BasePermission):
    """Grants when the token's effective ACLs cover the view's ``required_acls``."""

    def has_permission(self, request: Request, view: Any) -> bool:
        identity = request.auth
        if not isinstance(identity, Identity):
            return False
        return grants(identity.acls, getattr(view, "required_acls", ()))
