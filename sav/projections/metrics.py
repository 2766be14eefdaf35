"""Operational figures: the hourly rollup table and the snapshot `/metrics` scrapes.

`ticket_metrics_hourly` is derived from `support_tickets` by the scheduler's `metrics`
job, not from events: no projector feeds it (the registry lists it as derived), and
like every read table it can be dropped and recomputed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from eventsourcing.persistence import ApplicationRecorder, Mapper
from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    Engine,
    Float,
    Integer,
    Table,
    false,
    func,
    null,
    select,
)

from sav.eventstore.db import write_transaction
from sav.eventstore.schema import leases, tracking
from sav.projections.schema import Timestamp, naive_utc, read_metadata
from sav.projections.statistics import seconds_between
from sav.projections.tickets import support_tickets

ticket_metrics_hourly = Table(
    "ticket_metrics_hourly",
    read_metadata,
    Column("hour", Timestamp, primary_key=True),
    Column("created", Integer, nullable=False),
    Column("first_responses", Integer, nullable=False),
    Column("resolved", Integer, nullable=False),
    Column("closed", Integer, nullable=False),
    Column("escalated", Integer, nullable=False),
    Column("avg_first_response_seconds", Float),
    Column("avg_resolution_seconds", Float),
    Column("computed_at", Timestamp, nullable=False),
    mysql_engine="InnoDB",
)

PUBLISHER = "publisher"
t = support_tickets.c
COUNTS = ("created", "first_responses", "resolved", "closed", "escalated")


def floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def _hour_of(dialect: str, column: Any) -> ColumnElement[Any]:
    if dialect == "sqlite":
        return func.strftime("%Y-%m-%d %H:00:00", column)
    return func.date_format(column, "%Y-%m-%d %H:00:00")


def _bucketed(conn: Connection, column: Any, since: datetime | None, until: datetime,
              average: Any = None) -> list[Any]:
    dialect = conn.dialect.name
    hour = _hour_of(dialect, column).label("hour")
    avg = func.avg(average) if average is not None else null()
    query = select(hour, func.count(), avg).where(
        t.is_deleted == false(), column.is_not(None), column < until)
    if since is not None:
        query = query.where(column >= since)
    return list(conn.execute(query.group_by(hour)).all())


def aggregate_hours(engine: Engine, now: datetime, since: datetime | None) -> int:
    """Recompute every hour bucket from `since` (None: all history) up to `now`'s hour;
    returns how many buckets it wrote. Recomputing is idempotent."""
    until = floor_hour(naive_utc(now) or now) + timedelta(hours=1)
    since = floor_hour(naive_utc(since)) if since else None  # type: ignore[arg-type]
    with write_transaction(engine) as conn:
        d = conn.dialect.name
        sources = {
            "created": _bucketed(conn, t.created_at, since, until),
            "first_responses": _bucketed(conn, t.first_response_at, since, until,
                                         seconds_between(d, t.created_at, t.first_response_at)),
            "resolved": _bucketed(conn, t.resolved_at, since, until,
                                  seconds_between(d, t.created_at, t.resolved_at)),
            "closed": _bucketed(conn, t.closed_at, since, until),
            "escalated": _bucketed(conn, t.escalated_at, since, until),
        }
        rows: dict[str, dict[str, Any]] = {}
        for name, buckets in sources.items():
            for hour, count, average in buckets:
                row = rows.setdefault(str(hour), dict.fromkeys(COUNTS, 0))
                row[name] = int(count)
                if name == "first_responses":
                    row["avg_first_response_seconds"] = _float(average)
                elif name == "resolved":
                    row["avg_resolution_seconds"] = _float(average)
        delete = ticket_metrics_hourly.delete()
        if since is not None:
            delete = delete.where(ticket_metrics_hourly.c.hour >= since)
        conn.execute(delete)
        computed_at = naive_utc(now)
        if rows:
            conn.execute(ticket_metrics_hourly.insert(), [
                {"avg_first_response_seconds": None, "avg_resolution_seconds": None,
                 **row, "hour": datetime.fromisoformat(hour), "computed_at": computed_at}
                for hour, row in sorted(rows.items())
            ])
    return len(rows)


def has_hourly_rows(engine: Engine) -> bool:
    with engine.connect() as conn:
        return conn.execute(select(ticket_metrics_hourly.c.hour).limit(1)).first() is not None


def _float(value: Any) -> float | None:
    return None if value is None else round(float(value), 3)


# -- the /metrics snapshot -------------------------------------------------------------


@dataclass
class Lag:
    events: int
    seconds: float


@dataclass
class StoreSnapshot:
    head: int
    projectors: dict[str, Lag] = field(default_factory=dict)
    publisher: Lag | None = None
    tickets: list[tuple[str, str, int]] = field(default_factory=list)
    escalations: int = 0
    # Live worker leases (job, holder): a holder that keeps changing is flapping.
    leases: list[tuple[str, str]] = field(default_factory=list)


def store_snapshot(engine: Engine, recorder: ApplicationRecorder, mapper: Mapper[Any],
                   now: datetime) -> StoreSnapshot:
    """Event store head, each tracking row's lag, and ticket counts, read in one go."""
    head = recorder.max_notification_id() or 0
    snapshot = StoreSnapshot(head=head)
    with engine.connect() as conn:
        positions: list[tuple[str, int]] = [
            (str(name), int(position))
            for name, position in conn.execute(select(tracking.c.name, tracking.c.position))
        ]
        snapshot.tickets = [
            (status, priority, int(count)) for status, priority, count in conn.execute(
                select(t.status, t.priority, func.count()).where(t.is_deleted == false())
                .group_by(t.status, t.priority)).all()
        ]
        snapshot.escalations = int(conn.execute(
            select(func.count()).where(t.escalated_at.is_not(None))).scalar_one())
        snapshot.leases = [(str(name), str(owner)) for name, owner in conn.execute(
            select(leases.c.name, leases.c.owner).where(leases.c.expires_at > time.time())
            .order_by(leases.c.name))]
    # No publisher row yet (no broker configured so far): every event is still to publish.
    if PUBLISHER not in {name for name, _ in positions}:
        positions = [*positions, (PUBLISHER, 0)]
    for name, position in positions:
        lag = Lag(max(0, head - int(position)), 0.0)
        if lag.events:
            oldest = recorder.select_notifications(int(position) + 1, 1)
            if oldest:
                stamp: datetime = getattr(mapper.to_domain_event(oldest[0]), "timestamp")  # noqa: B009
                lag.seconds = max(0.0, (now - stamp).total_seconds())
        if name == PUBLISHER:
            snapshot.publisher = lag
        else:
            snapshot.projectors[name] = lag
    return snapshot
