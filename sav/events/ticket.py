"""The Ticket aggregate: a support ticket, its conversation and its attachments.

Every public method checks a business rule and then triggers one past-tense event;
the decorated `_…` methods only apply an event's data to the state. Stored event
classes are permanent (their topic is `sav.events.ticket:Ticket.<Name>`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from sav.events import clock
from sav.events.errors import (
    InvalidTransitionError,
    NotFoundError,
    PermissionDeniedError,
    RuleViolationError,
    TicketClosedError,
)

OPEN, ASSIGNED, IN_PROGRESS = "open", "assigned", "in_progress"
WAITING, RESOLVED, CLOSED = "waiting_customer", "resolved", "closed"
STATUSES = (OPEN, ASSIGNED, IN_PROGRESS, WAITING, RESOLVED, CLOSED)
PRIORITIES = ("low", "normal", "high", "urgent")
SOURCES = ("web", "email", "phone", "chat")
STAFF_ROLES = ("agent", "admin")

# DESIGN.md lifecycle table: command -> statuses it is allowed from.
ALLOWED_FROM = {
    "assign": (OPEN, ASSIGNED, IN_PROGRESS),
    "start": (OPEN, ASSIGNED, WAITING),
    "wait": (ASSIGNED, IN_PROGRESS),
    "resolve": (OPEN, ASSIGNED, IN_PROGRESS, WAITING),
    "close": (OPEN, ASSIGNED, IN_PROGRESS, WAITING, RESOLVED),
    "reopen": (RESOLVED,),
}


def side_of(role: str) -> str:
    """Conversations have two sides: the customer's and the staff's."""
    return "staff" if role in STAFF_ROLES else "customer"


class Ticket(Aggregate):
    """A support ticket. Its id is a UUID; `ticket_number` is the human reference."""

    class Event(Aggregate.Event):
        @staticmethod
        def create_timestamp() -> datetime:
            return clock.now()

    @event("Created")
    def __init__(
        self,
        id: UUID,
        ticket_number: str,
        subject: str,
        description: str,
        priority: str,
        category: str | None,
        source: str,
        user_id: str | None,
        contact_email: str | None,
        contact_name: str | None,
        tags: list[str],
        metadata: dict[str, Any],
        created_by: str | None,
        access_token_hash: str | None,
        origin: dict[str, Any] | None,
    ) -> None:
        self.ticket_number = ticket_number
        self.subject = subject
        self.description = description
        self.priority = priority
        self.category = category
        self.source = source
        self.user_id = user_id
        self.contact_email = contact_email
        self.contact_name = contact_name
        self.tags = list(tags)
        self.metadata = dict(metadata)
        self.internal_notes: str | None = None
        self.access_token_hash = access_token_hash
        self.status = OPEN
        self.assigned_to: str | None = None
        self.first_response_at: datetime | None = None
        self.resolved_at: datetime | None = None
        self.closed_at: datetime | None = None
        self.deleted = False
        self.escalated = False
        self.survey_requested = False
        self.satisfaction_rating: int | None = None
        self.messages: dict[str, dict[str, Any]] = {}
        self.attachments: dict[str, dict[str, Any]] = {}

    # -- rules ---------------------------------------------------------------------

    def _require(self, command: str) -> None:
        if self.status == CLOSED:
            raise TicketClosedError("the ticket is closed")
        if self.status not in ALLOWED_FROM[command]:
            raise InvalidTransitionError(
                f"cannot {command} a ticket that is {self.status}",
                {"status": self.status, "command": command},
            )

    def _require_not_closed(self) -> None:
        if self.status == CLOSED:
            raise TicketClosedError("the ticket is closed")

    # -- lifecycle -----------------------------------------------------------------

    def update(self, changes: dict[str, Any], by: str) -> None:
        """Edit fields; a `status` change to in_progress/waiting_customer is a transition."""
        self._require_not_closed()
        changes = dict(changes)
        status = changes.pop("status", None)
        nulled = [k for k in ("subject", "description", "priority", "tags", "metadata")
                  if k in changes and changes[k] is None]
        if nulled:
            raise RuleViolationError(f"{', '.join(nulled)} cannot be null")
        changed = {k: v for k, v in changes.items() if getattr(self, k) != v}
        if changed:
            self._updated(changes=changed, by=by)
        # A status in the body is a transition: the lifecycle table applies (409 otherwise).
        if status == IN_PROGRESS:
            self.start(by)
        elif status == WAITING:
            self.wait(by)
        elif status is not None:
            raise RuleViolationError("status can only be set to in_progress or waiting_customer")

    @event("Updated")
    def _updated(self, changes: dict[str, Any], by: str) -> None:
        for name, value in changes.items():
            setattr(self, name, value)

    def assign(self, agent_id: str, by: str) -> None:
        self._require("assign")
        self._assigned(agent_id=agent_id, previous=self.assigned_to, by=by)

    @event("Assigned")
    def _assigned(self, agent_id: str, previous: str | None, by: str) -> None:
        self.assigned_to = agent_id
        if self.status == OPEN:
            self.status = ASSIGNED

    def start(self, by: str) -> None:
        self._require("start")
        self._started(by=by)

    @event("Started")
    def _started(self, by: str) -> None:
        self.status = IN_PROGRESS

    def wait(self, by: str) -> None:
        self._require("wait")
        self._waiting(by=by)

    @event("MarkedWaitingOnCustomer")
    def _waiting(self, by: str) -> None:
        self.status = WAITING

    def resolve(self, resolution: str | None, by: str) -> None:
        self._require("resolve")
        self._resolved(resolution=resolution, by=by)

    @event("Resolved")
    def _resolved(self, resolution: str | None, by: str) -> None:
        self.status = RESOLVED
        self.resolved_at = self.modified_on

    def reopen(self, by: str, reason: str | None = None) -> None:
        self._require("reopen")
        self._reopened(by=by, reason=reason)

    @event("Reopened")
    def _reopened(self, by: str, reason: str | None) -> None:
        self.status = IN_PROGRESS if self.assigned_to else OPEN
        self.resolved_at = None

    def close(self, by: str, reason: str | None = None) -> None:  # type: ignore[override]
        self._require("close")
        self._closed(by=by, reason=reason)

    @event("Closed")
    def _closed(self, by: str, reason: str | None) -> None:
        self.status = CLOSED
        self.closed_at = self.modified_on

    def delete(self, by: str) -> None:
        self._deleted(by=by)

    @event("Deleted")
    def _deleted(self, by: str) -> None:
        self.deleted = True

    def link_user(self, user_id: str, email: str | None) -> None:
        if self.user_id is None:
            self._linked_to_user(user_id=user_id, email=email)

    @event("LinkedToUser")
    def _linked_to_user(self, user_id: str, email: str | None) -> None:
        self.user_id = user_id

    # -- conversation --------------------------------------------------------------

    def post_message(
        self,
        message_id: str,
        user_id: str | None,
        role: str,
        author_name: str | None,
        author_email: str | None,
        content: str,
        is_internal: bool,
    ) -> None:
        """Post a message; a customer reply wakes a waiting or resolved ticket."""
        self._require_not_closed()
        side = side_of(role)
        if is_internal and side != "staff":
            raise PermissionDeniedError("only agents and admins write internal notes")
        if not content.strip():
            raise RuleViolationError("content must not be empty")
        self._message_posted(
            message_id=message_id,
            user_id=user_id,
            author_role=role,
            author_name=author_name,
            author_email=author_email,
            content=content,
            is_internal=is_internal,
        )
        if side == "customer" and self.status == WAITING:
            self.start(by=user_id or "customer")
        elif side == "customer" and self.status == RESOLVED:
            self.reopen(by=user_id or "customer", reason="customer_reply")

    @event("MessagePosted")
    def _message_posted(
        self,
        message_id: str,
        user_id: str | None,
        author_role: str,
        author_name: str | None,
        author_email: str | None,
        content: str,
        is_internal: bool,
    ) -> None:
        side = side_of(author_role)
        self.messages[message_id] = {
            "user_id": user_id,
            "side": side,
            "is_internal": is_internal,
            "read": False,
        }
        if side == "staff" and not is_internal and self.first_response_at is None:
            self.first_response_at = self.modified_on

    def message(self, message_id: str) -> dict[str, Any]:
        found = self.messages.get(message_id)
        if found is None:
            raise NotFoundError("message not found")
        return found

    def edit_message(self, message_id: str, content: str, by: str) -> None:
        self._require_not_closed()
        self.message(message_id)
        if not content.strip():
            raise RuleViolationError("content must not be empty")
        self._message_edited(message_id=message_id, content=content, by=by)

    @event("MessageEdited")
    def _message_edited(self, message_id: str, content: str, by: str) -> None:
        pass

    def remove_message(self, message_id: str, by: str) -> None:
        # A closed ticket's conversation is its final record, like its status.
        self._require_not_closed()
        self.message(message_id)
        self._message_removed(message_id=message_id, by=by)

    @event("MessageRemoved")
    def _message_removed(self, message_id: str, by: str) -> None:
        del self.messages[message_id]

    def mark_read(self, message_ids: list[str], reader_id: str | None, role: str) -> None:
        """Mark the other side's unread messages among `message_ids` as read."""
        reader_side = side_of(role)
        unread = [
            mid
            for mid in message_ids
            if mid in self.messages
            and not self.messages[mid]["read"]
            and self.messages[mid]["side"] != reader_side
            and (reader_side == "staff" or not self.messages[mid]["is_internal"])
        ]
        if unread:
            self._messages_read(message_ids=unread, reader_id=reader_id, reader_side=reader_side)

    @event("MessagesRead")
    def _messages_read(
        self, message_ids: list[str], reader_id: str | None, reader_side: str
    ) -> None:
        for mid in message_ids:
            self.messages[mid]["read"] = True

    # -- attachments ---------------------------------------------------------------

    def add_attachment(self, attachment: dict[str, Any]) -> None:
        self._require_not_closed()
        message_id = attachment.get("message_id")
        if message_id is not None:
            self.message(message_id)
        self._attachment_added(**attachment)

    @event("AttachmentAdded")
    def _attachment_added(
        self,
        attachment_id: str,
        message_id: str | None,
        user_id: str | None,
        file_name: str,
        file_path: str,
        file_type: str,
        file_size: int,
        mime_type: str,
    ) -> None:
        self.attachments[attachment_id] = {"user_id": user_id, "file_path": file_path}

    def remove_attachment(self, attachment_id: str, by: str) -> None:
        if attachment_id not in self.attachments:
            raise NotFoundError("attachment not found")
        self._attachment_removed(attachment_id=attachment_id, by=by)

    @event("AttachmentRemoved")
    def _attachment_removed(self, attachment_id: str, by: str) -> None:
        del self.attachments[attachment_id]

    # -- satisfaction and automations ----------------------------------------------

    def rate(self, rating: int, comment: str | None, by: str | None) -> None:
        if self.status not in (RESOLVED, CLOSED):
            raise InvalidTransitionError("a ticket can be rated once resolved or closed")
        if self.satisfaction_rating is not None:
            raise InvalidTransitionError("this ticket has already been rated")
        if not 1 <= rating <= 5:
            raise RuleViolationError("rating must be between 1 and 5")
        self._satisfaction_rated(rating=rating, comment=comment, by=by)

    @event("SatisfactionRated")
    def _satisfaction_rated(self, rating: int, comment: str | None, by: str | None) -> None:
        self.satisfaction_rating = rating

    def escalate(self, reason: str) -> bool:
        """Escalate once; returns False when already escalated or no longer needed."""
        if self.escalated or self.status in (RESOLVED, CLOSED) or self.first_response_at:
            return False
        self._escalated(reason=reason)
        return True

    @event("Escalated")
    def _escalated(self, reason: str) -> None:
        self.escalated = True

    def request_survey(self) -> bool:
        """Ask the customer for a rating once, after closure."""
        if self.survey_requested or self.status != CLOSED or self.satisfaction_rating:
            return False
        self._survey_requested(
            ticket_number=self.ticket_number, subject=self.subject, user_id=self.user_id,
            email=self.contact_email, name=self.contact_name,
        )
        return True

    @event("SurveyRequested")
    def _survey_requested(
        self, ticket_number: str, subject: str, user_id: str | None, email: str | None,
        name: str | None,
    ) -> None:
        self.survey_requested = True
