"""A user's conftest: make the example apps importable. Nothing about tokenward is needed
here: installing tokenward registers its pytest plugin, whose fixtures mint real tokens into
a test store that every app in the process serves from during each test."""

from __future__ import annotations

import os
import sys
from pathlib import Path

EXAMPLES = Path(__file__).parents[1]
sys.path[:0] = [str(EXAMPLES), str(EXAMPLES / "django_project")]
os.environ.setdefault("TOKENWARD_STORE", "memory://")  # no stray SQLite file from imports
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
