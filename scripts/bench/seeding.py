"""Bulk seeding through the domain, in-process: the one part of the benchmark that imports sav.

Seeding thousands of follow-up events over HTTP takes minutes (a post on a ticket with
thousands of messages costs tens of ms), so tickets are created over HTTP and their
conversations and lifecycles are appended here, through the application's
repository and the Ticket aggregate's commands: the same events the command handlers
record, appended in batches (many tickets, or many messages, per transaction). These
internals may move: callers catch `SeedingUnavailable` and fall back to HTTP or skip.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any
from uuid import UUID, uuid4

AGENT_TEXT = "Thanks for reaching out: we are looking into your order right now."
CUSTOMER_TEXT = "Thank you, I am still waiting for the parcel. Any news?"


class SeedingUnavailable(RuntimeError):
    """The in-process seeding API of this version of sav is not the one we know."""


@contextmanager
def application(env: Mapping[str, str]) -> Iterator[Any]:
    try:
        from sav.commands.app import SavApplication
        from sav.config import load_settings

        settings = load_settings(dict(env))
        app = SavApplication(settings.database_url, settings.ticket_number_prefix)
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
    """Four ticket shapes in turn, 1 or 5 events each with the creation (4 on average):
    left open; answered, customer reply, answered again; answered, customer reply,
    resolved; answered, resolved, closed."""

    def change(ticket: Any) -> None:
        shape = index % 4
        if shape == 0:
            return
        ticket.assign(agent, by=agent)
        _post(ticket, agent, "agent", AGENT_TEXT)
        if shape in (1, 2):
            _post(ticket, customer, "customer", CUSTOMER_TEXT)
        if shape == 1:
            _post(ticket, agent, "agent", AGENT_TEXT)
        else:
            ticket.resolve(resolution="refund issued", by=agent)
        if shape == 3:
            ticket.close(by=agent)

    return change


def seed_lifecycles(env: Mapping[str, str], ticket_ids: Sequence[str], agent: str,
                    customer: str, batch: int = 200) -> tuple[int, int]:
    """Append each ticket's lifecycle, `batch` tickets per transaction (nothing else writes
    them meanwhile); returns (events appended, version of the last ticket)."""
    appended, last_version = 0, 0
    with application(env) as app:
        for first in range(0, len(ticket_ids), batch):
            try:
                tickets = [app.repository.get(UUID(ticket_id))
                           for ticket_id in ticket_ids[first:first + batch]]
                for index, ticket in enumerate(tickets, start=first):
                    lifecycle(index, agent, customer)(ticket)
                recordings = app.save(*tickets)
            except (AttributeError, TypeError) as error:
                raise SeedingUnavailable(f"{type(error).__name__}: {error}") from error
            appended += len(recordings)
            last_version = tickets[-1].version
    return appended, last_version


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
        except (AttributeError, TypeError) as error:
            raise SeedingUnavailable(f"{type(error).__name__}: {error}") from error
        return int(ticket.version)
