"""The `support_tickets` read model: table, full-text index, event handlers.

Its queries are in `sav.projections.ticket_queries`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Index,
    Integer,
    String,
    Table,
    bindparam,
    false,
    select,
    text,
)

from sav.events.catalog import AGENT_EVENTS
from sav.events.privacy import Erasure
from sav.events.rules import is_first_response, status_after_assign, status_after_reopen
from sav.events.ticket import STATUS_AFTER, Ticket
from sav.eventstore.schema import Identifier
from sav.projections.schema import (
    Handlers,
    Json,
    LongText,
    Timestamp,
    ignored,
    naive_utc,
    read_metadata,
)

support_tickets = Table(
    "support_tickets",
    read_metadata,
    Column("id", Identifier(36), primary_key=True),
    Column("seq", BigInteger, nullable=False, unique=True),
    Column("ticket_number", Identifier(64), nullable=False, unique=True),
    Column("user_id", Identifier(64), index=True),
    Column("assigned_to", Identifier(64), index=True),
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
    # Personal fields erased (issue 12): the text columns hold "" / NULL from then on.
    Column("erased", Boolean, nullable=False, default=False, server_default=false()),
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


# One statement for every `_set`: the SET clause follows the parameters given (building
# a statement per event cost more than running it).
_UPDATE = support_tickets.update().where(support_tickets.c.id == bindparam("key_id"))


def _set(conn: Connection, event: Ticket.Event, **values: Any) -> None:
    values.update(version=event.originator_version, updated_at=naive_utc(event.timestamp))
    conn.execute(_UPDATE, {"key_id": str(event.originator_id), **values})


def _index_text(conn: Connection, ticket_id: str, subject: str, description: str,
                replace: bool = True) -> None:
    if conn.dialect.name != "sqlite":
        return  # InnoDB maintains its FULLTEXT index itself.
    if replace:  # `ticket_id` is UNINDEXED in FTS5: this delete scans the whole table
        conn.execute(text("DELETE FROM support_tickets_fts WHERE ticket_id = :id"),
                     {"id": ticket_id})
    conn.execute(
        text("INSERT INTO support_tickets_fts (ticket_id, subject, description) "
             "VALUES (:id, :s, :d)"),
        {"id": ticket_id, "s": subject, "d": description},
    )


def on_created(conn: Connection, event: Ticket.Created, position: int) -> None:
    at = naive_utc(event.timestamp)
    ticket_id = str(event.originator_id)
    conn.execute(
        support_tickets.insert(),
        {
            "id": ticket_id, "seq": position, "ticket_number": event.ticket_number,
            "user_id": event.user_id, "assigned_to": None, "subject": event.subject or "",
            "description": event.description or "",
            "status": STATUS_AFTER[Ticket.Created].value,
            "priority": event.priority,
            "category": event.category, "source": event.source,
            "contact_email": event.contact_email, "contact_name": event.contact_name,
            "tags": list(event.tags), "metadata": dict(event.metadata),
            "access_token_hash": event.access_token_hash, "is_deleted": False,
            # A subject erased before this replay: its creation reads back without text.
            "erased": event.subject is None,
            "created_at": at, "updated_at": at, "version": event.originator_version,
        },
    )
    _index_text(conn, ticket_id, event.subject or "", event.description or "", replace=False)


def _column(conn: Connection, event: Ticket.Event, column: Any) -> Any:
    return conn.execute(_SELECT_COLUMN[column.name],
                        {"key_id": str(event.originator_id)}).scalar_one()


_SELECT_COLUMN = {column.name: select(column).where(support_tickets.c.id == bindparam("key_id"))
                  for column in support_tickets.c}


def on_updated(conn: Connection, event: Ticket.Updated, position: int) -> None:
    # Text sealed with an erased subject's key reads back as None: "" in NOT NULL columns.
    _set(conn, event, **{key: "" if value is None and key in REQUIRED_TEXT else value
                         for key, value in event.changes.items()})
    if "subject" in event.changes or "description" in event.changes:
        row = conn.execute(
            select(support_tickets.c.subject, support_tickets.c.description).where(
                support_tickets.c.id == str(event.originator_id)
            )
        ).one()
        _index_text(conn, str(event.originator_id), row.subject, row.description)


def on_assigned(conn: Connection, event: Ticket.Assigned, position: int) -> None:
    status = status_after_assign(_column(conn, event, support_tickets.c.status))
    _set(conn, event, assigned_to=event.agent_id, status=status.value)


def on_status(conn: Connection, event: Ticket.Event, position: int) -> None:
    """Events that alone say which status the ticket is in now."""
    _set(conn, event, status=STATUS_AFTER[type(event)].value)


def on_resolved(conn: Connection, event: Ticket.Resolved, position: int) -> None:
    _set(conn, event, status=STATUS_AFTER[Ticket.Resolved].value,
         resolved_at=naive_utc(event.timestamp), resolution_notes=event.resolution)


def on_closed(conn: Connection, event: Ticket.Closed, position: int) -> None:
    _set(conn, event, status=STATUS_AFTER[Ticket.Closed].value,
         closed_at=naive_utc(event.timestamp))


def on_reopened(conn: Connection, event: Ticket.Reopened, position: int) -> None:
    status = status_after_reopen(_column(conn, event, support_tickets.c.assigned_to))
    _set(conn, event, status=status.value, resolved_at=None)


def on_deleted(conn: Connection, event: Ticket.Deleted, position: int) -> None:
    _set(conn, event, is_deleted=True, deleted_at=naive_utc(event.timestamp))


def on_linked(conn: Connection, event: Ticket.LinkedToUser, position: int) -> None:
    _set(conn, event, user_id=event.user_id)


def on_message_posted(conn: Connection, event: Ticket.MessagePosted, position: int) -> None:
    values: dict[str, Any] = {}
    if is_first_response(event.author_role, event.is_internal) and _column(
            conn, event, support_tickets.c.first_response_at) is None:
        values["first_response_at"] = naive_utc(event.timestamp)
    _set(conn, event, **values)


def on_rated(conn: Connection, event: Ticket.SatisfactionRated, position: int) -> None:
    _set(conn, event, satisfaction_rating=event.rating, satisfaction_comment=event.comment)


def on_escalated(conn: Connection, event: Ticket.Escalated, position: int) -> None:
    _set(conn, event, escalated_at=naive_utc(event.timestamp))


def on_survey_requested(conn: Connection, event: Ticket.SurveyRequested, position: int
                        ) -> None:
    _set(conn, event, survey_requested_at=naive_utc(event.timestamp))


REQUIRED_TEXT = ("subject", "description")
# What an erasure leaves of a ticket's personal fields (`ticket_json` shows them as null).
ERASED_VALUES: dict[str, Any] = {
    "subject": "", "description": "", "contact_email": None, "contact_name": None,
    "resolution_notes": None, "internal_notes": None, "satisfaction_comment": None,
    "metadata": {}, "erased": True}


def on_subject_erased(conn: Connection, event: Erasure.SubjectErased, position: int) -> None:
    """Null the personal fields of the subject's tickets, full-text index included."""
    for start in range(0, len(event.ticket_ids), 500):
        ids = event.ticket_ids[start:start + 500]
        conn.execute(support_tickets.update().where(support_tickets.c.id.in_(ids)),
                     ERASED_VALUES)
        if conn.dialect.name == "sqlite":
            for ticket_id in ids:
                _index_text(conn, ticket_id, "", "")
    if conn.dialect.name == "sqlite" and "fts5" in str(conn.execute(text(
            "SELECT sql FROM sqlite_master WHERE name = 'support_tickets_fts'")).scalar()):
        # Merge FTS5's segments, so the deleted terms are dropped (a rebuild's stand-in
        # table is a plain one: nothing to merge).
        conn.execute(text("INSERT INTO support_tickets_fts(support_tickets_fts) "
                          "VALUES ('optimize')"))


def on_other(conn: Connection, event: Ticket.Event, position: int) -> None:
    """Any other ticket event still moves the row's version and `updated_at`."""
    _set(conn, event)


HANDLERS: Handlers = {
    Ticket.Created: on_created,
    Ticket.Updated: on_updated,
    Ticket.Assigned: on_assigned,
    Ticket.Started: on_status,
    Ticket.MarkedWaitingOnCustomer: on_status,
    Ticket.Resolved: on_resolved,
    Ticket.Reopened: on_reopened,
    Ticket.Closed: on_closed,
    Ticket.Deleted: on_deleted,
    Ticket.LinkedToUser: on_linked,
    Ticket.MessagePosted: on_message_posted,
    Ticket.MessageEdited: on_other,
    Ticket.MessageRemoved: on_other,
    Ticket.MessagesRead: on_other,
    Ticket.AttachmentAdded: on_other,
    Ticket.AttachmentRemoved: on_other,
    Ticket.SatisfactionRated: on_rated,
    Ticket.Escalated: on_escalated,
    Ticket.SurveyRequested: on_survey_requested,
    Erasure.SubjectErased: on_subject_erased,
    **ignored(*AGENT_EVENTS),
}
