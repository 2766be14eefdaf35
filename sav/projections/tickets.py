"""The `support_tickets` read model: table, full-text index, event handlers, queries."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any
from uuid import UUID

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Index,
    Integer,
    String,
    Table,
    and_,
    bindparam,
    false,
    func,
    or_,
    select,
    text,
    true,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from sav.commands.actor import Actor
from sav.commands.policy import AGENT_POOL_EXCLUDES
from sav.events.errors import RuleViolationError
from sav.projections.schema import Handler, Json, LongText, Timestamp, iso, naive_utc, read_metadata

support_tickets = Table(
    "support_tickets",
    read_metadata,
    Column("id", String(36), primary_key=True),
    Column("seq", BigInteger, nullable=False, unique=True),
    Column("ticket_number", String(64), nullable=False, unique=True),
    Column("user_id", String(64), index=True),
    Column("assigned_to", String(64), index=True),
    Column("subject", String(255), nullable=False),
    Column("description", LongText, nullable=False),
    Column("status", String(32), nullable=False, index=True),
    Column("priority", String(16), nullable=False, index=True),
    Column("category", String(64), index=True),
    Column("source", String(16), nullable=False),
    Column("contact_email", String(255), index=True),
    Column("contact_name", String(255)),
    Column("first_response_at", Timestamp),
    Column("resolved_at", Timestamp),
    Column("closed_at", Timestamp),
    Column("resolution_notes", LongText),
    Column("internal_notes", LongText),
    Column("satisfaction_rating", Integer),
    Column("satisfaction_comment", LongText),
    Column("tags", Json, nullable=False),
    Column("metadata", Json, nullable=False),
    Column("access_token_hash", String(64)),
    Column("escalated_at", Timestamp),
    Column("survey_requested_at", Timestamp),
    Column("is_deleted", Boolean, nullable=False, default=False),
    Column("created_at", Timestamp, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    Column("deleted_at", Timestamp),
    Column("version", Integer, nullable=False),
    Index("ix_tickets_status_priority", "status", "priority"),
    Index("ix_tickets_assignee_status", "assigned_to", "status"),
    mysql_engine="InnoDB",
)

FTS_DDL = {
    "sqlite": [
        "CREATE VIRTUAL TABLE IF NOT EXISTS support_tickets_fts USING fts5("
        "ticket_id UNINDEXED, subject, description)"
    ],
    "mysql": ["ALTER TABLE support_tickets ADD FULLTEXT INDEX ft_tickets (subject, description)"],
}


def create_extras(conn: Connection) -> None:
    if conn.dialect.name == "sqlite":
        for ddl in FTS_DDL["sqlite"]:
            conn.execute(text(ddl))
        return
    exists = conn.execute(
        text("SELECT COUNT(*) FROM information_schema.statistics WHERE table_schema = DATABASE() "
             "AND table_name = 'support_tickets' AND index_name = 'ft_tickets'")
    ).scalar()
    if not exists:
        conn.execute(text(FTS_DDL["mysql"][0]))


def drop_extras(conn: Connection) -> None:
    if conn.dialect.name == "sqlite":
        conn.execute(text("DROP TABLE IF EXISTS support_tickets_fts"))


# -- projector handlers -----------------------------------------------------------


def _set(conn: Connection, event: Any, **values: Any) -> None:
    values.update(version=event.originator_version, updated_at=naive_utc(event.timestamp))
    conn.execute(
        support_tickets.update().where(support_tickets.c.id == str(event.originator_id)),
        values,
    )


def _index_text(conn: Connection, ticket_id: str, subject: str, description: str) -> None:
    if conn.dialect.name != "sqlite":
        return  # InnoDB maintains its FULLTEXT index itself.
    conn.execute(text("DELETE FROM support_tickets_fts WHERE ticket_id = :id"), {"id": ticket_id})
    conn.execute(
        text("INSERT INTO support_tickets_fts (ticket_id, subject, description) "
             "VALUES (:id, :s, :d)"),
        {"id": ticket_id, "s": subject, "d": description},
    )


def on_created(conn: Connection, event: Any, position: int) -> None:
    at = naive_utc(event.timestamp)
    ticket_id = str(event.originator_id)
    conn.execute(
        support_tickets.insert(),
        {
            "id": ticket_id, "seq": position, "ticket_number": event.ticket_number,
            "user_id": event.user_id, "assigned_to": None, "subject": event.subject,
            "description": event.description, "status": "open", "priority": event.priority,
            "category": event.category, "source": event.source,
            "contact_email": event.contact_email, "contact_name": event.contact_name,
            "tags": list(event.tags), "metadata": dict(event.metadata),
            "access_token_hash": event.access_token_hash, "is_deleted": False,
            "created_at": at, "updated_at": at, "version": event.originator_version,
        },
    )
    _index_text(conn, ticket_id, event.subject, event.description)


def on_updated(conn: Connection, event: Any, position: int) -> None:
    _set(conn, event, **event.changes)
    if "subject" in event.changes or "description" in event.changes:
        row = conn.execute(
            select(support_tickets.c.subject, support_tickets.c.description).where(
                support_tickets.c.id == str(event.originator_id)
            )
        ).one()
        _index_text(conn, str(event.originator_id), row.subject, row.description)


def on_assigned(conn: Connection, event: Any, position: int) -> None:
    row = conn.execute(
        select(support_tickets.c.status).where(support_tickets.c.id == str(event.originator_id))
    ).one()
    status = "assigned" if row.status == "open" else row.status
    _set(conn, event, assigned_to=event.agent_id, status=status)


def _status(status: str, **extra: Any) -> Handler:
    def handler(conn: Connection, event: Any, position: int) -> None:
        values = {key: (naive_utc(event.timestamp) if val == "now" else val)
                  for key, val in extra.items()}
        _set(conn, event, status=status, **values)
    return handler


def on_resolved(conn: Connection, event: Any, position: int) -> None:
    _set(conn, event, status="resolved", resolved_at=naive_utc(event.timestamp),
         resolution_notes=event.resolution)


def on_reopened(conn: Connection, event: Any, position: int) -> None:
    row = conn.execute(
        select(support_tickets.c.assigned_to).where(
            support_tickets.c.id == str(event.originator_id)
        )
    ).one()
    _set(conn, event, status="in_progress" if row.assigned_to else "open", resolved_at=None)


def on_deleted(conn: Connection, event: Any, position: int) -> None:
    _set(conn, event, is_deleted=True, deleted_at=naive_utc(event.timestamp))


def on_linked(conn: Connection, event: Any, position: int) -> None:
    _set(conn, event, user_id=event.user_id)


def on_message_posted(conn: Connection, event: Any, position: int) -> None:
    values: dict[str, Any] = {}
    if event.author_role in ("agent", "admin") and not event.is_internal:
        row = conn.execute(
            select(support_tickets.c.first_response_at).where(
                support_tickets.c.id == str(event.originator_id)
            )
        ).one()
        if row.first_response_at is None:
            values["first_response_at"] = naive_utc(event.timestamp)
    _set(conn, event, **values)


def on_rated(conn: Connection, event: Any, position: int) -> None:
    _set(conn, event, satisfaction_rating=event.rating, satisfaction_comment=event.comment)


def on_escalated(conn: Connection, event: Any, position: int) -> None:
    _set(conn, event, escalated_at=naive_utc(event.timestamp))


def on_survey_requested(conn: Connection, event: Any, position: int) -> None:
    _set(conn, event, survey_requested_at=naive_utc(event.timestamp))


def on_other(conn: Connection, event: Any, position: int) -> None:
    _set(conn, event)


HANDLERS: dict[str, Handler] = {
    "Ticket.Created": on_created,
    "Ticket.Updated": on_updated,
    "Ticket.Assigned": on_assigned,
    "Ticket.Started": _status("in_progress"),
    "Ticket.MarkedWaitingOnCustomer": _status("waiting_customer"),
    "Ticket.Resolved": on_resolved,
    "Ticket.Reopened": on_reopened,
    "Ticket.Closed": _status("closed", closed_at="now"),
    "Ticket.Deleted": on_deleted,
    "Ticket.LinkedToUser": on_linked,
    "Ticket.MessagePosted": on_message_posted,
    "Ticket.MessageEdited": on_other,
    "Ticket.MessageRemoved": on_other,
    "Ticket.MessagesRead": on_other,
    "Ticket.AttachmentAdded": on_other,
    "Ticket.AttachmentRemoved": on_other,
    "Ticket.SatisfactionRated": on_rated,
    "Ticket.Escalated": on_escalated,
    "Ticket.SurveyRequested": on_survey_requested,
}

# -- queries ------------------------------------------------------------------------

STATUSES = {"open", "assigned", "in_progress", "waiting_customer", "resolved", "closed"}
PRIORITIES = {"low", "normal", "high", "urgent"}
UUID_RE = re.compile(r"^[0-9a-fA-F]{8}(-?[0-9a-fA-F]{4}){3}-?[0-9a-fA-F]{12}$")


def visible_to(actor: Actor) -> ColumnElement[bool]:
    """SQL form of `sav.commands.policy.can_see`, plus soft-delete."""
    t = support_tickets.c
    alive = t.is_deleted == false()
    if actor.is_admin:
        return alive
    if actor.role == "agent":
        pool = and_(t.assigned_to.is_(None), t.status.notin_(AGENT_POOL_EXCLUDES))
        return and_(alive, or_(t.assigned_to == actor.user_id, pool))
    if actor.user_id is None:
        return and_(alive, false())
    return and_(alive, t.user_id == actor.user_id)


# Hot-path statements built once: SQLAlchemy then reuses their cache key and SQL.
_LIVE = support_tickets.c.is_deleted == false()
_BY_ID = select(support_tickets).where(support_tickets.c.id == bindparam("ref"), _LIVE)
_BY_NUMBER = select(support_tickets).where(
    support_tickets.c.ticket_number == bindparam("ref"), _LIVE)


async def find_ticket(conn: AsyncConnection, id_or_number: str) -> Any:
    """A live ticket row by UUID or ticket number, or None."""
    if UUID_RE.match(id_or_number):
        result = await conn.execute(_BY_ID, {"ref": str(UUID(id_or_number))})
    else:
        result = await conn.execute(_BY_NUMBER, {"ref": id_or_number})
    return result.first()


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"s{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not raw.startswith("s") or not raw[1:].isascii() or not raw[1:].isdigit():
            raise ValueError
        position = int(raw[1:])
        if position >= 2**63:  # beyond any BIGINT position
            raise ValueError
        return position
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise RuleViolationError("invalid cursor", {"field": "cursor"}) from None


def _split(value: str | None, allowed: set[str], name: str) -> list[str] | None:
    if not value:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    bad = [v for v in items if v not in allowed]
    if bad:
        raise RuleViolationError(f"unknown {name}: {', '.join(bad)}", {"field": name})
    return items


# InnoDB does not index words shorter than innodb_ft_min_token_size (3 by default).
MIN_INDEXED_WORD = 3


def fulltext_clause(dialect: str, q: str) -> ColumnElement[bool]:
    """Every word of `q` must match, by the same rule on both profiles: words of 3+
    characters as word prefixes through the full-text index (FTS5 / InnoDB FULLTEXT),
    shorter ones as substrings of the subject or description."""
    words = re.findall(r"\w+", q)
    t = support_tickets.c
    clauses: list[ColumnElement[bool]] = [
        or_(t.subject.contains(w, autoescape=True), t.description.contains(w, autoescape=True))
        for w in words if len(w) < MIN_INDEXED_WORD
    ]
    indexed = [w for w in words if len(w) >= MIN_INDEXED_WORD]
    if indexed and dialect == "sqlite":
        match = " ".join('"' + w.replace('"', '""') + '"*' for w in indexed)
        clauses.append(t.id.in_(
            select(text("ticket_id")).select_from(text("support_tickets_fts")).where(
                text("support_tickets_fts MATCH :fts_q").bindparams(fts_q=match))))
    elif indexed:
        boolean = " ".join(f"+{w}*" for w in indexed)
        against = text("MATCH (support_tickets.subject, support_tickets.description) "
                       "AGAINST (:ft_q IN BOOLEAN MODE)").bindparams(ft_q=boolean)
        clauses.append(against)  # type: ignore[arg-type]
    return and_(*clauses) if clauses else true()


async def list_tickets(
    conn: AsyncConnection, actor: Actor, filters: dict[str, str | None], limit: int,
    cursor: str | None,
) -> tuple[list[Any], str | None]:
    t = support_tickets.c
    query = select(support_tickets).where(visible_to(actor))
    statuses = _split(filters.get("status"), STATUSES, "status")
    priorities = _split(filters.get("priority"), PRIORITIES, "priority")
    if statuses:
        query = query.where(t.status.in_(statuses))
    if priorities:
        query = query.where(t.priority.in_(priorities))
    if filters.get("assigned_to"):
        assignee = filters["assigned_to"]
        query = query.where(t.assigned_to.is_(None) if assignee == "none" else
                            t.assigned_to == assignee)
    if filters.get("category"):
        query = query.where(t.category == filters["category"])
    if filters.get("user_id") and actor.is_staff:
        query = query.where(t.user_id == filters["user_id"])
    if filters.get("q"):
        query = query.where(fulltext_clause(conn.dialect.name, filters["q"] or ""))
    if cursor:
        query = query.where(t.seq < decode_cursor(cursor))
    rows = (await conn.execute(query.order_by(t.seq.desc()).limit(limit + 1))).all()
    next_cursor = encode_cursor(rows[limit - 1].seq) if len(rows) > limit else None
    return list(rows[:limit]), next_cursor


def ticket_json(row: Any, actor: Actor | None) -> dict[str, Any]:
    """API shape of a ticket row; internal notes only for staff."""
    data = {
        "id": row.id, "ticket_number": row.ticket_number, "user_id": row.user_id,
        "assigned_to": row.assigned_to, "subject": row.subject, "description": row.description,
        "status": row.status, "priority": row.priority, "category": row.category,
        "source": row.source, "contact_email": row.contact_email,
        "contact_name": row.contact_name, "first_response_at": iso(row.first_response_at),
        "resolved_at": iso(row.resolved_at), "closed_at": iso(row.closed_at),
        "resolution_notes": row.resolution_notes,
        "satisfaction_rating": row.satisfaction_rating,
        "satisfaction_comment": row.satisfaction_comment, "tags": row.tags or [],
        "metadata": row.metadata or {}, "escalated_at": iso(row.escalated_at),
        "created_at": iso(row.created_at), "updated_at": iso(row.updated_at),
        "version": row.version,
    }
    if actor is not None and actor.is_staff:
        data["internal_notes"] = row.internal_notes
    return data


async def count_by(conn: AsyncConnection, actor: Actor, column: str) -> dict[str, int]:
    col = support_tickets.c[column]
    rows = (
        await conn.execute(select(col, func.count()).where(visible_to(actor)).group_by(col))
    ).all()
    return {row[0]: int(row[1]) for row in rows}
