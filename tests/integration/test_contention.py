"""Many writers on one long-lived ticket: every write lands, none answers 5xx, and the
cost of loading the ticket does not depend on another thread changing it meanwhile
(issue 10: the repository copied a cached ticket while another thread fast-forwarded
it, and 35 of 80 concurrent posts answered 500)."""

from __future__ import annotations

import asyncio
from uuid import UUID, uuid4

from sav.bootstrap import Services
from sav.events.ticket import Ticket
from tests.support.http import AGENT, CUSTOMER, Client, create_ticket

HISTORY = 2_000
WRITERS = 16
ROUNDS = 3


def seed_conversation(services: Services, ticket_id: UUID, count: int, chunk: int = 200) -> None:
    """`count` messages, `chunk` per append, alternating sides."""
    for start in range(0, count, chunk):
        def post(ticket: Ticket, start: int = start) -> None:
            for i in range(start, min(start + chunk, count)):
                role, user = ("customer", CUSTOMER[0]) if i % 2 else ("agent", AGENT[0])
                ticket.post_message(str(uuid4()), user, role, None, None, f"m{i}", False)

        services.app.change_ticket(ticket_id, post)


async def test_sixteen_writers_on_a_ticket_with_2000_messages_get_no_5xx(
        client: Client, services: Services) -> None:
    ticket = await create_ticket(client)
    ticket_id = UUID(ticket["id"])
    await asyncio.to_thread(seed_conversation, services, ticket_id, HISTORY)

    async def post(n: int) -> int:
        as_ = AGENT if n % 2 else CUSTOMER
        response = await client.post(f"/tickets/{ticket_id}/messages", as_=as_,
                                     json={"content": f"concurrent {n}"})
        return response.status

    statuses: list[int] = []
    for round_ in range(ROUNDS):
        statuses += await asyncio.gather(*(post(round_ * WRITERS + n) for n in range(WRITERS)))
    assert statuses == [201] * (WRITERS * ROUNDS)
    stored = services.app.get_ticket(ticket_id)
    assert len(stored.messages) == HISTORY + WRITERS * ROUNDS
