"""What a Galera cluster needs of SAV, on one real MariaDB (tests/e2e/test_galera.py runs
the cluster itself): a transaction the server rolled back (1213) leaves the error
boundary as `TransactionAbortedError`, and the command that met it runs again as a whole;
the cluster lock row excludes a second holder until the first frees it.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import create_async_engine

from sav.commands.actor import Actor
from sav.commands.policy import ABORTED_ATTEMPTS, command_handler
from sav.eventstore.db import build_engine
from sav.eventstore.errors import TransactionAbortedError, persistence_error
from sav.eventstore.galera import ClusterLock, ClusterLockTimeoutError
from tests.support.settings import drop_mysql_database, make_settings, mysql_env

pytestmark = pytest.mark.mysql

ADMIN = Actor(user_id="admin-1", role="admin")


@pytest.fixture
def engine() -> Iterator[Engine]:
    env = mysql_env()
    name = f"sav_test_{uuid.uuid4().hex[:12]}"
    built = build_engine(f"mysql+pymysql://{env['DB_USERNAME']}:{env['DB_PASSWORD']}@"
                         f"{env['DB_HOST']}:{env['DB_PORT']}/{name}?charset=utf8mb4")
    try:
        yield built
    finally:
        built.dispose()
        drop_mysql_database(name)


def deadlock(engine: Engine) -> sa_exc.DBAPIError:
    """Two transactions that take two rows in opposite orders: the server rolls one back."""
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE pair (id INT PRIMARY KEY, n INT) ENGINE=InnoDB"))
        conn.execute(text("INSERT INTO pair VALUES (1, 0), (2, 0)"))
    both_hold = threading.Barrier(2)
    errors: list[sa_exc.DBAPIError] = []

    def take(first: int, second: int) -> None:
        try:
            with engine.begin() as conn:
                conn.execute(text("UPDATE pair SET n = n + 1 WHERE id = :id"), {"id": first})
                both_hold.wait(timeout=10)
                conn.execute(text("UPDATE pair SET n = n + 1 WHERE id = :id"), {"id": second})
        except sa_exc.DBAPIError as error:
            errors.append(error)

    threads = [threading.Thread(target=take, args=order) for order in ((1, 2), (2, 1))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    [error] = errors
    return error


def test_a_deadlock_is_an_aborted_transaction_at_the_boundary(engine: Engine) -> None:
    error = deadlock(engine)
    assert error.orig.args[0] == 1213
    assert isinstance(persistence_error(error), TransactionAbortedError)


def test_an_aborted_command_runs_again_as_a_whole_and_a_nested_one_does_not() -> None:
    runs: list[str] = []

    @command_handler
    def inner(app: Any, actor: Actor) -> None:
        runs.append("inner")
        if runs.count("inner") == 1:
            raise TransactionAbortedError("1213: certification conflict")

    @command_handler
    def outer(app: Any, actor: Actor) -> str:
        runs.append("outer")
        inner(app, actor)
        return "done"

    assert outer(None, ADMIN) == "done"
    # The nested command re-raised; the outermost ran again, the inner one with it.
    assert runs == ["outer", "inner", "outer", "inner"]


def test_a_command_aborted_every_time_gives_up() -> None:
    runs: list[int] = []

    @command_handler
    def always_aborted(app: Any, actor: Actor) -> None:
        runs.append(1)
        raise TransactionAbortedError("1213")

    with pytest.raises(TransactionAbortedError):
        always_aborted(None, ADMIN)
    assert len(runs) == ABORTED_ATTEMPTS


def test_the_cluster_lock_row_excludes_a_second_holder_until_freed(engine: Engine) -> None:
    first, second = ClusterLock(engine, "sav_schema"), ClusterLock(engine, "sav_schema")
    with first.held(), pytest.raises(ClusterLockTimeoutError), second.held(wait=0.5):
        pass
    with second.held(wait=5):
        with engine.connect() as conn:
            owner = conn.execute(text("SELECT owner FROM sav_cluster_locks")).scalar_one()
        assert owner == second.owner
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM sav_cluster_locks")).scalar_one() == 0


async def test_db_wsrep_sync_wait_is_set_on_every_session_sync_and_async(
        tmp_path: Path) -> None:
    settings = make_settings("mysql", tmp_path, DB_WSREP_SYNC_WAIT="1")
    engine = build_engine(settings.database_url)
    reads = create_async_engine(settings.async_database_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT @@wsrep_sync_wait")).scalar_one() == 1
        async with reads.connect() as conn:
            assert (await conn.execute(text("SELECT @@wsrep_sync_wait"))).scalar_one() == 1
    finally:
        await reads.dispose()
        engine.dispose()
        drop_mysql_database(settings.db_database)
    # Off by default: nothing is sent (MySQL itself has no such variable).
    assert "wsrep" not in make_settings("mysql", tmp_path).database_url
