"""Opaque list cursors: they encode a row's global position (its `seq`)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any

from sqlalchemy import Select
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
