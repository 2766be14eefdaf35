"""Full-text search of the ticket lists: newest matches first, a page at a time.

Every word of the query must match, by the same rule on both profiles: words of 3+
characters as word prefixes through the full-text index (SQLite FTS5 / InnoDB
FULLTEXT), shorter ones as substrings of the subject or description.

On SQLite a ticket's full-text row has the ticket's `seq` as its rowid
(`sav.projections.tickets`): the search joins the FTS5 table to the tickets on it and
reads the matches in descending rowid order, which FTS5 walks itself, so a page stops
after its rows however many tickets match. InnoDB's FULLTEXT index has no such order (it
collects every match): on MariaDB the search reads the projector's `(word, seq)` rows
instead (`sav.projections.search_words`), the rarest word's newest first, each of the
other words checked on the ticket's own rows, and stops after the page
(docs/decisions/0170-scale.md).
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    MetaData,
    Select,
    Table,
    Text,
    and_,
    false,
    func,
    literal,
    or_,
    select,
    text,
    true,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.expression import FromClause

from sav.projections.search_words import MAX_WORD, PREFIXES_UP_TO, key_of, ticket_words, tokens
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


async def searched(conn: AsyncConnection, query: Select[Any], q: str,
                   owner: str | None = None) -> tuple[Select[Any], ColumnElement[Any]]:
    """`query` (on `support_tickets`, newest first by `seq`) narrowed to the tickets
    matching `q`, and the key to order and page it by: a key the matches are read in,
    newest first, so the page's LIMIT stops the read. `owner`: the only customer whose
    tickets the caller sees or asked for (their rows are read alone)."""
    if conn.dialect.name != "sqlite":
        return await _searched_by_words(conn, query, q, owner)
    indexed, short = _words(q)
    query = query.where(*_short_words(short))
    if not indexed:
        return query, support_tickets.c.seq
    # The key is the FTS5 rowid (equal to `seq`): ordering by it lets the full-text scan
    # drive the join in that order.
    fts = support_tickets_fts
    joined = query.join_from(support_tickets, fts, fts.c.rowid == support_tickets.c.seq)
    match = text("support_tickets_fts MATCH :fts_q").bindparams(fts_q=_fts5_match(indexed))
    return joined.where(match).add_columns(fts.c.rowid), fts.c.rowid


# Rows of a word read at most to tell which query word is the rarest.
RARITY_PROBE = 1_000


async def _searched_by_words(conn: AsyncConnection, query: Select[Any], q: str,
                             owner: str | None) -> tuple[Select[Any], ColumnElement[Any]]:
    """MariaDB: the rarest query word's rows drive the search, newest first (the primary
    key `(word, seq)`, or `(word, user_id, seq)` for one customer); every ticket they
    name is a seek on `seq`, where the other words (each a seek on the ticket's rows),
    the short words, visibility and filters are checked. STRAIGHT_JOIN keeps that order:
    the optimizer would otherwise start from a narrowing ticket index and sort."""
    words = tokens(q)
    indexed = [w for w in dict.fromkeys(words) if len(w) >= MIN_INDEXED_WORD]
    query = query.where(*_short_words([w for w in words if len(w) < MIN_INDEXED_WORD]))
    if not indexed:
        return query, support_tickets.c.seq
    if any(len(w) > MAX_WORD for w in indexed):  # such words are never indexed
        return query.where(false()), support_tickets.c.seq
    driver, *others = await _rarest_first(conn, indexed, owner)
    rows = ticket_words
    # The other words joined on their unique key `(word, seq)`: a seek each, before the
    # ticket's row is read. (As EXISTS they became a semi-join that read every row of
    # the word first.)
    joined: FromClause = rows
    for i, word in enumerate(others):
        other = ticket_words.alias(f"other_word_{i}")
        joined = joined.join(other, and_(other.c.word == key_of(word), other.c.seq == rows.c.seq))
    query = query.select_from(joined.join(support_tickets, support_tickets.c.seq == rows.c.seq))
    query = query.where(rows.c.word == key_of(driver))
    if owner is not None:
        query = query.where(rows.c.user_id == owner)
    query = query.where(*(_has_whole_word(rows.c.seq, word) for word in [driver, *others]
                          if len(word) > PREFIXES_UP_TO))
    return query.add_columns(rows.c.seq).prefix_with("STRAIGHT_JOIN"), rows.c.seq


def _has_whole_word(seq: ColumnElement[Any], word: str) -> ColumnElement[bool]:
    """The ticket at `seq` has a whole word beginning with `word` (longer than the
    stored prefixes; words hold only letters and digits: nothing to escape). A scalar
    subquery with a LIMIT: MariaDB cannot turn it into a semi-join over every row."""
    other = ticket_words.alias()
    return select(literal(1)).where(other.c.seq == seq, other.c.word.like(word + "%")).limit(
        1).scalar_subquery().is_not(None)


async def _rarest_first(conn: AsyncConnection, words: list[str],
                        owner: str | None) -> list[str]:
    """`words`, the one with the fewest rows first (counted up to RARITY_PROBE each;
    among equals the longest, a longer prefix being the narrower)."""
    if len(words) == 1:
        return words
    counts = []
    for word in words:
        probe = select(literal(1)).where(ticket_words.c.word == key_of(word))
        if owner is not None:
            probe = probe.where(ticket_words.c.user_id == owner)
        counts.append(select(func.count()).select_from(
            probe.limit(RARITY_PROBE).subquery()).scalar_subquery())
    found = (await conn.execute(select(*counts))).one()
    return [word for _, _, word in sorted(
        (count, -len(word), word) for count, word in zip(found, words, strict=True))]


def _fts5_match(words: list[str]) -> str:
    return " ".join('"' + w.replace('"', '""') + '"*' for w in words)


def _innodb_match(words: list[str]) -> ColumnElement[bool]:
    boolean = " ".join(f"+{w}*" for w in words)
    against = text("MATCH (support_tickets.subject, support_tickets.description) "
                   "AGAINST (:ft_q IN BOOLEAN MODE)").bindparams(ft_q=boolean)
    return against  # type: ignore[return-value]
