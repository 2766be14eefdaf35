"""Opaque list cursors: they encode a row's global position (its `seq`).

A cursor is the unpadded base64url of `s` and the position's decimal digits (at most 18:
below any BIGINT), or of `d`, a due time's 18 digits (microseconds since 1970) and the
position (`sort=sla_due`, `sav.projections.sla_queries`). `/openapi.json` gives the
exact pattern (`CURSOR_PATTERN`), and the decoders apply that pattern first: a cursor is
accepted exactly when the document says it is well formed (issue 19), and each list
reads any of them (the position is the part that counts, after a due time)."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from typing import Any

from sqlalchemy import Select, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from sav.events.errors import RuleViolationError

MAX_DIGITS = 18  # 10**18 - 1 < 2**63 - 1: every such position binds as a BIGINT

# How base64 writes a decimal digit (bytes 0x30-0x39), by where it falls in a 3-byte
# group: the characters it takes there, alone or with the next digits.
_THIRD = "[AEIMQUYcgk]"  # a digit's low four bits, then two zero bits
_LAST = "[w-z0-5]"  # a digit as the group's third byte: 0b11 then its low four bits
_FIRST = "(?:[MN][DTjz]|O[DT])"  # a digit opening a group, with the next one's high bits
_GROUP = f"{_FIRST}{_THIRD}{_LAST}"
_TAIL = f"(?:(?:[MN][AQgw]|O[AQ])|{_FIRST}{_THIRD})"  # one digit, or two, at the end


def digits_cursor_pattern(prefix: str, most: int) -> str:
    """The exact pattern of unpadded base64url of `prefix` (one ASCII letter) and 1 to
    `most` decimal digits (`most` = 2 + 3k + 1 or + 2, k >= 0)."""
    byte = ord(prefix)
    lead = base64.urlsafe_b64encode(bytes([byte, 0x30]))[:2].decode()  # prefix + high bits
    groups, extra = divmod(most - 2, 3)
    assert extra in (1, 2), most
    longest = "(?:[MN][AQgw]|O[AQ])" if extra == 1 else _TAIL
    return (f"^{lead}(?:{_THIRD}|{_THIRD}{_LAST}(?:(?:{_GROUP}){{0,{groups - 1}}}{_TAIL}?"
            f"|(?:{_GROUP}){{{groups}}}{longest}?))$")


DUE_DIGITS = 18  # microseconds since 1970 of any datetime before the year 10000
CURSOR_PATTERN = "^(?:{}|{})$".format(
    *(digits_cursor_pattern(prefix, most)[1:-1]
      for prefix, most in (("s", MAX_DIGITS), ("d", DUE_DIGITS + MAX_DIGITS))))
_CURSOR = re.compile(CURSOR_PATTERN)


def encode_cursor(seq: int) -> str:
    return _encode(f"s{seq}")


def encode_due_cursor(due_micros: int, seq: int) -> str:
    return _encode(f"d{due_micros:0{DUE_DIGITS}d}{seq}")


def _encode(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The position a cursor names (after its due time, if it has one)."""
    return decode_any(cursor)[1]


def decode_any(cursor: str) -> tuple[int | None, int]:
    """(due time in microseconds or None, position) of a cursor; 422 if the pattern
    refuses it. A `d` cursor of 18 digits or fewer is a position alone."""
    if not _CURSOR.match(cursor):
        raise RuleViolationError("invalid cursor", {"field": "cursor"})
    cursor = cursor.removesuffix("\n")  # `$` allows one, in the document's checkers too
    try:
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_",
                               validate=True).decode()
    except (ValueError, binascii.Error, UnicodeDecodeError):  # never for a matching one
        raise RuleViolationError("invalid cursor", {"field": "cursor"}) from None
    digits = raw[1:]
    if raw[0] == "d" and len(digits) > MAX_DIGITS:
        return int(digits[:DUE_DIGITS]), int(digits[DUE_DIGITS:])
    return None, int(digits)


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
