"""Satisfaction ratings: the owner (or the access-token holder) rates once, when done."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest
from pydantic import ValidationError

from sav.commands import messages, tickets
from sav.commands.actor import Actor, public_actor
from sav.commands.app import SavApplication
from sav.events.errors import InvalidTransitionError, NotFoundError, PermissionDeniedError
from tests.support.domain import (
    ACTORS,
    CUSTOMER,
    access_token_of,
    ticket_in,
)


def rate(app: SavApplication, ticket_id: UUID, actor: Actor = CUSTOMER, rating: int = 5,
         **kw: Any) -> Any:
    return messages.rate_ticket(app, actor, ticket_id,
                                messages.RateTicket(rating=rating, comment="Thanks"), **kw)


@pytest.mark.parametrize("status", ["resolved", "closed"])
def test_owner_rates_a_resolved_or_closed_ticket(app: SavApplication, status: str) -> None:
    ticket_id = ticket_in(app, status)
    rate(app, ticket_id, rating=4)
    assert app.get_ticket(ticket_id).satisfaction_rating == 4


@pytest.mark.parametrize("status", ["open", "assigned", "in_progress", "waiting_customer"])
def test_a_ticket_still_in_work_cannot_be_rated(app: SavApplication, status: str) -> None:
    ticket_id = ticket_in(app, status)
    with pytest.raises(InvalidTransitionError):
        rate(app, ticket_id)


def test_a_ticket_is_rated_once(app: SavApplication) -> None:
    ticket_id = ticket_in(app, "resolved")
    rate(app, ticket_id, rating=2)
    with pytest.raises(InvalidTransitionError):
        rate(app, ticket_id, rating=5)
    assert app.get_ticket(ticket_id).satisfaction_rating == 2


@pytest.mark.parametrize(("who", "error"), [
    ("agent", PermissionDeniedError), ("admin", PermissionDeniedError),
    ("other_customer", NotFoundError),
])
def test_only_the_owner_rates(app: SavApplication, who: str, error: type[Exception]) -> None:
    ticket_id = ticket_in(app, "resolved")
    with pytest.raises(error):
        rate(app, ticket_id, actor=ACTORS[who])


def test_the_access_token_holder_rates_a_public_ticket(app: SavApplication) -> None:
    outcome = tickets.create_ticket(
        app, public_actor("anon@example.com", None),
        tickets.CreateTicket(subject="Help", description="Please"), with_access_token=True)
    tickets.resolve_ticket(app, ACTORS["admin"], outcome.ticket_id, tickets.ResolveTicket())
    token = access_token_of(outcome)
    with pytest.raises(NotFoundError):
        rate(app, outcome.ticket_id, actor=public_actor(None, None), access_token="nope")
    rate(app, outcome.ticket_id, actor=public_actor(None, None), rating=3, access_token=token)
    assert app.get_ticket(outcome.ticket_id).satisfaction_rating == 3


@pytest.mark.parametrize("rating", [0, 6, -1, 100])
def test_rating_is_between_one_and_five(rating: int) -> None:
    with pytest.raises(ValidationError):
        messages.RateTicket(rating=rating)


@pytest.mark.parametrize("rating", ["5", 4.5, True])
def test_rating_must_be_an_integer(rating: Any) -> None:
    with pytest.raises(ValidationError):
        messages.RateTicket(rating=rating)


def test_a_whole_number_rating_written_as_a_float_is_that_integer() -> None:
    """JSON Schema's `integer` accepts 4.0 (the OpenAPI document says integer)."""
    assert messages.RateTicket(rating=4.0).rating == 4


def test_rating_comment_is_bounded() -> None:
    messages.RateTicket(rating=5, comment="x" * 5_000)
    with pytest.raises(ValidationError):
        messages.RateTicket(rating=5, comment="x" * 5_001)
