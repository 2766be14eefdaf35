"""The identifiers SAV's mail carries so replies find their ticket again.

Both are derived, never stored: a sent mail's `Message-ID` from the event it tells of,
a ticket's reply address from the ticket's id (`support+<hex>@…`). A reply naming either
threads into the ticket only when it comes from the ticket's contact (sav.mail.inbound).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from uuid import UUID

_SENT_ID = re.compile(r"^sav\.([0-9a-f]{32})\.\d+@", re.IGNORECASE)


def split(address: str) -> tuple[str, str]:
    local, _, domain = address.rpartition("@")
    return (local, domain) if local else (address, "localhost")


def message_id(support_address: str, ticket_id: UUID, version: int) -> str:
    """The `Message-ID` (without brackets) of the mail telling of the ticket's event at
    `version`: stable, so a mail sent again is the same mail to the receiver."""
    return f"sav.{ticket_id.hex}.{version}@{split(support_address)[1]}"


def reply_address(support_address: str, ticket_id: UUID) -> str:
    local, domain = split(support_address)
    return f"{local}+{ticket_id.hex}@{domain}"


def ticket_of(support_address: str, references: Iterable[str],
              recipients: Iterable[str]) -> UUID | None:
    """The ticket a mail answers: named by a Message-ID SAV sent, or by its reply address."""
    for ref in references:
        found = _SENT_ID.match(ref)
        if found:
            return UUID(hex=found.group(1))
    local, domain = split(support_address.lower())
    tagged = re.compile(rf"^{re.escape(local)}\+([0-9a-f]{{32}})@{re.escape(domain)}$")
    for recipient in recipients:
        found = tagged.match(recipient.lower())
        if found:
            return UUID(hex=found.group(1))
    return None
