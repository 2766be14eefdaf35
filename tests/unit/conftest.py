"""Unit-tier fixtures: the real application on the in-memory store, a clean clock."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sav.commands.app import SavApplication
from sav.events import clock
from tests.support.domain import new_app


@pytest.fixture
def app() -> SavApplication:
    return new_app()


@pytest.fixture(autouse=True)
def clean_clock() -> Iterator[None]:
    """Tests that move the clock leave it as they found it."""
    yield
    clock.reset()
