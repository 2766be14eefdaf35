"""Bulk seeding through the domain, in-process: the one part of the benchmark that imports sav.

Seeding 20,000 tickets with their follow-ups, or 8,000 messages, over HTTP takes many
minutes (a post on a ticket with thousands of messages costs tens of ms), so they are
written here: tickets through the create command, then conversations and lifecycles
through the application's repository and the Ticket aggregate's commands (the same
events the command handlers record), appended in batches (many tickets, or many
messages, per transaction). These internals may move: callers catch
`SeedingUnavailable` and fall back to HTTP or skip.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any
from uuid import UUID, uuid4

AGENT_TEXT = "Thanks for reaching out: we are looking into your order right now."
CUSTOMER_TEXT = "Thank you, I am still waiting for the parcel. Any news?"
TICKET_TEXT = "The parcel never arrived and the tracking page has not moved for a week."
PRIORITIES = ("low", "normal", "normal", "high", "urgent")


class SeedingUnavailable(RuntimeError):
    """The in-process seeding API of this version of sav is not the one we know."""


@contextmanager
def application(env: Mapping[str, str]) -> Iterator[Any]:
    try:
        from sav.commands.app import SavApplication
        from sav.config import load_settings

        settings = load_settings(dict(env))
        app = SavApplication(settings.database_url, settings.ticket_number_prefix)
        from sav.privacy.setup import install, open_key_store
        install(app, open_key_store(settings))  # issue 12: encrypted personal fields
    except (ImportError, AttributeError, TypeError) as error:
        raise SeedingUnavailable(f"{type(error).__name__}: {error}") from error
    try:
        yield app
    finally:
        app.close()


def _post(ticket: Any, user_id: str, role: str, content: str) -> None:
    ticket.post_message(message_id=str(uuid4()), user_id=user_id, role=role,
                        author_name=f"Bench {role}", author_email=None, content=content,
                        is_internal=False)


def lifecycle(index: int, agent: str, customer: str) -> Callable[[Any], None]:
    """Four ticket shapes in turn, 2, 6, 5 and 5 events with the creation (4.5 on average):
    unanswered, the customer asking again; a conversation of four messages; answered,
    customer reply, resolved; answered, resolved, closed."""

    def change(ticket: Any) -> None:
        shape = index % 4
        if shape == 0:
            _post(ticket, customer, "customer", CUSTOMER_TEXT)
            return
        ticket.assign(agent, by=agent)
        _post(ticket, agent, "agent", AGENT_TEXT)
        if shape in (1, 2):
            _post(ticket, customer, "customer", CUSTOMER_TEXT)
        if shape == 1:
            _post(ticket, agent, "agent", AGENT_TEXT)
            _post(ticket, customer, "customer", CUSTOMER_TEXT)
        else:
            ticket.resolve(resolution="refund issued", by=agent)
        if shape == 3:
            ticket.close(by=agent)

    return change


def ticket_fields(index: int) -> dict[str, Any]:
    """A create command's body (plain strings: the model parses its enums)."""
    return {"subject": f"Order {index} not received", "description": TICKET_TEXT,
            "priority": PRIORITIES[index % len(PRIORITIES)], "category": "delivery"}


def seed_tickets(env: Mapping[str, str], count: int, first_index: int, customer: str,
                 agent: str, batch: int = 200, writers: int = 8) -> tuple[list[str], int, int]:
    """Open `count` tickets as `customer` through the create command (`writers` threads,
    as the API's command pool), then append their lifecycles, `batch` tickets per
    transaction; returns (ids, events appended, version of the last ticket)."""
    try:
        from sav.commands.actor import Actor
        from sav.commands.tickets import CreateTicket, create_ticket
    except ImportError as error:
        raise SeedingUnavailable(f"{type(error).__name__}: {error}") from error
    actor = Actor(user_id=customer, role="customer")
    ids: list[str] = []
    events, version = 0, 0
    with application(env) as app, ThreadPoolExecutor(writers) as pool:
        try:
            for first in range(first_index, first_index + count, batch):
                indexes = range(first, min(first_index + count, first + batch))
                created = list(pool.map(lambda i: create_ticket(app, actor, CreateTicket(
                    **ticket_fields(i))), indexes))
                tickets = [app.repository.get(outcome.ticket_id) for outcome in created]
                for index, ticket in zip(indexes, tickets, strict=True):
                    lifecycle(index, agent, customer)(ticket)
                events += len(tickets) + len(app.save(*tickets))
                ids += [str(ticket.id) for ticket in tickets]
                version = tickets[-1].version
        except (AttributeError, TypeError, ValueError) as error:  # ValueError: a changed model
            raise SeedingUnavailable(f"{type(error).__name__}: {error}") from error
    return ids, events, int(version)


def seed_messages(env: Mapping[str, str], ticket_id: str, count: int, agent: str,
                  customer: str, chunk: int = 500) -> int:
    """Post `count` public messages, customer and agent in turn, `chunk` per transaction;
    returns the ticket's version."""
    with application(env) as app:
        try:
            ticket = app.repository.get(UUID(ticket_id))
            for first in range(0, count, chunk):
                for i in range(first, min(count, first + chunk)):
                    if i % 2:
                        _post(ticket, agent, "agent", f"{AGENT_TEXT} ({i})")
                    else:
                        _post(ticket, customer, "customer", f"{CUSTOMER_TEXT} ({i})")
                app.save(ticket)
        except (AttributeError, TypeError, ValueError) as error:
            raise SeedingUnavailable(f"{type(error).__name__}: {error}") from error
        return int(ticket.version)
