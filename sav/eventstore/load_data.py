"""Many rows into a table at once, for the bulk writers (a rebuild's shadow, the search
rows written from the tickets): on MariaDB, over a connection opened with
`local_infile` (`LOCAL_INFILE` below, in the URL of an engine only SAV's own bulk code
uses), one `LOAD DATA LOCAL INFILE` of a tab-separated file; anywhere else, the
driver's own executemany (multi-row INSERTs on pymysql).

`LOAD DATA` skips what made the INSERTs slow: pymysql escaping each value into one long
statement and the server parsing it back (a MariaDB rebuild's indexing phase, docs/
decisions/0011-replay.md). The values are the drivers' plain ones (str, int, float,
None; booleans as 0/1, datetimes and JSON as the text SQLAlchemy stores), written in
MariaDB's default escaping: `\\N` for NULL, a backslash before tab, newline, carriage
return and backslash, `\\0` for NUL. LOCAL lets the server ask the client for a file:
only this connection, to SAV's own database, has it.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pymysql.constants import CLIENT
from sqlalchemy import Connection

DUPLICATE_KEY = 1062
LOCAL_INFILE = {"local_infile": "1"}  # the URL query an engine for `insert_rows` takes
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\0": "\\0"})


def field(value: Any) -> str:
    """One value as `LOAD DATA` reads it with the default FIELDS/LINES options."""
    if value is None:
        return "\\N"
    if isinstance(value, str):
        return value.translate(_ESCAPES)
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float):
        return repr(value)
    raise TypeError(f"no tab-separated form for a {type(value).__name__}")


def loads_files(conn: Connection) -> bool:
    """Whether this connection may send `LOAD DATA LOCAL INFILE` (MariaDB, opened with
    `local_infile`)."""
    if conn.dialect.name != "mysql":
        return False
    raw = conn.connection.dbapi_connection
    return bool(getattr(raw, "client_flag", 0) & CLIENT.LOCAL_FILES)


def insert_rows(conn: Connection, table: str, names: Sequence[str],
                rows: Iterable[Sequence[Any]], ignore: bool = False) -> None:
    """`rows` (tuples in the order of `names`) into `table`, in the connection's
    transaction; `ignore`: a row whose key exists is skipped."""
    quote = conn.dialect.identifier_preparer.quote
    columns = ", ".join(map(quote, names))
    if not loads_files(conn):
        mark = "?" if conn.dialect.name == "sqlite" else "%s"
        verb = ("INSERT OR IGNORE" if conn.dialect.name == "sqlite" else "INSERT IGNORE") \
            if ignore else "INSERT"
        batch = [tuple(row) for row in rows]
        if batch:
            conn.exec_driver_sql(f"{verb} INTO {quote(table)} ({columns}) "
                                 f"VALUES ({', '.join([mark] * len(names))})", batch)
        return
    with tempfile.TemporaryDirectory(prefix="sav-load-") as folder:
        path = Path(folder) / "rows.tsv"
        with path.open("w", encoding="utf-8", newline="\n") as out:
            out.writelines("\t".join(map(field, row)) + "\n" for row in rows)
        # pymysql renders the file name as a quoted literal (client-side parameters).
        conn.exec_driver_sql(
            f"LOAD DATA LOCAL INFILE %s {'IGNORE' if ignore else ''} INTO TABLE "
            f"{quote(table)} CHARACTER SET utf8mb4 ({columns})", (str(path),))
    # LOCAL turns what would be errors (a value that does not fit its column) into
    # warnings: a row loaded differently from what was written is a failure here.
    warnings = conn.exec_driver_sql("SHOW WARNINGS LIMIT 3").all()
    if warnings and not (ignore and all(w[1] == DUPLICATE_KEY for w in warnings)):
        raise ValueError(f"LOAD DATA into {table}: {[tuple(w) for w in warnings]}")
