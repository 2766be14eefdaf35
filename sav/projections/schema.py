"""The read models' shared metadata and helpers for projector handlers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, DateTime, Index, MetaData, Table, Text
from sqlalchemy.dialects import mysql

from sav.eventstore.schema import Identifier

read_metadata = MetaData()

LongText = Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")
Timestamp = DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
Json = JSON()

# A projector handler: (connection, domain event, global position) -> None.
Handler = Callable[[Any, Any, int], None]
# Each read model maps every stored event class to its handler, or to None when it
# ignores that event on purpose (a test checks that no event class is left undecided).
Handlers = dict[type, Handler | None]


def ignored(*event_classes: type) -> Handlers:
    return dict.fromkeys(event_classes, None)


def ticket_rows(name: str, *columns: Any) -> Table:
    """A read table of things that happen on a ticket (messages, attachments): `id`,
    `seq` — the global position of the event that made the row, a stable order and the
    list cursor — `ticket_id`, the given columns, then `created_at` and `updated_at`."""
    return Table(
        name,
        read_metadata,
        Column("id", Identifier(36), primary_key=True),
        Column("seq", BigInteger, nullable=False, unique=True),
        Column("ticket_id", Identifier(36), nullable=False),
        *columns,
        Column("created_at", Timestamp, nullable=False),
        Column("updated_at", Timestamp, nullable=False),
        Index(f"ix_{name.removeprefix('ticket_')}_ticket_seq", "ticket_id", "seq"),
        mysql_engine="InnoDB",
    )


def naive_utc(moment: datetime | None) -> datetime | None:
    """Read tables store naive UTC datetimes (both dialects compare them the same way)."""
    if moment is None:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def iso(moment: datetime | None) -> str | None:
    """API form of a stored naive-UTC datetime."""
    if moment is None:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="microseconds") + "Z"
