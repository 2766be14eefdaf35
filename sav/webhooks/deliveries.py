"""The delivery log and each subscription's position: the sender's own tables.

`webhook_positions` holds, per subscription, the last event position the sender has
looked at; `webhook_deliveries` one row per (subscription, event) it must send, with its
attempts. Reading the log after a position and inserting the rows it selects happen in
the transaction that moves the position (compare-and-set): a crash at any point loses
no event and creates none twice. A row stays `pending` until a 2xx (`delivered`) or its
last attempt (`failed`). They are not a read model (`sav replay` leaves them alone):
what was sent is not derived from events.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import NAMESPACE_URL, uuid5

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Double,
    Engine,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
    bindparam,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from sav.eventstore.db import write_transaction
from sav.eventstore.schema import Identifier, metadata

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
MAX_ERROR = 500

webhook_positions = Table(
    "webhook_positions", metadata,
    Column("webhook_id", Identifier(36), primary_key=True),
    Column("position", BigInteger, nullable=False),
    Column("updated_at", Double, nullable=False),
    mysql_engine="InnoDB",
)
# Moments are epoch seconds in a Double, like the leases (a MySQL FLOAT would round them).
webhook_deliveries = Table(
    "webhook_deliveries", metadata,
    Column("id", Identifier(36), primary_key=True),
    Column("webhook_id", Identifier(36), nullable=False),
    Column("position", BigInteger, nullable=False),
    Column("message_id", Identifier(36), nullable=False),
    Column("event", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("last_status_code", Integer),
    Column("last_error", String(MAX_ERROR)),
    Column("last_duration", Double),
    Column("next_attempt_at", Double),
    Column("give_up_at", Double, nullable=False),
    # An operator's retry: sent even while the subscription is paused or disabled, and
    # its failure disables nothing.
    Column("manual", Boolean, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
    UniqueConstraint("webhook_id", "position", name="uq_webhook_delivery_position"),
    Index("ix_webhook_deliveries_due", "webhook_id", "status", "next_attempt_at"),
    # The `webhook-deliveries` job deletes the finished ones by it (`prune`).
    Index("ix_webhook_deliveries_pruned", "status", "updated_at"),
    mysql_engine="InnoDB",
)
p = webhook_positions.c
d = webhook_deliveries.c


def delivery_id(webhook_id: str, position: int) -> str:
    """One delivery per subscription and event, whoever creates it."""
    return str(uuid5(NAMESPACE_URL, f"sav:webhook:{webhook_id}:{position}"))


@dataclass(frozen=True)
class NewDelivery:
    position: int
    message_id: str
    event: str


def position_of(engine: Engine, webhook_id: str) -> int | None:
    with engine.connect() as conn:
        value = conn.execute(select(p.position).where(p.webhook_id == webhook_id)).scalar()
    return None if value is None else int(value)


def start_position(engine: Engine, webhook_id: str, position: int) -> int:
    """The subscription's position, created at `position` the first time."""
    found = position_of(engine, webhook_id)
    if found is not None:
        return found
    with write_transaction(engine) as conn:
        if conn.execute(select(p.position).where(p.webhook_id == webhook_id)).first() is None:
            conn.execute(webhook_positions.insert().values(
                webhook_id=webhook_id, position=position, updated_at=time.time()))
    return position_of(engine, webhook_id) or position


def advance(engine: Engine, webhook_id: str, start: int, end: int,
            new: Sequence[NewDelivery], window: float, now: float | None = None) -> bool:
    """Record `new` deliveries and move the position from `start` to `end`, together;
    False (nothing written) when the position is no longer `start`."""
    now = time.time() if now is None else now
    try:
        with write_transaction(engine) as conn:
            moved = conn.execute(update(webhook_positions).where(
                p.webhook_id == webhook_id, p.position == start).values(
                position=end, updated_at=now))
            if moved.rowcount != 1:
                raise _StaleError
            _insert(conn, webhook_id, new, window, now)
    except _StaleError:
        return False
    return True


class _StaleError(Exception):
    """Another sender moved the position first: the transaction is rolled back."""


def _insert(conn: Connection, webhook_id: str, new: Sequence[NewDelivery], window: float,
            now: float) -> None:
    if new:
        conn.execute(webhook_deliveries.insert(), [{
            "id": delivery_id(webhook_id, item.position), "webhook_id": webhook_id,
            "position": item.position, "message_id": item.message_id,
            "event": item.event, "status": PENDING, "attempts": 0,
            "last_status_code": None, "last_error": None, "last_duration": None,
            "next_attempt_at": now, "give_up_at": now + window, "manual": False,
            "created_at": now, "updated_at": now} for item in new])


def pending_count(engine: Engine, webhook_id: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).where(
            d.webhook_id == webhook_id, d.status == PENDING)).scalar_one())


def due(engine: Engine, webhook_id: str, now: float, limit: int,
        manual_only: bool = False) -> list[Any]:
    """Pending deliveries whose time has come, oldest event first."""
    query = (select(webhook_deliveries).where(
        d.webhook_id == webhook_id, d.status == PENDING, d.next_attempt_at <= now)
        .order_by(d.position).limit(limit))
    if manual_only:
        query = query.where(d.manual.is_(True))
    with engine.connect() as conn:
        return list(conn.execute(query).all())


def next_due(engine: Engine, webhook_id: str) -> float | None:
    with engine.connect() as conn:
        value = conn.execute(select(func.min(d.next_attempt_at)).where(
            d.webhook_id == webhook_id, d.status == PENDING)).scalar()
    return None if value is None else float(value)


def due_subscriptions(engine: Engine, webhook_ids: Sequence[str], now: float) -> list[str]:
    """Which of `webhook_ids` have a delivery due by `now` (one query for all of them,
    on the index of due deliveries)."""
    with engine.connect() as conn:
        return list(conn.execute(select(d.webhook_id).where(
            d.webhook_id.in_(webhook_ids), d.status == PENDING,
            d.next_attempt_at <= now).distinct()).scalars())


@dataclass(frozen=True)
class Outcome:
    """What an attempt left on its row."""

    row_id: str
    status: str
    attempts: int
    status_code: int | None
    error: str | None
    duration: float
    next_attempt_at: float | None
    manual: bool


_RECORD = update(webhook_deliveries).where(d.id == bindparam("row_id")).values(
    status=bindparam("status"), attempts=bindparam("attempts"),
    last_status_code=bindparam("code"), last_error=bindparam("error"),
    last_duration=bindparam("duration"), next_attempt_at=bindparam("next_at"),
    manual=bindparam("still_manual"), updated_at=bindparam("now"))


def record(engine: Engine, outcomes: Sequence[Outcome]) -> None:
    """The attempts of one round, in one transaction."""
    if not outcomes:
        return
    now = time.time()
    with write_transaction(engine) as conn:
        conn.execute(_RECORD, [{
            "row_id": o.row_id, "status": o.status, "attempts": o.attempts,
            "code": o.status_code, "error": o.error[:MAX_ERROR] if o.error else None,
            "duration": o.duration, "next_at": o.next_attempt_at,
            "still_manual": o.manual, "now": now} for o in outcomes])


def retry(engine: Engine, webhook_id: str, row_id: str) -> bool:
    """An operator's retry: one more attempt, now; False when there is no such delivery."""
    now = time.time()
    with write_transaction(engine) as conn:
        changed = conn.execute(update(webhook_deliveries).where(
            d.id == row_id, d.webhook_id == webhook_id).values(
            status=PENDING, next_attempt_at=now, give_up_at=now, manual=True,
            updated_at=now))
        return changed.rowcount == 1


def prune(engine: Engine, before: float, batch: int = 1000) -> int:
    """Delete the delivered and failed deliveries last changed before `before` (epoch
    seconds), in batches (the `webhook-deliveries` job); pending ones stay."""
    deleted = 0
    while True:
        with write_transaction(engine) as conn:
            ids = list(conn.execute(select(d.id).where(
                d.status.in_((DELIVERED, FAILED)), d.updated_at < before).limit(batch)
            ).scalars())
            if ids:
                conn.execute(delete(webhook_deliveries).where(
                    d.id.in_(ids), d.status.in_((DELIVERED, FAILED))))
        deleted += len(ids)
        if len(ids) < batch:
            return deleted


def forget(engine: Engine, webhook_id: str) -> None:
    """A deleted subscription's log and position go with it."""
    with write_transaction(engine) as conn:
        conn.execute(delete(webhook_deliveries).where(d.webhook_id == webhook_id))
        conn.execute(delete(webhook_positions).where(p.webhook_id == webhook_id))


def _moment(value: float | None) -> str | None:
    if value is None:
        return None
    return datetime.fromtimestamp(value, UTC).isoformat(timespec="microseconds")


def delivery_json(row: Any) -> dict[str, Any]:
    return {"id": row.id, "webhook_id": row.webhook_id, "event": row.event,
            "position": int(row.position), "message_id": row.message_id,
            "status": row.status, "attempts": int(row.attempts),
            "last_status_code": row.last_status_code, "last_error": row.last_error,
            "next_attempt_at": _moment(row.next_attempt_at) if row.status == PENDING else None,
            "created_at": _moment(row.created_at), "updated_at": _moment(row.updated_at)}


async def list_deliveries(conn: AsyncConnection, webhook_id: str, limit: int,
                          before: int | None = None) -> list[Any]:
    """Newest first (by event position); `before`: only older events (the next page)."""
    query = (select(webhook_deliveries).where(d.webhook_id == webhook_id)
             .order_by(d.position.desc()).limit(limit))
    if before is not None:
        query = query.where(d.position < before)
    return list((await conn.execute(query)).all())


async def find_delivery(conn: AsyncConnection, webhook_id: str, row_id: str) -> Any:
    return (await conn.execute(select(webhook_deliveries).where(
        d.id == row_id, d.webhook_id == webhook_id))).first()
