"""The conversation: posting, internal notes, customer replies waking the ticket, first
response, editing and deleting, read tracking, and public token holders."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import pytest
from pydantic import ValidationError

from sav.commands import messages, tickets
from sav.commands.actor import Actor, public_actor
from sav.commands.app import SavApplication
from sav.events.errors import (
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    TicketClosedError,
)
from tests.support.domain import (
    ACTORS,
    ADMIN,
    AGENT,
    CUSTOMER,
    OTHER_CUSTOMER,
    access_token_of,
    events_of,
    marked_of,
    message_id_of,
    move,
    open_ticket,
    status_of,
    ticket_in,
)


def say(app: SavApplication, ticket_id: UUID, actor: Actor = CUSTOMER, content: str = "Hello",
        internal: bool = False, **kw: Any) -> str:
    cmd = messages.PostMessage(content=content, is_internal=internal)
    return message_id_of(messages.post_message(app, actor, ticket_id, cmd, **kw))


def last_event(app: SavApplication, ticket_id: UUID) -> Any:
    return events_of(app, ticket_id)[-1]


def public_ticket(app: SavApplication) -> tuple[UUID, str]:
    outcome = tickets.create_ticket(
        app, public_actor("anon@example.com", "Anne Onymous"),
        tickets.CreateTicket(subject="Help", description="Please",
                             contact_email="anon@example.com", contact_name="Anne Onymous"),
        with_access_token=True)
    return outcome.ticket_id, access_token_of(outcome) or ""


# -- posting ----------------------------------------------------------------------------


def test_customer_posts_on_own_ticket(app: SavApplication) -> None:
    ticket_id = open_ticket(app)
    message_id = say(app, ticket_id, content="Any news?")
    event = last_event(app, ticket_id)
    assert (type(event).__qualname__, event.message_id, event.content) == (
        "Ticket.MessagePosted", message_id, "Any news?")
    assert (event.author_name, event.author_email) == (CUSTOMER.name, CUSTOMER.email)


def test_customer_cannot_post_on_someone_elses_ticket(app: SavApplication) -> None:
    ticket_id = open_ticket(app)
    with pytest.raises(NotFoundError):
        say(app, ticket_id, actor=OTHER_CUSTOMER)


def test_customer_cannot_write_internal_notes(app: SavApplication) -> None:
    ticket_id = open_ticket(app)
    with pytest.raises(PermissionDeniedError):
        say(app, ticket_id, internal=True)


@pytest.mark.parametrize("actor", [AGENT, ADMIN], ids=["agent", "admin"])
def test_staff_write_internal_notes(app: SavApplication, actor: Actor) -> None:
    ticket_id = open_ticket(app)
    say(app, ticket_id, actor=actor, content="check the warehouse", internal=True)
    assert last_event(app, ticket_id).is_internal is True


def test_no_message_can_be_added_to_a_closed_ticket(app: SavApplication) -> None:
    ticket_id = ticket_in(app, "closed")
    with pytest.raises(TicketClosedError):
        say(app, ticket_id)
    with pytest.raises(TicketClosedError):
        say(app, ticket_id, actor=ADMIN, internal=True)


def test_posting_the_same_message_id_twice_is_a_conflict(app: SavApplication) -> None:
    ticket_id, message_id = open_ticket(app), uuid4()
    say(app, ticket_id, message_id=message_id)
    with pytest.raises(ConflictError):
        say(app, ticket_id, message_id=message_id)


@pytest.mark.parametrize("content", ["", "   ", "\n\t"])
def test_empty_content_is_refused(content: str) -> None:
    with pytest.raises(ValidationError):
        messages.PostMessage(content=content)


def test_is_internal_must_be_a_real_boolean() -> None:
    with pytest.raises(ValidationError):
        messages.PostMessage(content="hi", is_internal="yes")  # type: ignore[arg-type]


def test_the_public_message_model_has_no_internal_flag() -> None:
    with pytest.raises(ValidationError):
        messages.PublicPostMessage(content="hi", is_internal=True)  # type: ignore[call-arg]


# -- the customer's reply wakes the ticket ------------------------------------------------


@pytest.mark.parametrize(("before", "after"), [
    ("waiting_customer", "in_progress"), ("resolved", "in_progress"),
    ("open", "open"), ("assigned", "assigned"), ("in_progress", "in_progress"),
])
def test_customer_reply_wakes_a_waiting_or_resolved_ticket(app: SavApplication, before: str,
                                                           after: str) -> None:
    ticket_id = ticket_in(app, before)
    say(app, ticket_id, content="It is still broken")
    assert status_of(app, ticket_id) == after


def test_customer_reply_reopens_an_unassigned_resolved_ticket_as_open(
        app: SavApplication) -> None:
    ticket_id = open_ticket(app)
    move(app, ticket_id, "resolve")
    say(app, ticket_id)
    assert status_of(app, ticket_id) == "open"


@pytest.mark.parametrize("status", ["waiting_customer", "resolved"])
@pytest.mark.parametrize("internal", [False, True])
def test_staff_messages_do_not_wake_the_ticket(app: SavApplication, status: str,
                                               internal: bool) -> None:
    ticket_id = ticket_in(app, status)
    say(app, ticket_id, actor=AGENT, internal=internal)
    assert status_of(app, ticket_id) == status


# -- first response ---------------------------------------------------------------------


def test_first_public_agent_message_sets_first_response(app: SavApplication) -> None:
    ticket_id = open_ticket(app)
    say(app, ticket_id)
    say(app, ticket_id, actor=AGENT, internal=True)
    assert app.get_ticket(ticket_id).first_response_at is None
    say(app, ticket_id, actor=AGENT, content="We are on it")
    first = app.get_ticket(ticket_id).first_response_at
    assert first is not None
    say(app, ticket_id, actor=ADMIN, content="Update")
    assert app.get_ticket(ticket_id).first_response_at == first


# -- editing and deleting ---------------------------------------------------------------


def edit(app: SavApplication, actor: Actor, ticket_id: UUID, message_id: str,
         content: str = "Edited") -> Any:
    return messages.edit_message(app, actor, ticket_id, message_id,
                                 messages.EditMessage(content=content))


def test_author_edits_own_message(app: SavApplication) -> None:
    ticket_id = open_ticket(app)
    message_id = say(app, ticket_id, content="Helo")
    edit(app, CUSTOMER, ticket_id, message_id, "Hello")
    event = last_event(app, ticket_id)
    assert (type(event).__qualname__, event.content) == ("Ticket.MessageEdited", "Hello")


@pytest.mark.parametrize(("author", "editor", "expected"), [
    ("customer", "admin", None),
    ("customer", "agent", PermissionDeniedError),
    ("agent", "customer", PermissionDeniedError),
    ("agent", "other_agent", PermissionDeniedError),
    ("agent", "admin", None),
    ("admin", "agent", PermissionDeniedError),
])
def test_only_authors_and_admins_edit_and_delete(app: SavApplication, author: str, editor: str,
                                                expected: type[Exception] | None) -> None:
    ticket_id = open_ticket(app)  # unassigned and open: both agents see it
    message_id = say(app, ticket_id, actor=ACTORS[author])
    if expected is None:
        edit(app, ACTORS[editor], ticket_id, message_id)
        messages.remove_message(app, ACTORS[editor], ticket_id, message_id)
        return
    with pytest.raises(expected):
        edit(app, ACTORS[editor], ticket_id, message_id)
    with pytest.raises(expected):
        messages.remove_message(app, ACTORS[editor], ticket_id, message_id)


def test_an_internal_note_is_not_found_for_the_customer(app: SavApplication) -> None:
    ticket_id = open_ticket(app)
    note = say(app, ticket_id, actor=AGENT, internal=True)
    with pytest.raises(NotFoundError):
        edit(app, CUSTOMER, ticket_id, note)
    with pytest.raises(NotFoundError):
        messages.remove_message(app, CUSTOMER, ticket_id, note)
    with pytest.raises(NotFoundError):
        messages.mark_message_read(app, CUSTOMER, ticket_id, note)


def test_an_unknown_message_is_not_found(app: SavApplication) -> None:
    ticket_id = open_ticket(app)
    with pytest.raises(NotFoundError):
        edit(app, ADMIN, ticket_id, str(uuid4()))


def test_a_deleted_message_is_gone(app: SavApplication) -> None:
    ticket_id = open_ticket(app)
    message_id = say(app, ticket_id)
    messages.remove_message(app, CUSTOMER, ticket_id, message_id)
    with pytest.raises(NotFoundError):
        edit(app, CUSTOMER, ticket_id, message_id)
    with pytest.raises(NotFoundError):
        messages.remove_message(app, CUSTOMER, ticket_id, message_id)


def test_messages_of_a_closed_ticket_are_final(app: SavApplication) -> None:
    ticket_id = open_ticket(app)
    message_id = say(app, ticket_id)
    move(app, ticket_id, "close")
    with pytest.raises(TicketClosedError):
        edit(app, CUSTOMER, ticket_id, message_id)
    with pytest.raises(TicketClosedError):
        messages.remove_message(app, CUSTOMER, ticket_id, message_id)


# -- read tracking ------------------------------------------------------------------------


def test_a_message_is_read_when_the_other_side_reads_it(app: SavApplication) -> None:
    ticket_id = open_ticket(app)
    message_id = say(app, ticket_id, actor=AGENT)
    assert marked_of(messages.mark_message_read(app, CUSTOMER, ticket_id, message_id)) == 1
    assert marked_of(messages.mark_message_read(app, CUSTOMER, ticket_id, message_id)) == 0


def test_marking_ones_own_sides_message_changes_nothing(app: SavApplication) -> None:
    ticket_id = open_ticket(app)
    message_id = say(app, ticket_id)
    outcome = messages.mark_message_read(app, CUSTOMER, ticket_id, message_id)
    assert (marked_of(outcome), outcome.position) == (0, None)
    assert marked_of(messages.mark_message_read(app, AGENT, ticket_id, message_id)) == 1


def test_staff_read_for_each_other(app: SavApplication) -> None:
    ticket_id = open_ticket(app)
    message_id = say(app, ticket_id)
    messages.mark_message_read(app, ADMIN, ticket_id, message_id)
    assert marked_of(messages.mark_message_read(app, AGENT, ticket_id, message_id)) == 0


def test_customer_mark_all_read_skips_internal_notes(app: SavApplication) -> None:
    ticket_id = open_ticket(app)
    say(app, ticket_id)
    say(app, ticket_id, actor=AGENT, content="public")
    say(app, ticket_id, actor=AGENT, content="private", internal=True)
    assert marked_of(messages.mark_all_read(app, CUSTOMER, ticket_id)) == 1
    assert marked_of(messages.mark_all_read(app, CUSTOMER, ticket_id)) == 0


def test_staff_mark_all_read_counts_the_customers_messages(app: SavApplication) -> None:
    ticket_id = open_ticket(app)
    say(app, ticket_id, content="one")
    say(app, ticket_id, content="two")
    say(app, ticket_id, actor=AGENT)
    assert marked_of(messages.mark_all_read(app, AGENT, ticket_id)) == 2


def test_mark_read_needs_visibility(app: SavApplication) -> None:
    ticket_id = open_ticket(app)
    message_id = say(app, ticket_id, actor=AGENT)
    with pytest.raises(NotFoundError):
        messages.mark_message_read(app, OTHER_CUSTOMER, ticket_id, message_id)
    with pytest.raises(NotFoundError):
        messages.mark_all_read(app, OTHER_CUSTOMER, ticket_id)


# -- public token holders ------------------------------------------------------------------


def test_token_holder_replies_as_the_tickets_contact(app: SavApplication) -> None:
    ticket_id, token = public_ticket(app)
    anonymous = public_actor(None, None)
    cmd = messages.PublicPostMessage(content="Any news?")
    messages.post_message(app, anonymous, ticket_id, cmd, access_token=token)
    event = last_event(app, ticket_id)
    assert (event.user_id, event.author_name, event.author_email) == (
        None, "Anne Onymous", "anon@example.com")


@pytest.mark.parametrize("token", ["", "wrong-token", "x" * 43])
def test_a_wrong_token_answers_not_found(app: SavApplication, token: str) -> None:
    ticket_id, _ = public_ticket(app)
    with pytest.raises(NotFoundError):
        messages.post_message(app, public_actor(None, None), ticket_id,
                              messages.PublicPostMessage(content="hi"), access_token=token)


def test_a_token_opens_only_its_own_ticket(app: SavApplication) -> None:
    _, token = public_ticket(app)
    other_id, _ = public_ticket(app)
    with pytest.raises(NotFoundError):
        messages.post_message(app, public_actor(None, None), other_id,
                              messages.PublicPostMessage(content="hi"), access_token=token)


def test_a_ticket_without_a_token_refuses_every_token(app: SavApplication) -> None:
    ticket_id = open_ticket(app)
    with pytest.raises(NotFoundError):
        messages.post_message(app, public_actor(None, None), ticket_id,
                              messages.PublicPostMessage(content="hi"), access_token="abc")


@pytest.mark.parametrize(("stored", "given", "expected"), [
    (None, "anything", False), (None, None, False),
    (tickets.hash_access_token("secret"), "secret", True),
    (tickets.hash_access_token("secret"), "Secret", False),
    (tickets.hash_access_token("secret"), None, False),
    (tickets.hash_access_token("secret"), "", False),
])
def test_token_matches(stored: str | None, given: str | None, expected: bool) -> None:
    assert messages.token_matches(stored, given) is expected
