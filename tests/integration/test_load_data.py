"""`insert_rows` on both profiles: the LOAD DATA path (MariaDB, a connection opened with
local_infile, as a rebuild's shadow is) stores every value exactly as the INSERT path
does — text with tabs, newlines, backslashes, NUL and accents, NULL, integers, floats,
booleans, JSON and datetime text — and refuses a row it would have stored differently."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Engine,
    Float,
    MetaData,
    String,
    Table,
    Text,
    select,
)

from sav.config import Settings
from sav.eventstore.db import build_engine
from sav.eventstore.load_data import LOCAL_INFILE, field, insert_rows, loads_files
from tests.support.settings import drop_mysql_database, make_settings

metadata = MetaData()
sample = Table("load_data_sample", metadata,
               Column("id", BigInteger, primary_key=True),
               Column("text", Text), Column("short", String(20)), Column("ratio", Float),
               Column("flag", Boolean), Column("at", DateTime))
NAMES = ("id", "text", "short", "ratio", "flag", "at")
ROWS = [
    (1, "tab\there, newline\nthere, cr\rand back\\slash \\N", "NULL", 0.1, 1,
     "2026-01-05 08:00:00.123456"),
    (2, None, "", -2.5e-7, 0, None),
    (3, 'é ü 漢字 😀 {"a": [1, "b\\"c"]}', "\\", 12345678901.0, 1, "2026-12-31 23:59:59"),
    (4, "nul \0 inside", None, None, None, "2026-01-05 08:00:00"),
]


@pytest.fixture
def engines(settings: Settings) -> Iterator[tuple[Engine, Engine]]:
    """The plain engine and one that may load files (MariaDB; the same on SQLite)."""
    plain = build_engine(settings.database_url, pool_size=1)
    url = plain.url.update_query_dict(LOCAL_INFILE) if settings.is_mysql else plain.url
    loading = build_engine(url.render_as_string(hide_password=False), pool_size=1)
    yield plain, loading
    loading.dispose()
    plain.dispose()


def stored(engine: Engine) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(select(sample).order_by(sample.c.id))]


def test_load_data_stores_what_insert_stores(settings: Settings,
                                             engines: tuple[Engine, Engine]) -> None:
    plain, loading = engines
    with plain.begin() as conn:
        metadata.create_all(conn)
        assert not loads_files(conn)
        insert_rows(conn, sample.name, NAMES, ROWS)
    inserted = stored(plain)
    with plain.begin() as conn:
        conn.execute(sample.delete())
    with loading.begin() as conn:
        assert loads_files(conn) == settings.is_mysql
        insert_rows(conn, sample.name, NAMES, iter(ROWS))
    assert stored(plain) == inserted
    assert inserted[0][1] == ROWS[0][1] and inserted[3][1] == ROWS[3][1]
    with loading.begin() as conn:  # a key already there: skipped with ignore
        insert_rows(conn, sample.name, NAMES, [(1, "other", None, None, None, None)],
                    ignore=True)
    assert stored(plain) == inserted
    with plain.begin() as conn:
        metadata.drop_all(conn)


def test_load_data_refuses_a_value_it_would_change(tmp_path: Path) -> None:
    """MariaDB only: LOCAL turns a value that does not fit into a warning, which
    `insert_rows` makes a failure (SQLite stores what it is given)."""
    settings = make_settings("mysql", tmp_path)
    plain = build_engine(settings.database_url, pool_size=1)
    loading = build_engine(plain.url.update_query_dict(LOCAL_INFILE).render_as_string(
        hide_password=False), pool_size=1)
    with plain.begin() as conn:
        metadata.create_all(conn)
    try:
        with pytest.raises(ValueError, match="LOAD DATA into load_data_sample"), \
                loading.begin() as conn:
            insert_rows(conn, sample.name, NAMES, [(9, "x", "y" * 21, None, None, None)])
        assert stored(plain) == []  # the transaction rolled back
    finally:
        loading.dispose()
        plain.dispose()
        drop_mysql_database(settings.db_database)


def test_every_value_has_its_tab_separated_form() -> None:
    assert [field(v) for v in (None, "a\tb\\", True, 3, 0.5)] == ["\\N", "a\\tb\\\\", "1",
                                                                  "3", "0.5"]
    with pytest.raises(TypeError):
        field(b"bytes")
