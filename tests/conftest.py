"""Shared fixtures. Integration and e2e tests run on both profiles (SQLite, MariaDB).

Every MariaDB test gets its own database, dropped afterwards. Where the machine has no
MariaDB or RabbitMQ (or with SAV_TEST_SERVICES=own) the run starts throwaway ones
(tests/support/services.py); nothing is skipped silently. Helpers live
in `tests/support/` (settings, HTTP client); this file only declares fixtures.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from sav.api.app import create_app
from sav.bootstrap import Services, bootstrap
from sav.config import Settings
from sav.events import clock
from sav.workers.inprocess import start_projector
from tests.support.http import Client
from tests.support.services import MissingProgramError, TestServices, plan_test_services
from tests.support.settings import (
    PROFILES,
    LaterDrops,
    allow_large_mysql_packets,
    make_settings,
)

SERVICES = pytest.StashKey[TestServices]()
STARTED = pytest.StashKey[list[str]]()


def pytest_configure(config: pytest.Config) -> None:
    """Before any test module is imported: point the helpers at a MariaDB and a RabbitMQ
    that answer, planning throwaway ones where needed (tests/support/services.py)."""
    config.stash[SERVICES] = plan_test_services(os.environ)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start the planned servers only if a selected test may use them (not unit tests)."""
    if any(not item.nodeid.startswith("tests/unit/") for item in session.items):
        try:
            session.config.stash[SERVICES].start()
        except MissingProgramError as error:
            raise pytest.UsageError(str(error)) from None


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Stop the servers this process started before it reports its end. An xdist worker
    still busy 5 s after the controller has all the reports gets a SIGINT from execnet:
    stopping RabbitMQ there (it can take that long) ended runs with a stray
    KeyboardInterrupt traceback and left servers running."""
    started = session.config.stash[SERVICES]
    session.config.stash[STARTED] = [f"own throwaway {server.name} on 127.0.0.1:{server.port}"
                                     for server in started.own]
    started.stop()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter,
                            config: pytest.Config) -> None:
    for line in config.stash.get(STARTED, []):
        terminalreporter.write_line(line)


def pytest_unconfigure(config: pytest.Config) -> None:
    if SERVICES in config.stash:  # a run that ended before its session did
        config.stash[SERVICES].stop()


@pytest.fixture(scope="session")
def later_drops() -> Iterator[LaterDrops]:
    """The MariaDB databases of finished tests, dropped in the background."""
    drops = LaterDrops()
    yield drops
    drops.wait()


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
    drops = request.getfixturevalue("later_drops") if settings.is_mysql else None
    yield settings
    if drops is not None:
        drops.drop(settings.db_database)


@pytest.fixture(scope="module", params=PROFILES)
def module_settings(request: pytest.FixtureRequest,
                    tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Settings shared by a module's tests, one database per profile: for a module whose
    tests share one expensive server (each test keeps to its own tickets and users)."""
    profile = str(request.param)
    if profile == "mysql":
        request.getfixturevalue("mysql_allows_large_events")
    settings = make_settings(profile, tmp_path_factory.mktemp(f"module-{profile}"))
    drops = request.getfixturevalue("later_drops") if settings.is_mysql else None
    yield settings
    if drops is not None:
        drops.drop(settings.db_database)


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
    client = Client(create_app(settings, services))
    yield client
    await client.aclose()


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A real S3 server over HTTP (moto) for the whole run; each test uses its own bucket."""
    from tests.support.s3server import run_moto_server

    with run_moto_server() as endpoint:
        yield endpoint
