"""The Ticket aggregate: a support ticket, its conversation and its attachments.

Every public method checks a business rule and then triggers one past-tense event;
the decorated `_…` methods only apply an event's data to the state. Stored event
classes are permanent (their topic is `sav.events.ticket:Ticket.<Name>`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event
from eventsourcing.domain import Snapshot as LibrarySnapshot

from sav.events import clock
from sav.events.errors import (
    InvalidTransitionError,
    NotFoundError,
    PermissionDeniedError,
    PreconditionFailedError,
    RuleViolationError,
    TicketClosedError,
    TicketErasedError,
    TicketMergedError,
)
from sav.events.fields import LATER, REQUIRED_SETTABLE
from sav.events.rules import (
    ALLOWED_FROM,
    DONE,
    SYSTEM,
    Priority,
    Role,
    Side,
    Status,
    Who,
    as_who,
    is_first_response,
    side_of,
    status_after_assign,
    status_after_reopen,
)
from sav.sla import state as sla


@dataclass(frozen=True, slots=True)
class MessageState:
    """What the rules need to know of a message (its text lives in the events only).
    Immutable, so a copy of the ticket can share them (see `Ticket.__deepcopy__`)."""

    user_id: str | None
    side: Side
    is_internal: bool
    read: bool = False
    # The ticket version that last set its content (posted or edited): the message's
    # ETag, so a write's ETag (the ticket's new version) is also the message's. None
    # only from a snapshot taken before messages kept it.
    revision: int | None = None


# The datetimes of a ticket's state (snapshots carry them as ISO strings).
SNAPSHOT_TIMES = ("_created_on", "_modified_on", "first_response_at", "resolved_at",
                  "closed_at")


@dataclass(frozen=True, slots=True)
class AttachmentState:
    user_id: str | None
    file_path: str


class Ticket(Aggregate):
    """A support ticket. Its id is a UUID; `ticket_number` is the human reference.

    The event classes are declared explicitly: their fields are the stored schema, and
    projections and the publisher dispatch on the classes themselves."""

    class Event(clock.ClockedEvent):
        """Version 2 of every ticket event records its `actor` (`{"id", "role"}`).
        Version 1 events are upcast on load, never rewritten: the actor is derived from
        the fields they had (`by`, else the system); each class refines what it knows."""

        actor: dict[str, Any]
        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["actor"] = as_who(state.get("by", SYSTEM.id)).ref()

    class Snapshot(LibrarySnapshot):
        """A ticket's state at a version, in plain JSON: message and attachment states
        as lists, the status as its value, datetimes as ISO strings."""

        @classmethod
        def take(cls, aggregate: Any) -> Ticket.Snapshot:
            snapshot: Ticket.Snapshot = super().take(aggregate)
            state = snapshot.state
            state["status"] = str(state["status"])
            state["messages"] = {key: [m.user_id, m.side.value, m.is_internal, m.read,
                                       m.revision]
                                 for key, m in state["messages"].items()}
            state["attachments"] = {key: [a.user_id, a.file_path]
                                    for key, a in state["attachments"].items()}
            state["mail_thread"] = [list(mail) for mail in state.get("mail_thread", ())]
            for name in SNAPSHOT_TIMES:
                if state.get(name) is not None:
                    state[name] = state[name].isoformat()
            return snapshot

        def mutate(self, _: None) -> Ticket:
            ticket = super().mutate(None)
            assert isinstance(ticket, Ticket)
            plain: dict[str, Any] = ticket.__dict__
            ticket.status = Status(ticket.status)
            ticket.messages = {key: _message_state(*values)
                               for key, values in plain["messages"].items()}
            ticket.attachments = {key: AttachmentState(user, path)
                                  for key, (user, path) in plain["attachments"].items()}
            # Snapshots taken before the thread was kept have none (sav.mail.compose
            # then reads the opening mail's id from the creation).
            ticket.mail_thread = tuple((version, mail_id) for version, mail_id
                                       in plain.get("mail_thread", ()))
            for name in SNAPSHOT_TIMES:
                value = ticket.__dict__.get(name)
                if isinstance(value, str):
                    ticket.__dict__[name] = datetime.fromisoformat(value)
            for later in LATER:  # declared after this snapshot was taken
                ticket.__dict__.setdefault(later.name, later.default)
            return ticket

    class Created(Event, Aggregate.Created):
        ticket_number: str
        subject: str
        description: str
        priority: str
        category: str | None
        source: str
        user_id: str | None
        contact_email: str | None
        contact_name: str | None
        tags: list[str]
        metadata: dict[str, Any]
        created_by: str | None
        access_token_hash: str | None
        origin: dict[str, Any] | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["actor"] = as_who(state["created_by"]).ref()

    class Updated(Event):
        changes: dict[str, Any]
        by: str

    class Assigned(Event):
        agent_id: str
        previous: str | None
        by: str

    class Started(Event):
        by: str

    class MarkedWaitingOnCustomer(Event):
        by: str

    class Resolved(Event):
        resolution: str | None
        by: str

    class Reopened(Event):
        by: str
        reason: str | None

    class Closed(Event):
        by: str
        reason: str | None

    class Deleted(Event):
        by: str

    class Unassigned(Event):
        """Taken back from its agent: nobody has it, the ticket is open again."""

        previous: str
        by: str

    class Restored(Event):
        """A soft-deleted ticket is back (admins)."""

        by: str

    class LinkedToUser(Event):
        user_id: str
        email: str | None

    class MessagePosted(Event):
        """Version 3 records the `Message-ID` of the customer's mail the message came
        from (`mail_message_id`, personal data; None for a message not from mail): the
        threading headers of SAV's later mail name it (issue 24)."""

        message_id: str
        user_id: str | None
        author_role: str
        author_name: str | None
        author_email: str | None
        content: str
        is_internal: bool
        mail_message_id: str | None
        class_version = 3

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["actor"] = Who(state["user_id"], state["author_role"]).ref()

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            # Mails threaded before version 3 kept only a hash of their Message-ID (the
            # message's id): the id itself is not known.
            state["mail_message_id"] = None

        def mutate(self, aggregate: Any) -> Any:
            ticket = super().mutate(aggregate)
            aggregate.stamp_message(self.message_id, self.originator_version)
            if self.mail_message_id:
                aggregate.mail_thread = (*aggregate.mail_thread,
                                         (self.originator_version, self.mail_message_id))
            return ticket

    class MessageEdited(Event):
        message_id: str
        content: str
        by: str

        def mutate(self, aggregate: Any) -> Any:
            ticket = super().mutate(aggregate)
            aggregate.stamp_message(self.message_id, self.originator_version)
            return ticket

    class MessageRemoved(Event):
        message_id: str
        by: str

    class MessagesRead(Event):
        message_ids: list[str]
        reader_id: str | None
        reader_side: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            role = Role.CUSTOMER.value if state["reader_side"] == Side.CUSTOMER else None
            state["actor"] = Who(state["reader_id"], role).ref()

    class AttachmentAdded(Event):
        attachment_id: str
        message_id: str | None
        user_id: str | None
        file_name: str
        file_path: str
        file_type: str
        file_size: int
        mime_type: str
        scanned: bool  # a virus scanner said it is clean (since version 3)
        class_version = 3

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["actor"] = Who(state["user_id"], None).ref()

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            state["scanned"] = False  # recorded before uploads were scanned

    class AttachmentRemoved(Event):
        attachment_id: str
        by: str

    class SatisfactionRated(Event):
        rating: int
        comment: str | None
        by: str | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["actor"] = Who(state["by"], Role.CUSTOMER.value).ref()  # only owners rate

    class Escalated(Event):
        reason: str

    class SurveyRequested(Event):
        ticket_number: str
        subject: str
        user_id: str | None
        email: str | None
        name: str | None

    @event(Created)
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
        actor: dict[str, Any] | None = None,
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
        for later in LATER:  # fields set by updates only (`sav.events.fields`)
            setattr(self, later.name, later.default)
        self.access_token_hash = access_token_hash
        self.status = Status.OPEN
        self.assigned_to: str | None = None
        self.first_response_at: datetime | None = None
        self.resolved_at: datetime | None = None
        self.closed_at: datetime | None = None
        self.deleted = False
        self.escalated = False
        self.survey_requested = False
        self.satisfaction_rating: int | None = None
        self.messages: dict[str, MessageState] = {}
        self.attachments: dict[str, AttachmentState] = {}
        # The customer's mails on this ticket, oldest first: (the ticket version that
        # recorded it, its Message-ID). Immutable, shared by copies. The opening mail's
        # is in the creation's `origin`; later ones come with their MessagePosted.
        first_mail = (origin or {}).get("message_id")
        self.mail_thread: tuple[tuple[int, str], ...] = ((1, first_mail),) if first_mail else ()

    def __deepcopy__(self, memo: dict[int, Any]) -> Ticket:
        """The repository hands each command a copy of its cached ticket. Message and
        attachment states are immutable, so the copy shares them: copying costs one
        dict copy per collection instead of a walk over the whole conversation."""
        clone = object.__new__(type(self))
        state = dict(self.__dict__)
        for name in ("messages", "attachments"):
            state[name] = dict(state[name])
        for name in ("tags", "metadata", "pending_events", "_pending_events"):
            if name in state:
                state[name] = copy.deepcopy(state[name], memo)
        clone.__dict__.update(state)
        return clone

    # -- rules ---------------------------------------------------------------------

    def _require(self, command: str) -> None:
        self._require_not_closed()
        if self.status not in ALLOWED_FROM[command]:
            raise InvalidTransitionError(
                f"cannot {command} a ticket that is {self.status}",
                {"status": self.status, "command": command},
            )

    @property
    def erased(self) -> bool:
        """The subject's personal data was erased: the subject (never empty otherwise)
        reads back as None, and every write is refused (it would store text that the
        erasure already made unreadable, or change a record nobody owns any more)."""
        return self.subject is None

    def _require_not_erased(self) -> None:
        if self.erased:
            raise TicketErasedError("the ticket's personal data was erased: it is read-only")

    def _require_not_closed(self) -> None:
        self._require_not_erased()
        merged_into = getattr(self, "merged_into", None)  # issue 26: set by Merged
        if merged_into is not None:
            raise TicketMergedError("the ticket was merged into another",
                                    {"merged_into": merged_into})
        if self.status == Status.CLOSED:
            raise TicketClosedError("the ticket is closed")

    def require_open_conversation(self) -> None:
        """A closed ticket's messages and attachments are final."""
        self._require_not_closed()

    # -- lifecycle -----------------------------------------------------------------

    def update(self, changes: dict[str, Any], by: Who | str) -> None:
        """Edit fields; a `status` change to in_progress/waiting_customer is a transition."""
        self._require_not_closed()
        changes = dict(changes)
        status = changes.pop("status", None)
        nulled = [k for k in REQUIRED_SETTABLE if k in changes and changes[k] is None]
        if nulled:
            raise RuleViolationError(f"{', '.join(nulled)} cannot be null")
        changed = {k: v for k, v in changes.items() if getattr(self, k) != v}
        if changed:
            self._updated(changes=changed, by=as_who(by).label, actor=as_who(by).ref())
        # A status in the body is a transition: the lifecycle table applies (409 otherwise).
        if status == Status.IN_PROGRESS:
            self.start(by)
        elif status == Status.WAITING:
            self.wait(by)
        elif status is not None:
            raise RuleViolationError("status can only be set to in_progress or waiting_customer")

    @event(Updated)
    def _updated(self, changes: dict[str, Any], by: str, actor: dict[str, Any]) -> None:
        for name, value in changes.items():
            setattr(self, name, value)

    def assign(self, agent_id: str, by: Who | str) -> None:
        self._require("assign")
        who = as_who(by)
        self._assigned(agent_id=agent_id, previous=self.assigned_to, by=who.label,
                       actor=who.ref())

    @event(Assigned)
    def _assigned(self, agent_id: str, previous: str | None, by: str,
                  actor: dict[str, Any]) -> None:
        self.assigned_to = agent_id
        self.status = status_after_assign(self.status)

    def unassign(self, by: Who | str) -> None:
        """Take the ticket back from its agent: open again, for anyone to pick up."""
        self._require("unassign")
        if self.assigned_to is None:
            raise InvalidTransitionError("the ticket is not assigned",
                                         {"status": self.status, "command": "unassign"})
        who = as_who(by)
        self._unassigned(previous=self.assigned_to, by=who.label, actor=who.ref())

    @event(Unassigned)
    def _unassigned(self, previous: str, by: str, actor: dict[str, Any]) -> None:
        self.assigned_to = None
        self.status = Status.OPEN

    def start(self, by: Who | str) -> None:
        self._require("start")
        self._started(by=as_who(by).label, actor=as_who(by).ref())

    @event(Started)
    def _started(self, by: str, actor: dict[str, Any]) -> None:
        self.status = Status.IN_PROGRESS

    def wait(self, by: Who | str) -> None:
        self._require("wait")
        self._waiting(by=as_who(by).label, actor=as_who(by).ref())

    @event(MarkedWaitingOnCustomer)
    def _waiting(self, by: str, actor: dict[str, Any]) -> None:
        self.status = Status.WAITING

    def resolve(self, resolution: str | None, by: Who | str) -> None:
        self._require("resolve")
        self._resolved(resolution=resolution, by=as_who(by).label, actor=as_who(by).ref())

    @event(Resolved)
    def _resolved(self, resolution: str | None, by: str, actor: dict[str, Any]) -> None:
        self.status = Status.RESOLVED
        self.resolved_at = self.modified_on

    def reopen(self, by: Who | str, reason: str | None = None) -> None:
        self._require("reopen")
        self._reopened(by=as_who(by).label, reason=reason, actor=as_who(by).ref())

    @event(Reopened)
    def _reopened(self, by: str, reason: str | None, actor: dict[str, Any]) -> None:
        self.status = status_after_reopen(self.assigned_to)
        self.resolved_at = None

    def close(self, by: Who | str, reason: str | None = None) -> None:  # type: ignore[override]
        self._require("close")
        self._closed(by=as_who(by).label, reason=reason, actor=as_who(by).ref())

    @event(Closed)
    def _closed(self, by: str, reason: str | None, actor: dict[str, Any]) -> None:
        self.status = Status.CLOSED
        self.closed_at = self.modified_on

    def delete(self, by: Who | str) -> None:
        self._require_not_erased()
        self._deleted(by=as_who(by).label, actor=as_who(by).ref())

    @event(Deleted)
    def _deleted(self, by: str, actor: dict[str, Any]) -> None:
        self.deleted = True

    def restore(self, by: Who | str) -> None:
        """Undo a soft delete; a ticket that is not deleted has nothing to restore."""
        self._require_not_erased()
        if not self.deleted:
            raise InvalidTransitionError("the ticket is not deleted")
        self._restored(by=as_who(by).label, actor=as_who(by).ref())

    @event(Restored)
    def _restored(self, by: str, actor: dict[str, Any]) -> None:
        self.deleted = False

    def link_user(self, user_id: str, email: str | None) -> None:
        if self.user_id is None:
            self._linked_to_user(user_id=user_id, email=email, actor=SYSTEM.ref())

    @event(LinkedToUser)
    def _linked_to_user(self, user_id: str, email: str | None, actor: dict[str, Any]) -> None:
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
        mail_message_id: str | None = None,
    ) -> None:
        """Post a message; a customer reply wakes a waiting or resolved ticket.
        `mail_message_id`: the Message-ID of the mail it came from, if any."""
        self._require_not_closed()
        side = side_of(role)
        if is_internal and side != Side.STAFF:
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
            mail_message_id=mail_message_id,
            actor=Who(user_id, role).ref(),
        )
        customer = Who(user_id or "customer", role)
        if side == Side.CUSTOMER and self.status == Status.WAITING:
            self.start(by=customer)
        elif side == Side.CUSTOMER and self.status == Status.RESOLVED:
            self.reopen(by=customer, reason="customer_reply")

    @event(MessagePosted)
    def _message_posted(
        self,
        message_id: str,
        user_id: str | None,
        author_role: str,
        author_name: str | None,
        author_email: str | None,
        content: str,
        is_internal: bool,
        mail_message_id: str | None,
        actor: dict[str, Any],
    ) -> None:
        self.messages[message_id] = MessageState(user_id, side_of(author_role), is_internal)
        if is_first_response(author_role, is_internal) and self.first_response_at is None:
            self.first_response_at = self.modified_on

    def message(self, message_id: str) -> MessageState:
        found = self.messages.get(message_id)
        if found is None:
            raise NotFoundError("message not found")
        return found

    def stamp_message(self, message_id: str, version: int) -> None:
        """Its content was just set by the event of this ticket version (its revision)."""
        found = self.messages.get(message_id)
        if found is not None:
            self.messages[message_id] = replace(found, revision=version)

    def require_message_revision(self, message_id: str, expected: int | None) -> None:
        """If-Match on a message: 412 with its current version when it changed since."""
        found = self.message(message_id)
        if expected is None or found.revision is None:
            return  # no condition, or a revision this store never recorded
        if expected != found.revision:
            raise PreconditionFailedError("the message has changed",
                                          {"current_version": found.revision})

    def visible_message(self, message_id: str, role: str) -> MessageState:
        """An internal note does not exist for anyone who is not staff."""
        found = self.messages.get(message_id)
        if found is None or (found.is_internal and side_of(role) != Side.STAFF):
            raise NotFoundError("message not found")
        return found

    def edit_message(self, message_id: str, content: str, by: Who | str) -> None:
        self._require_not_closed()
        self.message(message_id)
        if not content.strip():
            raise RuleViolationError("content must not be empty")
        self._message_edited(message_id=message_id, content=content, by=as_who(by).label,
                             actor=as_who(by).ref())

    @event(MessageEdited)
    def _message_edited(self, message_id: str, content: str, by: str,
                        actor: dict[str, Any]) -> None:
        pass

    def remove_message(self, message_id: str, by: Who | str) -> None:
        # A closed ticket's conversation is its final record, like its status.
        self._require_not_closed()
        self.message(message_id)
        self._message_removed(message_id=message_id, by=as_who(by).label,
                              actor=as_who(by).ref())

    @event(MessageRemoved)
    def _message_removed(self, message_id: str, by: str, actor: dict[str, Any]) -> None:
        del self.messages[message_id]

    def mark_read(self, message_ids: list[str], reader_id: str | None, role: str) -> int:
        """Mark the other side's unread messages among `message_ids` as read; returns
        how many changed."""
        self._require_not_erased()
        reader_side = side_of(role)
        unread = [
            mid
            for mid in message_ids
            if mid in self.messages
            and not self.messages[mid].read
            and self.messages[mid].side != reader_side
            and (reader_side == Side.STAFF or not self.messages[mid].is_internal)
        ]
        if unread:
            self._messages_read(message_ids=unread, reader_id=reader_id, reader_side=reader_side,
                                actor=Who(reader_id, role).ref())
        return len(unread)

    @event(MessagesRead)
    def _messages_read(
        self, message_ids: list[str], reader_id: str | None, reader_side: str,
        actor: dict[str, Any],
    ) -> None:
        for mid in message_ids:
            self.messages[mid] = replace(self.messages[mid], read=True)

    # -- attachments ---------------------------------------------------------------

    def add_attachment(self, attachment: dict[str, Any], by: Who | str | None = None) -> None:
        self._require_not_closed()
        message_id = attachment.get("message_id")
        if message_id is not None:
            self.message(message_id)
        who = as_who(by) if by is not None else Who(attachment.get("user_id"), None)
        self._attachment_added(**attachment, actor=who.ref())

    @event(AttachmentAdded)
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
        actor: dict[str, Any],
        scanned: bool = False,
    ) -> None:
        self.attachments[attachment_id] = AttachmentState(user_id, file_path)

    def attachment(self, attachment_id: str) -> AttachmentState:
        found = self.attachments.get(attachment_id)
        if found is None:
            raise NotFoundError("attachment not found")
        return found

    def remove_attachment(self, attachment_id: str, by: Who | str) -> None:
        self.attachment(attachment_id)
        self._require_not_closed()
        self._attachment_removed(attachment_id=attachment_id, by=as_who(by).label,
                                 actor=as_who(by).ref())

    @event(AttachmentRemoved)
    def _attachment_removed(self, attachment_id: str, by: str, actor: dict[str, Any]) -> None:
        del self.attachments[attachment_id]

    # -- satisfaction and automations ----------------------------------------------

    def rate(self, rating: int, comment: str | None, by: Who | str | None) -> None:
        self._require_not_erased()
        if self.status not in DONE:
            raise InvalidTransitionError("a ticket can be rated once resolved or closed")
        if self.satisfaction_rating is not None:
            raise InvalidTransitionError("this ticket has already been rated")
        if not 1 <= rating <= 5:
            raise RuleViolationError("rating must be between 1 and 5")
        who = by if isinstance(by, Who) else Who(by, Role.CUSTOMER)
        self._satisfaction_rated(rating=rating, comment=comment, by=who.id, actor=who.ref())

    @event(SatisfactionRated)
    def _satisfaction_rated(self, rating: int, comment: str | None, by: str | None,
                            actor: dict[str, Any]) -> None:
        self.satisfaction_rating = rating

    def escalate(self, reason: str) -> bool:
        """Escalate once; returns False when already escalated or no longer needed."""
        if self.escalated or self.erased or self.status in DONE or self.first_response_at:
            return False
        self._escalated(reason=reason, actor=SYSTEM.ref())
        return True

    @event(Escalated)
    def _escalated(self, reason: str, actor: dict[str, Any]) -> None:
        self.escalated = True

    def needs_escalation(self, created_before: datetime) -> bool:
        return self.priority == Priority.URGENT and self.created_on <= created_before

    def request_survey(self) -> bool:
        """Ask the customer for a rating once, after closure."""
        if (self.survey_requested or self.erased or self.status != Status.CLOSED
                or self.satisfaction_rating):
            return False
        self._survey_requested(
            ticket_number=self.ticket_number, subject=self.subject, user_id=self.user_id,
            email=self.contact_email, name=self.contact_name, actor=SYSTEM.ref(),
        )
        return True

    @event(SurveyRequested)
    def _survey_requested(
        self, ticket_number: str, subject: str, user_id: str | None, email: str | None,
        name: str | None, actor: dict[str, Any],
    ) -> None:
        self.survey_requested = True

    # -- service levels (issue 23): decided by sav.sla.rules, state in sav.sla.state --

    class SlaApplied(Event):
        """A policy matched (at creation, or a priority or category change), with the
        due times computed then; `policy` None: none matches any more."""

        policy: str | None
        business_hours: bool
        calendar: dict[str, Any] | None
        targets: dict[str, Any]
        matched_on: list[Any]
        due: dict[str, Any]

        def apply(self, aggregate: Any) -> None:
            aggregate.sla_state = sla.applied(getattr(aggregate, "sla_state", None), {
                "policy": self.policy, "business_hours": self.business_hours,
                "calendar": self.calendar, "targets": self.targets,
                "matched_on": self.matched_on, "due": self.due})

    class SlaPaused(Event):
        """Waiting on the customer: the resolution clock stops, `remaining` left."""

        remaining: float | None

        def apply(self, aggregate: Any) -> None:
            aggregate.sla_state = sla.paused(aggregate.sla_state, self.remaining,
                                             sla.text(self.timestamp))

    class SlaResumed(Event):
        resolution_due_at: str | None
        paused_seconds: float

        def apply(self, aggregate: Any) -> None:
            aggregate.sla_state = sla.resumed(aggregate.sla_state, self.resolution_due_at,
                                              self.paused_seconds)

    class SlaClockStarted(Event):
        """A customer message after a reply starts the next-response clock."""

        metric: str
        due_at: str
        since: str

        def apply(self, aggregate: Any) -> None:
            aggregate.sla_state = sla.clock_started(aggregate.sla_state, self.metric,
                                                    self.due_at, self.since)

    class SlaMet(Event):
        metric: str
        due_at: str | None

        def apply(self, aggregate: Any) -> None:
            aggregate.sla_state = sla.met(aggregate.sla_state, self.metric)

    class SlaStopped(Event):
        """Resolved or closed: the clocks still running stop, neither met nor breached."""

        def apply(self, aggregate: Any) -> None:
            aggregate.sla_state = sla.stopped(aggregate.sla_state)

    class SlaBreached(Event):
        """A metric's due time passed before it was met (once per metric)."""

        metric: str
        due_at: str | None
        policy: str | None

        def apply(self, aggregate: Any) -> None:
            aggregate.sla_state = sla.breached(aggregate.sla_state, self.metric)

    # -- agent productivity (issue 26) --------------------------------------------

    class MacroApplied(Event):
        """An agent applied a macro: its message and actions are the events appended
        with this one, in the same append (statistics count the uses)."""

        macro_id: str
        title: str

        def apply(self, aggregate: Any) -> None:
            pass  # the message and the actions carry the changes

    class Linked(Event):
        """Another ticket linked to this one; `kind` is what it is to this ticket:
        related, parent, child, duplicate_of, duplicated_by (each side records its own)."""

        other_id: str
        kind: str

        def apply(self, aggregate: Any) -> None:
            # A new dict: the repository's copies share this one (see __deepcopy__).
            aggregate.links = {**getattr(aggregate, "links", {}), self.other_id: self.kind}

    class Merged(Event):
        """Merged into another ticket: its conversation goes on there. Appended with
        the message saying so and the `Closed` that ends this one."""

        into_id: str
        into_number: str

        def apply(self, aggregate: Any) -> None:
            aggregate.merged_into = self.into_id

    class Unlinked(Event):
        other_id: str

        def apply(self, aggregate: Any) -> None:
            aggregate.links = {key: kind for key, kind in getattr(aggregate, "links", {}).items()
                               if key != self.other_id}


def _message_state(user: str | None, side: str, internal: bool, read: bool,
                   revision: int | None = None) -> MessageState:
    """A message's state from a snapshot (older ones have no revision)."""
    return MessageState(user, Side(side), internal, read, revision)


SLA_EVENTS: tuple[type[Ticket.Event], ...] = (
    Ticket.SlaApplied, Ticket.SlaPaused, Ticket.SlaResumed, Ticket.SlaClockStarted,
    Ticket.SlaMet, Ticket.SlaBreached, Ticket.SlaStopped)

# The status an event puts the ticket in, when the event alone says so.
STATUS_AFTER: dict[type[Ticket.Event], Status] = {
    Ticket.Created: Status.OPEN,
    Ticket.Unassigned: Status.OPEN,
    Ticket.Started: Status.IN_PROGRESS,
    Ticket.MarkedWaitingOnCustomer: Status.WAITING,
    Ticket.Resolved: Status.RESOLVED,
    Ticket.Closed: Status.CLOSED,
}
