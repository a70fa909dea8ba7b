"""The CLI run in-process through ``tokenward.cli.main``, in an empty working directory with
no store configured anywhere, so that any file a command makes is visible."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest

from tokenward.cli import main
from tokenward.testing import FrozenClock


@dataclasses.dataclass(frozen=True)
class Result:
    status: int
    out: str
    err: str


Cli = Callable[..., Result]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory, the fast argon2 profile, and no ``$TOKENWARD_STORE``."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TOKENWARD_ARGON2", "fast")
    monkeypatch.delenv("TOKENWARD_STORE", raising=False)
    return tmp_path


@pytest.fixture
def cli(workdir: Path, clock: FrozenClock, capsys: pytest.CaptureFixture[str]) -> Cli:
    """``cli("list", "--json")``: the exit status and what went to stdout and stderr."""

    def invoke(*argv: str) -> Result:
        capsys.readouterr()
        status = main(list(argv), clock=clock)
        captured = capsys.readouterr()
        return Result(status, captured.out, captured.err)

    return invoke
