"""Service-level rules on the in-memory application (`sav.sla.rules`): matching, met by
a public reply (not a note), breached once, paused and resumed, business hours,
re-matching on a priority change; the fold shows what the aggregate decided."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from sav.commands import messages, tickets
from sav.commands.app import SavApplication
from sav.events import clock
from sav.events.ticket import SLA_EVENTS, Ticket
from sav.history.past import fold
from sav.sla import commands as sla_commands
from sav.sla.state import view
from tests.support.domain import ADMIN, AGENT, CUSTOMER, open_ticket

START = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)  # a Monday


@pytest.fixture(autouse=True)
def frozen() -> None:
    clock.freeze(START)


def at(**delta: float) -> None:
    clock.freeze(START + timedelta(**delta))


def policy(app: SavApplication, name: str = "standard", **values: Any) -> None:
    body = {"first_response_minutes": 60, "resolution_minutes": 240, **values}
    sla_commands.put_policy(app, ADMIN, name, sla_commands.PolicyBody(**body))


def sla_events(app: SavApplication, ticket_id: UUID) -> list[Any]:
    return [e for e in app.events.get(ticket_id) if isinstance(e, SLA_EVENTS)]


def kinds(app: SavApplication, ticket_id: UUID) -> list[str]:
    return [type(e).__name__ + (f":{e.metric}" if hasattr(e, "metric") else "")
            for e in sla_events(app, ticket_id)]


def sla_view(app: SavApplication, ticket_id: UUID) -> dict[str, Any] | None:
    return view(getattr(app.get_ticket(ticket_id), "sla_state", None))


def reply(app: SavApplication, ticket_id: UUID, actor: Any = AGENT, internal: bool = False
          ) -> None:
    messages.post_message(app, actor, ticket_id,
                          messages.PostMessage(content="Hello", is_internal=internal))


def hold(app: SavApplication, ticket_id: UUID) -> None:
    tickets.assign_ticket(app, AGENT, ticket_id, tickets.AssignTicket(agent_id="agent-1"))
    tickets.wait_on_customer(app, AGENT, ticket_id)


def tick(app: SavApplication, ticket_id: UUID) -> None:
    """What the scheduler's `sla` job does for a ticket whose due time passed."""
    app.change_ticket(ticket_id, lambda ticket: None)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def test_no_policy_no_service_level(app: SavApplication) -> None:
    ticket_id = open_ticket(app)
    assert sla_events(app, ticket_id) == [] and sla_view(app, ticket_id) is None


def test_the_first_matching_policy_applies_with_due_times_from_creation(
        app: SavApplication) -> None:
    policy(app, "urgent", priority=["urgent"], position=1, first_response_minutes=15)
    policy(app, "billing", category=["billing"], priority=["urgent", "high"], position=0,
           first_response_minutes=30, next_response_minutes=45)
    policy(app, "rest", position=9)
    urgent_billing = open_ticket(app, priority="urgent", category="billing")
    assert sla_view(app, urgent_billing) == {
        "policy": "billing", "first_response_due_at": iso(START + timedelta(minutes=30)),
        "next_response_due_at": None, "resolution_due_at": iso(START + timedelta(hours=4)),
        "breaches": [], "paused": False}
    assert sla_view(app, open_ticket(app, priority="urgent"))["policy"] == "urgent"
    assert sla_view(app, open_ticket(app, priority="low"))["policy"] == "rest"


def test_first_response_is_met_by_a_public_reply_not_a_note(app: SavApplication) -> None:
    policy(app)
    ticket_id = open_ticket(app)
    at(minutes=10)
    reply(app, ticket_id, internal=True)
    reply(app, ticket_id, actor=CUSTOMER)
    assert kinds(app, ticket_id) == ["SlaApplied"]
    at(minutes=20)
    reply(app, ticket_id)
    assert kinds(app, ticket_id) == ["SlaApplied", "SlaMet:first_response"]
    at(hours=5)
    tick(app, ticket_id)
    assert sla_view(app, ticket_id)["breaches"] == ["resolution"]


def test_a_breach_is_recorded_once(app: SavApplication) -> None:
    policy(app, first_response_minutes=0.5)
    ticket_id = open_ticket(app)
    at(seconds=20)
    tick(app, ticket_id)
    assert kinds(app, ticket_id) == ["SlaApplied"]
    at(seconds=31)
    tick(app, ticket_id)
    tick(app, ticket_id)
    reply(app, ticket_id)  # late: not met any more
    assert kinds(app, ticket_id) == ["SlaApplied", "SlaBreached:first_response"]
    breach = sla_events(app, ticket_id)[1]
    assert (breach.policy, breach.due_at) == ("standard", iso(START + timedelta(seconds=30)))


def test_a_late_reply_before_the_scheduler_counts_as_a_breach(app: SavApplication) -> None:
    policy(app, first_response_minutes=1)
    ticket_id = open_ticket(app)
    at(minutes=2)
    reply(app, ticket_id)
    assert kinds(app, ticket_id) == ["SlaApplied", "SlaBreached:first_response"]


def test_resolution_pauses_while_waiting_on_the_customer(app: SavApplication) -> None:
    policy(app, resolution_minutes=60, first_response_minutes=1000)
    ticket_id = open_ticket(app)
    at(minutes=10)
    hold(app, ticket_id)
    assert sla_view(app, ticket_id)["paused"] is True
    at(minutes=100)  # 90 minutes on hold: past the original due time, no breach
    tick(app, ticket_id)
    reply(app, ticket_id, actor=CUSTOMER)  # the reply brings the ticket back in progress
    shown = sla_view(app, ticket_id)
    assert shown["paused"] is False and shown["breaches"] == []
    assert shown["resolution_due_at"] == iso(START + timedelta(minutes=150))
    at(minutes=149)
    tickets.resolve_ticket(app, AGENT, ticket_id, tickets.ResolveTicket())
    # The first response never came: its clock stops with the resolution, unbroken.
    assert kinds(app, ticket_id)[-2:] == ["SlaMet:resolution", "SlaStopped"]
    at(days=30)
    tick(app, ticket_id)
    assert sla_view(app, ticket_id)["breaches"] == []


def test_business_hours_skip_nights_holidays_and_count_in_the_time_zone(
        app: SavApplication) -> None:
    sla_commands.put_calendar(app, ADMIN, {
        "timezone": "America/New_York", "holidays": ["2026-12-08"],
        "hours": {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}})
    policy(app, business_hours=True, first_response_minutes=120, resolution_minutes=600)
    ticket_id = open_ticket(app)  # Monday 04:00 in New York (UTC-5)
    shown = sla_view(app, ticket_id)
    assert shown["first_response_due_at"] == iso(datetime(2026, 12, 7, 16, 0, tzinfo=UTC))
    # 8 hours on Monday, Tuesday a holiday, 2 hours on Wednesday: 11:00 New York.
    assert shown["resolution_due_at"] == iso(datetime(2026, 12, 9, 16, 0, tzinfo=UTC))


def test_a_priority_change_matches_again(app: SavApplication) -> None:
    policy(app, "urgent", priority=["urgent"], first_response_minutes=5)
    policy(app, "normal", priority=["normal", "low"], first_response_minutes=60, position=1)
    ticket_id = open_ticket(app)
    assert sla_view(app, ticket_id)["policy"] == "normal"
    at(minutes=2)
    tickets.update_ticket(app, AGENT, ticket_id, tickets.UpdateTicket(priority="urgent"))
    shown = sla_view(app, ticket_id)
    assert shown["policy"] == "urgent"
    assert shown["first_response_due_at"] == iso(START + timedelta(minutes=5))
    tickets.update_ticket(app, AGENT, ticket_id, tickets.UpdateTicket(priority="high"))
    assert sla_view(app, ticket_id) is None  # nothing matches a high ticket
    assert kinds(app, ticket_id) == ["SlaApplied"] * 3


def test_editing_a_policy_does_not_rewrite_matched_tickets(app: SavApplication) -> None:
    policy(app, first_response_minutes=60)
    ticket_id = open_ticket(app)
    policy(app, first_response_minutes=5)
    assert sla_view(app, ticket_id)["first_response_due_at"] == iso(START + timedelta(hours=1))
    assert sla_view(app, open_ticket(app))["first_response_due_at"] == iso(
        START + timedelta(minutes=5))


def test_next_response_runs_from_a_customer_message_after_a_reply(
        app: SavApplication) -> None:
    policy(app, next_response_minutes=30)
    ticket_id = open_ticket(app)
    reply(app, ticket_id)
    at(minutes=10)
    reply(app, ticket_id, actor=CUSTOMER)
    assert sla_view(app, ticket_id)["next_response_due_at"] == iso(START + timedelta(minutes=40))
    at(minutes=20)
    reply(app, ticket_id)
    at(minutes=30)
    reply(app, ticket_id, actor=CUSTOMER)
    at(minutes=61)
    tick(app, ticket_id)
    tick(app, ticket_id)
    assert kinds(app, ticket_id) == [
        "SlaApplied", "SlaMet:first_response", "SlaClockStarted:next_response",
        "SlaMet:next_response", "SlaClockStarted:next_response",
        "SlaBreached:next_response"]


def test_the_fold_shows_what_the_aggregate_decided(app: SavApplication) -> None:
    """Time travel and the projector fold the events: the same SLA state at each
    version, and the staff view only."""
    policy(app, first_response_minutes=0.5, resolution_minutes=60)
    ticket_id = open_ticket(app)
    hold(app, ticket_id)
    at(minutes=5)
    reply(app, ticket_id, actor=CUSTOMER)
    events = list(app.events.get(ticket_id))
    past = fold(events)
    row = past.tables.rows["support_tickets"][str(ticket_id)]
    ticket = app.get_ticket(ticket_id)
    assert row.sla_state == ticket.sla_state
    assert row.sla == view(ticket.sla_state)
    assert row.sla["breaches"] == ["first_response"] and row.sla_breached is True
    assert row.sla_next_due_at == datetime.fromisoformat(
        row.sla["resolution_due_at"]).replace(tzinfo=None)
    assert isinstance(ticket, Ticket)
