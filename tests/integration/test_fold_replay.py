"""Replay by folding (issue 21) against event-by-event projection, on both profiles: the
live tables (each command projected in its own transaction, or by the projector) and
the tables `sav replay` folds in memory are the same, erased subjects' fields included."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from sav.bootstrap import Services
from sav.commands import messages
from sav.commands import tickets as commands
from sav.commands.actor import SYSTEM, Actor
from sav.events.errors import TicketErasedError
from sav.privacy.erasure import EraseSubject, erase_subject
from sav.projections.tickets import support_tickets
from sav.workers import projections as projection_worker
from tests.integration.test_projections import make_history, snapshot, wait_projected

KEPT = Actor("cust-2", "customer", "kept@example.com")


def test_folding_replay_equals_event_by_event_projection(services: Services) -> None:
    app = services.app
    ids = make_history(services, tickets=5)  # cust-1's tickets
    kept = commands.create_ticket(app, KEPT, commands.CreateTicket(
        subject="Mine", description="stays readable")).ticket_id
    messages.post_message(app, KEPT, kept, messages.PostMessage(content="Any news?"))
    erased = erase_subject(app, SYSTEM, EraseSubject(user_id="cust-1"))
    assert sorted(erased.ticket_ids) == sorted(str(i) for i in ids)
    with pytest.raises(TicketErasedError):  # an erased ticket is read-only
        commands.update_ticket(app, SYSTEM, ids[0], commands.UpdateTicket(priority="low"))
    wait_projected(services)
    live = snapshot(services.engine)

    checked = projection_worker.check(app, services.engine)
    assert checked.differences == []

    services.background.stop.set()
    for thread in services.background.threads:
        thread.join(timeout=5)
    assert projection_worker.replay(app, services.engine) == app.recorder.max_notification_id()
    assert snapshot(services.engine) == live
    with services.engine.connect() as conn:
        rows = {row.id: row for row in conn.execute(select(
            support_tickets.c.id, support_tickets.c.subject, support_tickets.c.description,
            support_tickets.c.priority, support_tickets.c.erased))}
    for ticket_id in ids:  # what the API shows as null: nothing left, flagged erased
        row = rows[str(ticket_id)]
        assert (row.subject or None, row.description or None, row.erased) == (None, None, True)
    kept_row = rows[str(kept)]
    assert (kept_row.subject, kept_row.description, kept_row.erased) == (
        "Mine", "stays readable", False)
