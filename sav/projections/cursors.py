"""Opaque list cursors: they encode a row's global position (its `seq`)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any

from sqlalchemy import Select, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from sav.events.errors import RuleViolationError


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"s{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        padded = (cursor + "=" * (-len(cursor) % 4)).encode()
        raw = base64.b64decode(padded, altchars=b"-_", validate=True).decode()
        if not raw.startswith("s") or not raw[1:].isascii() or not raw[1:].isdigit():
            raise ValueError
        position = int(raw[1:])
        if position >= 2**63:  # beyond any BIGINT position
            raise ValueError
        return position
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise RuleViolationError("invalid cursor", {"field": "cursor"}) from None


async def keyset_page(conn: AsyncConnection, query: Select[Any], key: ColumnElement[Any],
                      limit: int, cursor: str | None, *, descending: bool = False,
                      encode: Callable[[Any], str] = encode_cursor,
                      decode: Callable[[str], Any] = decode_cursor,
                      ) -> tuple[list[Any], str | None]:
    """One page of `query` in `key` order after `cursor`, and the cursor of the next page
    (None on the last): keyset pagination, stable while rows are added."""
    if cursor:
        after = decode(cursor)
        query = query.where(key < after if descending else key > after)
    order = key.desc() if descending else key
    rows = (await conn.execute(query.order_by(order).limit(limit + 1))).all()
    last = rows[limit - 1]._mapping[key] if len(rows) > limit else None
    return list(rows[:limit]), None if last is None else encode(last)


async def keyset_union_page(conn: AsyncConnection, queries: list[Select[Any]],
                            key: ColumnElement[Any], limit: int, cursor: str | None, *,
                            descending: bool = False) -> tuple[list[Any], str | None]:
    """`keyset_page` over rows any of `queries` selects (disjoint queries, the same
    columns): each reads its own page in `key` order, through its own index, and the
    page is the first `limit` of those. An OR of the conditions would make one read of
    every row either matches, then a sort of them all (MariaDB's choice for an agent's
    queue: their tickets, or the unassigned pool)."""
    if len(queries) == 1:
        return await keyset_page(conn, queries[0], key, limit, cursor, descending=descending)
    if cursor:
        after = decode_cursor(cursor)
        queries = [q.where(key < after if descending else key > after) for q in queries]
    order = key.desc() if descending else key
    parts = [q.order_by(order).limit(limit + 1).subquery() for q in queries]
    union = union_all(*(select(part) for part in parts)).subquery()
    assert key.key is not None  # a named column: the union's own has its name
    column = union.c[key.key]
    rows = (await conn.execute(select(union).order_by(
        column.desc() if descending else column).limit(limit + 1))).all()
    last = rows[limit - 1]._mapping[column] if len(rows) > limit else None
    return list(rows[:limit]), None if last is None else encode_cursor(last)
