"""Automation commands, run as the SYSTEM actor by the scheduler and on ticket creation.

Each handler re-checks its rule on the aggregate (the read model that picked the
candidate may be stale), so running a job twice, or in two processes, changes nothing
twice: a handler that finds nothing to do returns None.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from uuid import UUID

from sav.commands.actor import SYSTEM
from sav.commands.app import Outcome, SavApplication
from sav.events.errors import NotFoundError
from sav.events.rules import Status
from sav.events.ticket import Ticket

log = logging.getLogger("sav.automations")

AUTO_CLOSE_REASON = "auto_close"


def _apply(app: SavApplication, ticket_id: UUID, change: Callable[[Ticket], bool]
           ) -> Outcome | None:
    try:
        ticket, changed, position = app.change_ticket(ticket_id, change)
    except NotFoundError:
        return None  # Deleted since it was picked.
    return Outcome(ticket.id, ticket.version, position) if changed else None


def auto_close_ticket(app: SavApplication, ticket_id: UUID, idle_since: datetime
                      ) -> Outcome | None:
    """Close a resolved ticket whose last event is not after `idle_since`."""

    def change(ticket: Ticket) -> bool:
        if ticket.status != Status.RESOLVED or ticket.modified_on > idle_since:
            return False
        ticket.close(by=SYSTEM.who, reason=AUTO_CLOSE_REASON)
        return True

    return _apply(app, ticket_id, change)


def escalate_ticket(app: SavApplication, ticket_id: UUID, created_before: datetime,
                    reason: str) -> Outcome | None:
    """Escalate an urgent ticket created at or before `created_before` without a first
    response; the aggregate makes sure it happens once."""

    def change(ticket: Ticket) -> bool:
        return ticket.needs_escalation(created_before) and ticket.escalate(reason)

    return _apply(app, ticket_id, change)


def auto_assign_ticket(app: SavApplication, ticket_id: UUID, agent_id: str) -> Outcome | None:
    """Give a still unassigned open ticket to `agent_id`."""

    def change(ticket: Ticket) -> bool:
        if ticket.status != Status.OPEN or ticket.assigned_to is not None:
            return False
        ticket.assign(agent_id, by=SYSTEM.who)
        return True

    return _apply(app, ticket_id, change)


def request_survey(app: SavApplication, ticket_id: UUID) -> Outcome | None:
    """Ask the customer of a closed, unrated ticket for a rating, once."""
    return _apply(app, ticket_id, lambda ticket: ticket.request_survey())


def assign_on_create(app: SavApplication, ticket: Ticket) -> None:
    """With AUTO_ASSIGN on, a new ticket is recorded already assigned (same append).

    A failing picker must not fail ticket creation: the auto-assign job catches up.
    """
    pick = app.pick_agent
    if pick is None:
        return
    try:
        agent_id = pick()
    except Exception:
        log.exception("auto-assign on creation failed; the auto-assign job will retry")
        return
    if agent_id:
        ticket.assign(agent_id, by=SYSTEM.who)
