"""A ticket loads from its latest snapshot plus the events after it, and that state is
exactly the state rebuilt from every event (issue 10: load cost flat in history)."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from eventsourcing.application import project_aggregate

from sav.commands.app import SNAPSHOT_INTERVAL, SavApplication
from sav.events.ticket import Ticket
from tests.support.domain import AGENT, CUSTOMER, open_ticket


def state(ticket: Ticket) -> dict[str, Any]:
    return {k: v for k, v in ticket.__dict__.items() if k != "_pending_events"}


def converse(app: SavApplication, ticket_id: Any, count: int) -> None:
    def post(ticket: Ticket) -> None:
        for i in range(count):
            who = CUSTOMER if i % 2 else AGENT
            ticket.post_message(str(uuid4()), who.user_id, who.role, None, None, f"m{i}",
                                is_internal=i % 7 == 0 and who is AGENT)
        ticket.mark_read(list(ticket.messages)[:5], CUSTOMER.user_id, "customer")

    app.change_ticket(ticket_id, post)


def test_snapshots_are_taken_every_interval(app: SavApplication) -> None:
    ticket_id = open_ticket(app)
    converse(app, ticket_id, 2 * SNAPSHOT_INTERVAL + 10)
    versions = [s.originator_version for s in app.snapshots.get(ticket_id)]  # type: ignore[union-attr]
    assert versions == [SNAPSHOT_INTERVAL, 2 * SNAPSHOT_INTERVAL]


def test_a_ticket_from_its_snapshot_equals_the_ticket_from_all_its_events(
        app: SavApplication) -> None:
    ticket_id = open_ticket(app, priority="urgent", metadata={"order": {"_type_": "x"}})
    converse(app, ticket_id, SNAPSHOT_INTERVAL + 3)
    app.change_ticket(ticket_id, lambda t: t.assign("agent-1", "admin-1"))
    app.change_ticket(ticket_id, lambda t: t.resolve("done", "agent-1"))

    from_snapshot = app.repository._reconstruct_aggregate(  # snapshot + later events
        ticket_id, None, project_aggregate)
    from_events = None
    for stored in app.events.get(ticket_id):
        from_events = stored.mutate(from_events)
    assert isinstance(from_events, Ticket)
    assert state(from_snapshot) == state(from_events)
    assert from_snapshot.status == "resolved" and from_snapshot.first_response_at is not None
    assert from_snapshot.metadata == {"order": {"_type_": "x"}}
