"""The write path's statements run on the driver's cursor (`sav.eventstore.prepared`,
issue 21), on both profiles: they write what `conn.execute` writes (bind processors,
scalar defaults, matched-row counts), run through `conn.execute` what they cannot
prepare, fail with SQLAlchemy's errors, and give up a lost connection to the pool; a
ticket's search rows rendered by the driver's escaping hold any user id exactly."""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    select,
    text,
)
from sqlalchemy import exc as sa_exc

from sav.config import Settings
from sav.eventstore import prepared
from sav.eventstore.db import build_engine, engine_for, reader_for
from sav.projections import search_words
from sav.projections.runner import create_read_schema
from tests.support.settings import drop_mysql_database, make_settings

metadata = MetaData()
things = Table(
    "prepared_things", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("name", String(40), nullable=False),
    Column("data", JSON),
    Column("at", DateTime),
    Column("flag", Boolean, nullable=False, default=False),
    Column("locale", String(8), nullable=False, default="en"),
    Column("token", String(40), default=lambda: uuid.uuid4().hex),
)
ROW = {"name": "a'b\\c", "data": {"k": [1, "x"], "n": None}, "at": datetime(2026, 1, 2, 3, 4, 5)}
UPDATE = things.update().where(things.c.id == bindparam("key_id"))


@pytest.fixture
def engine(settings: Settings) -> Any:
    engine = engine_for(settings.database_url)
    metadata.create_all(engine)
    yield engine
    metadata.drop_all(engine)


def rows(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return conn.execute(select(things).order_by(things.c.id)).all()


def test_a_prepared_statement_writes_what_execute_writes(engine: Engine) -> None:
    """JSON and datetimes through their bind processors, a left-out column's scalar
    default; an update counts the rows it matched, changed or not."""
    insert = things.insert()
    with engine.begin() as conn:
        assert prepared.prepared(conn.dialect, insert, ("id", "token", *ROW)) is not None
        prepared.execute(conn, insert, [{"id": 1, "token": "t", **ROW}])
        conn.execute(insert, {"id": 2, "token": "t", **ROW})
        assert prepared.execute(conn, UPDATE, [{"key_id": 1, "flag": False}]) == 1
        assert prepared.execute(conn, UPDATE, [{"key_id": 3, "flag": True}]) == 0
    mine, theirs = rows(engine)
    assert mine._asdict() == {**theirs._asdict(), "id": 1}
    assert (mine.flag, mine.locale, mine.data) == (False, "en", ROW["data"])


def test_a_value_bound_in_the_statement_goes_with_the_rows(engine: Engine) -> None:
    rename = things.update().where(things.c.name == ROW["name"]).values(name=bindparam("new"))
    with engine.begin() as conn:
        prepared.execute(conn, things.insert(), [{"id": 1, "token": "t", **ROW}])
        assert prepared.prepared(conn.dialect, rename, ("new",)) is not None
        assert prepared.execute(conn, rename, [{"new": "b"}]) == 1
        assert prepared.execute(conn, rename, [{"new": "c"}]) == 0
    assert rows(engine)[0].name == "b"


def test_several_rows_go_as_one_executemany(engine: Engine) -> None:
    with engine.begin() as conn:
        assert prepared.execute(conn, things.insert(), [
            {"id": n, "token": "t", **ROW} for n in range(1, 4)]) == 3
    assert [row.id for row in rows(engine)] == [1, 2, 3]


def test_what_it_cannot_prepare_runs_through_execute(engine: Engine) -> None:
    """A callable default, an expanding IN: SQLAlchemy runs them, as before."""
    with engine.begin() as conn:
        assert prepared.prepared(conn.dialect, things.insert(), ("id", *ROW)) is None
        prepared.execute(conn, things.insert(), [{"id": 1, **ROW}])
        found = prepared.fetch_all(conn, select(things.c.id).where(
            things.c.id.in_(bindparam("ids", expanding=True))), {"ids": [1, 2]})
    assert found == [(1,)]
    assert len(rows(engine)[0].token) == 32


def test_a_prepared_statement_fails_like_execute(engine: Engine) -> None:
    """SQLAlchemy's IntegrityError, and the transaction rolls back as a whole."""
    with pytest.raises(sa_exc.IntegrityError), engine.begin() as conn:
        prepared.execute(conn, things.insert(), [{"id": 1, "token": "t", **ROW}])
        prepared.execute(conn, things.insert(), [{"id": 1, "token": "t", **ROW}])
    assert rows(engine) == []


def test_a_read_on_the_reader_pool_returns_plain_rows(settings: Settings,
                                                      engine: Engine) -> None:
    with engine.begin() as conn:
        prepared.execute(conn, things.insert(), [{"id": 7, "token": "t", **ROW}])
    query = select(things.c.id, things.c.name).where(things.c.id == bindparam("id"))
    reader = reader_for(settings.database_url)
    assert prepared.read_all(reader, query, {"id": 7}) == [(7, ROW["name"])]
    assert prepared.read_all(reader, query, {"id": 8}) == []


def test_a_lost_connection_is_invalidated(tmp_path: Path) -> None:
    """MariaDB (a SQLite file has no server to lose): the pool replaces a connection
    that died under a prepared statement."""
    settings = make_settings("mysql", tmp_path)
    engine = build_engine(settings.database_url, pool_size=1)
    metadata.create_all(engine)
    other = build_engine(settings.database_url, pool_size=1)
    try:
        with engine.connect() as conn:
            conn.begin()
            session = conn.execute(text("SELECT CONNECTION_ID()")).scalar()
            with other.connect() as killer:
                killer.execute(text(f"KILL {int(session)}"))
            with pytest.raises(sa_exc.DBAPIError):
                prepared.execute(conn, things.insert(), [{"id": 1, "token": "t", **ROW}])
            assert conn.invalidated
        assert rows(engine) == []  # a fresh connection
    finally:
        other.dispose()
        engine.dispose()
        drop_mysql_database(settings.db_database)


def test_search_rows_hold_any_user_id_exactly(settings: Settings) -> None:
    """MariaDB's rows are rendered with the driver's escaping: quotes and backslashes in
    a user id (a JWT subject) are stored as they are, on both profiles alike."""
    engine = engine_for(settings.database_url)
    create_read_schema(engine)
    user = "o'brien\\\"; --"
    with engine.begin() as conn:
        search_words.write(conn, 41, user, "Crème brûlée", "l'été 2026", new=True)
        search_words.write(conn, 42, None, "Crème", None, new=True)
    t = search_words.ticket_words.c
    with engine.connect() as conn:
        stored = conn.execute(select(t.word, t.seq, t.user_id)).all()
    assert sorted(stored) == sorted(
        [(word, 41, user) for word in search_words.keys("Crème brûlée", "l'été 2026")]
        + [(word, 42, None) for word in search_words.keys("Crème")])


def test_a_statement_first_on_a_connection_is_in_its_transaction(engine: Engine) -> None:
    """Run first on a `Connection`, a prepared statement begins its transaction as
    `conn.execute` would: a rollback undoes it, a commit keeps it."""
    with engine.connect() as conn:
        prepared.execute(conn, things.insert(), [{"id": 21, "token": "t", **ROW}])
        assert conn.in_transaction()
        conn.rollback()
    assert rows(engine) == []
    with engine.connect() as conn:
        prepared.execute(conn, things.insert(), [{"id": 22, "token": "t", **ROW}])
        conn.commit()
    assert [row[0] for row in rows(engine)] == [22]


def test_a_read_from_a_server_that_is_down_is_a_dependency_error(tmp_path: Path) -> None:
    """The reader's checkout fails as `engine.connect()` would fail: SQLAlchemy's
    OperationalError, which the API answers 503 (a Galera node killed under a create),
    never the driver's own error (a 500)."""
    from sav.api.errors import dependency_down

    settings = make_settings("mysql", tmp_path, DB_PORT="1")
    reader = build_engine(settings.database_url, reads_only=True)
    query = select(things.c.id).where(things.c.id == bindparam("id"))
    try:
        with pytest.raises(sa_exc.OperationalError) as raised:
            prepared.read_all(reader, query, {"id": 1})
        assert dependency_down(raised.value)
    finally:
        reader.dispose()
