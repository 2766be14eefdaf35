"""Ticket statistics, computed in SQL over the read model and scoped to the caller."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import ColumnElement, case, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncConnection

from sav.commands.actor import Actor
from sav.projections.tickets import PRIORITIES, STATUSES, support_tickets, visible_to

t = support_tickets.c


def seconds_between(dialect: str, start: Any, end: Any) -> ColumnElement[Any]:
    if dialect == "sqlite":
        return (func.julianday(end) - func.julianday(start)) * 86400.0
    return func.timestampdiff(literal_column("MICROSECOND"), start, end) / 1_000_000.0


async def ticket_statistics(
    conn: AsyncConnection, actor: Actor, args: Mapping[str, Any]
) -> dict[str, Any]:
    dialect = conn.dialect.name
    scope = visible_to(actor)
    by_status = {status: 0 for status in STATUSES}
    by_priority = {priority: 0 for priority in PRIORITIES}
    for status, priority, count in (await conn.execute(
        select(t.status, t.priority, func.count()).where(scope).group_by(t.status, t.priority)
    )).all():
        by_status[status] += count
        by_priority[priority] += count
    row = (await conn.execute(select(
        func.count(),
        func.avg(seconds_between(dialect, t.created_at, t.first_response_at)),
        func.avg(seconds_between(dialect, t.created_at, t.resolved_at)),
        func.avg(t.satisfaction_rating),
        func.count(t.satisfaction_rating),
        func.sum(case((t.escalated_at.is_not(None), 1), else_=0)),
    ).where(scope))).one()
    total = int(row[0])
    workload = (await conn.execute(
        select(t.assigned_to, func.count())
        .where(scope, t.assigned_to.is_not(None),
               t.status.notin_(("resolved", "closed")))
        .group_by(t.assigned_to).order_by(t.assigned_to)
    )).all()
    if not actor.is_staff:
        workload = []
    return {
        "total": total,
        "by_status": by_status,
        "by_priority": by_priority,
        "avg_first_response_seconds": _round(row[1]),
        "avg_resolution_seconds": _round(row[2]),
        "satisfaction": {"average": _round(row[3]), "count": int(row[4] or 0)},
        "escalation_rate": round(int(row[5] or 0) / total, 4) if total else 0.0,
        "agent_workload": [{"agent_id": agent, "open": int(n)} for agent, n in workload],
    }


def _round(value: Any) -> float | None:
    return None if value is None else round(float(value), 3)

