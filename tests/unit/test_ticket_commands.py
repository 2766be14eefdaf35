"""Ticket command handlers on the in-memory store: every cell of docs/contract.md's lifecycle
table, who may issue which command, creation, deletion, and visibility."""

from __future__ import annotations

import hashlib
from uuid import UUID, uuid4

import pytest

from sav.commands import tickets
from sav.commands.actor import Actor
from sav.commands.app import SavApplication
from sav.events.errors import (
    InvalidTransitionError,
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
    STATUSES,
    TRANSITIONS,
    access_token_of,
    move,
    open_ticket,
    status_of,
    ticket_in,
)

# docs/contract.md: from -> {command: resulting status}; anything missing answers 409.
LIFECYCLE = {
    "open": {"assign": "assigned", "start": "in_progress", "resolve": "resolved",
             "close": "closed"},
    "assigned": {"assign": "assigned", "start": "in_progress", "wait": "waiting_customer",
                 "resolve": "resolved", "close": "closed"},
    "in_progress": {"assign": "in_progress", "wait": "waiting_customer",
                    "resolve": "resolved", "close": "closed"},
    "waiting_customer": {"start": "in_progress", "resolve": "resolved", "close": "closed"},
    "resolved": {"close": "closed", "reopen": "in_progress"},
    "closed": {},
}
CELLS = [(status, command) for status in STATUSES for command in TRANSITIONS]


@pytest.mark.parametrize(("status", "command"), CELLS)
def test_lifecycle_table_cell(app: SavApplication, status: str, command: str) -> None:
    ticket_id = ticket_in(app, status)
    expected = LIFECYCLE[status].get(command)
    if expected is None:
        version = app.get_ticket(ticket_id).version
        with pytest.raises(InvalidTransitionError):
            TRANSITIONS[command](app, ADMIN, ticket_id)
        assert app.get_ticket(ticket_id).version == version  # nothing appended
    else:
        outcome = TRANSITIONS[command](app, ADMIN, ticket_id)
        assert status_of(app, ticket_id) == expected
        assert outcome.version == app.get_ticket(ticket_id).version


@pytest.mark.parametrize("command", list(TRANSITIONS))
def test_closed_is_final_for_every_command(app: SavApplication, command: str) -> None:
    ticket_id = ticket_in(app, "closed")
    with pytest.raises(TicketClosedError):
        TRANSITIONS[command](app, ADMIN, ticket_id)


def test_reopening_an_unassigned_ticket_puts_it_back_to_open(app: SavApplication) -> None:
    ticket_id = open_ticket(app)
    move(app, ticket_id, "resolve", "reopen")
    assert status_of(app, ticket_id) == "open"
    assert app.get_ticket(ticket_id).resolved_at is None


def test_resolving_and_closing_stamp_their_times(app: SavApplication) -> None:
    ticket_id = ticket_in(app, "resolved")
    assert app.get_ticket(ticket_id).resolved_at is not None
    move(app, ticket_id, "close")
    assert app.get_ticket(ticket_id).closed_at is not None


def test_reassigning_records_the_new_agent(app: SavApplication) -> None:
    ticket_id = ticket_in(app, "in_progress")
    tickets.assign_ticket(app, ADMIN, ticket_id, tickets.AssignTicket(agent_id="agent-2"))
    ticket = app.get_ticket(ticket_id)
    assert (ticket.assigned_to, str(ticket.status)) == ("agent-2", "in_progress")


# (command, status before, who, expected status or error)
ROLE_CASES = [
    ("assign", "open", "customer", PermissionDeniedError),
    ("assign", "open", "other_customer", NotFoundError),
    ("assign", "open", "agent", "assigned"),
    ("assign", "open", "other_agent", "assigned"),  # unassigned open tickets are the pool
    ("assign", "assigned", "other_agent", NotFoundError),
    ("assign", "open", "admin", "assigned"),
    ("start", "assigned", "customer", PermissionDeniedError),
    ("start", "assigned", "agent", "in_progress"),
    ("start", "assigned", "other_agent", NotFoundError),
    ("wait", "in_progress", "customer", PermissionDeniedError),
    ("wait", "in_progress", "agent", "waiting_customer"),
    ("wait", "in_progress", "admin", "waiting_customer"),
    ("resolve", "in_progress", "customer", PermissionDeniedError),
    ("resolve", "in_progress", "agent", "resolved"),
    ("resolve", "open", "other_agent", "resolved"),
    ("close", "in_progress", "customer", "closed"),
    ("close", "in_progress", "other_customer", NotFoundError),
    ("close", "in_progress", "agent", "closed"),
    ("close", "in_progress", "other_agent", NotFoundError),
    ("close", "waiting_customer", "admin", "closed"),
    ("reopen", "resolved", "customer", "in_progress"),
    ("reopen", "resolved", "other_customer", NotFoundError),
    ("reopen", "resolved", "agent", "in_progress"),
    ("reopen", "resolved", "other_agent", NotFoundError),
    ("reopen", "resolved", "admin", "in_progress"),
]


@pytest.mark.parametrize(("command", "status", "who", "expected"), ROLE_CASES)
def test_who_may_issue_each_command(app: SavApplication, command: str, status: str, who: str,
                                    expected: str | type[Exception]) -> None:
    ticket_id = ticket_in(app, status)
    if isinstance(expected, str):
        TRANSITIONS[command](app, ACTORS[who], ticket_id)
        assert status_of(app, ticket_id) == expected
    else:
        with pytest.raises(expected):
            TRANSITIONS[command](app, ACTORS[who], ticket_id)
        assert status_of(app, ticket_id) == status


def test_customer_cannot_close_someone_elses_ticket(app: SavApplication) -> None:
    ticket_id = open_ticket(app, CUSTOMER)
    with pytest.raises(NotFoundError):
        tickets.close_ticket(app, OTHER_CUSTOMER, ticket_id)
    assert status_of(app, ticket_id) == "open"


def test_an_invisible_ticket_answers_exactly_like_a_missing_one(app: SavApplication) -> None:
    ticket_id = open_ticket(app, CUSTOMER)
    with pytest.raises(NotFoundError) as hidden:
        tickets.close_ticket(app, OTHER_CUSTOMER, ticket_id)
    with pytest.raises(NotFoundError) as missing:
        tickets.close_ticket(app, OTHER_CUSTOMER, uuid4())
    assert str(hidden.value) == str(missing.value)


def test_agent_cannot_see_an_unassigned_resolved_ticket(app: SavApplication) -> None:
    ticket_id = open_ticket(app)
    move(app, ticket_id, "resolve")
    with pytest.raises(NotFoundError):
        tickets.reopen_ticket(app, AGENT, ticket_id)


def test_anonymous_customer_sees_no_ticket_without_its_token(app: SavApplication) -> None:
    ticket_id = open_ticket(app, ADMIN)  # no owner
    with pytest.raises(NotFoundError):
        tickets.close_ticket(app, Actor(None, "customer"), ticket_id)


# -- creation -------------------------------------------------------------------------


def test_new_ticket_is_open_unassigned_and_owned_by_its_customer(app: SavApplication) -> None:
    outcome = tickets.create_ticket(app, CUSTOMER, tickets.CreateTicket.model_validate(
        {"subject": "Broken", "description": "It broke", "priority": "high"}))
    ticket = app.get_ticket(outcome.ticket_id)
    assert (str(ticket.status), ticket.assigned_to, ticket.user_id) == ("open", None, "cust-1")
    assert (ticket.subject, str(ticket.priority), ticket.tags) == ("Broken", "high", [])
    assert outcome.version == ticket.version and outcome.position is not None


def test_only_staff_set_tags_and_source_at_creation(app: SavApplication) -> None:
    body = {"subject": "Broken", "description": "It broke", "tags": ["x"], "source": "phone"}
    with pytest.raises(PermissionDeniedError) as refused:
        tickets.create_ticket(app, CUSTOMER, tickets.CreateTicket.model_validate(body))
    assert refused.value.details == {"fields": ["source", "tags"]}
    outcome = tickets.create_ticket(app, AGENT, tickets.CreateTicket.model_validate(
        {**body, "user_id": "cust-1"}))
    assert app.get_ticket(outcome.ticket_id).tags == ["x"]


def test_customer_ticket_takes_the_customers_contact_details(app: SavApplication) -> None:
    ticket = app.get_ticket(open_ticket(app, CUSTOMER))
    assert (ticket.contact_email, ticket.contact_name) == (CUSTOMER.email, CUSTOMER.name)


def test_staff_ticket_does_not_take_the_agents_contact_details(app: SavApplication) -> None:
    ticket = app.get_ticket(open_ticket(app, AGENT, user_id="cust-9"))
    assert (ticket.user_id, ticket.contact_email, ticket.contact_name) == ("cust-9", None, None)


def test_customers_cannot_open_tickets_for_someone_else(app: SavApplication) -> None:
    with pytest.raises(PermissionDeniedError):
        open_ticket(app, CUSTOMER, user_id="cust-2")


def test_customers_may_name_themselves_as_the_user(app: SavApplication) -> None:
    assert app.get_ticket(open_ticket(app, CUSTOMER, user_id="cust-1")).user_id == "cust-1"


def test_public_ticket_returns_its_access_token_once_and_stores_only_its_hash(
        app: SavApplication) -> None:
    outcome = tickets.create_ticket(
        app, Actor(None, "customer"), tickets.CreateTicket(
            subject="Help", description="Please", contact_email="anon@example.com"),
        with_access_token=True)
    token = access_token_of(outcome)
    assert token and len(token) >= 32
    stored = app.get_ticket(outcome.ticket_id).access_token_hash
    assert stored == hashlib.sha256(token.encode()).hexdigest() != token


def test_an_authenticated_ticket_has_no_access_token(app: SavApplication) -> None:
    outcome = tickets.create_ticket(
        app, CUSTOMER, tickets.CreateTicket(subject="A", description="B"))
    assert access_token_of(outcome) is None
    assert app.get_ticket(outcome.ticket_id).access_token_hash is None


def test_ticket_id_may_be_chosen_by_the_caller(app: SavApplication) -> None:
    chosen = uuid4()
    outcome = tickets.create_ticket(
        app, ADMIN, tickets.CreateTicket(subject="A", description="B"), ticket_id=chosen)
    assert outcome.ticket_id == chosen


# -- deletion ---------------------------------------------------------------------------


@pytest.mark.parametrize(("who", "expected"), [
    ("customer", None), ("admin", None), ("agent", PermissionDeniedError),
    ("other_customer", NotFoundError), ("other_agent", NotFoundError),
])
def test_who_may_delete_a_ticket(app: SavApplication, who: str,
                                 expected: type[Exception] | None) -> None:
    ticket_id = ticket_in(app, "assigned")
    if expected is None:
        tickets.delete_ticket(app, ACTORS[who], ticket_id)
        with pytest.raises(NotFoundError):
            app.get_ticket(ticket_id)
    else:
        with pytest.raises(expected):
            tickets.delete_ticket(app, ACTORS[who], ticket_id)
        assert app.get_ticket(ticket_id).deleted is False


def test_owner_may_delete_a_closed_ticket(app: SavApplication) -> None:
    ticket_id = ticket_in(app, "closed")
    tickets.delete_ticket(app, CUSTOMER, ticket_id)
    with pytest.raises(NotFoundError):
        app.get_ticket(ticket_id)


@pytest.mark.parametrize("command", list(TRANSITIONS))
def test_a_deleted_ticket_is_not_found_for_every_command(app: SavApplication,
                                                         command: str) -> None:
    ticket_id = ticket_in(app, "assigned")
    tickets.delete_ticket(app, ADMIN, ticket_id)
    with pytest.raises(NotFoundError):
        TRANSITIONS[command](app, ADMIN, ticket_id)


def test_an_unknown_ticket_is_not_found(app: SavApplication) -> None:
    with pytest.raises(NotFoundError):
        tickets.close_ticket(app, ADMIN, UUID(int=1))


def test_an_agent_aggregate_id_is_not_a_ticket(app: SavApplication) -> None:
    from sav.commands.agents import UpsertAgent, upsert_agent
    from sav.events.agent import agent_aggregate_id

    upsert_agent(app, ADMIN, "agent-1", UpsertAgent(name="Ann"))
    with pytest.raises(NotFoundError):
        app.get_ticket(agent_aggregate_id("agent-1"))

