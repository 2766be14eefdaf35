"""Service-level figures of `/tickets/statistics` (issue 23): met and breached counts
per metric, kept by the statistics projection (`ticket_stats`), read in O(1).

A ticket's first response and resolution are each decided once, met (`Ticket.SlaMet`)
or breached (`Ticket.SlaBreached`), so one counter row per (metric, outcome) suffices
and equals a recount over the tickets' SLA states (`recount`; a test checks it, and
bulk replay rebuilds the counters with it). The figures are service-wide: staff see
them whatever their scope or dates (next responses repeat per exchange and are not
counted).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Column, Connection, String, Table, bindparam, select
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from sav.events.ticket import Ticket
from sav.projections.schema import Handlers, read_metadata
from sav.projections.tickets import support_tickets
from sav.sla.state import BREACHED, FIRST_RESPONSE, MET, RESOLUTION

COUNTED = (FIRST_RESPONSE, RESOLUTION)

sla_counts = Table(
    "ticket_stats_sla",
    read_metadata,
    Column("metric", String(32), primary_key=True),
    Column("outcome", String(16), primary_key=True),
    Column("tickets", BigInteger, nullable=False),
    mysql_engine="InnoDB",
)

_lite, _my = sqlite.insert(sla_counts), mysql.insert(sla_counts)
_UPSERT = {
    "sqlite": _lite.values(metric=bindparam("m"), outcome=bindparam("o"), tickets=1)
    .on_conflict_do_update(index_elements=["metric", "outcome"],
                           set_={"tickets": sla_counts.c.tickets + 1}),
    "mysql": _my.values(metric=bindparam("m"), outcome=bindparam("o"), tickets=1)
    .on_duplicate_key_update(tickets=sla_counts.c.tickets + 1),
}


def _count(conn: Connection, metric: str, outcome: str) -> None:
    if metric in COUNTED:
        dialect = "sqlite" if conn.dialect.name == "sqlite" else "mysql"
        conn.execute(_UPSERT[dialect], {"m": metric, "o": outcome})


def on_met(conn: Connection, event: Ticket.SlaMet, position: int) -> None:
    _count(conn, event.metric, MET)


def on_breached(conn: Connection, event: Ticket.SlaBreached, position: int) -> None:
    _count(conn, event.metric, BREACHED)


HANDLERS: Handlers = {Ticket.SlaMet: on_met, Ticket.SlaBreached: on_breached}
# The other SLA events decide nothing (a re-match keeps what was decided).
IGNORED = (Ticket.SlaApplied, Ticket.SlaPaused, Ticket.SlaResumed, Ticket.SlaClockStarted,
           Ticket.SlaStopped)


def tally_states(states: Any) -> dict[tuple[str, str], int]:
    counts: dict[tuple[str, str], int] = {}
    for state in states:
        for metric, outcome in ((state or {}).get("done") or {}).items():
            if metric in COUNTED:
                counts[(metric, outcome)] = counts.get((metric, outcome), 0) + 1
    return counts


def recount(conn: Connection) -> dict[tuple[str, str], int]:
    """The counts from the tickets' SLA states (what the counters must equal)."""
    rows = conn.execute(select(support_tickets.c.sla_state)
                        .where(support_tickets.c.sla_state.is_not(None)))
    return tally_states(row.sla_state for row in rows)


def rebuild(conn: Connection) -> None:
    conn.execute(sla_counts.delete())
    rows = [{"metric": m, "outcome": o, "tickets": n} for (m, o), n in recount(conn).items()]
    if rows:
        conn.execute(sla_counts.insert(), rows)


def section(counts: dict[tuple[str, str], int]) -> dict[str, Any]:
    """`{"first_response": {"met", "breached", "compliance"}, "resolution": {...}}`;
    compliance is met / (met + breached), null before anything was decided."""
    result = {}
    for metric in COUNTED:
        met, breached = counts.get((metric, MET), 0), counts.get((metric, BREACHED), 0)
        decided = met + breached
        result[metric] = {"met": met, "breached": breached,
                          "compliance": round(met / decided, 4) if decided else None}
    return result


async def read_counts(conn: AsyncConnection) -> dict[tuple[str, str], int]:
    rows = await conn.execute(select(sla_counts))
    return {(row.metric, row.outcome): int(row.tickets) for row in rows}
