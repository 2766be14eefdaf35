"""A ticket's fields are declared once (`sav.events.fields`): the aggregate, the update
request, the read table, the response shapes and the privacy classification all follow
the declaration, so adding a field is a declaration, a migration and a test."""

from __future__ import annotations

from typing import Any

import pytest

from sav.api import schemas
from sav.commands import tickets
from sav.commands.actor import Actor
from sav.commands.app import SavApplication
from sav.events.errors import PermissionDeniedError
from sav.events.fields import (
    CUSTOMER_SETTABLE,
    LATER,
    PERSONAL,
    SETTABLE,
    TICKET_FIELDS,
    Seen,
    seen_by,
)
from sav.events.ticket import Ticket
from sav.history.past import fold
from sav.privacy.fields import personal_paths
from sav.projections.ticket_queries import PUBLIC_VIEW, public_ticket_json, ticket_json
from sav.projections.tickets import ERASED_VALUES, support_tickets
from tests.support.domain import ADMIN, CUSTOMER, open_ticket

NAMES = [f.name for f in TICKET_FIELDS]


def names(fields: Any) -> list[str]:
    return [f.name for f in fields]


def test_the_read_table_has_a_column_per_declared_field_in_order() -> None:
    assert [column.name for column in support_tickets.c] == NAMES


def test_creation_fields_are_the_stored_schema_of_ticket_created() -> None:
    carried = set(Ticket.Created.__annotations__)
    assert {f.name for f in TICKET_FIELDS if f.on_create} <= carried


def test_fields_set_later_start_empty_on_a_new_ticket(app: SavApplication) -> None:
    ticket = app.repository.get(open_ticket(app))
    assert LATER and all(getattr(ticket, f.name) == f.default for f in LATER)


def test_the_update_request_takes_the_settable_fields_and_a_transition() -> None:
    assert list(tickets.UpdateTicket.model_fields) == [*names(SETTABLE), "status"]
    assert {"subject", "description", "priority"} <= CUSTOMER_SETTABLE
    assert not {"category", "tags", "metadata", "internal_notes"} & CUSTOMER_SETTABLE


def test_customers_set_only_their_fields(app: SavApplication) -> None:
    ticket_id = open_ticket(app)
    staff_only = [f.name for f in SETTABLE if f.name not in CUSTOMER_SETTABLE]
    for name in staff_only:
        body = tickets.UpdateTicket.model_validate(
            {name: {"a": 1} if name == "metadata" else ["x"] if name == "tags"
             else "fr" if name == "locale" else "x"})
        with pytest.raises(PermissionDeniedError, match="customers may only edit subject"):
            tickets.update_ticket(app, CUSTOMER, ticket_id, body)


def test_each_side_sees_its_declared_fields_in_order(app: SavApplication) -> None:
    row = fold(app.events.get(open_ticket(app))).row
    assert list(ticket_json(row, CUSTOMER)) == names(seen_by(Seen.CUSTOMER))
    assert list(ticket_json(row, ADMIN)) == names(seen_by(Seen.STAFF))
    assert list(ticket_json(row, Actor("a-1", "analyst"))) == names(seen_by(Seen.STAFF))
    assert list(public_ticket_json(row)) == names(PUBLIC_VIEW)
    never = {f.name for f in TICKET_FIELDS if f.seen == Seen.NEVER}
    assert never == {"seq", "access_token_hash", "survey_requested_at", "is_deleted",
                     "deleted_at", "sla_state", "sla_next_due_at", "sla_breached"}
    assert not never & set(ticket_json(row, ADMIN))


def test_the_public_view_is_the_public_fields_times_last() -> None:
    assert names(PUBLIC_VIEW) == [
        "id", "ticket_number", "subject", "description", "status", "priority", "category",
        "source", "contact_email", "contact_name", "resolution_notes", "satisfaction_rating",
        "satisfaction_comment", "erased", "locale", "merged_into", "merged_into_number",
        "first_response_at", "resolved_at",
        "closed_at",
        "created_at", "updated_at"]


def test_response_shapes_derive_from_the_declaration() -> None:
    staff = names(seen_by(Seen.STAFF))
    # The declared fields, then what a view composes from other read models.
    assert list(schemas.Ticket.model_fields) == [*staff, "links"]
    public = list(schemas.PublicTicket.model_fields)
    assert public[:len(PUBLIC_VIEW)] == names(PUBLIC_VIEW)
    for name in names(PUBLIC_VIEW):  # a view of the full shape, not a copy
        assert repr(schemas.PublicTicket.model_fields[name]) == repr(
            schemas.Ticket.model_fields[name])
    assert not schemas.Ticket.model_fields["internal_notes"].is_required()
    assert schemas.Ticket.model_fields["subject"].annotation == str | None  # erasable


@pytest.mark.parametrize("field", PERSONAL, ids=lambda f: f.name)
def test_each_personal_field_is_sealed_wherever_events_carry_it(field: Any) -> None:
    if field.on_create:
        assert (field.name,) in personal_paths(Ticket.Created)
    if field.settable:
        assert ("changes", field.name) in personal_paths(Ticket.Updated)
    if field.on_create or field.settable:
        assert ("state", field.name) in personal_paths(Ticket.Snapshot)
    assert field.name in ERASED_VALUES


def test_an_erasure_empties_exactly_the_personal_fields() -> None:
    assert set(ERASED_VALUES) == {*names(PERSONAL), "erased"}
    assert ERASED_VALUES["subject"] == "" and ERASED_VALUES["metadata"] == {}
    assert ERASED_VALUES["contact_email"] is None
