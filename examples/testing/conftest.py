"""A user's conftest: make the example apps importable. Nothing about tokenward is needed
here: installing tokenward registers its pytest plugin, which points $TOKENWARD_STORE at a
throwaway store before this file runs, so the apps (built from $TOKENWARD_STORE at import)
and the tokens each test mints meet there."""

from __future__ import annotations

import os
import sys
from pathlib import Path

EXAMPLES = Path(__file__).parents[1]
sys.path[:0] = [str(EXAMPLES), str(EXAMPLES / "django_project")]
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
