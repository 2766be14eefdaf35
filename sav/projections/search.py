"""Full-text search of the ticket lists: newest matches first, a page at a time.

Every word of the query must match, by the same rule on both profiles: words of 3+
characters as word prefixes through the full-text index (SQLite FTS5 / InnoDB
FULLTEXT), shorter ones as substrings of the subject or description.

On SQLite a ticket's full-text row has the ticket's `seq` as its rowid
(`sav.projections.tickets`): the search joins the FTS5 table to the tickets on it and
reads the matches in descending rowid order, which FTS5 walks itself, so a page stops
after its rows however many tickets match. InnoDB's FULLTEXT index has no such order: it
collects every match, then the rows are sorted by `seq` (docs/decisions/0170-scale.md).
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import BigInteger, Column, MetaData, Select, Table, Text, and_, or_, text, true
from sqlalchemy.sql.elements import ColumnElement

from sav.projections.tickets import support_tickets

# InnoDB does not index words shorter than innodb_ft_min_token_size (3 by default).
MIN_INDEXED_WORD = 3

# The FTS5 table as SQLAlchemy sees it, to join and order by its rowid (its own
# metadata: `create_extras` makes it, not `create_all`).
support_tickets_fts = Table(
    "support_tickets_fts", MetaData(),
    Column("rowid", BigInteger, primary_key=True),
    Column("ticket_id", Text), Column("subject", Text), Column("description", Text),
)


def _words(q: str) -> tuple[list[str], list[str]]:
    words = re.findall(r"\w+", q)
    return ([w for w in words if len(w) >= MIN_INDEXED_WORD],
            [w for w in words if len(w) < MIN_INDEXED_WORD])


def _short_words(short: list[str]) -> list[ColumnElement[bool]]:
    t = support_tickets.c
    return [or_(t.subject.contains(w, autoescape=True), t.description.contains(w, autoescape=True))
            for w in short]


def fulltext_clause(dialect: str, q: str) -> ColumnElement[bool]:
    """`q` as one condition on `support_tickets` (the shape before the rowid join: kept
    for callers that only filter, and as the reference the tests compare with)."""
    indexed, short = _words(q)
    clauses = _short_words(short)
    if indexed and dialect == "sqlite":
        fts = support_tickets_fts
        clauses.append(support_tickets.c.id.in_(
            Select(fts.c.ticket_id).where(text("support_tickets_fts MATCH :fts_q").bindparams(
                fts_q=_fts5_match(indexed)))))
    elif indexed:
        clauses.append(_innodb_match(indexed))
    return and_(*clauses) if clauses else true()


def searched(query: Select[Any], dialect: str, q: str
             ) -> tuple[Select[Any], ColumnElement[Any]]:
    """`query` (on `support_tickets`, newest first by `seq`) narrowed to the tickets
    matching `q`, and the key to order and page it by. On SQLite that key is the FTS5
    rowid (equal to `seq`): ordering by it lets the full-text scan drive the join in
    that order, so the page's LIMIT stops it."""
    indexed, short = _words(q)
    query = query.where(*_short_words(short))
    if not indexed:
        return query, support_tickets.c.seq
    if dialect != "sqlite":
        return query.where(_innodb_match(indexed)), support_tickets.c.seq
    fts = support_tickets_fts
    joined = query.join_from(support_tickets, fts, fts.c.rowid == support_tickets.c.seq)
    match = text("support_tickets_fts MATCH :fts_q").bindparams(fts_q=_fts5_match(indexed))
    return joined.where(match).add_columns(fts.c.rowid), fts.c.rowid


def _fts5_match(words: list[str]) -> str:
    return " ".join('"' + w.replace('"', '""') + '"*' for w in words)


def _innodb_match(words: list[str]) -> ColumnElement[bool]:
    boolean = " ".join(f"+{w}*" for w in words)
    against = text("MATCH (support_tickets.subject, support_tickets.description) "
                   "AGAINST (:ft_q IN BOOLEAN MODE)").bindparams(ft_q=boolean)
    return against  # type: ignore[return-value]
