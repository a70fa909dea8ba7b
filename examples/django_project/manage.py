#!/usr/bin/env python
"""``python manage.py tokenward create --user alice --name ci`` manages the project's tokens."""

from __future__ import annotations

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
