"""Which events are mailed, and the mail each one is (pure: an event and its ticket in,
an `EmailMessage` or None out).

Mailed: the acknowledgement of a ticket opened by mail or by the public form, every
public staff reply, the resolution. Never an internal note, never a customer's own
message, never anything to an erased contact or a ticket without a contact address.
"""

from __future__ import annotations

from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from sav.events.rules import Side, Source, side_of
from sav.events.ticket import Ticket
from sav.mail import addresses, templates

DEFAULT_LOCALE = "en"
# The most Message-IDs a mail's References names (the first and the latest ones).
MAX_REFERENCES = 20


def locale_of(ticket: Ticket, origin: dict[str, Any]) -> str:
    """The ticket's `locale` once set (by staff, or from the first mail), else what the
    first mail said (the acknowledgement may be composed before the locale lands)."""
    own = getattr(ticket, "locale", None)  # a LATER field (sav.events.fields)
    locale = own if own not in (None, DEFAULT_LOCALE) else origin.get("locale")
    return locale if locale in templates.TEXTS else DEFAULT_LOCALE


def kind_of(event: Any) -> tuple[str, str | None] | None:
    """What an event is to the customer by mail: (kind, text), or None (not mailed)."""
    if isinstance(event, Ticket.Created):
        by_mail = event.source == Source.EMAIL and (event.origin or {}).get("channel") == "email"
        by_form = event.access_token_hash is not None
        return (templates.ACK, None) if by_mail or by_form else None
    if isinstance(event, Ticket.MessagePosted):
        if event.is_internal or side_of(event.author_role) != Side.STAFF:
            return None
        return templates.REPLY, event.content
    if isinstance(event, Ticket.Resolved):
        return templates.RESOLVED, event.resolution
    return None


def customer_mails(ticket: Ticket, version: int, origin: dict[str, Any]) -> list[str]:
    """The Message-IDs of the customer's mails on the ticket up to its `version`, oldest
    first: the opening mail's, then each threaded reply's (MessagePosted version 3).
    A ticket loaded from a snapshot older than its thread has none of its own: the
    opening mail's then comes from `origin`."""
    mails = [mail_id for at, mail_id in ticket.mail_thread if at <= version]
    first = origin.get("message_id")
    if first and first not in mails:
        mails.insert(0, first)
    return mails


def thread_headers(mails: list[str]) -> dict[str, str]:
    """`In-Reply-To` the customer's last mail, `References` the chain it closes (RFC 5322
    3.6.4: the parent's ancestors then the parent), the first mail and the latest ones
    when the conversation is long."""
    if not mails:
        return {}
    chain = mails if len(mails) <= MAX_REFERENCES else [
        mails[0], *mails[-(MAX_REFERENCES - 1):]]
    return {"In-Reply-To": f"<{mails[-1]}>",
            "References": " ".join(f"<{mail_id}>" for mail_id in chain)}


def needs_origin(ticket: Ticket) -> bool:
    """Whether the opening mail's Message-ID must be read from the creation: a ticket
    from mail whose state does not start its thread at the creation (loaded from a
    snapshot older than the thread, or labelled `email` without a mail)."""
    thread = ticket.mail_thread
    return ticket.source == Source.EMAIL and (not thread or thread[0][0] != 1)


def compose(event: Any, ticket: Ticket, origin: dict[str, Any] | None,
            support_address: str) -> EmailMessage | None:
    """The mail `event` is, `origin` being what the ticket's Created event recorded of
    where it came from (the customer's first mail; needed only for the creation itself
    or when `needs_origin`)."""
    origin = origin or {}
    found = kind_of(event)
    if found is None or ticket.erased or not ticket.contact_email:
        return None
    kind, text = found
    locale = locale_of(ticket, origin)
    message = EmailMessage()
    message["From"] = Address(addr_spec=support_address)
    message["To"] = Address(display_name=ticket.contact_name or "",
                            addr_spec=ticket.contact_email)
    message["Reply-To"] = addresses.reply_address(support_address, ticket.id)
    message["Subject"] = f"[{ticket.ticket_number}] {ticket.subject}"
    message["Message-ID"] = "<{}>".format(addresses.message_id(
        support_address, ticket.id, event.originator_version))
    message["Date"] = format_datetime(event.timestamp)
    for name, value in thread_headers(
            customer_mails(ticket, event.originator_version, origin)).items():
        message[name] = value
    if kind == templates.ACK:
        message["Auto-Submitted"] = "auto-generated"
    message.set_content(templates.body(kind, locale, ticket.ticket_number,
                                       ticket.contact_name, text))
    message["Content-Language"] = locale  # after set_content, which clears Content-*
    return message
