"""The `support_tickets` read model: table (its columns from the declared fields,
`sav.events.fields`), full-text index, fold.

Its queries are in `sav.projections.ticket_queries`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
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
    false,
    select,
    text,
)

from sav.events.agent import Agent
from sav.events.fields import FIELDS, PERSONAL, TICKET_FIELDS, Store, TicketField
from sav.events.macro import MACRO_EVENTS
from sav.events.privacy import Erasure
from sav.events.rules import is_first_response, status_after_assign, status_after_reopen
from sav.events.sla import CONFIG_EVENTS
from sav.events.ticket import STATUS_AFTER, Ticket
from sav.events.webhook import Webhook
from sav.eventstore.schema import Identifier
from sav.projections import search_words
from sav.projections.fold import Changes, Fold, Insert, State, Update, skipped, sql_handlers
from sav.projections.schema import Handlers, Json, LongText, Timestamp, naive_utc, read_metadata
from sav.projections.sla_tickets import SLA_FOLD

_TYPES: dict[Store, Callable[[TicketField], Any]] = {
    Store.ID: lambda f: Identifier(f.length or 64),
    Store.STRING: lambda f: String(f.length),
    Store.TEXT: lambda f: LongText,
    Store.JSON: lambda f: Json,
    Store.TIME: lambda f: Timestamp,
    Store.INT: lambda f: Integer,
    Store.BIGINT: lambda f: BigInteger,
    Store.BOOL: lambda f: Boolean,
}


def column(f: TicketField) -> Column[Any]:
    """The read-table column of a declared field."""
    options: dict[str, Any] = {"primary_key": True} if f.primary else {
        "nullable": not f.required, "index": f.index or None, "unique": f.unique or None}
    if f.default is not None:
        options["default"] = f.default
        if f.default is False:  # rows written before the column existed read as False
            options["server_default"] = false()
    return Column(f.name, _TYPES[f.store](f), **options)


# The filters of a list that get an index ending in `seq` (a customer's list, an agent's
# queue, the status and category filters).
LIST_KEYS = ("user_id", "assigned_to", "status", "category")

support_tickets = Table(
    "support_tickets",
    read_metadata,
    *(column(f) for f in TICKET_FIELDS),
    Index("ix_tickets_status_priority", "status", "priority"),
    Index("ix_tickets_assignee_status", "assigned_to", "status"),
    # Lists are read newest first (`seq` descending, a keyset on `seq`): each filter a
    # list is commonly narrowed by, followed by `seq`, so a page reads its 20 rows in
    # order and stops, however many match (docs/decisions/0170-scale.md).
    *(Index(f"ix_tickets_{name}_seq", name, "seq") for name in LIST_KEYS),
    mysql_engine="InnoDB",
)

# SQLite's full-text rows have the ticket's `seq` as their rowid: a search reads them in
# rowid order, newest first, and stops after a page; an edit replaces one by its rowid.
# A query word matches the words it begins (`"word"*`): FTS5 keeps an index of every
# prefix of 3 to 12 characters (MariaDB's search rows hold the same prefixes), so such a
# query reads one doclist in rowid order instead of merging the doclists of every word
# with that prefix, a cost that grew with the matches (migration 0019, decision 0170).
FTS_PREFIXES = " ".join(str(n) for n in range(search_words.MIN_WORD,
                                               search_words.PREFIXES_UP_TO + 1))
FTS_DDL = {
    "sqlite": [
        "CREATE VIRTUAL TABLE IF NOT EXISTS support_tickets_fts USING fts5("
        f"ticket_id UNINDEXED, subject, description, prefix='{FTS_PREFIXES}')"
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
    # MariaDB's search rows of the tickets that have none yet: all of them after a
    # rebuild's bulk load, none on most starts (sav.projections.search_words).
    search_words.fill(conn, support_tickets)


def drop_extras(conn: Connection) -> None:
    if conn.dialect.name == "sqlite":
        conn.execute(text("DROP TABLE IF EXISTS support_tickets_fts"))


# -- the fold -----------------------------------------------------------------------

TICKETS = support_tickets.name
# What every event of a ticket's stream sets besides its own changes.
BOOKKEEPING = ("version", "updated_at")


def _touch(event: Ticket.Event, **values: Any) -> Changes:
    values.update(version=event.originator_version, updated_at=naive_utc(event.timestamp))
    return [Update(TICKETS, (str(event.originator_id),), values)]


def _current(state: State, event: Ticket.Event, column: str) -> Any:
    return state.value(TICKETS, str(event.originator_id), column)


def _stored(name: str, value: Any) -> Any:
    """A field's value as its column keeps it. Text sealed with an erased subject's key
    reads back as None: its erased value ("" in NOT NULL columns)."""
    if value is None and FIELDS[name].personal:
        return FIELDS[name].erased
    return copy.copy(value)  # tags and metadata: the row's own


def created(state: State, event: Ticket.Created, position: int) -> Changes:
    at = naive_utc(event.timestamp)
    return [Insert(TICKETS, {
        **{f.name: _stored(f.name, getattr(event, f.name)) for f in ON_CREATE},
        "id": str(event.originator_id), "seq": position,
        "status": STATUS_AFTER[Ticket.Created].value, "is_deleted": False,
        # A subject erased before this replay: its creation reads back without text.
        "erased": event.subject is None,
        "created_at": at, "updated_at": at, "version": event.originator_version,
    })]


def updated(state: State, event: Ticket.Updated, position: int) -> Changes:
    return _touch(event, **{key: _stored(key, value) for key, value in event.changes.items()})


def assigned(state: State, event: Ticket.Assigned, position: int) -> Changes:
    before = _current(state, event, "status")
    status = status_after_assign(before).value
    if status == before:
        return _touch(event, assigned_to=event.agent_id)
    return _touch(event, assigned_to=event.agent_id, status=status)


def status_only(state: State, event: Ticket.Event, position: int) -> Changes:
    """Events that alone say which status the ticket is in now."""
    return _touch(event, status=STATUS_AFTER[type(event)].value)


def resolved(state: State, event: Ticket.Resolved, position: int) -> Changes:
    return _touch(event, status=STATUS_AFTER[Ticket.Resolved].value,
                  resolved_at=naive_utc(event.timestamp), resolution_notes=event.resolution)


def closed(state: State, event: Ticket.Closed, position: int) -> Changes:
    return _touch(event, status=STATUS_AFTER[Ticket.Closed].value,
                  closed_at=naive_utc(event.timestamp))


def reopened(state: State, event: Ticket.Reopened, position: int) -> Changes:
    status = status_after_reopen(_current(state, event, "assigned_to"))
    return _touch(event, status=status.value, resolved_at=None)


def deleted(state: State, event: Ticket.Deleted, position: int) -> Changes:
    return _touch(event, is_deleted=True, deleted_at=naive_utc(event.timestamp))


def unassigned(state: State, event: Ticket.Unassigned, position: int) -> Changes:
    return _touch(event, assigned_to=None, status=STATUS_AFTER[Ticket.Unassigned].value)


def restored(state: State, event: Ticket.Restored, position: int) -> Changes:
    return _touch(event, is_deleted=False, deleted_at=None)


def linked(state: State, event: Ticket.LinkedToUser, position: int) -> Changes:
    return _touch(event, user_id=event.user_id)


def message_posted(state: State, event: Ticket.MessagePosted, position: int) -> Changes:
    if is_first_response(event.author_role, event.is_internal) and _current(
            state, event, "first_response_at") is None:
        return _touch(event, first_response_at=naive_utc(event.timestamp))
    return _touch(event)


def rated(state: State, event: Ticket.SatisfactionRated, position: int) -> Changes:
    return _touch(event, satisfaction_rating=event.rating, satisfaction_comment=event.comment)


def escalated(state: State, event: Ticket.Escalated, position: int) -> Changes:
    return _touch(event, escalated_at=naive_utc(event.timestamp))


def survey_requested(state: State, event: Ticket.SurveyRequested, position: int) -> Changes:
    return _touch(event, survey_requested_at=naive_utc(event.timestamp))


def merged(state: State, event: Ticket.Merged, position: int) -> Changes:
    return _touch(event, merged_into=event.into_id, merged_into_number=event.into_number)


def other(state: State, event: Ticket.Event, position: int) -> Changes:
    """Any other ticket event still moves the row's version and `updated_at`."""
    return _touch(event)


ON_CREATE = tuple(f for f in TICKET_FIELDS if f.on_create)
# The columns the full-text index covers.
INDEXED_TEXT = ("subject", "description")
# What an erasure leaves of a ticket's personal fields (`ticket_json` shows them empty).
ERASED_VALUES: dict[str, Any] = {**{f.name: f.erased for f in PERSONAL}, "erased": True}


def subject_erased(state: State, event: Erasure.SubjectErased, position: int) -> Changes:
    """Null the personal fields of the subject's tickets (their version stays)."""
    return [Update(TICKETS, tuple(event.ticket_ids), ERASED_VALUES)]


FOLD: Fold = {
    Ticket.Created: created,
    Ticket.Updated: updated,
    Ticket.Assigned: assigned,
    Ticket.Started: status_only,
    Ticket.MarkedWaitingOnCustomer: status_only,
    Ticket.Resolved: resolved,
    Ticket.Reopened: reopened,
    Ticket.Closed: closed,
    Ticket.Deleted: deleted,
    Ticket.Unassigned: unassigned,
    Ticket.Restored: restored,
    Ticket.LinkedToUser: linked,
    Ticket.MessagePosted: message_posted,
    Ticket.MessageEdited: other,
    Ticket.MessageRemoved: other,
    Ticket.MessagesRead: other,
    Ticket.AttachmentAdded: other,
    Ticket.AttachmentRemoved: other,
    Ticket.SatisfactionRated: rated,
    Ticket.Escalated: escalated,
    Ticket.SurveyRequested: survey_requested,
    Erasure.SubjectErased: subject_erased,
    # Agent productivity (issue 26): the events a macro made carry its changes; links
    # have a read model of their own (sav.projections.links). The version still moves.
    Ticket.MacroApplied: other,
    Ticket.Linked: other,
    Ticket.Merged: merged,
    Ticket.Unlinked: other,
    **SLA_FOLD,  # service levels (sav.projections.sla_tickets)
    # The roster and webhook subscriptions have read models of their own.
    **skipped(Agent.Registered, Agent.Changed, Webhook.Created, Webhook.Updated,
              Webhook.Paused, Webhook.Resumed, Webhook.Disabled, Webhook.Deleted,
              *CONFIG_EVENTS, *MACRO_EVENTS),
}

# -- the live projector: the fold as SQL, plus SQLite's full-text table ----------------


def _index_text(conn: Connection, seq: int, ticket_id: str, subject: str,
                description: str, replace: bool = True) -> None:
    """Write a ticket's full-text row, keyed by its `seq` (the rowid): replacing it is a
    delete by rowid, whatever the table's size."""
    if replace:
        conn.execute(text("DELETE FROM support_tickets_fts WHERE rowid = :seq"), {"seq": seq})
    conn.execute(
        text("INSERT INTO support_tickets_fts (rowid, ticket_id, subject, description) "
             "VALUES (:seq, :id, :s, :d)"),
        {"seq": seq, "id": ticket_id, "s": subject, "d": description},
    )


_TEXT_OF = select(support_tickets.c.seq, support_tickets.c.subject,
                  support_tickets.c.description)


_SEARCHED_OF = select(support_tickets.c.seq, support_tickets.c.user_id,
                     support_tickets.c.subject, support_tickets.c.description)
# What MariaDB's search rows hold of a ticket (its words and its customer).
SEARCHED = (*INDEXED_TEXT, "user_id")


def index_search_words(conn: Connection, changes: Changes) -> None:
    """Keep MariaDB's search rows in step with the rows (sav.projections.search_words)."""
    for change in changes:
        if isinstance(change, Insert):
            new = change.row
            search_words.write(conn, new["seq"], new["user_id"], new["subject"],
                               new["description"], new=True)
        elif isinstance(change, Update) and not set(SEARCHED).isdisjoint(change.values):
            for row in conn.execute(_SEARCHED_OF.where(support_tickets.c.id.in_(change.keys))):
                search_words.write(conn, row.seq, row.user_id, row.subject, row.description)


def index_full_text(conn: Connection, changes: Changes) -> None:
    """Keep SQLite's FTS5 table, or MariaDB's search rows, in step with the rows
    (InnoDB maintains its FULLTEXT index itself)."""
    if conn.dialect.name != "sqlite":
        index_search_words(conn, changes)
        return
    for change in changes:
        if isinstance(change, Insert):
            new = change.row
            _index_text(conn, new["seq"], new["id"], new["subject"], new["description"],
                        replace=False)
        elif isinstance(change, Update) and change.values.get("erased"):
            _index_erased(conn, change.keys)
        elif isinstance(change, Update) and not set(INDEXED_TEXT).isdisjoint(change.values):
            (ticket_id,) = change.keys
            row = conn.execute(_TEXT_OF.where(support_tickets.c.id == ticket_id)).one()
            _index_text(conn, row.seq, ticket_id, row.subject, row.description)


def _index_erased(conn: Connection, ticket_ids: tuple[str, ...]) -> None:
    for ticket_id in ticket_ids:
        seq = conn.execute(select(support_tickets.c.seq).where(
            support_tickets.c.id == ticket_id)).scalar()
        if seq is not None:
            _index_text(conn, seq, ticket_id, "", "")
    if "fts5" in str(conn.execute(text(
            "SELECT sql FROM sqlite_master WHERE name = 'support_tickets_fts'")).scalar()):
        # Merge FTS5's segments, so the deleted terms are dropped (a rebuild's stand-in
        # table is a plain one: nothing to merge).
        conn.execute(text("INSERT INTO support_tickets_fts(support_tickets_fts) "
                          "VALUES ('optimize')"))


HANDLERS: Handlers = sql_handlers(FOLD, [support_tickets], after=index_full_text)
