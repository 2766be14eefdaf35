"""The one fold of a ticket's read models, driven in memory (`sav.history.past`): the
same steps the projector runs as SQL give the rows the read model holds; what customers
see of its history (`sav.history.entries.customer_changes`) and how `as_of` is read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine, select

from sav.api.history import parse_rfc3339
from sav.commands import messages, tickets
from sav.commands.app import SavApplication
from sav.events.catalog import TICKET_EVENTS
from sav.history.entries import STAFF_ONLY_FIELDS, customer_changes, event_changes, past_state
from sav.history.past import FOLDS, TABLES, fold
from sav.projections import attachments as attachment_model
from sav.projections import links as link_model
from sav.projections import messages as message_model
from sav.projections import tickets as ticket_model
from sav.projections.fold import Insert, MemoryTables
from sav.projections.schema import read_metadata
from tests.support.domain import ADMIN, AGENT, CUSTOMER, open_ticket

MODELS = (ticket_model, message_model, attachment_model, link_model)


@pytest.mark.parametrize("event_class", TICKET_EVENTS, ids=lambda cls: cls.__qualname__)
def test_time_travel_runs_the_projectors_own_folds(event_class: type) -> None:
    """No second implementation: the in-memory driver folds the read models' FOLDs."""
    assert tuple(model.FOLD for model in MODELS) == FOLDS
    assert any(fold[event_class] is not None for fold in FOLDS)


def test_a_step_only_describes_its_changes(app: SavApplication) -> None:
    created = next(iter(app.events.get(open_ticket(app))))
    state = MemoryTables([ticket_model.support_tickets])
    made = ticket_model.FOLD[type(created)](state, created, 7)
    assert state.rows["support_tickets"] == {}
    assert isinstance(made[0], Insert) and made[0].row["seq"] == 7
    state.apply(made)
    assert state.value("support_tickets", str(created.originator_id), "status") == "open"


def test_the_fold_in_memory_gives_the_rows_the_projector_writes(app: SavApplication) -> None:
    """The same steps, driven as SQL by the projector's handlers and in memory by time
    travel, leave the same rows."""
    ticket_id, _ = story(app)
    messages.mark_all_read(app, ADMIN, ticket_id)
    events = list(app.events.get(ticket_id))
    engine = create_engine("sqlite://")
    read_metadata.create_all(engine)
    with engine.begin() as conn:
        ticket_model.create_extras(conn)
        for position, event in enumerate(events, 1):
            for model in MODELS:
                handler = model.HANDLERS[type(event)]
                if handler is not None:
                    handler(conn, event, position)
    past = fold([])
    for position, event in enumerate(events, 1):
        past.apply(event, position)
    with engine.connect() as conn:
        for table in TABLES:
            live = [dict(row._mapping) for row in conn.execute(select(table))]
            folded = [dict(vars(row)) for row in past.tables.rows[table.name].values()]
            assert folded == live, table.name
    assert past.tables.rows["support_tickets"][str(ticket_id)].version == len(events)


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
        changes = event_changes(event, past.apply(event))
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
