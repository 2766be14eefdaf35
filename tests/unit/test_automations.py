"""Automation commands the scheduler runs: escalation, auto-close, survey, auto-assign.
Each re-checks its rule on the aggregate and changes nothing twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sav.commands import automations, tickets
from sav.commands.app import SavApplication
from sav.events import clock
from tests.support.domain import (
    ADMIN,
    AGENT,
    CUSTOMER,
    enable_auto_assign,
    events_of,
    move,
    open_ticket,
    status_of,
    ticket_in,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LATER = T0 + timedelta(hours=3)


@pytest.fixture(autouse=True)
def frozen_clock() -> None:
    clock.freeze(T0)


# -- escalation -------------------------------------------------------------------------


def test_urgent_ticket_without_response_is_escalated_once(app: SavApplication) -> None:
    ticket_id = open_ticket(app, priority="urgent")
    assert automations.escalate_ticket(app, ticket_id, LATER, "no response") is not None
    assert app.get_ticket(ticket_id).escalated is True
    assert automations.escalate_ticket(app, ticket_id, LATER, "no response") is None


@pytest.mark.parametrize("priority", ["low", "normal", "high"])
def test_only_urgent_tickets_are_escalated(app: SavApplication, priority: str) -> None:
    ticket_id = open_ticket(app, priority=priority)
    assert automations.escalate_ticket(app, ticket_id, LATER, "no response") is None


def test_a_ticket_younger_than_the_timeout_is_not_escalated(app: SavApplication) -> None:
    ticket_id = open_ticket(app, priority="urgent")
    before_creation = T0 - timedelta(seconds=1)
    assert automations.escalate_ticket(app, ticket_id, before_creation, "no response") is None


def test_an_answered_ticket_is_not_escalated(app: SavApplication) -> None:
    from sav.commands.messages import PostMessage, post_message

    ticket_id = open_ticket(app, priority="urgent")
    post_message(app, AGENT, ticket_id, PostMessage(content="On it"))
    assert automations.escalate_ticket(app, ticket_id, LATER, "no response") is None


def test_an_internal_note_is_no_response(app: SavApplication) -> None:
    from sav.commands.messages import PostMessage, post_message

    ticket_id = open_ticket(app, priority="urgent")
    post_message(app, AGENT, ticket_id, PostMessage(content="hmm", is_internal=True))
    assert automations.escalate_ticket(app, ticket_id, LATER, "no response") is not None


@pytest.mark.parametrize("status", ["resolved", "closed"])
def test_a_finished_ticket_is_not_escalated(app: SavApplication, status: str) -> None:
    ticket_id = open_ticket(app, priority="urgent")
    move(app, ticket_id, {"resolved": "resolve", "closed": "close"}[status])
    assert automations.escalate_ticket(app, ticket_id, LATER, "no response") is None


def test_automations_skip_a_deleted_ticket(app: SavApplication) -> None:
    ticket_id = open_ticket(app, priority="urgent")
    tickets.delete_ticket(app, ADMIN, ticket_id)
    assert automations.escalate_ticket(app, ticket_id, LATER, "no response") is None
    assert automations.auto_assign_ticket(app, ticket_id, "agent-1") is None
    assert automations.request_survey(app, ticket_id) is None


# -- auto-close ---------------------------------------------------------------------------


def test_a_resolved_ticket_idle_long_enough_is_closed(app: SavApplication) -> None:
    ticket_id = ticket_in(app, "resolved")
    outcome = automations.auto_close_ticket(app, ticket_id, idle_since=T0)
    assert outcome is not None and status_of(app, ticket_id) == "closed"
    assert events_of(app, ticket_id)[-1].reason == automations.AUTO_CLOSE_REASON
    assert automations.auto_close_ticket(app, ticket_id, idle_since=LATER) is None


def test_a_resolved_ticket_touched_since_is_left_alone(app: SavApplication) -> None:
    ticket_id = ticket_in(app, "resolved")
    assert automations.auto_close_ticket(app, ticket_id, T0 - timedelta(seconds=1)) is None
    assert status_of(app, ticket_id) == "resolved"


@pytest.mark.parametrize("status", ["open", "assigned", "in_progress", "waiting_customer"])
def test_only_resolved_tickets_are_auto_closed(app: SavApplication, status: str) -> None:
    ticket_id = ticket_in(app, status)
    assert automations.auto_close_ticket(app, ticket_id, LATER) is None
    assert status_of(app, ticket_id) == status


# -- survey -------------------------------------------------------------------------------


def test_a_closed_unrated_ticket_gets_one_survey(app: SavApplication) -> None:
    ticket_id = ticket_in(app, "closed")
    assert automations.request_survey(app, ticket_id) is not None
    event = events_of(app, ticket_id)[-1]
    assert (type(event).__qualname__, event.user_id) == ("Ticket.SurveyRequested", "cust-1")
    assert automations.request_survey(app, ticket_id) is None


@pytest.mark.parametrize("status", ["open", "in_progress", "resolved"])
def test_no_survey_before_closure(app: SavApplication, status: str) -> None:
    assert automations.request_survey(app, ticket_in(app, status)) is None


def test_no_survey_for_a_rated_ticket(app: SavApplication) -> None:
    from sav.commands.messages import RateTicket, rate_ticket

    ticket_id = ticket_in(app, "resolved")
    rate_ticket(app, CUSTOMER, ticket_id, RateTicket(rating=5))
    move(app, ticket_id, "close")
    assert automations.request_survey(app, ticket_id) is None


# -- auto-assign --------------------------------------------------------------------------


def test_an_unassigned_open_ticket_is_auto_assigned(app: SavApplication) -> None:
    ticket_id = open_ticket(app)
    assert automations.auto_assign_ticket(app, ticket_id, "agent-7") is not None
    ticket = app.get_ticket(ticket_id)
    assert (ticket.assigned_to, str(ticket.status)) == ("agent-7", "assigned")


@pytest.mark.parametrize("status", ["assigned", "in_progress", "resolved", "closed"])
def test_auto_assign_leaves_other_tickets_alone(app: SavApplication, status: str) -> None:
    ticket_id = ticket_in(app, status)
    assert automations.auto_assign_ticket(app, ticket_id, "agent-7") is None
    assert app.get_ticket(ticket_id).assigned_to != "agent-7"


def test_an_unassigned_ticket_in_progress_is_not_auto_assigned(app: SavApplication) -> None:
    ticket_id = open_ticket(app)
    move(app, ticket_id, "start")
    assert automations.auto_assign_ticket(app, ticket_id, "agent-7") is None


def test_with_auto_assign_a_new_ticket_is_created_assigned(app: SavApplication) -> None:
    enable_auto_assign(app, lambda: "agent-3")
    outcome = tickets.create_ticket(app, ADMIN, tickets.CreateTicket(subject="A", description="B"))
    ticket = app.get_ticket(outcome.ticket_id)
    assert (ticket.assigned_to, str(ticket.status)) == ("agent-3", "assigned")
    assert [type(e).__qualname__ for e in events_of(app, outcome.ticket_id)] == [
        "Ticket.Created", "Ticket.Assigned"]


def test_with_nobody_available_a_new_ticket_stays_unassigned(app: SavApplication) -> None:
    enable_auto_assign(app, lambda: None)
    ticket = app.get_ticket(open_ticket(app))
    assert (ticket.assigned_to, str(ticket.status)) == (None, "open")


def test_a_failing_picker_does_not_fail_ticket_creation(app: SavApplication) -> None:
    def broken() -> str | None:
        raise RuntimeError("read model down")

    enable_auto_assign(app, broken)
    assert app.get_ticket(open_ticket(app)).assigned_to is None


def test_auto_assign_is_per_application() -> None:
    from tests.support.domain import new_app

    first, second = new_app(), new_app()
    enable_auto_assign(first, lambda: "agent-3")
    assert second.get_ticket(open_ticket(second)).assigned_to is None
