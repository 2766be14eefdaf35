"""What is personal data in the stored events, field by field
(docs/decisions/0012-privacy-and-erasure.md).

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

from sav.events.agent import Agent
from sav.events.fields import PERSONAL as TICKET_PERSONAL
from sav.events.macro import MACRO_EVENTS, Macros
from sav.events.privacy import Erasure
from sav.events.sla import CONFIG_EVENTS, SlaCalendar, SlaPolicies
from sav.events.ticket import SLA_EVENTS, Ticket
from sav.events.webhook import Webhook

Path = tuple[str, ...]

# An explicit "nothing personal here": ids, statuses, counts, timestamps only.
NO_PERSONAL_FIELDS: dict[Path, Any] = {}

# Each stored class's personal paths and the value a path takes once its key is
# destroyed. Every class has an entry, checked by a test: a new event with free text
# must say what in it is personal before it can be stored (`personal_paths` refuses).
PERSONAL: dict[type, dict[Path, Any]] = {
    # The declared personal fields (`sav.events.fields`) where each event carries them.
    # A customer's mail's Message-ID (issue 24) is personal: mail clients build it from
    # the sender's host or address. The opening mail's is in the creation's `origin`.
    Ticket.Created: {**{(f.name,): f.empty for f in TICKET_PERSONAL if f.on_create},
                     ("origin", "message_id"): None},
    Ticket.Updated: {("changes", f.name): f.empty for f in TICKET_PERSONAL if f.settable},
    Ticket.Assigned: NO_PERSONAL_FIELDS,
    Ticket.Started: NO_PERSONAL_FIELDS,
    Ticket.MarkedWaitingOnCustomer: NO_PERSONAL_FIELDS,
    Ticket.Resolved: {("resolution",): None},
    Ticket.Reopened: {("reason",): None},
    Ticket.Closed: {("reason",): None},
    Ticket.Deleted: NO_PERSONAL_FIELDS,
    Ticket.Unassigned: NO_PERSONAL_FIELDS,
    Ticket.Restored: NO_PERSONAL_FIELDS,
    Ticket.LinkedToUser: {("email",): None},
    Ticket.MessagePosted: {("author_name",): None, ("author_email",): None, ("content",): None,
                           ("mail_message_id",): None},
    Ticket.MessageEdited: {("content",): None},
    Ticket.MessageRemoved: NO_PERSONAL_FIELDS,
    Ticket.MessagesRead: NO_PERSONAL_FIELDS,
    Ticket.AttachmentAdded: {("file_name",): None, ("file_path",): None},
    Ticket.AttachmentRemoved: NO_PERSONAL_FIELDS,
    Ticket.SatisfactionRated: {("comment",): None},
    # The reason is the system's own text ("no first response within ..."), never a person's.
    Ticket.Escalated: NO_PERSONAL_FIELDS,
    Ticket.SurveyRequested: {("subject",): None, ("email",): None, ("name",): None},
    # The staff roster is the service's own records, managed by admins, not a ticket's
    # data subject: an erasure does not reach it (an agent is removed by deactivation).
    Agent.Registered: NO_PERSONAL_FIELDS,
    Agent.Changed: NO_PERSONAL_FIELDS,
    # The erasure record holds ids and counts only (see `sav.events.privacy`).
    Erasure.SubjectErased: NO_PERSONAL_FIELDS,
    # A webhook's signing secret is sealed like personal data, with its own stream's key
    # (docs/decisions/0120-webhooks.md); the rest is the platform's configuration.
    Webhook.Created: {("secret",): None},
    Webhook.Updated: {("changes", "secret"): None},  # a rotation's new secret
    Webhook.Paused: NO_PERSONAL_FIELDS,
    Webhook.Resumed: NO_PERSONAL_FIELDS,
    Webhook.Disabled: NO_PERSONAL_FIELDS,
    Webhook.Deleted: NO_PERSONAL_FIELDS,
    # Service levels: policy names, due times and metrics; the configuration is the
    # platform's, managed by admins (issue 23).
    **dict.fromkeys((*SLA_EVENTS, *CONFIG_EVENTS), NO_PERSONAL_FIELDS),
    # Macros (issue 26): the support team's canned text, not anyone's personal data; the
    # message a macro renders on a ticket is a MessagePosted, sealed like any other.
    **dict.fromkeys((*MACRO_EVENTS, Ticket.MacroApplied, Ticket.Linked, Ticket.Unlinked,
                    Ticket.Merged),
                   NO_PERSONAL_FIELDS),
    # A snapshot holds the state those events built: its text and attachment paths.
    Ticket.Snapshot: {**{("state", f.name): f.empty for f in TICKET_PERSONAL
                         if f.on_create or f.settable}, ("state", "attachments"): {},
                      ("state", "mail_thread"): []},
}


# The aggregates whose events this service stores: each of their classes must be decided.
OWN_EVENTS = (Ticket.Event, Agent.Event, Erasure.Event, Webhook.Event, SlaCalendar.Event,
              SlaPolicies.Event, Macros.Event)


class UndecidedPrivacyError(LookupError):
    """An event class of ours with no entry in `PERSONAL`: storing it could keep free
    text in clear, so it is refused until the class is classified."""


def personal_paths(event_class: type) -> dict[Path, Any]:
    found = PERSONAL.get(event_class)
    if found is not None:
        return found
    if issubclass(event_class, OWN_EVENTS):
        raise UndecidedPrivacyError(f"{event_class.__qualname__} has no entry in PERSONAL")
    return NO_PERSONAL_FIELDS  # not ours (a library or test aggregate): nothing to seal


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
