"""Ticket statistics, computed in SQL over the read model and scoped to the caller.

`from`/`to` select tickets by `created_at` (both inclusive; a date-only `to` covers
that whole day); every figure is over the selected tickets. `group_by=day|week`
adds a `series` bucketed by creation day or ISO week (Monday), in UTC.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, literal_column, select, true
from sqlalchemy.ext.asyncio import AsyncConnection

from sav.commands.actor import Actor
from sav.commands.policy import AGENT_POOL_EXCLUDES
from sav.events.errors import RuleViolationError
from sav.events.rules import Priority, Status
from sav.projections.agents import support_agents
from sav.projections.schema import naive_utc
from sav.projections.ticket_queries import visible_to
from sav.projections.tickets import support_tickets

t = support_tickets.c
GROUPINGS = ("day", "week")


def seconds_between(dialect: str, start: Any, end: Any) -> ColumnElement[Any]:
    if dialect == "sqlite":
        return (func.julianday(end) - func.julianday(start)) * 86400.0
    return func.timestampdiff(literal_column("MICROSECOND"), start, end) / 1_000_000.0


def parse_bound(name: str, raw: str | None, end: bool = False) -> datetime | None:
    """An ISO date or datetime (naive = UTC); invalid values are a 422."""
    if raw is None or not raw.strip():
        return None
    raw = raw.strip()
    try:
        if len(raw) == 10:
            day = date.fromisoformat(raw)
            moment = datetime(day.year, day.month, day.day)
            return moment + timedelta(days=1) if end else moment
        return naive_utc(datetime.fromisoformat(raw.replace("Z", "+00:00")))
    except (ValueError, OverflowError):  # OverflowError: 9999-12-31 plus a day, say
        raise RuleViolationError(f"{name} must be an ISO date or datetime",
                                 {"field": name}) from None


def selection(actor: Actor, args: Mapping[str, Any]) -> ColumnElement[bool]:
    start = parse_bound("from", args.get("from"))
    end_raw = args.get("to")
    end = parse_bound("to", end_raw, end=True)
    to_start = parse_bound("to", end_raw)
    if start is not None and to_start is not None and start > to_start:
        raise RuleViolationError("from must not be after to", {"field": "from"})
    clauses = [visible_to(actor)]
    if start is not None:
        clauses.append(t.created_at >= start)
    if end is not None:
        date_only = len(str(end_raw).strip()) == 10
        clauses.append(t.created_at < end if date_only else t.created_at <= end)
    return and_(true(), *clauses)


def _bucket(dialect: str, grouping: str) -> ColumnElement[Any]:
    if dialect == "sqlite":
        if grouping == "day":
            return func.date(t.created_at)
        return func.date(t.created_at, "weekday 0", "-6 days")
    if grouping == "day":
        return func.date(t.created_at)
    return func.date_sub(func.date(t.created_at),
                         literal_column("INTERVAL WEEKDAY(support_tickets.created_at) DAY"))


def _averages(dialect: str) -> list[ColumnElement[Any]]:
    return [
        func.avg(seconds_between(dialect, t.created_at, t.first_response_at)),
        func.avg(seconds_between(dialect, t.created_at, t.resolved_at)),
        func.sum(case((t.escalated_at.is_not(None), 1), else_=0)),
    ]


async def ticket_statistics(
    conn: AsyncConnection, actor: Actor, args: Mapping[str, Any]
) -> dict[str, Any]:
    grouping = args.get("group_by")
    if grouping is not None and grouping not in GROUPINGS:
        raise RuleViolationError("group_by must be day or week", {"field": "group_by"})
    dialect = conn.dialect.name
    scope = selection(actor, args)
    by_status = {status.value: 0 for status in Status}
    by_priority = {priority.value: 0 for priority in Priority}
    for status, priority, count in (await conn.execute(
        select(t.status, t.priority, func.count()).where(scope).group_by(t.status, t.priority)
    )).all():
        by_status[status] += count
        by_priority[priority] += count
    first, resolution, escalated = _averages(dialect)
    row = (await conn.execute(select(
        func.count(), first, resolution, func.avg(t.satisfaction_rating),
        func.count(t.satisfaction_rating), escalated,
    ).where(scope))).one()
    total = int(row[0])
    result: dict[str, Any] = {
        "total": total,
        "by_status": by_status,
        "by_priority": by_priority,
        "avg_first_response_seconds": _round(row[1]),
        "avg_resolution_seconds": _round(row[2]),
        "satisfaction": {"average": _round(row[3]), "count": int(row[4] or 0)},
        "escalation_rate": _rate(row[5], total),
        "agent_workload": await agent_workload(conn, actor, scope),
    }
    if grouping is not None:
        result["group_by"] = grouping
        result["series"] = await series(conn, scope, grouping)
    return result


async def agent_workload(conn: AsyncConnection, actor: Actor, scope: ColumnElement[bool]
                         ) -> list[dict[str, Any]]:
    """Open tickets per agent; admins also see idle active agents of the roster (0)."""
    if not actor.is_staff:
        return []
    rows = (await conn.execute(
        select(t.assigned_to, func.count())
        .where(scope, t.assigned_to.is_not(None), t.status.notin_(AGENT_POOL_EXCLUDES))
        .group_by(t.assigned_to)
    )).all()
    load = {agent: int(n) for agent, n in rows}
    if actor.is_admin:
        roster = await conn.execute(
            select(support_agents.c.agent_id).where(support_agents.c.active == true()))
        for (agent_id,) in roster.all():
            load.setdefault(agent_id, 0)
    return [{"agent_id": agent, "open": load[agent]} for agent in sorted(load)]


async def series(conn: AsyncConnection, scope: ColumnElement[bool], grouping: str
                 ) -> list[dict[str, Any]]:
    dialect = conn.dialect.name
    bucket = _bucket(dialect, grouping).label("period")
    first, resolution, escalated = _averages(dialect)
    rows = (await conn.execute(
        select(bucket, func.count(), func.count(t.resolved_at), escalated, first, resolution)
        .where(scope).group_by(bucket).order_by(bucket)
    )).all()
    return [
        {"period": str(period)[:10], "total": int(total), "resolved": int(resolved),
         "escalated": int(escalations or 0), "avg_first_response_seconds": _round(frt),
         "avg_resolution_seconds": _round(rt)}
        for period, total, resolved, escalations, frt, rt in rows
    ]


def _rate(count: Any, total: int) -> float:
    return round(int(count or 0) / total, 4) if total else 0.0


def _round(value: Any) -> float | None:
    return None if value is None else round(float(value), 3)
