from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from tokenward.contrib.django.models import Token


class RevokedFilter(admin.SimpleListFilter):
    """Revoked in place (reported leaked: the row is kept, marked) or not. Revoking by name,
    or deleting here, removes the row instead."""

    title = "revoked"
    parameter_name = "revoked"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Revoked"), ("no", "Not revoked")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "yes":
            return queryset.filter(revoked_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(revoked_at__isnull=True)
        return queryset


@admin.register(Token)
class TokenAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """View and revoke (delete). Tokens are created with ``manage.py tokenward create`` or
    the API, where the secret can be shown once; editing happens there too."""

    list_display = (
        "username",
        "realm",
        "name",
        "created_at",
        "expires_at",
        "last_used_at",
        "last_used_ip",
        "readonly",
        "revoked_at",
        "revoked_reason",
    )
    list_filter = ("realm", "readonly", RevokedFilter)
    search_fields = ("name", "username")
    # Read-only even should a subclass allow changes: a revocation is undone by no one.
    readonly_fields = ("revoked_at", "revoked_reason")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
