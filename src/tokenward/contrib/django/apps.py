from __future__ import annotations

from django.apps import AppConfig


class TokenwardConfig(AppConfig):
    name = "tokenward.contrib.django"
    label = "tokenward"
    verbose_name = "tokenward"

    def ready(self) -> None:
        from tokenward.contrib.django import checks  # noqa: F401 - registers the checks
