"""One raw mail through the whole inbound path: parse, open or thread, attachments.

Shared by the SMTP listener (sav.mail.listener) and `POST /inbound/email`
(sav.api.inbound), so both doors apply the same rules.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sav.commands.app import SavApplication
from sav.mail.attachments import attach
from sav.mail.inbound import CREATED, IGNORED, THREADED, Received, receive
from sav.mail.metrics import MAIL_COUNTS
from sav.mail.parse import MailError, parse
from sav.storage.lifecycle import Storage

# Runs a blocking function off the event loop (a command pool's `call`).
Call = Callable[..., Awaitable[Any]]


async def deliver(call: Call, app: SavApplication, raw: bytes, support_address: str,
                  storage: Storage | None = None, max_bytes: int = 0) -> Received:
    try:
        mail = parse(raw)
    except MailError:
        MAIL_COUNTS.received(IGNORED, "no_sender")
        return Received(IGNORED, None, "no_sender")
    received: Received = await call(receive, app, mail, support_address)
    MAIL_COUNTS.received(received.outcome, received.reason)
    if received.outcome in (CREATED, THREADED) and mail.attachments:
        assert received.ticket_id is not None
        await attach(call, app, storage, max_bytes, received.ticket_id, received.message_id,
                     mail.attachments)
    return received
