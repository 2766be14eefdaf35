"""Ticket lists by service level (issue 23, staff only): `?sla=breached` (a metric
broke), `?sla=at_risk` (the next due time is within the hour) and `sort=sla_due` (the
earliest running due time first, tickets without one last), a keyset page at a time
on the indexed `sla_next_due_at` (ties by `seq`)."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Select, and_, or_, true
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from sav.events.errors import RuleViolationError
from sav.projections.schema import naive_utc
from sav.projections.tickets import support_tickets

SLA_FILTERS = ("breached", "at_risk")
SORTS = ("sla_due",)
AT_RISK = timedelta(hours=1)

t = support_tickets.c


def sla_filter(value: str, now: datetime) -> ColumnElement[bool]:
    if value == "breached":
        return t.sla_breached == true()
    if value == "at_risk":
        return t.sla_next_due_at <= naive_utc(now + AT_RISK)
    raise RuleViolationError("sla must be breached or at_risk", {"field": "sla"})


def _encode(due: datetime | None, seq: int) -> str:
    raw = f"{'' if due is None else due.isoformat()}|{seq}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(cursor: str) -> tuple[datetime | None, int]:
    try:
        padded = (cursor + "=" * (-len(cursor) % 4)).encode()
        due, _, seq = base64.b64decode(padded, altchars=b"-_", validate=True).decode(
            ).partition("|")
        if not seq.isascii() or not seq.isdigit() or int(seq) >= 2**63:
            raise ValueError
        return (datetime.fromisoformat(due) if due else None), int(seq)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise RuleViolationError("invalid cursor", {"field": "cursor"}) from None


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
