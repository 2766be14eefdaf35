"""Full-text search at scale gives the same answers (issue 22;
docs/decisions/0170-scale.md): SQLite's search now walks its FTS5 rows (keyed by the
ticket's `seq`) newest first and stops at the page, and an edit replaces a ticket's row
by that key. On a small store, page after page, for every kind of caller, the results
are those of the query shape it replaced (`fulltext_clause`: every match, then sorted).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, text

from sav.bootstrap import Services
from sav.commands.actor import Actor
from sav.projections.search import fulltext_clause
from sav.projections.ticket_queries import visible_to
from sav.projections.tickets import support_tickets
from tests.support.http import ADMIN, AGENT, CUSTOMER, OTHER_CUSTOMER, Client, create_ticket

QUERIES = ["parcel", "zeppelin", "nowhere", "parc zep", "ab", "ab parcel", "order", "Par"]


async def seed(client: Client) -> list[dict[str, Any]]:
    """Tickets of two customers: a word in most (parcel), in few (zeppelin), a short one
    (ab) in some; a few assigned to the agent, a few closed (out of the agent's pool)."""
    made = []
    for i in range(36):
        words = ["parcel"] if i % 6 else ["zeppelin"]
        if i % 4 == 0:
            words.append("ab12")
        made.append(await create_ticket(
            client, as_=CUSTOMER if i % 3 else OTHER_CUSTOMER,
            subject=f"Order {i} {' '.join(words)}", description=f"Text {i} of a ticket"))
    for ticket in made[::5]:
        assert (await client.post(f"/tickets/{ticket['id']}/assign", as_=ADMIN,
                                  json={"agent_id": AGENT[0]})).status == 200
    for ticket in made[1::7]:
        assert (await client.post(f"/tickets/{ticket['id']}/resolve", as_=ADMIN)).status == 200
    return made


async def paged(client: Client, who: tuple[str, str], q: str, limit: int = 4) -> list[str]:
    ids: list[str] = []
    cursor = None
    while True:
        path = f"/tickets?q={q.replace(' ', '%20')}&limit={limit}"
        page = (await client.get(path + (f"&cursor={cursor}" if cursor else ""), as_=who)).json
        ids += [t["id"] for t in page["data"]]
        cursor = page["pagination"]["next_cursor"]
        if cursor is None:
            return ids


async def reference(services: Services, who: tuple[str, str], q: str) -> list[str]:
    """The shape search had before: every match, then the newest first."""
    async with services.read_engine.connect() as conn:
        query = select(support_tickets.c.id).where(
            visible_to(Actor(*who)), fulltext_clause(conn.dialect.name, q))
        return list((await conn.execute(query.order_by(support_tickets.c.seq.desc())))
                    .scalars())


async def test_search_answers_as_before_page_by_page(client: Client, services: Services
                                                     ) -> None:
    made = await seed(client)
    # Edits move words in and out: the replaced rows must be found by their new text only.
    for ticket in made[2:12:3]:
        edited = await client.put(f"/tickets/{ticket['id']}", as_=ADMIN, json={
            "subject": f"Renamed zeppelin {ticket['ticket_number']}"})
        assert edited.status == 200, edited
    for who in (ADMIN, AGENT, CUSTOMER):
        for q in QUERIES:
            assert await paged(client, who, q) == await reference(services, who, q), (who, q)
    assert len(await paged(client, ADMIN, "parcel")) > 20
    assert len(await paged(client, ADMIN, "zeppelin")) == 6 + 4  # few, plus the renamed
    assert await paged(client, ADMIN, "nowhere") == []
    renamed = {t["id"] for t in made[2:12:3]}
    assert renamed.isdisjoint(await paged(client, ADMIN, "Order"))


async def test_sqlite_full_text_rows_are_keyed_by_the_tickets_seq(
        client: Client, services: Services) -> None:
    """One row per ticket, its rowid the ticket's `seq`, after edits and on every profile
    the search's answer unchanged (MariaDB's FULLTEXT index is InnoDB's own)."""
    made = await seed(client)
    for ticket in made[:3]:
        assert (await client.put(f"/tickets/{ticket['id']}", as_=ADMIN,
                                 json={"description": "rewritten"})).status == 200
    assert len(await paged(client, ADMIN, "rewritten")) == 3
    if services.settings.is_mysql:
        return
    with services.engine.connect() as conn:
        rows = set(conn.execute(text("SELECT rowid, ticket_id FROM support_tickets_fts")))
        tickets = set(conn.execute(select(support_tickets.c.seq, support_tickets.c.id)))
    assert rows == tickets and len(rows) == len(made)
