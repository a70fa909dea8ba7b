from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from tokenward.contrib.django.models import Token


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
    )
    list_filter = ("realm", "readonly")
    search_fields = ("name", "username")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
