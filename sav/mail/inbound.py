"""A parsed mail becomes a ticket or a customer message on one (or nothing at all).

- Automatic mail (sav.mail.parse.loop_reason) is dropped: no ticket, no answer.
- A mail naming a ticket (a Message-ID SAV sent, the ticket's reply address) from that
  ticket's contact (case-insensitive) is a customer message on it, its quote stripped;
  from anyone else it opens a ticket of its own: nobody writes into another's ticket.
- Otherwise it opens a ticket through `create_ticket`, like `POST /tickets`.
- The same Message-ID delivered twice is stored once: the ticket's and the message's
  ids are derived from it, and the store refuses the second append.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from uuid import NAMESPACE_URL, UUID, uuid4, uuid5

from eventsourcing.persistence import IntegrityError
from pydantic import ValidationError

from sav.commands.actor import Actor
from sav.commands.app import SavApplication
from sav.commands.policy import command_handler
from sav.commands.tickets import CreateTicket, create_ticket
from sav.events.errors import ConflictError, DomainError
from sav.events.rules import Role, Source, Status
from sav.events.ticket import Ticket
from sav.mail import addresses
from sav.mail.parse import InboundMail, strip_quoted
from sav.mail.templates import preferred_locale

log = logging.getLogger("sav.mail")

# Commands of the mail channel act as the platform (recorded as the system).
MAIL_ACTOR = Actor(user_id="platform:mail", role=Role.ADMIN, name="SAV mail")
DEFAULT_LOCALE = "en"
EMPTY_BODY = "(empty message)"

CREATED, THREADED, DUPLICATE, IGNORED = "created", "threaded", "duplicate", "ignored"


@dataclass(frozen=True)
class Received:
    outcome: str  # created, threaded, duplicate or ignored
    ticket_id: UUID | None
    reason: str | None = None  # why it was ignored
    message_id: str | None = None  # the customer message it became (threaded)


def locale_of(language: str | None) -> str:
    return preferred_locale(language) or DEFAULT_LOCALE


def _derived(kind: str, message_id: str | None) -> UUID:
    return uuid5(NAMESPACE_URL, f"mail:{kind}:{message_id}") if message_id else uuid4()


def receive(app: SavApplication, mail: InboundMail, support_address: str) -> Received:
    """Take one parsed mail (blocking: runs the commands in the caller's thread)."""
    if mail.loop_reason is not None:
        log.info("mail: automatic mail ignored (%s)", mail.loop_reason)
        return Received(IGNORED, None, mail.loop_reason)
    ticket_id = addresses.ticket_of(support_address, mail.references, mail.recipients)
    if ticket_id is not None:
        threaded = _thread(app, ticket_id, mail)
        if threaded is not None:
            return threaded
    return _open(app, mail)


def _open(app: SavApplication, mail: InboundMail) -> Received:
    ticket_id = _derived("ticket", mail.message_id)
    locale = locale_of(mail.language)
    origin = {"channel": "email", "message_id": mail.message_id, "locale": locale}
    try:
        cmd = CreateTicket(subject=mail.subject, description=mail.text or EMPTY_BODY,
                           source=Source.EMAIL, contact_email=mail.sender,
                           contact_name=(mail.sender_name or None) and mail.sender_name[:255])
    except ValidationError as error:
        log.info("mail: refused: %s", error.errors()[0]["msg"])
        return Received(IGNORED, None, "invalid")
    try:
        create_ticket(app, MAIL_ACTOR, cmd, ticket_id=ticket_id, origin=origin, locale=locale)
    except IntegrityError:
        return Received(DUPLICATE, ticket_id)
    return Received(CREATED, ticket_id)


def _thread(app: SavApplication, ticket_id: UUID, mail: InboundMail) -> Received | None:
    """The reply as a customer message, or None when it cannot go into that ticket
    (missing, not from its contact, closed): it then opens a ticket of its own."""
    message_id = str(_derived("message", mail.message_id))
    content = strip_quoted(mail.text) or mail.text or EMPTY_BODY
    try:
        post_mail_reply(app, MAIL_ACTOR, ticket_id, message_id, mail.sender, content[:50_000],
                        mail.message_id)
    except ConflictError:
        return Received(DUPLICATE, ticket_id, message_id=message_id)
    except (DomainError, _NotTheContactError):
        return None
    return Received(THREADED, ticket_id, message_id=message_id)


class _NotTheContactError(Exception):
    pass


@command_handler
def post_mail_reply(app: SavApplication, actor: Actor, ticket_id: UUID, message_id: str,
                    sender: str, content: str, mail_message_id: str | None = None) -> None:
    """The ticket's contact answered by mail: a customer message, as the contact, that
    records the mail's Message-ID (SAV's later mail answer it: In-Reply-To)."""

    def change(ticket: Ticket) -> None:
        contact = (ticket.contact_email or "").lower()
        if not contact or contact != sender.lower() or ticket.status == Status.CLOSED:
            raise _NotTheContactError
        if message_id in ticket.messages:
            raise ConflictError("this mail was already posted")
        ticket.post_message(message_id=message_id, user_id=ticket.user_id,
                            role=Role.CUSTOMER, author_name=ticket.contact_name,
                            author_email=ticket.contact_email, content=content,
                            is_internal=False, mail_message_id=mail_message_id)

    app.change_ticket(ticket_id, change)
