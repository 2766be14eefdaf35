"""The hourly pruning jobs read an index, not the whole table (migration 0018): the
`idempotency-keys` job (`prune_expired`) through `created_at`, oldest first, each batch's
delete bounded by its own newest row; the `webhook-deliveries` job (`prune`) through
(`status`, `updated_at`), each batch deleted by its primary keys.

A table shaped like a busy shop's (most rows still live, the expired ones the oldest) is
written and analysed; the job runs (its deletions checked), its rows are written back and
the statements it really ran (captured from the engine) are explained on both profiles.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Engine, Table, event, func, select, text

from sav.api.idempotency import PRUNE_BATCH, prune_expired
from sav.api.tables import idempotency_keys
from sav.bootstrap import Services, bootstrap
from sav.config import Settings
from sav.webhooks.deliveries import DELIVERED, FAILED, PENDING, prune, webhook_deliveries

ROWS = 10_000
NOW = dt.datetime(2026, 12, 1)
KEYS_OLDEST = NOW - dt.timedelta(hours=7)  # 2,440 rows at or before it: three batches
DELIVERIES_BEFORE = (NOW - dt.timedelta(days=6)).timestamp()  # 1,359 rows before it
DELIVERIES_BATCH = 500


def key_row(i: int) -> dict[str, Any]:
    # Three answers a second (whole seconds, as stored), so batches end inside a second.
    return {"scope": f"user-{i % 300}", "key": f"key-{i}", "status": 201,
            "request_hash": "0" * 64, "etag": None, "body": "{}",
            "created_at": NOW - dt.timedelta(seconds=10 * (i // 3))}


def delivery_row(i: int) -> dict[str, Any]:
    moment = NOW.timestamp() - 60 * i
    return {"id": f"00000000-0000-4000-8000-{i:012d}", "webhook_id": f"hook-{i % 7}",
            "position": i, "message_id": f"10000000-0000-4000-8000-{i:012d}",
            "event": "ticket.created", "status": (DELIVERED, DELIVERED, FAILED, PENDING)[i % 4],
            "attempts": 1, "last_status_code": 200, "last_error": None, "last_duration": 0.1,
            "next_attempt_at": moment, "give_up_at": moment + 86_400, "manual": False,
            "created_at": moment, "updated_at": moment}


@pytest.fixture
def store(settings: Settings) -> Iterator[Services]:
    services = bootstrap(settings)
    with services.engine.begin() as conn:
        conn.execute(idempotency_keys.insert(), [key_row(i) for i in range(ROWS)])
        conn.execute(webhook_deliveries.insert(), [delivery_row(i) for i in range(ROWS)])
    analyse(services.engine)
    yield services
    services.close()


def analyse(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("ANALYZE TABLE idempotency_keys, webhook_deliveries")
                     if conn.dialect.name != "sqlite" else text("ANALYZE"))


def statements_of(engine: Engine, table: Table, job: Callable[[], int]
                  ) -> tuple[int, list[tuple[str, Any]]]:
    """What the job returns, and the reads and deletes of `table` it ran (each shape once)."""
    captured: dict[str, tuple[str, Any]] = {}

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        verb = statement.lstrip().split(None, 1)[0].upper()
        if verb in ("SELECT", "DELETE") and table.name in statement:
            captured.setdefault(f"{verb} {statement.count(',')}", (statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        result = job()
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    return result, list(captured.values())


def count(engine: Engine, table: Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def write_back(engine: Engine, table: Table, rows: list[dict[str, Any]]) -> None:
    """The pruned rows again, so the plans are those of the store the job found."""
    with engine.begin() as conn:
        conn.execute(table.insert(), rows)
    analyse(engine)


@dataclass
class Plan:
    reads: list[tuple[str, str]]  # (how the table is read, through which index)
    sorted: bool  # the rows are sorted after they are read

    def through(self, indexes: tuple[str, ...]) -> bool:
        return bool(self.reads) and all(
            how in ("SEARCH", "range", "ref", "eq_ref") and key in indexes
            for how, key in self.reads)


def plan_of(engine: Engine, table: Table, statement: str, parameters: Any) -> Plan:
    raw = engine.raw_connection()
    try:
        db = raw.cursor()
        if engine.dialect.name == "sqlite":
            db.execute("EXPLAIN QUERY PLAN " + statement, parameters)
            return sqlite_plan(table.name, [str(row[3]) for row in db.fetchall()])
        db.execute("EXPLAIN FORMAT=JSON " + statement, parameters)
        (document,) = db.fetchall()
        return mysql_plan(table.name, json.loads(document[0]))
    finally:
        raw.close()


def sqlite_plan(table: str, steps: list[str]) -> Plan:
    """`SEARCH t USING [COVERING] INDEX name (...)` or `SCAN t` per read of the table."""
    reads = []
    for step in steps:
        words = step.split()
        if words[:2] in (["SEARCH", table], ["SCAN", table]):
            index = words[words.index("INDEX") + 1] if "INDEX" in words else "(none)"
            reads.append((words[0], "PRIMARY" if index.startswith("sqlite_autoindex") else index))
    return Plan(reads, any("TEMP B-TREE" in step for step in steps))


def mysql_plan(table: str, tree: Any) -> Plan:
    found = list(objects(tree))
    return Plan([(str(node["table"].get("access_type")), str(node["table"].get("key")))
                 for node in found if isinstance(node.get("table"), dict)
                 and node["table"].get("table_name") == table],
                any("filesort" in node for node in found))


def objects(node: Any) -> Iterator[dict[str, Any]]:
    """Every JSON object of the plan, at any depth."""
    if isinstance(node, dict):
        yield node
    if isinstance(node, dict | list):
        for value in node.values() if isinstance(node, dict) else node:
            yield from objects(value)


def test_the_idempotency_job_reads_and_deletes_through_created_at(store: Services) -> None:
    engine = store.engine
    rows = [key_row(i) for i in range(ROWS)]
    expired = [row for row in rows if row["created_at"] <= KEYS_OLDEST]
    assert len(expired) > 2 * PRUNE_BATCH  # batches that end inside a second

    deleted, statements = statements_of(
        engine, idempotency_keys, lambda: prune_expired(engine, KEYS_OLDEST))
    assert deleted == len(expired)
    assert count(engine, idempotency_keys) == ROWS - len(expired)
    write_back(engine, idempotency_keys, expired)

    verbs = sorted(statement.split(None, 1)[0] for statement, _ in statements)
    assert verbs == ["DELETE", "DELETE", "SELECT"], statements  # a full batch, the last
    for statement, parameters in statements:
        plan = plan_of(engine, idempotency_keys, statement, parameters)
        if statement.startswith("SELECT"):  # the oldest first, in the index's order
            assert plan.through(("ix_idempotency_keys_created_at",)), plan
            assert not plan.sorted, plan
        else:  # the batch's range of the index, or its keys
            assert plan.through(("ix_idempotency_keys_created_at", "PRIMARY")), plan


def test_the_webhook_deliveries_job_reads_through_status_and_time(store: Services) -> None:
    engine = store.engine
    rows = [delivery_row(i) for i in range(ROWS)]
    old = [row for row in rows if row["updated_at"] < DELIVERIES_BEFORE]
    finished = [row for row in old if row["status"] in (DELIVERED, FAILED)]
    assert len(finished) > 2 * DELIVERIES_BATCH and len(finished) < len(old)

    deleted, statements = statements_of(
        engine, webhook_deliveries,
        lambda: prune(engine, DELIVERIES_BEFORE, batch=DELIVERIES_BATCH))
    assert deleted == len(finished)
    with engine.connect() as conn:  # the pending ones stay, however old
        left = set(conn.execute(select(webhook_deliveries.c.id).where(
            webhook_deliveries.c.updated_at < DELIVERIES_BEFORE)).scalars())
    assert left == {row["id"] for row in old if row["status"] == PENDING}
    write_back(engine, webhook_deliveries, finished)

    verbs = sorted(statement.split(None, 1)[0] for statement, _ in statements)
    assert verbs == ["DELETE", "DELETE", "SELECT"], statements  # a full batch, the last
    for statement, parameters in statements:
        plan = plan_of(engine, webhook_deliveries, statement, parameters)
        if statement.startswith("SELECT"):
            assert plan.through(("ix_webhook_deliveries_pruned",)), plan
        else:  # by the batch's ids
            assert plan.through(("PRIMARY",)), plan
        assert not plan.sorted, plan
