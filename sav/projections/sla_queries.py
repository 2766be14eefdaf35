"""Ticket lists by service level (issue 23, staff only): `?sla=breached` (a metric
broke), `?sla=at_risk` (the next due time is within the hour) and `sort=sla_due` (the
earliest running due time first, tickets without one last), a keyset page at a time
on the indexed `sla_next_due_at` (ties by `seq`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Select, and_, or_, true
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from sav.events.errors import RuleViolationError
from sav.projections.cursors import decode_any, encode_cursor, encode_due_cursor
from sav.projections.schema import naive_utc
from sav.projections.tickets import support_tickets

SLA_FILTERS = ("breached", "at_risk")
SORTS = ("sla_due",)
AT_RISK = timedelta(hours=1)
EPOCH = datetime(1970, 1, 1)
LAST = (datetime.max - EPOCH) // timedelta(microseconds=1)  # beyond: the year 10000

t = support_tickets.c


def sla_filter(value: str, now: datetime) -> ColumnElement[bool]:
    if value == "breached":
        return t.sla_breached == true()
    if value == "at_risk":
        return t.sla_next_due_at <= naive_utc(now + AT_RISK)
    raise RuleViolationError("sla must be breached or at_risk", {"field": "sla"})


def _encode(due: datetime | None, seq: int) -> str:
    """A `d` cursor (due time and position), or an `s` one after the tickets without a
    due time (`sav.projections.cursors`: one documented pattern for every list)."""
    if due is None:
        return encode_cursor(seq)
    return encode_due_cursor(max(0, (due - EPOCH) // timedelta(microseconds=1)), seq)


def _decode(cursor: str) -> tuple[datetime | None, int]:
    micros, seq = decode_any(cursor)
    if micros is None:
        return None, seq
    if micros >= LAST:
        return datetime.max, seq
    return EPOCH + timedelta(microseconds=micros), seq


async def sla_due_page(conn: AsyncConnection, query: Select[Any], limit: int,
                       cursor: str | None) -> tuple[list[Any], str | None]:
    """One page of `query` by (next due time, nulls last; seq)."""
    due, seq = t.sla_next_due_at, t.seq
    if cursor:
        after_due, after_seq = _decode(cursor)
        if after_due is None:
            query = query.where(due.is_(None), seq > after_seq)
        else:
            query = query.where(or_(due > after_due, and_(due == after_due, seq > after_seq),
                                    due.is_(None)))
    ordered = query.order_by(sa.case((due.is_(None), 1), else_=0), due, seq)
    rows = (await conn.execute(ordered.limit(limit + 1))).all()
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = _encode(last.sla_next_due_at, last.seq)
    return list(rows[:limit]), next_cursor
