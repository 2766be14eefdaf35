"""What is personal data in the stored events, field by field (NOTES.md: issue 12).

Free text a customer or agent writes and contact details are personal; ids, statuses,
priorities, categories, tags, timestamps, ratings and counts stay in clear so that
statistics survive an erasure. A path is a top-level field or `field.key` inside a dict
field (an update's `changes`, a snapshot's `state`). An erased field reads as its
"empty" value: None, or {} for the dicts the aggregate copies.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from eventsourcing.utils import get_topic

from sav.events.privacy import Erasure
from sav.events.ticket import Ticket

Path = tuple[str, ...]

# Each class's personal paths and the value a path takes once its key is destroyed.
PERSONAL: dict[type, dict[Path, Any]] = {
    Ticket.Created: {("subject",): None, ("description",): None, ("contact_email",): None,
                     ("contact_name",): None, ("metadata",): {}},
    Ticket.Updated: {("changes", "subject"): None, ("changes", "description"): None,
                     ("changes", "internal_notes"): None, ("changes", "metadata"): {}},
    Ticket.Resolved: {("resolution",): None},
    Ticket.Reopened: {("reason",): None},
    Ticket.Closed: {("reason",): None},
    Ticket.LinkedToUser: {("email",): None},
    Ticket.MessagePosted: {("author_name",): None, ("author_email",): None, ("content",): None},
    Ticket.MessageEdited: {("content",): None},
    Ticket.AttachmentAdded: {("file_name",): None, ("file_path",): None},
    Ticket.SatisfactionRated: {("comment",): None},
    Ticket.SurveyRequested: {("subject",): None, ("email",): None, ("name",): None},
    # A snapshot holds the state those events built: its text and attachment paths.
    Ticket.Snapshot: {("state", "subject"): None, ("state", "description"): None,
                      ("state", "contact_email"): None, ("state", "contact_name"): None,
                      ("state", "internal_notes"): None, ("state", "metadata"): {},
                      ("state", "attachments"): {}},
}


def personal_paths(event_class: type) -> dict[Path, Any]:
    return PERSONAL.get(event_class, {})


def owner_subject(event: Any) -> tuple[str, str] | None:
    """Whose data a ticket's events are from this event on, when the event says so:
    (`user`, id) or (`email`, address); None when the event does not decide it."""
    if isinstance(event, Ticket.Created):
        if event.user_id:
            return ("user", event.user_id)
        if event.contact_email:
            return ("email", event.contact_email)
        return ("stream", str(event.originator_id))
    if isinstance(event, Ticket.LinkedToUser):
        return ("user", event.user_id)
    return None


_ERASED_TOPIC = get_topic(Erasure.SubjectErased)


def erased_tickets(mapper: Any, notifications: Iterable[Any]) -> set[str]:
    """The tickets an erasure among `notifications` touched (their rendered views go)."""
    found: set[str] = set()
    for notification in notifications:
        if notification.topic == _ERASED_TOPIC:
            found.update(mapper.to_domain_event(notification).ticket_ids)
    return found
