"""The answer to `POST /tickets` without reading the ticket back (issue 21).

The creating command returns its domain events with their positions; folded in memory
by the `support_tickets` read model's own fold (`sav.projections.tickets.FOLD`, as time
travel does), they make the row the projection wrote in the command's transaction. A
ticket just created has no conversation and no link yet, so its view needs nothing else.
"""

from __future__ import annotations

import orjson

from sav.api import details
from sav.api.views import TicketView
from sav.commands.actor import Actor
from sav.commands.app import CreatedTicket
from sav.projections import tickets
from sav.projections.fold import MemoryTables
from sav.projections.ticket_queries import ticket_json

_TABLES = (tickets.support_tickets,)


def created_view(outcome: CreatedTicket, actor: Actor) -> TicketView | None:
    """The new ticket as `actor` sees it (None: the outcome did not say how it was made)."""
    state = MemoryTables(_TABLES)
    for event, position in outcome.recorded:
        step = tickets.FOLD.get(type(event))
        if step is not None and event.originator_id == outcome.ticket_id:
            state.apply(step(state, event, position))
    row = state.rows[tickets.support_tickets.name].get(str(outcome.ticket_id))
    if row is None:
        return None
    data = ticket_json(row, actor)
    data.update(details.no_details(f"/tickets/{row.id}/messages"))
    return TicketView(row.version, row.user_id, row.assigned_to, row.status,
                      orjson.dumps(data))
