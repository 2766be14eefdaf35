"""The fold of a ticket's events (`sav.history.past`), what customers see of its history
(`sav.history.entries.customer_changes`) and how `as_of` is read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sav.api.history import parse_rfc3339
from sav.commands import messages, tickets
from sav.commands.app import SavApplication
from sav.events.catalog import TICKET_EVENTS
from sav.history.entries import STAFF_ONLY_FIELDS, customer_changes, past_state
from sav.history.past import STEPS, fold
from tests.support.domain import ADMIN, AGENT, CUSTOMER, open_ticket


@pytest.mark.parametrize("event_class", TICKET_EVENTS, ids=lambda cls: cls.__qualname__)
def test_the_fold_has_a_step_for_each_ticket_event(event_class: type) -> None:
    assert event_class in STEPS


def story(app: SavApplication) -> tuple[Any, list[tuple[Any, dict[str, Any]]]]:
    ticket_id = open_ticket(app)
    note = messages.post_message(app, AGENT, ticket_id,
                                 messages.PostMessage(content="secret", is_internal=True))
    tickets.update_ticket(app, ADMIN, ticket_id, tickets.UpdateTicket(
        internal_notes="also secret", category="delivery"))
    tickets.update_ticket(app, ADMIN, ticket_id, tickets.UpdateTicket(internal_notes="again"))
    messages.edit_message(app, AGENT, ticket_id, note.message_id,
                          messages.EditMessage(content="secret 2"))
    tickets.close_ticket(app, CUSTOMER, ticket_id, tickets.ReasonBody(reason="solved"))
    past = fold([])
    steps = []
    for event in app.events.get(ticket_id):
        changes = past.apply(event)
        steps.append((event, customer_changes(past, event, changes)))
    return ticket_id, steps


def test_customers_see_no_staff_only_entry_or_field(app: SavApplication) -> None:
    _, steps = story(app)
    shown = [changes for _, changes in steps]
    assert shown[1] is None  # the internal note
    assert shown[2] == {"category": "delivery"}
    assert shown[3] is None  # an update of internal_notes alone
    assert shown[4] is None  # the note's edit
    assert shown[5] == {"status": "closed", "closed_at": shown[5]["closed_at"]}
    assert all(not (STAFF_ONLY_FIELDS & set(c)) for c in shown if c is not None)


def test_a_past_state_is_a_prefix_of_the_stream(app: SavApplication) -> None:
    ticket_id, steps = story(app)
    assert past_state(app, ticket_id, version=1).ticket.status == "open"  # type: ignore[union-attr]
    assert past_state(app, ticket_id, version=len(steps) + 1) is None
    created = steps[0][0].timestamp
    assert past_state(app, ticket_id, as_of=created - timedelta(microseconds=1)) is None
    assert past_state(app, ticket_id, as_of=created).version == 1  # type: ignore[union-attr]
    assert past_state(app, ticket_id).version == len(steps)  # type: ignore[union-attr]


@pytest.mark.parametrize(("text", "moment"), [
    ("2026-03-02T10:30:00Z", datetime(2026, 3, 2, 10, 30, tzinfo=UTC)),
    ("2026-03-02t10:30:00z", datetime(2026, 3, 2, 10, 30, tzinfo=UTC)),
    ("2026-03-02 10:30", datetime(2026, 3, 2, 10, 30, tzinfo=UTC)),
    ("2026-03-02T10:30:00", datetime(2026, 3, 2, 10, 30, tzinfo=UTC)),
    ("2026-03-02T12:30:00+02:00", datetime(2026, 3, 2, 10, 30, tzinfo=UTC)),
    ("2026-03-02T12:30:00 02:00", datetime(2026, 3, 2, 10, 30, tzinfo=UTC)),
    ("2026-03-02T05:30:00-05:00", datetime(2026, 3, 2, 10, 30, tzinfo=UTC)),
    ("2026-03-02T10:30:00.123456789Z", datetime(2026, 3, 2, 10, 30, 0, 123456, tzinfo=UTC)),
    ("2026-03-02T10:30:00.5+00:00", datetime(2026, 3, 2, 10, 30, 0, 500000, tzinfo=UTC)),
])
def test_as_of_reads_rfc3339_and_naive_as_utc(text: str, moment: datetime) -> None:
    parsed = parse_rfc3339(text)
    assert parsed == moment and parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize("text", ["", "yesterday", "2026-03-02", "1700000000",
                                  "2026-02-30T00:00:00Z", "2026-03-02T24:00:00Z",
                                  "2026-03-02T10:30:00+24:00", "2026-03-02T10:30:00+0200"])
def test_as_of_refuses_anything_else(text: str) -> None:
    with pytest.raises(ValueError):
        parse_rfc3339(text)
