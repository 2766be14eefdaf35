"""Full-text search at scale gives the same answers (issue 22;
docs/decisions/0170-scale.md): SQLite's search now walks its FTS5 rows (keyed by the
ticket's `seq`) newest first and stops at the page, and an edit replaces a ticket's row
by that key. On a small store, page after page, for every kind of caller, the results
are those of the query shape it replaced (`fulltext_clause`: every match, then sorted).
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select, text

from sav.bootstrap import Services
from sav.commands.actor import Actor
from sav.projections.search import fulltext_clause
from sav.projections.search_words import keys, ticket_words
from sav.projections.ticket_queries import visible_to
from sav.projections.tickets import support_tickets
from sav.workers.projections import replay
from tests.support.http import ADMIN, AGENT, CUSTOMER, OTHER_CUSTOMER, Client, create_ticket

# A word in most tickets, in few, in none; a prefix of each; two words (the rarer one
# drives MariaDB's search); short words; words longer than MariaDB's stored prefixes
# (12 characters), whole and as a prefix; case.
QUERIES = ["parcel", "zeppelin", "nowhere", "parc zep", "ab", "ab parcel", "order", "Par",
           "parcel zeppelin", "zeppelin text", "PARCEL", "extraordinarily", "extraordinar",
           "extraordinarily parcel", "extraordinarilyx", "ord 1"]


async def seed(client: Client) -> list[dict[str, Any]]:
    """Tickets of two customers: a word in most (parcel), in few (zeppelin), a short one
    (ab) in some; a few assigned to the agent, a few closed (out of the agent's pool)."""
    made = []
    for i in range(36):
        words = ["parcel"] if i % 6 else ["zeppelin"]
        if i % 4 == 0:
            words.append("ab12")
        if i % 5 == 1:
            words.append("extraordinarily")
        made.append(await create_ticket(
            client, as_=CUSTOMER if i % 3 else OTHER_CUSTOMER,
            subject=f"Order {i} {' '.join(words)}", description=f"Text {i} of a ticket"))
    for ticket in made[::5]:
        assert (await client.post(f"/tickets/{ticket['id']}/assign", as_=ADMIN,
                                  json={"agent_id": AGENT[0]})).status == 200
    for ticket in made[1::7]:
        assert (await client.post(f"/tickets/{ticket['id']}/resolve", as_=ADMIN)).status == 200
    return made


async def paged(client: Client, who: tuple[str, str], q: str, limit: int = 4,
                more: str = "") -> list[str]:
    ids: list[str] = []
    cursor = None
    while True:
        path = f"/tickets?q={q.replace(' ', '%20')}&limit={limit}{more}"
        page = (await client.get(path + (f"&cursor={cursor}" if cursor else ""), as_=who)).json
        ids += [t["id"] for t in page["data"]]
        cursor = page["pagination"]["next_cursor"]
        if cursor is None:
            return ids


async def reference(services: Services, who: tuple[str, str], q: str,
                    user_id: str | None = None) -> list[str]:
    """The shape search had before: every match, then the newest first."""
    async with services.read_engine.connect() as conn:
        query = select(support_tickets.c.id).where(
            visible_to(Actor(*who)), fulltext_clause(conn.dialect.name, q))
        if user_id is not None:
            query = query.where(support_tickets.c.user_id == user_id)
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
    for q in QUERIES[:4]:  # staff narrowing to one customer (read alone on MariaDB)
        assert await paged(client, ADMIN, q, more=f"&user_id={CUSTOMER[0]}") == (
            await reference(services, ADMIN, q, CUSTOMER[0])), q
    assert len(await paged(client, ADMIN, "extraordinarily")) == 7 - 1  # one renamed
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


def test_the_words_of_a_text_are_its_prefixes_folded() -> None:
    """Letters and digits, no case, no accents; prefixes of 3 to 12 characters, a longer
    word whole too; words under 3 or over 84 characters are not stored."""
    assert keys("Café au lait") == {"caf", "cafe", "lai", "lait"}
    assert keys("foo_bar 12345", None) == {"foo", "bar", "123", "1234", "12345"}
    assert keys("extraordinarily") == {"extraordinarily", *(
        "extraordinarily"[:n] for n in range(3, 13))}
    assert keys("x" * 85) == set()


async def test_mariadb_search_rows_follow_the_tickets_and_a_rebuild(
        client: Client, services: Services) -> None:
    """MariaDB's `(word, seq)` rows are those of each ticket's current text and customer,
    after edits and an erasure, and a rebuild (`sav replay`: bulk load into SQLite,
    rows written from the tickets) makes the same ones; SQLite keeps the table empty."""
    made = await seed(client)
    for ticket in made[:4]:
        assert (await client.put(f"/tickets/{ticket['id']}", as_=ADMIN, json={
            "subject": "Brand new words", "description": "Nothing else"})).status == 200
    started = await client.post("/privacy/erasures", as_=ADMIN,
                                json={"user_id": OTHER_CUSTOMER[0]})
    assert started.status == 202, started
    for _ in range(200):
        status = await client.get(f"/privacy/erasures/{started.json['id']}", as_=ADMIN)
        if status.json["status"] == "done":
            break
        await asyncio.sleep(0.05)

    def rows() -> tuple[set[tuple[Any, ...]], set[tuple[Any, ...]]]:
        with services.engine.connect() as conn:
            stored = set(conn.execute(select(ticket_words)))
            tickets = conn.execute(select(support_tickets)).all()
        return stored, {(word, t.seq, t.user_id) for t in tickets
                        for word in keys(t.subject, t.description)}

    stored, expected = rows()
    if not services.settings.is_mysql:
        assert stored == set()
        return
    assert stored == expected and len(stored) > 36
    # made[0] and made[3] are the other customer's (erased: their text is gone)
    assert await paged(client, ADMIN, "brand") == [made[2]["id"], made[1]["id"]]
    assert not any(user == OTHER_CUSTOMER[0] for _, _, user in stored)  # erased: no text
    await asyncio.to_thread(replay, services.app, services.engine)
    assert rows() == (expected, expected)
