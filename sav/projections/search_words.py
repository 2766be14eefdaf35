"""MariaDB's search rows: one `(word, seq)` row per word prefix of a ticket's text.

InnoDB's FULLTEXT index answers a word with every document holding it, in its own
document order: "the newest 20 matches" read and sorted all of them. These rows answer
it in `seq` order instead (docs/decisions/0170-scale.md): the primary key `(word, seq)`
holds each word's tickets newest last, so a search reads one word backwards from the
page's cursor and stops after the page; `(word, user_id, seq)` does the same for a
customer, who sees only their own tickets.

The words are those of the search's rule (`sav.projections.search`): maximal runs of
letters and digits, compared without case or accents, a query word of three characters
or more matching the words it begins. A word is stored as each of its prefixes of 3 to
`PREFIXES_UP_TO` characters (a query word that long is one exact key) and, when longer,
whole as well (a longer query word: the key of its first `PREFIXES_UP_TO` characters,
then the whole word checked among the ticket's rows). Words longer than InnoDB's
`innodb_ft_max_token_size` (84) were never found and are not stored.

The projector keeps the rows (`write`, after the ticket row: `sav.projections.tickets`);
an edit rewrites a ticket's rows by its `seq` (the `(seq, word)` index), whatever the
table's size. A store's rows are written at once from the tickets (`fill`) when the
table is created (migration 0016) and after a rebuild's bulk load, which folds into a
SQLite file: SQLite searches through FTS5 and leaves this table empty.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from sqlalchemy import BigInteger, Column, Connection, Index, String, Table, func, select
from sqlalchemy.dialects import mysql
from sqlalchemy.sql.expression import TableClause

from sav.eventstore import prepared
from sav.eventstore.load_data import insert_rows
from sav.eventstore.schema import Identifier
from sav.projections.schema import read_metadata

MIN_WORD = 3  # shorter query words are matched as substrings of the text
PREFIXES_UP_TO = 12
MAX_WORD = 84  # InnoDB's innodb_ft_max_token_size
WRITE_CHUNK = 5_000  # a ticket's rows per statement (a long text has many words)
FILL_CHUNK = 5_000  # tickets per statement when the rows are written from the tickets

ticket_words = Table(
    "support_ticket_words",
    read_metadata,
    Column("word", String(MAX_WORD).with_variant(
        mysql.VARCHAR(MAX_WORD, charset="utf8mb4", collation="utf8mb4_bin"), "mysql",
        "mariadb"), primary_key=True),
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("user_id", Identifier(64), nullable=True),
    Index("ix_ticket_words_user", "word", "user_id", "seq"),
    Index("ix_ticket_words_seq", "seq", "word"),
    mysql_engine="InnoDB",
)

# A row's columns, in the order the bulk writers give them. A duplicate is skipped
# (`ignore`): a start's `fill` and the projector may both write a new ticket's rows.
COLUMNS = ("word", "seq", "user_id")

_TOKEN = re.compile(r"[^\W_]+")


def folded(text: str) -> str:
    """`text` without case or accents (`Café` -> `cafe`)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def tokens(text: str) -> list[str]:
    """The words of `text` by the search's rule, folded."""
    return _TOKEN.findall(folded(text))


def keys(*texts: str | None) -> set[str]:
    """The rows' words for a ticket's texts: each word's prefixes, a long word whole."""
    found: set[str] = set()
    for text in texts:
        for token in set(tokens(text or "")):
            if not MIN_WORD <= len(token) <= MAX_WORD:
                continue
            found.update(token[:n] for n in range(MIN_WORD, min(len(token), PREFIXES_UP_TO) + 1))
            if len(token) > PREFIXES_UP_TO:
                found.add(token)
    return found


def key_of(word: str) -> str:
    """The row key a folded query word is looked up by (its first characters when it
    is longer than the stored prefixes)."""
    return word[:PREFIXES_UP_TO]


def write(conn: Connection, seq: int, user_id: str | None, subject: str | None,
          description: str | None, new: bool = False) -> None:
    """Make the ticket's rows those of its text (`new`: it has none yet). Only the rows
    that change are written: an edit of the subject leaves the description's rows."""
    wanted = keys(subject, description)
    t = ticket_words.c
    old: dict[str, Any] = {} if new else {row.word: row.user_id for row in conn.execute(
        select(t.word, t.user_id).where(t.seq == seq))}
    gone = [word for word in old if word not in wanted]
    if gone:
        conn.execute(ticket_words.delete().where(t.seq == seq, t.word.in_(gone)))
    if any(old[word] != user_id for word in old if word in wanted):
        conn.execute(ticket_words.update().where(t.seq == seq).values(user_id=user_id))
    added = sorted(word for word in wanted if word not in old)
    if added:
        _insert(conn, seq, user_id, added)


def _insert(conn: Connection, seq: int, user_id: str | None, words: list[str]) -> None:
    """A ticket's new rows, in one statement per WRITE_CHUNK. On MariaDB rendered here,
    each value by the driver's own escaping (`literal`): the driver's executemany
    formatted the same seq and user_id again for each row (~0.1 ms of a create's CPU
    for its ~25 rows, issue 21)."""
    if conn.dialect.name == "sqlite":
        insert_rows(conn, ticket_words.name, COLUMNS, [(word, seq, user_id) for word in words],
                    ignore=True)
        return
    literal = prepared.literal(conn)
    rest = f", {literal(seq)}, {literal(user_id)})"
    for start in range(0, len(words), WRITE_CHUNK):
        values = ",".join(f"({literal(word)}{rest}" for word in words[start:start + WRITE_CHUNK])
        prepared.execute_sql(
            conn, f"INSERT IGNORE INTO {ticket_words.name} (word, seq, user_id) VALUES {values}")


def fill(conn: Connection, tickets: TableClause) -> int:
    """Write the rows of every ticket newer than the newest one with rows (all of them
    in an empty table); returns the number of tickets read. Run where no projector
    writes (a migration, a rebuild's shadow) or at a start (a duplicate is skipped:
    `INSERT IGNORE`)."""
    after = conn.execute(select(func.max(ticket_words.c.seq))).scalar() or 0
    columns = select(tickets.c.seq, tickets.c.user_id, tickets.c.subject, tickets.c.description)
    read = 0
    while True:
        chunk = conn.execute(columns.where(tickets.c.seq > after).order_by(tickets.c.seq)
                             .limit(FILL_CHUNK)).all()
        if not chunk:
            return read
        # In primary-key order: InnoDB appends to fewer pages than in ticket order.
        rows = sorted((word, row.seq, row.user_id)
                      for row in chunk for word in keys(row.subject, row.description))
        # Plain tuples: a rebuild's shadow loads them with LOAD DATA, elsewhere the
        # driver's own executemany (SQLAlchemy's per-row parameter handling was most of
        # a rebuild's fill).
        insert_rows(conn, ticket_words.name, COLUMNS, rows, ignore=True)
        read += len(chunk)
        after = chunk[-1].seq
