"""Settings for tests: the fixed JWT secret, the two profiles, a per-test MariaDB database.

MariaDB is taken from `SAV_TEST_MYSQL_HOST/PORT/USER/PASSWORD` (default 127.0.0.1:3306 root),
which tests/conftest.py points at a throwaway server when none answers there
(tests/support/services.py).
"""

from __future__ import annotations

import os
import uuid
import warnings
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from sav.config import Settings, load_settings

JWT_SECRET = "test-secret-not-for-production-0123456789"
PROFILES = ["sqlite", "mysql"]
# An unreachable server must not stall a run that only needs SQLite.
MYSQL_CONNECT_TIMEOUT_SECONDS = 2


def mysql_env() -> dict[str, str]:
    return {
        "DB_HOST": os.environ.get("SAV_TEST_MYSQL_HOST", "127.0.0.1"),
        "DB_PORT": os.environ.get("SAV_TEST_MYSQL_PORT", "3306"),
        "DB_USERNAME": os.environ.get("SAV_TEST_MYSQL_USER", "root"),
        "DB_PASSWORD": os.environ.get("SAV_TEST_MYSQL_PASSWORD", ""),
    }


def mysql_server_engine() -> Engine:
    """An engine on the test server itself (no database selected), one connection per use."""
    env = mysql_env()
    return create_engine(
        f"mysql+pymysql://{env['DB_USERNAME']}:{env['DB_PASSWORD']}@{env['DB_HOST']}:"
        f"{env['DB_PORT']}/", poolclass=NullPool,
        connect_args={"connect_timeout": MYSQL_CONNECT_TIMEOUT_SECONDS})


def drop_mysql_database(name: str) -> None:
    engine = mysql_server_engine()
    with engine.connect() as conn:
        # A connection left open on the database makes the drop wait: not for a day.
        conn.execute(text("SET SESSION lock_wait_timeout = 120"))
        conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
    engine.dispose()


class LaterDrops:
    """Drops the databases of finished tests on a thread of its own, so that a test does
    not wait for its `DROP DATABASE` (a file per table to delete: a large share of a short
    MariaDB test). `wait` at the end of the run: every drop done, the first error raised."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="sav-drop-db")
        self._pending: list[Future[None]] = []

    def drop(self, name: str) -> None:
        self._pending.append(self._pool.submit(drop_mysql_database, name))

    def wait(self) -> None:
        self._pool.shutdown(wait=True)
        for pending in self._pending:
            pending.result()


class ServerSettingChanged(UserWarning):
    """The suite changed a setting of a server it did not start: shown in the warnings
    summary at the end of the run, so it is never a silent change to the machine."""


def allow_large_mysql_packets() -> None:
    """Events up to 16 MiB need max_allowed_packet >= 64M on the server (MariaDB's default
    is 16M; a session cannot raise its own). The test user is root, so the suite raises it
    globally itself when it can, and says so (the servers it starts have it already)."""
    engine = mysql_server_engine()
    try:
        with engine.connect() as conn:
            current = conn.execute(text("SELECT @@global.max_allowed_packet")).scalar_one()
            if int(current) < 64 * 1024 * 1024:
                conn.execute(text("SET GLOBAL max_allowed_packet = 67108864"))
                env = mysql_env()
                warnings.warn(ServerSettingChanged(
                    f"the tests raised max_allowed_packet on the MariaDB at {env['DB_HOST']}:"
                    f"{env['DB_PORT']} from {int(current) // 1024 // 1024} MiB to 64 MiB "
                    "(SET GLOBAL, for events up to 16 MiB): it stays until that server "
                    "restarts"), stacklevel=2)
    except SQLAlchemyError:  # the MySQL tests themselves report an unreachable server
        pass
    finally:
        engine.dispose()


def make_settings(profile: str, data_dir: Path, **env: str) -> Settings:
    values = {"SAV_DATA_DIR": str(data_dir), "AUTH_JWT_SECRET": JWT_SECRET,
              "SAV_READ_YOUR_WRITES_TIMEOUT": "10"}
    if profile == "mysql":
        values.update(mysql_env())
        values.update(DB_CONNECTION="mysql", DB_DATABASE=f"sav_test_{uuid.uuid4().hex[:12]}")
    values.update(env)
    return load_settings(values)
