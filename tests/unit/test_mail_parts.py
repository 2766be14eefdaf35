"""The e-mail channel's pure parts: parsing, loop guards, quotes, threading identifiers,
languages, and which events become which mail (an erased contact gets none)."""

from __future__ import annotations

import copy
from email.message import EmailMessage
from uuid import uuid4

from sav.commands.app import SavApplication
from sav.commands.messages import PostMessage, post_message
from sav.commands.tickets import CreateTicket, create_ticket
from sav.events.ticket import Ticket
from sav.mail import addresses
from sav.mail.compose import compose
from sav.mail.inbound import MAIL_ACTOR
from sav.mail.parse import parse, strip_quoted
from sav.mail.templates import preferred_locale

SUPPORT = "support@help.example.com"


def raw(**headers: str) -> bytes:
    message = EmailMessage()
    message["From"] = headers.pop("From", "Ann <ann@example.com>")
    message["Subject"] = "=?iso-8859-1?q?Caf=E9?="
    message.set_content("<p>Hello <b>there</b></p><script>x()</script>", subtype="html")
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    return bytes(message)


def test_parse_decodes_the_subject_and_reads_html_as_text() -> None:
    mail = parse(raw(Message_ID="<a@b>", Content_Language="fr-CA"))
    assert (mail.subject, mail.text, mail.sender, mail.language) == (
        "Café", "Hello there", "ann@example.com", "fr")
    assert mail.message_id == "a@b" and mail.loop_reason is None


def test_a_sender_at_an_internationalised_domain_opens_a_ticket(app: SavApplication) -> None:
    # Addresses are taken as /openapi.json says: ASCII, the domain in its `xn--` form.
    message = EmailMessage()
    message["From"] = "Anne <anne@bücher.example>"
    message["Subject"] = "Livre"
    message.set_content("Pages manquantes")
    mail = parse(message.as_bytes(policy=message.policy.clone(utf8=True)))
    assert mail.sender == "anne@xn--bcher-kva.example"
    created = create_ticket(app, MAIL_ACTOR, CreateTicket(
        subject=mail.subject, description=mail.text, contact_email=mail.sender))
    assert app.get_ticket(created.ticket_id).contact_email == "anne@xn--bcher-kva.example"


def test_loop_guards() -> None:
    assert parse(raw(Auto_Submitted="auto-replied")).loop_reason == "auto_submitted"
    assert parse(raw(Auto_Submitted="no")).loop_reason is None
    assert parse(raw(Precedence="list")).loop_reason == "precedence"
    assert parse(raw(X_Autorespond="1")).loop_reason == "autoreply"
    assert parse(raw(From="postmaster@example.com")).loop_reason == "mailer_daemon"


def test_quotes_are_stripped() -> None:
    text = "Thanks!\n> old\nOn Mon, 7 Dec 2026 at 10:00, SAV <s@x> wrote:\nold text"
    assert strip_quoted(text) == "Thanks!"
    assert strip_quoted("Merci\n\n-----Original Message-----\nFrom: x") == "Merci"


def test_threading_identifiers_name_their_ticket() -> None:
    ticket_id = uuid4()
    sent = addresses.message_id(SUPPORT, ticket_id, 3)
    assert addresses.ticket_of(SUPPORT, [sent], []) == ticket_id
    reply_to = addresses.reply_address(SUPPORT, ticket_id).upper()
    assert addresses.ticket_of(SUPPORT, [], [reply_to]) == ticket_id
    assert addresses.ticket_of(SUPPORT, ["x@y"], ["other+" + ticket_id.hex + "@h"]) is None


def test_preferred_locale_by_quality() -> None:
    assert preferred_locale("de, fr;q=0.5, en;q=0.8") == "en"
    assert preferred_locale("fr-FR") == "fr" and preferred_locale("de") is None
    assert preferred_locale("fr;q=0, en;q=bad") is None


def test_which_events_are_mailed(app: SavApplication) -> None:
    created = create_ticket(app, MAIL_ACTOR, CreateTicket(
        subject="Lamp", description="Broken", source="email", contact_email="a@example.com"),
        origin={"channel": "email", "message_id": "m@x", "locale": "fr"})
    for content, internal in (("note", True), ("answer", False)):
        post_message(app, MAIL_ACTOR, created.ticket_id,
                     PostMessage(content=content, is_internal=internal))
    events = list(app.events.get(created.ticket_id))
    ticket = app.get_ticket(created.ticket_id)
    origin = events[0].origin
    mails = [compose(event, ticket, origin, SUPPORT) for event in events]
    kinds = [(type(e).__name__, m is not None) for e, m in zip(events, mails, strict=True)]
    assert ("Created", True) in kinds and ("MessagePosted", False) in kinds
    [answer] = [m for e, m in zip(events, mails, strict=True)
                if isinstance(e, Ticket.MessagePosted) and m is not None]
    assert "answer" in answer.get_content() and answer["In-Reply-To"] == "<m@x>"
    assert answer["Content-Language"] == "fr" and "Auto-Submitted" not in answer
    erased = copy.deepcopy(ticket)
    erased.subject = None  # what an erasure leaves
    assert all(compose(event, erased, origin, SUPPORT) is None for event in events)
