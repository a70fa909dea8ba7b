"""examples/testing is a user's own test suite: it must pass as a user would run it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).parents[2] / "examples" / "testing"


def test_the_sample_projects_tests_pass_with_the_plugin() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(EXAMPLES),
            "-c",
            "/dev/null",
            "-W",
            "ignore::DeprecationWarning",
            str(EXAMPLES),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=EXAMPLES,
        env={k: v for k, v in os.environ.items() if k != "TOKENWARD_STORE"},  # as a user's
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "10 passed" in result.stdout
