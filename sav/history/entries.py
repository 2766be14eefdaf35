"""A ticket's history (`GET /tickets/{id}/history`) and its past states (`?version=`,
`?as_of=`), read from the ticket's own stream in the event store.

Each history entry is one event: `{position, version, type, occurred_at, actor,
changes}`, `changes` being what the ticket's folds (`sav.history.past`) set on its row,
with what the event says of its messages and attachments (`CHANGES`, one decision per
event class). Readers who are not staff get `customer_changes` of each entry: the one
definition of staff-only.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterator
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import Notification

from sav.events.fields import TICKET_FIELDS, Seen
from sav.events.ticket import SLA_EVENTS, Ticket
from sav.eventstore.recorder import SqlApplicationRecorder
from sav.history.past import PastTicket, fold
from sav.projections.fold import Changes, Insert, Update
from sav.projections.schema import iso
from sav.projections.tickets import BOOKKEEPING, TICKETS
from sav.workers.routing import routing_key

# Read from the store in batches: a page deep in a long stream folds everything before it.
BATCH = 500

# Fields of a change only staff (and analysts) read: the ticket's staff-only fields (the
# customer's own view of the ticket does not show them either) and what the events
# alone say: where a ticket came from, and the reasons people typed.
STAFF_ONLY_FIELDS = frozenset({*(f.name for f in TICKET_FIELDS if f.seen == Seen.STAFF),
                               "origin", "reason", "macro"})

# What a ticket's creation records, as the fields of its history entry: all but who
# created it (the entry's actor) and the access token's hash (never shown).
CREATED_FIELDS = tuple(name for name in Ticket.Created.__annotations__
                       if name not in ("created_by", "access_token_hash"))

_MESSAGE_EVENTS = (Ticket.MessagePosted, Ticket.MessageEdited, Ticket.MessageRemoved)
_ATTACHMENT_EVENTS = (Ticket.AttachmentAdded, Ticket.AttachmentRemoved)


def customer_changes(past: PastTicket, event: Any, changes: dict[str, Any],
                     present: Container[str] | None = None) -> dict[str, Any] | None:
    """What a customer sees of one entry, None when the whole entry is staff-only: any
    event of an internal message (posted, edited, removed, read) or of an attachment
    of one, and any staff-only field; an entry left with no visible change is hidden.
    `past` is the state after the event (internal ids are never forgotten). `present`:
    the ticket's messages now; one removed since shows no content in any of its entries
    (only staff keep the audit trail, issue 19)."""
    if isinstance(event, _MESSAGE_EVENTS) and event.message_id in past.internal_messages:
        return None
    if (present is not None and isinstance(event, _MESSAGE_EVENTS)
            and event.message_id not in present):
        return {"message_id": event.message_id, "removed": True}
    if isinstance(event, _ATTACHMENT_EVENTS) and event.attachment_id in past.internal_attachments:
        return None
    visible = {name: value for name, value in changes.items() if name not in STAFF_ONLY_FIELDS}
    if "message_ids" in visible:
        visible["message_ids"] = [m for m in visible["message_ids"]
                                  if m not in past.internal_messages]
        if not visible["message_ids"]:
            return None
    if changes and not visible:
        return None
    return visible


def row_changes(changes: Changes) -> dict[str, Any]:
    """What the event set on the ticket's row (JSON-ready), bookkeeping aside."""
    return {name: iso(value) if isinstance(value, datetime) else value
            for change in changes if isinstance(change, Update) and change.table == TICKETS
            for name, value in change.values.items() if name not in BOOKKEEPING}


Describe = Callable[[Any, dict[str, Any]], dict[str, Any]]


def _row(event: Any, row: dict[str, Any]) -> dict[str, Any]:
    return row


def _with_reason(event: Any, row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "reason": event.reason}


def _message(event: Ticket.MessagePosted, row: dict[str, Any]) -> dict[str, Any]:
    return {"message_id": event.message_id, "author_name": event.author_name,
            "author_email": event.author_email, "content": event.content,
            "is_internal": bool(event.is_internal), **row}


def _attachment(event: Ticket.AttachmentAdded, row: dict[str, Any]) -> dict[str, Any]:
    return {"attachment_id": event.attachment_id, "message_id": event.message_id,
            "file_name": event.file_name, "file_path": event.file_path,
            "file_type": event.file_type, "file_size": event.file_size,
            "mime_type": event.mime_type}


# Each ticket event's `changes`: by default what it set on the ticket's row; the event's
# own words where the row does not hold them (the creation, an update as asked, reasons,
# the conversation and the files).
CHANGES: dict[type, Describe] = {
    Ticket.Created: lambda e, row: {**{name: getattr(e, name) for name in CREATED_FIELDS},
                                    "status": row["status"]},
    Ticket.Updated: lambda e, row: dict(e.changes),
    Ticket.Assigned: _row,
    Ticket.Started: _row,
    Ticket.MarkedWaitingOnCustomer: _row,
    Ticket.Resolved: _row,
    Ticket.Reopened: _with_reason,
    Ticket.Closed: _with_reason,
    Ticket.Deleted: lambda e, row: {"deleted": True},
    Ticket.Unassigned: _row,
    Ticket.Restored: lambda e, row: {"deleted": False},
    Ticket.LinkedToUser: _row,
    Ticket.MessagePosted: _message,
    Ticket.MessageEdited: lambda e, row: {"message_id": e.message_id, "content": e.content},
    Ticket.MessageRemoved: lambda e, row: {"message_id": e.message_id},
    Ticket.MessagesRead: lambda e, row: {"message_ids": list(e.message_ids),
                                         "read_at": iso(e.timestamp)},
    Ticket.AttachmentAdded: _attachment,
    Ticket.AttachmentRemoved: lambda e, row: {"attachment_id": e.attachment_id},
    Ticket.SatisfactionRated: _row,
    Ticket.Escalated: _with_reason,
    Ticket.SurveyRequested: _row,
    # Service levels: the staff view after the event (staff-only: customers never see it).
    **dict.fromkeys(SLA_EVENTS, lambda e, row: {"sla": row.get("sla")}),
    # Which macro an agent used is the team's business (staff only, like the reasons).
    Ticket.MacroApplied: lambda e, row: {"macro": {"id": e.macro_id, "title": e.title}},
    Ticket.Linked: lambda e, row: {"link": {"ticket_id": e.other_id, "kind": e.kind}},
    Ticket.Unlinked: lambda e, row: {"unlinked": e.other_id},
    Ticket.Merged: _row,
}


def event_changes(event: Any, changes: Changes) -> dict[str, Any]:
    """A history entry's `changes` for `event`, from what the folds made of it."""
    row = row_changes(changes)
    if isinstance(event, Ticket.Created):
        row = {"status": next(c.row["status"] for c in changes
                              if isinstance(c, Insert) and c.table == TICKETS)}
    return CHANGES[type(event)](event, row)


def entry(record: Notification, event: Any, changes: dict[str, Any]) -> dict[str, Any]:
    actor = getattr(event, "actor", None) or {}
    return {"position": record.id, "version": record.originator_version,
            "type": routing_key(type(event)), "occurred_at": iso(event.timestamp),
            "actor": {"id": actor.get("id"), "role": actor.get("role")},
            "changes": changes}


def _stream(app: Application[UUID], ticket_id: UUID, first: int
            ) -> Iterator[tuple[Notification, Any]]:
    """The ticket's events in version order with their positions: `first` of them, then
    batches of BATCH while the reader asks for more."""
    recorder = app.recorder
    if not isinstance(recorder, SqlApplicationRecorder):
        raise TypeError("a ticket's history reads the SQL event store")
    after, size = 0, first
    while True:
        records = recorder.select_stream_notifications(ticket_id, gt=after, limit=size)
        for record in records:
            yield record, app.mapper.to_domain_event(record)
        if len(records) < size:
            return
        after, size = records[-1].originator_version, BATCH


def history_page(app: Application[UUID], ticket_id: UUID, staff: bool, after_version: int,
                 limit: int) -> tuple[list[dict[str, Any]], int | None]:
    """Up to `limit` entries after `after_version`, oldest first, and the version the next
    page starts after (None at the end). The fold runs from the stream's start: what an
    event changed, and whether it is staff-only, depends on the events before it."""
    past = PastTicket()
    entries: list[dict[str, Any]] = []
    present = None if staff else present_messages(app, ticket_id)
    # Staff see every event: the page's end is known, read exactly up to it first.
    for record, event in _stream(app, ticket_id, after_version + limit + 1):
        changes = event_changes(event, past.apply(event, record.id))
        if record.originator_version <= after_version:
            continue
        shown = changes if staff else customer_changes(past, event, changes, present)
        if shown is None:
            continue
        if len(entries) == limit:
            return entries, entries[-1]["version"]
        entries.append(entry(record, event, shown))
    return entries, None


def present_messages(app: Application[UUID], ticket_id: UUID) -> frozenset[str]:
    """The ids of the ticket's messages now (removed ones are not): what customers may
    still read of its conversation's past."""
    ticket: Any = app.repository.get(ticket_id)
    return frozenset(ticket.messages)


def past_state(app: Application[UUID], ticket_id: UUID, version: int | None = None,
               as_of: datetime | None = None) -> PastTicket | None:
    """The ticket after event `version`, or after its last event at or before `as_of`;
    None before it existed or past its head."""
    events: Iterator[Any] = iter(app.events.get(ticket_id, lte=version))
    if as_of is not None:
        events = _until(events, as_of)
    past = fold(events)
    if past.ticket is None or (version is not None and past.version != version):
        return None
    return past


def _until(events: Iterator[Any], moment: datetime) -> Iterator[Any]:
    """The stream's prefix that happened at or before `moment`."""
    for event in events:
        if event.timestamp > moment:
            return
        yield event
