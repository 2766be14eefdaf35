"""The SLA events' steps in the `support_tickets` fold (issue 23).

Each step applies the event to the row's `sla_state` exactly as the aggregate does (the
event's own `apply`, on a stand-in), then derives what the table shows and indexes:
the staff view `sla`, `sla_next_due_at` (the earliest running due time: what the
scheduler's `sla` job looks up) and `sla_breached`. Pure, like every fold step.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from sav.events.ticket import SLA_EVENTS, Ticket
from sav.projections.fold import Changes, Fold, State, Update
from sav.projections.schema import naive_utc
from sav.sla import state as sla

TICKETS = "support_tickets"


def sla_columns(state: sla.State | None) -> dict[str, Any]:
    """The columns kept from an SLA state."""
    return {"sla": sla.view(state), "sla_state": state,
            "sla_next_due_at": naive_utc(sla.next_due(state)),
            "sla_breached": bool(state and state.get("breaches"))}


def sla_changed(state: State, event: Ticket.Event, position: int) -> Changes:
    ticket_id = str(event.originator_id)
    holder = SimpleNamespace(sla_state=state.value(TICKETS, ticket_id, "sla_state"))
    event.apply(holder)  # type: ignore[arg-type]
    return [Update(TICKETS, (ticket_id,), {
        **sla_columns(holder.sla_state), "version": event.originator_version,
        "updated_at": naive_utc(event.timestamp)})]


SLA_FOLD: Fold = dict.fromkeys(SLA_EVENTS, sla_changed)
