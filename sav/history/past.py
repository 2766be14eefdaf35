"""A ticket as it was: its own events folded into the rows the read model would hold.

Pure functions of events, never a read of the read tables: `GET /tickets/{id}?version=`
and `?as_of=` render the fold's final state with the normal ticket shape (`ticket_json`,
`message_json`, `attachment_json` read the same attribute names as the table rows), and
the history (`sav.history.entries`) shows what each step changed. The steps mirror
the projectors of `support_tickets`, `ticket_messages` and `ticket_attachments`
(a test compares the fold at the head with the read model on both profiles).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sav.commands.actor import Actor
from sav.events.rules import is_first_response, status_after_assign, status_after_reopen
from sav.events.ticket import STATUS_AFTER, Ticket
from sav.projections.attachments import attachment_json
from sav.projections.messages import message_json
from sav.projections.schema import iso
from sav.projections.ticket_queries import ticket_json

# What a ticket's creation records, as the fields of its history entry.
CREATED_FIELDS = ("ticket_number", "subject", "description", "priority", "category", "source",
                  "user_id", "contact_email", "contact_name", "tags", "metadata", "origin")


@dataclass
class TicketRow:
    """The `support_tickets` columns `ticket_json` reads, as of one version."""

    id: str
    ticket_number: str
    user_id: str | None
    subject: str
    description: str
    status: str
    priority: str
    category: str | None
    source: str
    contact_email: str | None
    contact_name: str | None
    tags: list[str]
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    version: int
    assigned_to: str | None = None
    first_response_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    resolution_notes: str | None = None
    internal_notes: str | None = None
    satisfaction_rating: int | None = None
    satisfaction_comment: str | None = None
    escalated_at: datetime | None = None
    survey_requested_at: datetime | None = None
    is_deleted: bool = False
    erased: bool = False  # the subject's keys are gone: its text reads as None (issue 12)


@dataclass
class MessageRow:
    id: str
    ticket_id: str
    user_id: str | None
    author_name: str | None
    author_email: str | None
    content: str
    is_internal: bool
    created_at: datetime
    updated_at: datetime
    is_read: bool = False
    read_at: datetime | None = None


@dataclass
class AttachmentRow:
    id: str
    ticket_id: str
    message_id: str | None
    user_id: str | None
    file_name: str
    file_path: str
    file_type: str
    file_size: int
    mime_type: str
    is_internal: bool
    created_at: datetime
    updated_at: datetime


@dataclass
class PastTicket:
    """The fold's state. Internal message and attachment ids are kept after removal,
    so what belonged to an internal note stays staff-only (like the read model)."""

    ticket: TicketRow | None = None
    messages: dict[str, MessageRow] = field(default_factory=dict)
    attachments: dict[str, AttachmentRow] = field(default_factory=dict)
    internal_messages: set[str] = field(default_factory=set)
    internal_attachments: set[str] = field(default_factory=set)

    @property
    def version(self) -> int:
        return self.ticket.version if self.ticket is not None else 0

    def apply(self, event: Any) -> dict[str, Any]:
        """Apply one event; returns what it changed (new values, JSON-ready)."""
        step = STEPS.get(type(event))
        changes = step(self, event) if step is not None else {}
        if self.ticket is not None:
            self.ticket.version = event.originator_version
            self.ticket.updated_at = event.timestamp
        return changes

    @property
    def row(self) -> TicketRow:
        if self.ticket is None:
            raise ValueError("a ticket's stream starts with Ticket.Created")
        return self.ticket


def fold(events: Iterable[Any]) -> PastTicket:
    past = PastTicket()
    for event in events:
        past.apply(event)
    return past


def past_ticket_json(past: PastTicket, actor: Actor) -> dict[str, Any]:
    """The normal `GET /tickets/{id}` shape for a past state, the whole conversation of
    that moment embedded (`links.messages` is null: the list route shows the present)."""
    staff = actor.sees_internal
    data = ticket_json(past.row, actor)
    data["messages"] = [message_json(m) for m in past.messages.values()
                        if staff or not m.is_internal]
    data["messages_truncated"] = False
    data["attachments"] = [attachment_json(a) for a in past.attachments.values()
                           if staff or not a.is_internal]
    data["links"] = {"messages": None}
    return data


# -- the steps: one per event class, each returns the changes it made ---------------


def _set(past: PastTicket, **values: Any) -> dict[str, Any]:
    for name, value in values.items():
        setattr(past.row, name, value)
    return {name: iso(value) if isinstance(value, datetime) else value
            for name, value in values.items()}


def _created(past: PastTicket, e: Ticket.Created) -> dict[str, Any]:
    status = STATUS_AFTER[Ticket.Created].value
    past.ticket = TicketRow(
        id=str(e.originator_id), ticket_number=e.ticket_number, user_id=e.user_id,
        subject=e.subject, description=e.description, status=status, priority=e.priority,
        category=e.category, source=e.source, contact_email=e.contact_email,
        contact_name=e.contact_name, tags=list(e.tags), metadata=dict(e.metadata),
        created_at=e.timestamp, updated_at=e.timestamp, version=e.originator_version,
        erased=e.subject is None)
    return {**{name: getattr(e, name) for name in CREATED_FIELDS}, "status": status}


def _updated(past: PastTicket, e: Ticket.Updated) -> dict[str, Any]:
    known = {k: v for k, v in e.changes.items() if hasattr(past.row, k)}
    _set(past, **known)
    return dict(e.changes)


def _assigned(past: PastTicket, e: Ticket.Assigned) -> dict[str, Any]:
    status = status_after_assign(past.row.status).value
    if status == past.row.status:
        return _set(past, assigned_to=e.agent_id)
    return _set(past, assigned_to=e.agent_id, status=status)


def _status(past: PastTicket, e: Ticket.Event) -> dict[str, Any]:
    return _set(past, status=STATUS_AFTER[type(e)].value)


def _resolved(past: PastTicket, e: Ticket.Resolved) -> dict[str, Any]:
    return _set(past, status=STATUS_AFTER[Ticket.Resolved].value, resolved_at=e.timestamp,
                resolution_notes=e.resolution)


def _closed(past: PastTicket, e: Ticket.Closed) -> dict[str, Any]:
    return {**_set(past, status=STATUS_AFTER[Ticket.Closed].value, closed_at=e.timestamp),
            "reason": e.reason}


def _reopened(past: PastTicket, e: Ticket.Reopened) -> dict[str, Any]:
    status = status_after_reopen(past.row.assigned_to).value
    return {**_set(past, status=status, resolved_at=None), "reason": e.reason}


def _deleted(past: PastTicket, e: Ticket.Deleted) -> dict[str, Any]:
    past.row.is_deleted = True
    return {"deleted": True}


def _linked(past: PastTicket, e: Ticket.LinkedToUser) -> dict[str, Any]:
    return _set(past, user_id=e.user_id)


def _posted(past: PastTicket, e: Ticket.MessagePosted) -> dict[str, Any]:
    ticket_id = str(e.originator_id)
    past.messages[e.message_id] = MessageRow(
        id=e.message_id, ticket_id=ticket_id, user_id=e.user_id, author_name=e.author_name,
        author_email=e.author_email, content=e.content, is_internal=bool(e.is_internal),
        created_at=e.timestamp, updated_at=e.timestamp)
    if e.is_internal:
        past.internal_messages.add(e.message_id)
    changes = {"message_id": e.message_id, "author_name": e.author_name,
               "author_email": e.author_email, "content": e.content,
               "is_internal": bool(e.is_internal)}
    if is_first_response(e.author_role, e.is_internal) and past.row.first_response_at is None:
        changes.update(_set(past, first_response_at=e.timestamp))
    return changes


def _edited(past: PastTicket, e: Ticket.MessageEdited) -> dict[str, Any]:
    message = past.messages.get(e.message_id)
    if message is not None:
        message.content, message.updated_at = e.content, e.timestamp
    return {"message_id": e.message_id, "content": e.content}


def _removed(past: PastTicket, e: Ticket.MessageRemoved) -> dict[str, Any]:
    past.messages.pop(e.message_id, None)
    return {"message_id": e.message_id}


def _read(past: PastTicket, e: Ticket.MessagesRead) -> dict[str, Any]:
    for message_id in e.message_ids:
        message = past.messages.get(message_id)
        if message is not None:
            message.is_read, message.read_at = True, e.timestamp
    return {"message_ids": list(e.message_ids), "read_at": iso(e.timestamp)}


def _attached(past: PastTicket, e: Ticket.AttachmentAdded) -> dict[str, Any]:
    internal = e.message_id is not None and e.message_id in past.internal_messages
    past.attachments[e.attachment_id] = AttachmentRow(
        id=e.attachment_id, ticket_id=str(e.originator_id), message_id=e.message_id,
        user_id=e.user_id, file_name=e.file_name, file_path=e.file_path,
        file_type=e.file_type, file_size=e.file_size, mime_type=e.mime_type,
        is_internal=internal, created_at=e.timestamp, updated_at=e.timestamp)
    if internal:
        past.internal_attachments.add(e.attachment_id)
    return {"attachment_id": e.attachment_id, "message_id": e.message_id,
            "file_name": e.file_name, "file_path": e.file_path, "file_type": e.file_type,
            "file_size": e.file_size, "mime_type": e.mime_type}


def _detached(past: PastTicket, e: Ticket.AttachmentRemoved) -> dict[str, Any]:
    past.attachments.pop(e.attachment_id, None)
    return {"attachment_id": e.attachment_id}


def _rated(past: PastTicket, e: Ticket.SatisfactionRated) -> dict[str, Any]:
    return _set(past, satisfaction_rating=e.rating, satisfaction_comment=e.comment)


def _escalated(past: PastTicket, e: Ticket.Escalated) -> dict[str, Any]:
    return {**_set(past, escalated_at=e.timestamp), "reason": e.reason}


def _survey_requested(past: PastTicket, e: Ticket.SurveyRequested) -> dict[str, Any]:
    return _set(past, survey_requested_at=e.timestamp)


Step = Callable[[PastTicket, Any], dict[str, Any]]
STEPS: dict[type, Step] = {
    Ticket.Created: _created,
    Ticket.Updated: _updated,
    Ticket.Assigned: _assigned,
    Ticket.Started: _status,
    Ticket.MarkedWaitingOnCustomer: _status,
    Ticket.Resolved: _resolved,
    Ticket.Reopened: _reopened,
    Ticket.Closed: _closed,
    Ticket.Deleted: _deleted,
    Ticket.LinkedToUser: _linked,
    Ticket.MessagePosted: _posted,
    Ticket.MessageEdited: _edited,
    Ticket.MessageRemoved: _removed,
    Ticket.MessagesRead: _read,
    Ticket.AttachmentAdded: _attached,
    Ticket.AttachmentRemoved: _detached,
    Ticket.SatisfactionRated: _rated,
    Ticket.Escalated: _escalated,
    Ticket.SurveyRequested: _survey_requested,
}
