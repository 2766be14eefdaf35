"""The scheduler's `sla` job (every minute; `sav jobs run sla`): break the metrics whose
due time has passed, once each.

It reads only the tickets whose next due time has passed (`sla_next_due_at <= now`, an
indexed column the fold keeps to the earliest running due time), so a pass costs what
is due, not what is open. Each ticket is then re-checked on its aggregate
(`sav.sla.rules.follow`): a ticket met or paused since the read, or broken by another
process, appends nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import false, select

from sav.commands.app import Outcome, SavApplication
from sav.events.errors import NotFoundError
from sav.projections.schema import naive_utc
from sav.projections.tickets import support_tickets
from sav.sla.config import load_config
from sav.sla.rules import follow

t = support_tickets.c
# Tickets per pass: what is left waits for the next minute, so one pass stays short.
BATCH = 10_000


def due_query(now: datetime, limit: int = BATCH) -> Any:
    return (select(t.id).where(t.sla_next_due_at <= naive_utc(now), t.is_deleted == false())
            .order_by(t.sla_next_due_at).limit(limit))


def check_ticket(app: SavApplication, ticket_id: UUID, now: datetime) -> Outcome | None:
    """Record the breaches this ticket has at `now` (none if it changed meanwhile)."""
    try:
        ticket, _, position = app.change_ticket(
            ticket_id, lambda ticket: follow(ticket, lambda: load_config(app), now))
    except NotFoundError:
        return None
    return None if position is None else Outcome(ticket.id, ticket.version, position)
