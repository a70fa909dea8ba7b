"""``python manage.py tokenward <command> …``: the tokenward CLI, with the project's store."""

from __future__ import annotations

import argparse
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = "Manage API tokens (the `tokenward` command, on settings.TOKENWARD['STORE'])."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("arguments", nargs=argparse.REMAINDER)

    def handle(self, *args: Any, **options: Any) -> None:
        from tokenward.cli import main

        argv = list(options["arguments"])
        from tokenward.contrib.django.store import resolve_store_url

        store = resolve_store_url(getattr(settings, "TOKENWARD", {}).get("STORE"))
        if isinstance(store, str) and "--store" not in argv:
            argv = ["--store", store, *argv]
        status = main(argv)
        if status:
            raise CommandError(f"tokenward exited with status {status}", returncode=status)
