"""Every event records who did it (`actor`, schema version 2): people with their role,
automations and platform events as the system, public token holders without an id."""

from __future__ import annotations

from datetime import timedelta

from sav.commands import automations, messages, tickets
from sav.commands.actor import public_actor
from sav.commands.app import SavApplication
from sav.events import clock
from sav.events.catalog import ALL_EVENTS
from tests.support.domain import ADMIN, AGENT, CUSTOMER, events_of, open_ticket


def actors(app: SavApplication, ticket_id: object) -> list[tuple[str, dict[str, object]]]:
    return [(type(e).__name__, e.actor) for e in events_of(app, ticket_id)]  # type: ignore[arg-type]


def test_every_event_class_records_an_actor() -> None:
    """Classes from schema version 1 are at version 2 or later with an upcaster for every
    step (AttachmentAdded's version 3 added `scanned`); classes born later (the erasure
    record) start at version 1 with an actor already."""
    for event_class in ALL_EVENTS:
        if hasattr(event_class, "upcast_v1_v2"):
            assert event_class.class_version >= 2
            assert all(hasattr(event_class, f"upcast_v{v}_v{v + 1}")
                       for v in range(1, event_class.class_version)), event_class
        else:
            assert getattr(event_class, "class_version", 1) == 1
        assert "actor" in event_class.__annotations__ or any(
            "actor" in getattr(base, "__annotations__", {}) for base in event_class.__mro__)


def test_people_are_recorded_with_their_role(app: SavApplication) -> None:
    ticket_id = open_ticket(app)
    tickets.assign_ticket(app, ADMIN, ticket_id, tickets.AssignTicket(agent_id="agent-1"))
    messages.post_message(app, AGENT, ticket_id, messages.PostMessage(content="hi"))
    tickets.resolve_ticket(app, AGENT, ticket_id, tickets.ResolveTicket())
    messages.rate_ticket(app, CUSTOMER, ticket_id, messages.RateTicket(rating=5))
    assert actors(app, ticket_id) == [
        ("Created", {"id": "cust-1", "role": "customer"}),
        ("Assigned", {"id": "admin-1", "role": "admin"}),
        ("MessagePosted", {"id": "agent-1", "role": "agent"}),
        ("Resolved", {"id": "agent-1", "role": "agent"}),
        ("SatisfactionRated", {"id": "cust-1", "role": "customer"}),
    ]


def test_automations_and_token_holders(app: SavApplication) -> None:
    holder = public_actor("ann@example.com", "Ann")
    created = tickets.create_ticket(app, holder, tickets.CreateTicket(
        subject="s", description="d", priority="urgent", contact_email="ann@example.com"),
        with_access_token=True)
    ticket_id = created.ticket_id
    clock.travel(timedelta(hours=3))
    try:
        automations.escalate_ticket(app, ticket_id, clock.now(), "late")
    finally:
        clock.reset()
    messages.post_message(app, holder, ticket_id, messages.PublicPostMessage(content="hello"),
                          access_token=created.access_token)
    app.change_ticket(ticket_id, lambda t: t.link_user("cust-9", "ann@example.com"))
    assert actors(app, ticket_id) == [
        ("Created", {"id": None, "role": "customer"}),
        ("Escalated", {"id": "system", "role": "system"}),
        ("MessagePosted", {"id": None, "role": "customer"}),
        ("LinkedToUser", {"id": "system", "role": "system"}),
    ]
