"""Shared fixtures. Integration and e2e tests run on both profiles (SQLite, MariaDB).

Every MariaDB test gets its own database, dropped afterwards. If MariaDB does not
answer, the MySQL-parametrized tests FAIL: nothing is skipped silently. Helpers live
in `tests/support/` (settings, HTTP client); this file only declares fixtures.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from sav.api.app import create_app
from sav.bootstrap import Services, bootstrap
from sav.config import Settings
from sav.events import clock
from sav.workers.inprocess import start_projector
from tests.support.http import Client
from tests.support.settings import (
    PROFILES,
    allow_large_mysql_packets,
    drop_mysql_database,
    make_settings,
)


@pytest.fixture(scope="session")
def mysql_allows_large_events() -> None:
    """Raised once per run, and only when a MariaDB test asks for settings."""
    allow_large_mysql_packets()


@pytest.fixture(params=PROFILES)
def profile(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings_env() -> dict[str, str]:
    """Override in a test module to add environment variables to `settings`."""
    return {}


@pytest.fixture
def settings(profile: str, tmp_path: Path, settings_env: dict[str, str],
             request: pytest.FixtureRequest) -> Iterator[Settings]:
    if profile == "mysql":
        request.getfixturevalue("mysql_allows_large_events")
    settings = make_settings(profile, tmp_path, **settings_env)
    yield settings
    if settings.is_mysql:
        drop_mysql_database(settings.db_database)


@pytest.fixture
async def services(settings: Settings) -> AsyncIterator[Services]:
    """The real services with its in-process projector, as `sav serve` builds it."""
    services = bootstrap(settings)
    start_projector(services)
    yield services
    await services.aclose()
    clock.reset()


@pytest.fixture
async def client(settings: Settings, services: Services) -> AsyncIterator[Client]:
    app = create_app(settings, services)
    yield Client(app)


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A real S3 server over HTTP (moto) for the whole run; each test uses its own bucket."""
    from tests.support.s3server import run_moto_server

    with run_moto_server() as endpoint:
        yield endpoint
