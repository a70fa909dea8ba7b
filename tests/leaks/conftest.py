"""Fixtures for the leak report endpoint's tests: ``Reports`` harnesses, closed after each
test (the revoker drained and stopped, the guard closed)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from .harness import Reports


@pytest.fixture
def make_reports() -> Iterator[Callable[..., Reports]]:
    """``Reports(**options)``, each closed at the end of the test."""
    made: list[Reports] = []

    def make(**options: Any) -> Reports:
        made.append(Reports(**options))
        return made[-1]

    yield make
    for each in made:
        each.revoker.close()
        each.guard.close()


@pytest.fixture
def reports(make_reports: Callable[..., Reports]) -> Reports:
    return make_reports()
