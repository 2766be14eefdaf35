"""Editing tickets (`PUT /tickets/{id}`) and conditional writes (`If-Match`), through
the command handlers on the in-memory store."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

import pytest
from pydantic import ValidationError

from sav.commands import tickets
from sav.commands.app import SavApplication
from sav.events.errors import (
    ConflictError,
    InvalidTransitionError,
    NotFoundError,
    PermissionDeniedError,
    PreconditionFailedError,
    TicketClosedError,
)
from sav.events.ticket import Ticket
from tests.support.domain import (
    ADMIN,
    AGENT,
    CUSTOMER,
    OTHER_AGENT,
    OTHER_CUSTOMER,
    TRANSITIONS,
    move,
    open_ticket,
    status_of,
    ticket_in,
)


def update(app: SavApplication, ticket_id: UUID, actor: Any = CUSTOMER,
           expected_version: int | None = None, **fields: Any) -> Any:
    return tickets.update_ticket(app, actor, ticket_id, tickets.UpdateTicket(**fields),
                                 expected_version=expected_version)


@pytest.mark.parametrize(("field", "value"), [
    ("subject", "Still not received"), ("description", "Two weeks now"), ("priority", "urgent"),
])
def test_customer_edits_subject_description_priority_of_own_open_ticket(
        app: SavApplication, field: str, value: Any) -> None:
    ticket_id = open_ticket(app)
    update(app, ticket_id, **{field: value})
    assert str(getattr(app.get_ticket(ticket_id), field)) == value


@pytest.mark.parametrize(("field", "value"), [
    ("category", "billing"), ("tags", ["vip"]), ("metadata", {"order": "42"}),
    ("internal_notes", "refund approved"), ("status", "in_progress"),
])
def test_customer_cannot_edit_staff_fields(app: SavApplication, field: str, value: Any) -> None:
    ticket_id = open_ticket(app)
    with pytest.raises(PermissionDeniedError) as denied:
        update(app, ticket_id, **{field: value})
    assert denied.value.details == {"fields": [field]}


def test_customer_cannot_see_internal_notes_by_editing_them(app: SavApplication) -> None:
    ticket_id = open_ticket(app)
    update(app, ticket_id, actor=ADMIN, internal_notes="fraud suspected")
    with pytest.raises(PermissionDeniedError):
        update(app, ticket_id, internal_notes=None)
    assert app.get_ticket(ticket_id).internal_notes == "fraud suspected"


@pytest.mark.parametrize("status", ["assigned", "in_progress", "waiting_customer", "resolved"])
def test_customer_may_only_edit_open_tickets(app: SavApplication, status: str) -> None:
    ticket_id = ticket_in(app, status)
    with pytest.raises(PermissionDeniedError):
        update(app, ticket_id, subject="Changed my mind")


def test_customer_cannot_edit_someone_elses_ticket(app: SavApplication) -> None:
    ticket_id = open_ticket(app)
    with pytest.raises(NotFoundError):
        update(app, ticket_id, actor=OTHER_CUSTOMER, subject="mine now")


@pytest.mark.parametrize(("field", "value"), [
    ("category", "billing"), ("tags", ["vip", "refund"]), ("metadata", {"order": {"id": 42}}),
    ("internal_notes", "call back tomorrow"), ("subject", "Parcel lost"), ("priority", "low"),
])
def test_staff_edit_every_field(app: SavApplication, field: str, value: Any) -> None:
    ticket_id = ticket_in(app, "in_progress")
    update(app, ticket_id, actor=AGENT, **{field: value})
    got = getattr(app.get_ticket(ticket_id), field)
    assert (str(got) if field == "priority" else got) == value


def test_agent_cannot_edit_a_ticket_assigned_to_another_agent(app: SavApplication) -> None:
    ticket_id = ticket_in(app, "assigned")
    with pytest.raises(NotFoundError):
        update(app, ticket_id, actor=OTHER_AGENT, category="billing")


@pytest.mark.parametrize("field", ["category", "internal_notes"])
def test_null_clears_a_nullable_field(app: SavApplication, field: str) -> None:
    ticket_id = open_ticket(app)
    fields: dict[str, Any] = {field: "something"}
    update(app, ticket_id, actor=ADMIN, **fields)
    update(app, ticket_id, actor=ADMIN, **dict.fromkeys(fields))
    assert getattr(app.get_ticket(ticket_id), field) is None


@pytest.mark.parametrize("field",
                         ["subject", "description", "priority", "tags", "metadata", "status"])
def test_null_is_refused_for_a_required_field(field: str) -> None:
    with pytest.raises(ValidationError, match="cannot be null"):
        tickets.UpdateTicket(**{field: None})


def test_the_aggregate_refuses_null_required_fields_too(app: SavApplication) -> None:
    from sav.events.errors import RuleViolationError

    ticket_id = open_ticket(app)
    # A command model built without validation must still not null a required field.
    cmd = tickets.UpdateTicket.model_construct(subject=None, _fields_set={"subject"})
    with pytest.raises(RuleViolationError):
        tickets.update_ticket(app, ADMIN, ticket_id, cmd)


def test_an_update_that_changes_nothing_appends_nothing(app: SavApplication) -> None:
    ticket_id = open_ticket(app, subject="Same")
    version = app.get_ticket(ticket_id).version
    outcome = update(app, ticket_id, subject="Same")
    assert outcome.version == version and outcome.position is None


@pytest.mark.parametrize(("before", "status", "after"), [
    ("open", "in_progress", "in_progress"),
    ("assigned", "in_progress", "in_progress"),
    ("assigned", "waiting_customer", "waiting_customer"),
    ("in_progress", "waiting_customer", "waiting_customer"),
    ("waiting_customer", "in_progress", "in_progress"),
])
def test_status_in_the_body_is_a_lifecycle_transition(app: SavApplication, before: str,
                                                      status: str, after: str) -> None:
    ticket_id = ticket_in(app, before)
    update(app, ticket_id, actor=ADMIN, status=status)
    assert status_of(app, ticket_id) == after


@pytest.mark.parametrize(("before", "status"), [
    ("open", "waiting_customer"), ("in_progress", "in_progress"),
    ("waiting_customer", "waiting_customer"), ("resolved", "in_progress"),
])
def test_status_in_the_body_outside_the_table_is_a_conflict_and_writes_nothing(
        app: SavApplication, before: str, status: str) -> None:
    ticket_id = ticket_in(app, before)
    version = app.get_ticket(ticket_id).version
    with pytest.raises(InvalidTransitionError):
        update(app, ticket_id, actor=ADMIN, status=status, subject="Half applied?")
    ticket = app.get_ticket(ticket_id)
    assert (ticket.version, ticket.subject) == (version, "Order not received")


@pytest.mark.parametrize("status", ["open", "assigned", "resolved", "closed", "bogus"])
def test_only_in_progress_and_waiting_can_be_set_in_the_body(status: str) -> None:
    with pytest.raises(ValidationError):
        tickets.UpdateTicket.model_validate({"status": status})


def test_a_closed_ticket_cannot_be_edited(app: SavApplication) -> None:
    ticket_id = ticket_in(app, "closed")
    with pytest.raises(TicketClosedError):
        update(app, ticket_id, actor=ADMIN, subject="after the fact")


# -- If-Match ---------------------------------------------------------------------------


def test_if_match_with_the_current_version_applies(app: SavApplication) -> None:
    ticket_id = open_ticket(app)
    version = app.get_ticket(ticket_id).version
    outcome = update(app, ticket_id, expected_version=version, subject="New")
    assert outcome.version == version + 1


def test_if_match_with_a_stale_version_is_a_failed_precondition(app: SavApplication) -> None:
    ticket_id = open_ticket(app)
    version = app.get_ticket(ticket_id).version
    update(app, ticket_id, subject="First writer")
    with pytest.raises(PreconditionFailedError) as failed:
        update(app, ticket_id, expected_version=version, subject="Second writer")
    assert failed.value.details == {"current_version": version + 1}
    assert app.get_ticket(ticket_id).subject == "First writer"


def test_if_match_on_someone_elses_ticket_answers_not_found(app: SavApplication) -> None:
    ticket_id = open_ticket(app)
    with pytest.raises(NotFoundError):
        update(app, ticket_id, actor=OTHER_CUSTOMER, expected_version=99, subject="x")


STAFF_COMMANDS = {
    "assign": lambda app, tid, v: tickets.assign_ticket(
        app, ADMIN, tid, tickets.AssignTicket(agent_id="agent-1"), expected_version=v),
    "start": lambda app, tid, v: tickets.start_ticket(app, ADMIN, tid, expected_version=v),
    "resolve": lambda app, tid, v: tickets.resolve_ticket(
        app, ADMIN, tid, tickets.ResolveTicket(), expected_version=v),
    "close": lambda app, tid, v: tickets.close_ticket(app, ADMIN, tid, expected_version=v),
    "delete": lambda app, tid, v: tickets.delete_ticket(app, ADMIN, tid, expected_version=v),
}


@pytest.mark.parametrize("command", list(STAFF_COMMANDS))
def test_every_command_honours_if_match(app: SavApplication, command: str) -> None:
    ticket_id = open_ticket(app)
    with pytest.raises(PreconditionFailedError):
        STAFF_COMMANDS[command](app, ticket_id, 99)
    version = app.get_ticket(ticket_id).version
    STAFF_COMMANDS[command](app, ticket_id, version)


def test_if_match_on_wait_and_reopen(app: SavApplication) -> None:
    ticket_id = ticket_in(app, "assigned")
    with pytest.raises(PreconditionFailedError):
        tickets.wait_on_customer(app, ADMIN, ticket_id, expected_version=1)
    move(app, ticket_id, "resolve")
    with pytest.raises(PreconditionFailedError):
        tickets.reopen_ticket(app, ADMIN, ticket_id, expected_version=1)


# -- no lost update -----------------------------------------------------------------------


def concurrent_writer(app: SavApplication, ticket_id: UUID, times: int
                      ) -> Callable[[Ticket], None]:
    """A change that lets another writer append first, `times` times."""
    remaining = [times]

    def change(ticket: Ticket) -> None:
        if remaining[0] > 0:
            remaining[0] -= 1
            TRANSITIONS["assign"](app, ADMIN, ticket_id)  # appended first, same version
        ticket.update({"subject": "Written by the slower writer"}, by="x")

    return change


def test_a_concurrent_append_is_retried_on_the_latest_state(app: SavApplication) -> None:
    ticket_id = open_ticket(app)
    app.change_ticket(ticket_id, concurrent_writer(app, ticket_id, times=1))
    ticket = app.get_ticket(ticket_id)
    assert (ticket.subject, ticket.assigned_to) == ("Written by the slower writer", "agent-1")


def test_a_concurrent_append_under_if_match_is_a_failed_precondition(
        app: SavApplication) -> None:
    ticket_id = open_ticket(app)
    version = app.get_ticket(ticket_id).version
    with pytest.raises(PreconditionFailedError):
        app.change_ticket(ticket_id, concurrent_writer(app, ticket_id, times=1), version)
    assert app.get_ticket(ticket_id).subject == "Order not received"


def test_endless_contention_ends_in_a_conflict(app: SavApplication) -> None:
    ticket_id = open_ticket(app)
    with pytest.raises(ConflictError):
        app.change_ticket(ticket_id, concurrent_writer(app, ticket_id, times=1000))
