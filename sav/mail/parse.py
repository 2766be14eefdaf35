"""One inbound mail, read with the standard `email` package and its modern policy.

Pure: bytes in, an `InboundMail` out. Nothing here knows about tickets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import getaddresses
from html.parser import HTMLParser

MAX_SUBJECT = 255
MAX_TEXT = 50_000
NO_SUBJECT = "(no subject)"
# Senders that are never a customer: bounces and postmaster notices (a loop otherwise).
ROBOT_LOCAL_PARTS = frozenset({"mailer-daemon", "postmaster"})
LIST_PRECEDENCE = frozenset({"bulk", "junk", "list"})
_MESSAGE_ID = re.compile(r"<([^<>\s]+)>")


@dataclass(frozen=True)
class Attachment:
    filename: str
    declared_type: str
    data: bytes


@dataclass(frozen=True)
class InboundMail:
    message_id: str | None  # without the angle brackets
    sender: str  # the From address, lower-cased
    sender_name: str | None
    subject: str
    text: str
    language: str | None  # the primary subtag of Content-Language, lower-cased
    references: tuple[str, ...]  # In-Reply-To then References, without brackets
    recipients: tuple[str, ...]  # To, Cc and Delivered-To addresses, lower-cased
    loop_reason: str | None  # why this mail must neither open a ticket nor be answered
    attachments: tuple[Attachment, ...] = field(default_factory=tuple)


class MailError(ValueError):
    """Not a mail SAV can take (no usable From)."""


def parse(raw: bytes) -> InboundMail:
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    sender, name = _sender(message)
    return InboundMail(
        message_id=_first_id(str(message.get("Message-ID", "") or "")),
        sender=sender,
        sender_name=name,
        subject=_subject(message),
        text=_text(message),
        language=_language(message),
        references=_references(message),
        recipients=_recipients(message),
        loop_reason=loop_reason(message, sender),
        attachments=tuple(_attachments(message)),
    )


def loop_reason(message: EmailMessage, sender: str) -> str | None:
    """RFC 3834 and the common vendor headers: automatic mail is never answered."""
    auto = str(message.get("Auto-Submitted", "") or "").strip().lower()
    if auto and auto != "no":
        return "auto_submitted"
    if str(message.get("Precedence", "") or "").strip().lower() in LIST_PRECEDENCE:
        return "precedence"
    if message.get("X-Autoreply") is not None or message.get("X-Autorespond") is not None:
        return "autoreply"
    if sender.partition("@")[0] in ROBOT_LOCAL_PARTS:
        return "mailer_daemon"
    return None


def _header(message: EmailMessage, name: str) -> str:
    try:
        return str(message.get(name, "") or "")
    except (ValueError, IndexError, TypeError):  # a malformed header the policy rejects
        return ""


def _sender(message: EmailMessage) -> tuple[str, str | None]:
    try:
        header = message.get("From")
        addresses: tuple[Address, ...] = getattr(header, "addresses", ()) if header else ()
    except (ValueError, IndexError, TypeError):
        addresses = ()
    for address in addresses:
        if address.addr_spec and "@" in address.addr_spec:
            return _ascii_domain(address.addr_spec.lower()), (address.display_name or None)
    raise MailError("the mail has no usable From address")


def _ascii_domain(address: str) -> str:
    """An internationalised domain in its `xn--` form, as every request gives addresses
    (`sav.commands.emails`): a customer writing from `bücher.example` gets a ticket."""
    local, _, domain = address.rpartition("@")
    try:
        # Raw UTF-8 in the header (SMTPUTF8) arrives as escaped bytes: decode it first.
        domain = domain.encode("utf-8", "surrogateescape").decode("utf-8")
        return f"{local}@{domain.encode('idna').decode('ascii')}"
    except UnicodeError:
        return address


def _subject(message: EmailMessage) -> str:
    subject = " ".join(_header(message, "Subject").split())  # RFC 2047 decoded by the policy
    return subject[:MAX_SUBJECT] or NO_SUBJECT


def _first_id(value: str) -> str | None:
    found = _MESSAGE_ID.search(value)
    if found:
        return found.group(1)
    value = value.strip()
    return value or None


def _references(message: EmailMessage) -> tuple[str, ...]:
    ids: list[str] = []
    for name in ("In-Reply-To", "References"):
        ids.extend(_MESSAGE_ID.findall(_header(message, name)))
    return tuple(dict.fromkeys(ids))


def _recipients(message: EmailMessage) -> tuple[str, ...]:
    values = [_header(message, name) for name in ("To", "Cc", "Delivered-To", "X-Original-To")]
    return tuple(dict.fromkeys(address.lower() for _, address in getaddresses(values)
                               if "@" in address))


def _language(message: EmailMessage) -> str | None:
    value = _header(message, "Content-Language").split(",")[0].strip().lower()
    return value.split("-")[0] or None


def _text(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain", "html"))
    if body is None:
        return ""
    try:
        content = body.get_content()
    except (LookupError, ValueError):  # an unknown charset: read what decodes
        payload = body.get_payload(decode=True)
        content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    if not isinstance(content, str):
        return ""
    if body.get_content_subtype() == "html":
        content = html_to_text(content)
    return content.replace("\r\n", "\n").strip()[:MAX_TEXT]


def _attachments(message: EmailMessage) -> list[Attachment]:
    found = []
    for part in message.iter_attachments():
        if part.is_multipart():
            continue
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            continue
        found.append(Attachment(part.get_filename() or "attachment",
                                part.get_content_type(), payload))
    return found


class _Text(HTMLParser):
    BLOCKS = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "blockquote"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self.skip += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self.skip = max(0, self.skip - 1)
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    reader = _Text()
    reader.feed(html)
    reader.close()
    lines = (" ".join(line.split()) for line in "".join(reader.parts).split("\n"))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


_WROTE = re.compile(r"^(On|Le) .{0,300}(wrote|a écrit)\s*:\s*$", re.IGNORECASE)
_ORIGINAL = re.compile(r"^-{2,}\s*(Original Message|Message d'origine)\s*-{2,}",
                       re.IGNORECASE)


def strip_quoted(text: str) -> str:
    """A reply without what it quotes: `>` lines and everything from an attribution line
    ("On … wrote:", "Le … a écrit :", "-----Original Message-----") on."""
    kept: list[str] = []
    for line in text.split("\n"):
        stripped = line.strip()
        if _WROTE.match(stripped) or _ORIGINAL.match(stripped):
            break
        if stripped.startswith(">"):
            continue
        kept.append(line)
    return "\n".join(kept).strip()
