"""Ticket numbers `{PREFIX}-YYYYMMDD-NNN`: the format, and the in-memory counter."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from sav.commands.numbers import MemoryTicketNumbers, format_ticket_number
from sav.commands.tickets import CreateTicket, create_ticket
from sav.events import clock
from tests.support.domain import CUSTOMER, new_app, ticket_number_of

DAY = datetime(2026, 3, 2, 23, 59, tzinfo=UTC)


@pytest.mark.parametrize(("prefix", "sequence", "expected"), [
    ("TICKET", 1, "TICKET-20260302-001"),
    ("TICKET", 42, "TICKET-20260302-042"),
    ("SAV", 999, "SAV-20260302-999"),
    ("SAV", 1000, "SAV-20260302-1000"),
    ("", 7, "-20260302-007"),
])
def test_ticket_number_format(prefix: str, sequence: int, expected: str) -> None:
    assert format_ticket_number(prefix, DAY, sequence) == expected


def test_memory_numbers_count_per_day() -> None:
    numbers = MemoryTicketNumbers()
    assert [numbers.next("20260302") for _ in range(3)] == [1, 2, 3]
    assert numbers.next("20260303") == 1
    assert numbers.next("20260302") == 4


def test_memory_numbers_are_unique_under_concurrency() -> None:
    numbers = MemoryTicketNumbers()
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda _: numbers.next("20260302"), range(400)))
    assert sorted(got) == list(range(1, 401))


def create(app_prefix: str = "TICKET", count: int = 1) -> list[str]:
    app = new_app(app_prefix)
    return [ticket_number_of(create_ticket(app, CUSTOMER, CreateTicket(
        subject="A", description="B"))) for _ in range(count)]


def test_created_tickets_are_numbered_with_the_prefix_and_todays_date() -> None:
    clock.freeze(DAY)
    assert create("SAV", 3) == ["SAV-20260302-001", "SAV-20260302-002", "SAV-20260302-003"]


def test_numbering_restarts_each_day() -> None:
    app = new_app()
    clock.freeze(DAY)
    create_ticket(app, CUSTOMER, CreateTicket(subject="A", description="B"))
    clock.freeze(DAY + timedelta(minutes=2))
    outcome = create_ticket(app, CUSTOMER, CreateTicket(subject="A", description="B"))
    assert ticket_number_of(outcome) == "TICKET-20260303-001"


def test_the_number_is_stored_on_the_ticket() -> None:
    app = new_app()
    outcome = create_ticket(app, CUSTOMER, CreateTicket(subject="A", description="B"))
    assert app.get_ticket(outcome.ticket_id).ticket_number == ticket_number_of(outcome)
