"""The lifecycle table of docs/contract.md, enforced by the aggregate, on the in-memory
event store."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest

from sav.commands import tickets as commands
from sav.commands.actor import Actor
from sav.commands.app import SavApplication
from sav.events.errors import (
    InvalidTransitionError,
    NotFoundError,
    PermissionDeniedError,
    PreconditionFailedError,
    RuleViolationError,
    TicketClosedError,
)
from sav.events.ticket import Ticket

CUSTOMER = Actor("cust-1", "customer", "c@example.com", "Cus Tomer")
AGENT = Actor("agent-1", "agent")
ADMIN = Actor("admin-1", "admin")

# command -> (callable on the aggregate)
COMMANDS: dict[str, Any] = {
    "assign": lambda t: t.assign("agent-1", by="x"),
    "start": lambda t: t.start(by="x"),
    "wait": lambda t: t.wait(by="x"),
    "resolve": lambda t: t.resolve("done", by="x"),
    "close": lambda t: t.close(by="x"),
    "reopen": lambda t: t.reopen(by="x"),
}

# docs/contract.md: from -> {command: resulting status}
TABLE = {
    "open": {"assign": "assigned", "start": "in_progress", "resolve": "resolved",
             "close": "closed"},
    "assigned": {"assign": "assigned", "start": "in_progress", "wait": "waiting_customer",
                 "resolve": "resolved", "close": "closed"},
    "in_progress": {"assign": "in_progress", "wait": "waiting_customer", "resolve": "resolved",
                    "close": "closed"},
    "waiting_customer": {"start": "in_progress", "resolve": "resolved", "close": "closed"},
    "resolved": {"close": "closed", "reopen": "in_progress"},
    "closed": {},
}

# How to bring a fresh (unassigned) ticket into each status, with an assignee.
SETUP = {
    "open": [],
    "assigned": ["assign"],
    "in_progress": ["assign", "start"],
    "waiting_customer": ["assign", "wait"],
    "resolved": ["assign", "resolve"],
    "closed": ["close"],
}


def new_ticket() -> Ticket:
    app = SavApplication()
    outcome = commands.create_ticket(
        app, CUSTOMER, commands.CreateTicket(subject="Broken", description="It broke"))
    return app.repository.get(outcome.ticket_id)


@pytest.mark.parametrize("status", list(TABLE))
@pytest.mark.parametrize("command", list(COMMANDS))
def test_lifecycle_table(status: str, command: str) -> None:
    ticket = new_ticket()
    for step in SETUP[status]:
        COMMANDS[step](ticket)
    assert ticket.status == status
    expected = TABLE[status].get(command)
    if expected is None:
        with pytest.raises(InvalidTransitionError):
            COMMANDS[command](ticket)
    else:
        COMMANDS[command](ticket)
        assert ticket.status == expected


def test_reopen_without_assignee_goes_back_to_open() -> None:
    ticket = new_ticket()
    ticket.resolve(None, by="x")
    ticket.reopen(by="x")
    assert ticket.status == "open"


def test_closed_is_final_even_for_messages() -> None:
    ticket = new_ticket()
    ticket.close(by="x")
    with pytest.raises(TicketClosedError):
        ticket.post_message("m1", "cust-1", "customer", None, None, "hello?", False)
    with pytest.raises(TicketClosedError):
        ticket.update({"subject": "new"}, by="x")


def test_customer_reply_wakes_waiting_and_resolved_tickets() -> None:
    ticket = new_ticket()
    ticket.assign("agent-1", by="x")
    ticket.wait(by="x")
    ticket.post_message("m1", "cust-1", "customer", None, None, "here you go", False)
    assert ticket.status == "in_progress"
    ticket.resolve(None, by="x")
    ticket.post_message("m2", "cust-1", "customer", None, None, "still broken", False)
    assert ticket.status == "in_progress"


def test_only_staff_write_internal_notes_and_first_response_is_public() -> None:
    ticket = new_ticket()
    with pytest.raises(PermissionDeniedError):
        ticket.post_message("m1", "cust-1", "customer", None, None, "psst", True)
    ticket.post_message("m2", "agent-1", "agent", None, None, "internal", True)
    assert ticket.first_response_at is None
    ticket.post_message("m3", "agent-1", "agent", None, None, "Hello!", False)
    assert ticket.first_response_at is not None


def test_rating_once_after_resolution() -> None:
    ticket = new_ticket()
    with pytest.raises(InvalidTransitionError):
        ticket.rate(5, None, by="cust-1")
    ticket.resolve(None, by="x")
    with pytest.raises(RuleViolationError):
        ticket.rate(6, None, by="cust-1")
    ticket.rate(4, "ok", by="cust-1")
    with pytest.raises(InvalidTransitionError):
        ticket.rate(5, None, by="cust-1")


def test_escalation_and_survey_happen_once() -> None:
    ticket = new_ticket()
    assert ticket.escalate("no response") is True
    assert ticket.escalate("no response") is False
    assert ticket.request_survey() is False  # not closed yet
    ticket.close(by="x")
    assert ticket.request_survey() is True
    assert ticket.request_survey() is False


def test_events_are_replayed_into_the_same_state() -> None:
    app = SavApplication()
    outcome = commands.create_ticket(
        app, AGENT, commands.CreateTicket(subject="A", description="B", tags=["x"]))
    commands.assign_ticket(app, AGENT, outcome.ticket_id, commands.AssignTicket(agent_id="agent-1"))
    commands.resolve_ticket(app, AGENT, outcome.ticket_id, commands.ResolveTicket(resolution="r"))
    replayed = app.repository.get(outcome.ticket_id)
    assert (replayed.status, replayed.assigned_to, replayed.tags) == ("resolved", "agent-1", ["x"])
    assert [type(e).__qualname__ for e in app.events.get(outcome.ticket_id)] == [
        "Ticket.Created", "Ticket.Assigned", "Ticket.Resolved"]


def test_command_handlers_check_visibility_and_roles() -> None:
    app = SavApplication()
    ticket_id = commands.create_ticket(
        app, CUSTOMER, commands.CreateTicket(subject="A", description="B")).ticket_id
    stranger = Actor("cust-2", "customer")
    with pytest.raises(NotFoundError):
        commands.close_ticket(app, stranger, ticket_id)
    with pytest.raises(PermissionDeniedError):
        commands.assign_ticket(app, CUSTOMER, ticket_id, commands.AssignTicket(agent_id="a"))
    with pytest.raises(PermissionDeniedError):
        commands.update_ticket(app, CUSTOMER, ticket_id,
                               commands.UpdateTicket(internal_notes="sneaky"))
    with pytest.raises(PreconditionFailedError):
        commands.update_ticket(app, CUSTOMER, ticket_id, commands.UpdateTicket(subject="C"),
                               expected_version=5)
    with pytest.raises(NotFoundError):
        commands.close_ticket(app, ADMIN, UUID(int=1))


def test_customers_cannot_open_tickets_for_someone_else() -> None:
    app = SavApplication()
    with pytest.raises(PermissionDeniedError):
        commands.create_ticket(app, CUSTOMER, commands.CreateTicket(
            subject="A", description="B", user_id="cust-2"))
    outcome = commands.create_ticket(app, AGENT, commands.CreateTicket(
        subject="A", description="B", user_id="cust-2"))
    assert app.repository.get(outcome.ticket_id).user_id == "cust-2"


def test_ticket_numbers_are_sequential_per_day() -> None:
    app = SavApplication(ticket_prefix="SAV")
    numbers = [
        commands.create_ticket(app, CUSTOMER, commands.CreateTicket(
            subject="A", description="B")).ticket_number
        for _ in range(3)
    ]
    assert [n.rsplit("-", 1)[1] for n in numbers] == ["001", "002", "003"]
    assert all(n.startswith("SAV-") for n in numbers)
