"""The customer's mails on a ticket (issue 24): `Ticket.MessagePosted` version 3 records a
threaded mail's Message-ID, sealed like the rest of the message; SAV's mail answers the
customer's latest mail and references the chain; messages stored by versions 1 and 2
(no Message-ID) still load."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest
from eventsourcing.application import project_aggregate
from eventsourcing.persistence import StoredEvent

from sav.commands.app import SNAPSHOT_INTERVAL, SavApplication
from sav.commands.messages import PostMessage, post_message
from sav.commands.tickets import CreateTicket, create_ticket
from sav.events.ticket import Ticket
from sav.mail.compose import MAX_REFERENCES, compose, customer_mails, needs_origin
from sav.mail.inbound import MAIL_ACTOR, post_mail_reply
from tests.support.domain import CUSTOMER, open_ticket

SUPPORT = "support@help.example.com"


def mail_ticket(app: SavApplication) -> UUID:
    return create_ticket(app, MAIL_ACTOR, CreateTicket(
        subject="Lamp", description="Broken", source="email", contact_email="a@example.com"),
        origin={"channel": "email", "message_id": "first@example.com", "locale": "en"},
    ).ticket_id


def staff_reply(app: SavApplication, ticket_id: UUID, content: str) -> Ticket.MessagePosted:
    post_message(app, MAIL_ACTOR, ticket_id, PostMessage(content=content))
    event = list(app.events.get(ticket_id))[-1]
    assert isinstance(event, Ticket.MessagePosted)
    return event


def test_a_staff_reply_answers_the_customers_latest_mail(app: SavApplication) -> None:
    ticket_id = mail_ticket(app)
    post_mail_reply(app, MAIL_ACTOR, ticket_id, "m-2", "A@Example.com", "still broken",
                    "second@example.com")
    reply = staff_reply(app, ticket_id, "Try a new bulb")
    # A later mail does not change what an earlier reply answered (sent after a delay).
    post_mail_reply(app, MAIL_ACTOR, ticket_id, "m-3", "a@example.com", "thanks",
                    "third@example.com")
    ticket = app.get_ticket(ticket_id)
    assert not needs_origin(ticket)  # the thread is in the ticket's own state
    mail = compose(reply, ticket, None, SUPPORT)
    assert mail is not None
    assert mail["In-Reply-To"] == "<second@example.com>"
    assert mail["References"] == "<first@example.com> <second@example.com>"
    latest = compose(staff_reply(app, ticket_id, "Good"), app.get_ticket(ticket_id), None,
                     SUPPORT)
    assert latest is not None and latest["In-Reply-To"] == "<third@example.com>"


def test_a_long_thread_references_its_first_and_latest_mails(app: SavApplication) -> None:
    ticket_id = mail_ticket(app)
    for n in range(MAX_REFERENCES + 5):
        post_mail_reply(app, MAIL_ACTOR, ticket_id, f"m-{n}", "a@example.com", "again",
                        f"r{n}@example.com")
    mail = compose(staff_reply(app, ticket_id, "ok"), app.get_ticket(ticket_id), None, SUPPORT)
    assert mail is not None
    references = mail["References"].split()
    assert len(references) == MAX_REFERENCES
    assert references[0] == "<first@example.com>"
    assert references[-1] == mail["In-Reply-To"] == f"<r{MAX_REFERENCES + 4}@example.com>"


def test_the_message_id_is_sealed_in_the_store(app: SavApplication) -> None:
    ticket_id = mail_ticket(app)
    post_mail_reply(app, MAIL_ACTOR, ticket_id, "m-2", "a@example.com", "again",
                    "second@example.com")
    stored = b"".join(s.state for s in app.recorder.select_events(ticket_id))
    assert b"second@example.com" not in stored and b"first@example.com" not in stored
    event = list(app.events.get(ticket_id))[-1]
    assert isinstance(event, Ticket.MessagePosted)
    assert event.mail_message_id == "second@example.com"  # opened on the way out


def test_the_thread_survives_a_snapshot(app: SavApplication) -> None:
    ticket_id = mail_ticket(app)
    for n in range(SNAPSHOT_INTERVAL + 2):
        post_mail_reply(app, MAIL_ACTOR, ticket_id, f"m-{n}", "a@example.com", "again",
                        f"r{n}@example.com")
    assert list(app.snapshots.get(ticket_id))  # type: ignore[union-attr]
    from_snapshot = app.repository._reconstruct_aggregate(ticket_id, None, project_aggregate)
    from_events = None
    for stored in app.events.get(ticket_id):
        from_events = stored.mutate(from_events)
    assert isinstance(from_events, Ticket)
    assert from_snapshot.mail_thread == from_events.mail_thread
    assert len(from_snapshot.mail_thread) == SNAPSHOT_INTERVAL + 3
    assert from_snapshot.mail_thread[:2] == ((1, "first@example.com"), (2, "r0@example.com"))


def old_message(app: SavApplication, ticket_id: UUID, version: int) -> StoredEvent:
    """A customer message as a version-`version` MessagePosted was stored."""
    ticket = app.get_ticket(ticket_id)
    ticket.post_message("old-1", CUSTOMER.user_id, "customer", None, None, "old text", False)
    [event] = ticket.collect_events()
    stored = app.mapper.to_stored_event(event)
    state: dict[str, Any] = app.mapper.transcoder.decode(stored.state)
    del state["mail_message_id"]
    state["class_version"] = version
    if version == 1:
        del state["actor"], state["class_version"]
    return StoredEvent(originator_id=stored.originator_id,
                       originator_version=stored.originator_version,
                       topic=stored.topic, state=app.mapper.transcoder.encode(state))


@pytest.mark.parametrize("version", [1, 2])
def test_an_older_message_posted_still_loads(app: SavApplication, version: int) -> None:
    assert Ticket.MessagePosted.class_version == 3
    ticket_id = mail_ticket(app)
    app.recorder.insert_events([old_message(app, ticket_id, version)])
    ticket = app.get_ticket(ticket_id)  # the cached ticket is brought forward by it
    assert "old-1" in ticket.messages and ticket.version == 2
    event = list(app.events.get(ticket_id))[-1]
    assert isinstance(event, Ticket.MessagePosted)
    assert event.mail_message_id is None and event.content == "old text"
    assert event.actor == {"id": CUSTOMER.user_id, "role": "customer"}
    assert customer_mails(ticket, ticket.version, {}) == ["first@example.com"]


def test_an_ordinary_ticket_has_no_thread(app: SavApplication) -> None:
    ticket_id = open_ticket(app)
    ticket = app.get_ticket(ticket_id)
    assert ticket.mail_thread == () and not needs_origin(ticket)


def test_a_snapshot_older_than_the_thread_reads_the_opening_mail_from_the_creation(
        app: SavApplication) -> None:
    ticket_id = mail_ticket(app)
    snapshot = Ticket.Snapshot.take(app.get_ticket(ticket_id))
    del snapshot.state["mail_thread"]  # taken before version 3
    ticket = snapshot.mutate(None)
    assert ticket.mail_thread == () and needs_origin(ticket)
    assert customer_mails(ticket, 9, {"message_id": "first@example.com"}) == [
        "first@example.com"]
