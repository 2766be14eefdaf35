"""Ticket statistics scoped to the caller, read from the `ticket_stats` counters.

Whoever sees every ticket (admins, analysts) reads two dozen totals and the open
workload per agent; agents read their own cells and the unassigned open pool's
(exactly `visible_to`): the same few rows at any number of tickets. A date range reads
per-day cells, O(days). Three cases recount `support_tickets` instead, under
`visible_to`: customers (their own tickets are few and the `user_id` index finds them;
per-customer counters would be as large as the tickets table), any other role, and
`from`/`to` with a time of day (the counters are per day). Both ways sum the same
integer measures (microseconds, rating points) and divide once, so they give the same
figures; a test checks both against a recount over a random history.

`from`/`to` select tickets by `created_at` (both inclusive; a date-only `to` covers
that whole day); every figure is over the selected tickets. `group_by=day|week`
adds a `series` bucketed by creation day or ISO week (Monday), in UTC.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, func, literal_column, select, true
from sqlalchemy.ext.asyncio import AsyncConnection

from sav.commands.actor import Actor
from sav.commands.policy import AGENT_POOL_EXCLUDES
from sav.events.errors import RuleViolationError
from sav.events.rules import Priority, Role, Status
from sav.projections import macro_uses, sla_stats
from sav.projections.agents import support_agents
from sav.projections.schema import naive_utc
from sav.projections.ticket_queries import visible_to
from sav.projections.ticket_stats import (
    MEASURES,
    Tally,
    by_assignee,
    by_assignee_day,
    daily,
    micros_between,
    totals,
)
from sav.projections.tickets import support_tickets

t = support_tickets.c
GROUPINGS = ("day", "week")


def seconds_between(dialect: str, start: Any, end: Any) -> ColumnElement[Any]:
    if dialect == "sqlite":
        return (func.julianday(end) - func.julianday(start)) * 86400.0
    return func.timestampdiff(literal_column("MICROSECOND"), start, end) / 1_000_000.0


# What `/openapi.json` says `from` and `to` are: an RFC 3339 full-date, or a date-time
# (its offset may be left out: UTC; a space for `T`, as ISO 8601 allows). Nothing else,
# blank included (issue 19).
DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
MOMENT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}(?::[0-9]{2}"
                    r"(?:\.[0-9]+)?)?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})?\Z")


def parse_bound(name: str, raw: str | None, end: bool = False) -> datetime | None:
    """An ISO date or datetime (naive = UTC); invalid values are a 422."""
    if raw is None:
        return None
    try:
        if DAY.match(raw):
            day = date.fromisoformat(raw)
            moment = datetime(day.year, day.month, day.day)
            if end:  # the whole day: up to the next one (none after 9999-12-31)
                return moment + timedelta(days=1) if day < date.max else datetime.max
            return moment
        if not MOMENT.match(raw):
            raise ValueError(raw)
        moment = datetime.fromisoformat(raw.upper().replace("Z", "+00:00"))
    except ValueError:
        raise RuleViolationError(f"{name} must be an ISO date or datetime",
                                 {"field": name}) from None
    try:
        return naive_utc(moment)
    except OverflowError:  # 0001-01-01T00:00:00+01:00: before anything, as after
        return datetime.min if moment.year == 1 else datetime.max


@dataclass(frozen=True)
class Span:
    """`from`/`to` as instants: `end` is exclusive for a date, inclusive for a time."""

    start: datetime | None
    end: datetime | None
    end_is_date: bool
    whole_days: bool  # no bound has a time of day: the per-day counters answer

    @classmethod
    def of(cls, args: Mapping[str, Any]) -> Span:
        start = parse_bound("from", args.get("from"))
        end_raw = args.get("to")
        end = parse_bound("to", end_raw, end=True)
        to_start = parse_bound("to", end_raw)
        if start is not None and to_start is not None and start > to_start:
            raise RuleViolationError("from must not be after to", {"field": "from"})
        dates = [len(raw.strip()) == 10 for raw in (args.get("from"), end_raw)
                 if raw is not None and raw.strip()]
        return cls(start, end, len(str(end_raw).strip()) == 10, all(dates))

    @property
    def days(self) -> tuple[date | None, date | None]:
        """First and last creation day (inclusive), for whole-day spans."""
        return (self.start.date() if self.start else None,
                (self.end - timedelta(days=1)).date() if self.end else None)


def selection(actor: Actor, span: Span) -> ColumnElement[bool]:
    clauses = [visible_to(actor)]
    if span.start is not None:
        clauses.append(t.created_at >= span.start)
    if span.end is not None:
        clauses.append(t.created_at < span.end if span.end_is_date else t.created_at <= span.end)
    return and_(true(), *clauses)


@dataclass
class Figures:
    """Sums of the measures per (status, priority), per creation day when a series is
    asked for, and open tickets per agent."""

    cells: list[tuple[str, str, Tally]] = field(default_factory=list)
    days: list[tuple[date, Tally]] = field(default_factory=list)
    workload: dict[str, int] = field(default_factory=dict)


async def ticket_statistics(
    conn: AsyncConnection, actor: Actor, args: Mapping[str, Any]
) -> dict[str, Any]:
    grouping = args.get("group_by")
    if grouping is not None and grouping not in GROUPINGS:
        raise RuleViolationError("group_by must be day or week", {"field": "group_by"})
    span = Span.of(args)
    series = grouping is not None
    if span.whole_days and actor.sees_every_ticket:
        figures = await admin_figures(conn, *span.days, series)
    elif span.whole_days and actor.role == Role.AGENT and actor.user_id:
        figures = await agent_figures(conn, actor.user_id, *span.days, series)
    else:
        figures = await recount(conn, actor, span, series)
    if actor.sees_every_ticket:
        roster = await conn.execute(
            select(support_agents.c.agent_id).where(support_agents.c.active == true()))
        for (agent_id,) in roster.all():
            figures.workload.setdefault(agent_id, 0)
    result = summary(figures)
    if actor.sees_internal:  # service levels are staff-only, and service-wide
        result["sla"] = sla_stats.section(await sla_stats.read_counts(conn))
        result["macros"] = await macro_uses.section(conn)  # uses per macro (issue 26)
    if grouping is not None:
        result["group_by"] = grouping
        result["series"] = periods(figures.days, grouping)
    return result


# -- from the counters ------------------------------------------------------------


def _sums(table: Table) -> list[Any]:
    return [func.sum(table.c[m]).label(m) for m in MEASURES]


def _within(day: Any, first: date | None, last: date | None) -> list[ColumnElement[bool]]:
    return [*([day >= first] if first else []), *([day <= last] if last else [])]


async def admin_figures(conn: AsyncConnection, first: date | None, last: date | None,
                        series: bool) -> Figures:
    """Every live ticket created from day `first` to day `last` (inclusive)."""
    d, a, b = daily.c, by_assignee.c, by_assignee_day.c
    within = _within(d.day, first, last)
    cells = select(totals)
    load = select(a.assignee, func.sum(a.tickets)).where(
        a.assignee != "", a.status.notin_(AGENT_POOL_EXCLUDES)).group_by(a.assignee)
    if within:
        cells = select(d.status, d.priority, *_sums(daily)).where(*within).group_by(
            d.status, d.priority)
        load = (select(b.assignee, func.sum(b.tickets))
                .where(b.assignee != "", b.status.notin_(AGENT_POOL_EXCLUDES),
                       *_within(b.day, first, last)).group_by(b.assignee))
    figures = Figures(cells=[(row.status, row.priority, tally(row))
                             for row in await conn.execute(cells)])
    figures.workload = {agent: int(n) for agent, n in await conn.execute(load) if n}
    if series:
        figures.days = await _days(conn, daily, within)
    return figures


def _seen_by(c: Any, agent_id: str) -> list[ColumnElement[bool]]:
    """`visible_to` for an agent: their own cells, and the unassigned open ones."""
    return [c.assignee.in_([agent_id, ""]),
            (c.assignee == agent_id) | c.status.notin_(AGENT_POOL_EXCLUDES)]


async def agent_figures(conn: AsyncConnection, agent_id: str, first: date | None,
                        last: date | None, series: bool) -> Figures:
    dated = by_assignee_day.c
    within = _within(dated.day, first, last)
    table = by_assignee_day if within else by_assignee
    c = table.c
    cells: dict[tuple[str, str], Tally] = {}
    open_tickets = 0
    for row in await conn.execute(select(c.assignee, c.status, c.priority, *_sums(table))
                                  .where(*_seen_by(c, agent_id), *within)
                                  .group_by(c.assignee, c.status, c.priority)):
        add(cells.setdefault((row.status, row.priority), dict.fromkeys(MEASURES, 0)),
            tally(row))
        if row.assignee == agent_id and row.status not in AGENT_POOL_EXCLUDES:
            open_tickets += int(row.tickets)
    figures = Figures(cells=[(status, priority, sums)
                             for (status, priority), sums in cells.items()],
                      workload={agent_id: open_tickets} if open_tickets else {})
    if series:
        figures.days = await _days(conn, by_assignee_day, [*_seen_by(dated, agent_id), *within])
    return figures


async def _days(conn: AsyncConnection, table: Table, where: list[Any]
                ) -> list[tuple[date, Tally]]:
    day = table.c.day
    rows = await conn.execute(select(day, *_sums(table)).where(*where)
                              .group_by(day).order_by(day))
    return [(row.day, tally(row)) for row in rows]


# -- recounted from support_tickets -------------------------------------------------


def _recounted(dialect: str) -> list[Any]:
    """The counters' measures, computed from the tickets themselves."""
    return [
        func.count().label("tickets"),
        func.count(t.first_response_at).label("responded"),
        func.sum(micros_between(dialect, t.created_at, t.first_response_at)).label("response_us"),
        func.count(t.resolved_at).label("resolved"),
        func.sum(micros_between(dialect, t.created_at, t.resolved_at)).label("resolution_us"),
        func.count(t.satisfaction_rating).label("rated"),
        func.sum(t.satisfaction_rating).label("rating_points"),
        func.count(t.escalated_at).label("escalated"),
    ]


async def recount(conn: AsyncConnection, actor: Actor, span: Span, series: bool) -> Figures:
    scope = selection(actor, span)
    measures = _recounted(conn.dialect.name)
    rows = await conn.execute(select(t.status, t.priority, *measures).where(scope)
                              .group_by(t.status, t.priority))
    figures = Figures(cells=[(row.status, row.priority, tally(row)) for row in rows])
    if series:
        day = func.date(t.created_at).label("day")
        rows = await conn.execute(select(day, *measures).where(scope)
                                  .group_by(day).order_by(day))
        figures.days = [(date.fromisoformat(str(row.day)[:10]), tally(row)) for row in rows]
    if actor.sees_internal:
        rows = await conn.execute(
            select(t.assigned_to, func.count())
            .where(scope, t.assigned_to.is_not(None), t.status.notin_(AGENT_POOL_EXCLUDES))
            .group_by(t.assigned_to))
        figures.workload = {agent: int(n) for agent, n in rows}
    return figures


# -- the response -------------------------------------------------------------------


def summary(figures: Figures) -> dict[str, Any]:
    by_status = {status.value: 0 for status in Status}
    by_priority = {priority.value: 0 for priority in Priority}
    total: Tally = dict.fromkeys(MEASURES, 0)
    for status, priority, sums in figures.cells:
        by_status[status] += sums["tickets"]
        by_priority[priority] += sums["tickets"]
        add(total, sums)
    return {
        "total": total["tickets"],
        "by_status": by_status,
        "by_priority": by_priority,
        **_averages(total),
        "satisfaction": {"average": _ratio(total["rating_points"], total["rated"]),
                         "count": total["rated"]},
        "escalation_rate": _rate(total["escalated"], total["tickets"]),
        "agent_workload": [{"agent_id": agent, "open": figures.workload[agent]}
                           for agent in sorted(figures.workload)],
    }


def periods(days: list[tuple[date, Tally]], grouping: str) -> list[dict[str, Any]]:
    buckets: dict[date, Tally] = {}
    for day, sums in days:
        period = day if grouping == "day" else day - timedelta(days=day.weekday())
        add(buckets.setdefault(period, dict.fromkeys(MEASURES, 0)), sums)
    return [{"period": period.isoformat(), "total": sums["tickets"],
             "resolved": sums["resolved"], "escalated": sums["escalated"], **_averages(sums)}
            for period, sums in sorted(buckets.items()) if sums["tickets"]]


def _averages(sums: Tally) -> dict[str, float | None]:
    return {
        "avg_first_response_seconds": _ratio(sums["response_us"],
                                             sums["responded"] * 1_000_000),
        "avg_resolution_seconds": _ratio(sums["resolution_us"], sums["resolved"] * 1_000_000),
    }


def tally(row: Any) -> Tally:
    return {m: int(getattr(row, m) or 0) for m in MEASURES}


def add(into: Tally, more: Tally) -> None:
    for name, value in more.items():
        into[name] = into.get(name, 0) + value


def _ratio(numerator: int, denominator: int) -> float | None:
    """One correctly rounded division of exact integers, then rounded as before."""
    return round(numerator / denominator, 3) if denominator else None


def _rate(count: int, total: int) -> float:
    return round(count / total, 4) if total else 0.0
