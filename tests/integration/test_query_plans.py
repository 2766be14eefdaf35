"""Every ticket list reads its page in the order of an index (issue 22;
docs/decisions/0170-scale.md): no sort of all the matching rows, so a first page and a
deep cursor cost the same however many tickets exist.

A store of a few thousand tickets shaped like a real one (most closed, a heavy customer,
eight agents, a small unassigned pool) is written straight into the read table and
analysed; the statements `list_tickets` really runs (captured from the read engine) are
then explained on both profiles.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, select, text

from sav.bootstrap import Services, bootstrap
from sav.commands.actor import Actor
from sav.config import Settings
from sav.projections.cursors import encode_cursor
from sav.projections.search_words import fill
from sav.projections.ticket_queries import list_tickets, visible_to
from sav.projections.tickets import support_tickets

TICKETS = 6_000
HEAVY = "cust-heavy"  # a customer with a third of the tickets
AGENTS = [f"agent-{i}" for i in range(8)]
START = datetime(2026, 1, 1)


def ticket_row(seq: int) -> dict[str, Any]:
    recent = seq > TICKETS - 300  # only the newest tickets are still being worked
    status = ("open", "in_progress", "waiting_on_customer")[seq % 3] if recent else (
        "closed" if seq % 5 else "resolved")
    assignee = None if recent and seq % 4 == 0 else AGENTS[seq % len(AGENTS)]
    return {
        "id": f"00000000-0000-4000-8000-{seq:012d}", "seq": seq,
        "ticket_number": f"T-{seq}", "user_id": HEAVY if seq % 3 == 0 else f"cust-{seq % 500}",
        "assigned_to": assignee, "subject": f"Order {seq} parcel",
        "description": "The parcel never arrived" if seq % 50 else "A rare zeppelin",
        "status": status, "priority": ("low", "normal", "high", "urgent")[seq % 4],
        "category": ("delivery", "billing", "returns", "other")[seq % 4], "source": "web",
        "tags": [], "metadata": {}, "is_deleted": seq % 97 == 0,
        "created_at": START + timedelta(minutes=seq), "updated_at": START + timedelta(minutes=seq),
        "version": 1, "erased": False,
    }


@pytest.fixture(scope="module")
def built(module_settings: Settings) -> Settings:
    """The store, written once per module and profile: the tests only read it."""
    services = bootstrap(module_settings)
    try:
        rows = [ticket_row(seq) for seq in range(1, TICKETS + 1)]
        with services.engine.begin() as conn:
            conn.execute(support_tickets.insert(), rows)
            if conn.dialect.name == "sqlite":
                conn.execute(text(
                    "INSERT INTO support_tickets_fts (rowid, ticket_id, subject, description) "
                    "SELECT seq, id, subject, description FROM support_tickets"))
                conn.execute(text("ANALYZE"))
            else:
                fill(conn, support_tickets)  # MariaDB's search rows, as a migration writes
                conn.execute(text("ANALYZE TABLE support_tickets, support_ticket_words"))
    finally:
        asyncio.run(services.aclose())
    return module_settings


@pytest.fixture
async def store(built: Settings) -> AsyncIterator[Services]:
    services = bootstrap(built)
    yield services
    await services.aclose()


@dataclass
class Plan:
    steps: list[str]  # SQLite: the plan's lines; MariaDB: one line per table read
    # The store's rows are sorted after they are read (a temp B-tree, a filesort). The
    # sort of an agent's two bounded half-pages (derived tables of 21 rows) is not one.
    sorted: bool

    def uses(self, index: str) -> bool:
        return any(index in step for step in self.steps)


def sqlite_plan(steps: list[str]) -> Plan:
    read = ""  # the last table read before a sort
    sorted_ = False
    for step in steps:
        if step.startswith(("SCAN ", "SEARCH ")):
            read = step.split()[1]
        elif "TEMP B-TREE FOR ORDER BY" in step and read == "support_tickets":
            sorted_ = True
    return Plan(steps, sorted_)


async def plan_of(services: Services, actor: Actor, filters: dict[str, str | None],
                  cursor: str | None = None) -> Plan:
    """The plan of the statement `list_tickets` runs for this page."""
    captured: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor_: Any, statement: str, parameters: Any, *_: Any) -> None:
        captured.append((statement, parameters))

    sync_engine = services.read_engine.sync_engine
    event.listen(sync_engine, "before_cursor_execute", capture)
    try:
        async with services.read_engine.connect() as conn:
            await list_tickets(conn, actor, filters, 20, cursor)
    finally:
        event.remove(sync_engine, "before_cursor_execute", capture)
    (statement, parameters), = [c for c in captured if "support_tickets" in c[0]]
    raw = services.engine.raw_connection()
    try:
        db = raw.cursor()
        if services.settings.is_mysql:
            db.execute("EXPLAIN FORMAT=JSON " + statement, parameters)
            return mysql_plan(json.loads(db.fetchone()[0]))
        db.execute("EXPLAIN QUERY PLAN " + statement, parameters)
        return sqlite_plan([str(row[3]) for row in db.fetchall()])
    finally:
        raw.close()


def mysql_plan(tree: Any) -> Plan:
    steps: list[str] = []
    sorts: list[Any] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "filesort" in node:
                sorts.append(node["filesort"])
            table = node.get("table")
            if isinstance(table, dict) and "table_name" in table:
                steps.append(f"{table['table_name']} {table.get('access_type')} "
                             f"key={table.get('key')}")
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(tree)
    return Plan(steps, any(reads_the_store(sort) for sort in sorts))


def reads_the_store(node: Any) -> bool:
    """`support_tickets` is read below `node` (a derived table's own query aside)."""
    if isinstance(node, dict):
        table = node.get("table")
        if isinstance(table, dict) and table.get("table_name") == "support_tickets":
            return True
        return any(reads_the_store(v) for k, v in node.items() if k != "materialized")
    if isinstance(node, list):
        return any(reads_the_store(v) for v in node)
    return False


ADMIN = Actor("admin-1", "admin")
AGENT = Actor("agent-3", "agent")
DEEP = encode_cursor(TICKETS // 10)  # nine tenths of the store above it


def seq_order_index(plan: Plan, mysql: bool) -> bool:
    """Read through the index on `seq` alone (its unique key)."""
    if mysql:
        return plan.uses("key=seq")
    return plan.uses("sqlite_autoindex_support_tickets") or plan.uses("(seq<?)")


CASES = [
    # (name, actor, filters, the index its order comes from: None = the `seq` key)
    ("admin list", ADMIN, {}, None),
    ("agent queue", AGENT, {}, "ix_tickets_assigned_to_seq"),
    ("a customer's list", Actor(HEAVY, "customer"), {}, "ix_tickets_user_id_seq"),
    ("a small customer's list", Actor("cust-7", "customer"), {}, "ix_tickets_user_id_seq"),
    ("admin, one customer", ADMIN, {"user_id": HEAVY}, "ix_tickets_user_id_seq"),
    ("admin, one assignee", ADMIN, {"assigned_to": "agent-2"}, "ix_tickets_assigned_to_seq"),
    ("admin, one status", ADMIN, {"status": "open"}, "ix_tickets_status_seq"),
    ("admin, one category", ADMIN, {"category": "billing"}, "ix_tickets_category_seq"),
    # Either key may lead here (the agent's closed tickets, by status or by assignee):
    # both are read in `seq` order.
    ("agent, one status", AGENT, {"status": "closed"},
     ("ix_tickets_status_seq", "ix_tickets_assigned_to_seq", None)),
]


@pytest.mark.parametrize("deep", [False, True], ids=["first page", "deep cursor"])
@pytest.mark.parametrize(("name", "actor", "filters", "index"), CASES,
                         ids=[case[0] for case in CASES])
async def test_a_list_page_is_read_in_index_order(
        store: Services, name: str, actor: Actor, filters: dict[str, str | None],
        index: str | tuple[str | None, ...] | None, deep: bool) -> None:
    plan = await plan_of(store, actor, filters, DEEP if deep else None)
    assert not plan.sorted, (name, plan.steps)
    mysql = store.settings.is_mysql
    indexes = index if isinstance(index, tuple) else (index,)
    assert any(seq_order_index(plan, mysql) if i is None else plan.uses(i) for i in indexes), (
        name, plan.steps)


SEARCHES = [
    # (name, actor, filters, MariaDB's index on the search rows)
    ("admin, a word in every ticket", ADMIN, {"q": "parcel"}, "PRIMARY"),
    ("admin, two words (the rarer drives)", ADMIN, {"q": "parcel zeppelin"}, "PRIMARY"),
    ("agent, a word in every ticket", AGENT, {"q": "parcel"}, "PRIMARY"),
    ("a customer, a word in every ticket", Actor(HEAVY, "customer"), {"q": "parcel"},
     "ix_ticket_words_user"),
    ("admin, one customer, a prefix", ADMIN, {"q": "parc", "user_id": HEAVY},
     "ix_ticket_words_user"),
]


@pytest.mark.parametrize("deep", [False, True], ids=["first page", "deep cursor"])
@pytest.mark.parametrize(("name", "actor", "filters", "index"), SEARCHES,
                         ids=[case[0] for case in SEARCHES])
async def test_a_search_walks_the_matches_newest_first(
        store: Services, name: str, actor: Actor, filters: dict[str, str | None], index: str,
        deep: bool) -> None:
    """SQLite: FTS5 reads its rows in descending rowid (= `seq`) order and the join stops
    at the page. MariaDB: the search rows of one word (and one customer) are read in
    their key's `seq` order, each ticket a seek on `seq`, no sort (InnoDB's FULLTEXT
    would collect every match and sort them)."""
    plan = await plan_of(store, actor, filters, DEEP if deep else None)
    assert not plan.sorted, (name, plan.steps)
    if store.settings.is_mysql:
        # ref: one word's rows; range: those below the cursor
        assert plan.steps[0] in (f"support_ticket_words {access} key={index}"
                                 for access in ("ref", "range")), (name, plan.steps)
        assert "support_tickets eq_ref key=seq" in plan.steps, (name, plan.steps)
        # the other words and the ticket: a seek each per row of the first (no semi-join
        # reading every row of another word)
        assert all(" eq_ref key=" in step for step in plan.steps[1:]), (name, plan.steps)
        assert not plan.uses("fulltext"), (name, plan.steps)
        return
    assert plan.steps[0].startswith("SCAN support_tickets_fts VIRTUAL TABLE"), plan.steps
    assert plan.uses("seq=?)"), plan.steps  # each match's ticket by its key


@pytest.mark.parametrize("filters", [{}, {"status": "open"}, {"priority": "high,urgent"}],
                         ids=["all", "open", "high"])
async def test_an_agents_queue_read_in_halves_is_the_same_queue(
        store: Services, filters: dict[str, str | None]) -> None:
    """Page after page, the agent's tickets and the pool merged are what one query with
    the OR of both selects, in the same order, each once."""
    async with store.read_engine.connect() as conn:
        reference = select(support_tickets.c.id).where(visible_to(AGENT))
        if filters.get("status"):
            reference = reference.where(support_tickets.c.status == filters["status"])
        if filters.get("priority"):
            reference = reference.where(support_tickets.c.priority.in_(
                (filters["priority"] or "").split(",")))
        expected = list((await conn.execute(
            reference.order_by(support_tickets.c.seq.desc()))).scalars())
        pages, cursor = [], None
        while True:
            rows, cursor = await list_tickets(conn, AGENT, filters, 10, cursor)
            pages.append([row.id for row in rows])
            if cursor is None:
                break
    assert len(expected) > 30 and len(pages) > 3
    assert [ticket for page in pages for ticket in page] == expected
