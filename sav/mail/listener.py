"""The inbound half of `sav worker mail`: an SMTP listener (aiosmtpd) on
SAV_INBOUND_SMTP_HOST:SAV_INBOUND_SMTP_PORT that an MTA delivers the support address to.

It accepts recipients at the support address and its `+<ticket>` variants only (it is
never a relay), and answers 250 once the mail is stored (opened, threaded, a duplicate
or an automatic mail dropped): the MTA keeps and retries a mail that got a 451.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable

from aiosmtpd.smtp import SMTP, Envelope, Session

from sav.commands.app import SavApplication
from sav.config import Settings
from sav.mail import addresses
from sav.mail.deliver import deliver
from sav.storage.lifecycle import Storage

log = logging.getLogger("sav.mail")
# aiosmtpd logs every command with its addresses at info: personal data, kept out of
# the logs (ours say what became of a mail, by ticket id).
logging.getLogger("mail.log").setLevel(logging.WARNING)

MAX_MAIL_BYTES = 32 * 1024 * 1024


class Handler:
    """aiosmtpd's handler hooks (`handle_RCPT`, `handle_DATA`)."""

    def __init__(self, app: SavApplication, support_address: str,
                 storage: Storage | None = None, max_bytes: int = 0) -> None:
        self.app = app
        self.storage, self.max_bytes = storage, max_bytes
        self.support = support_address.lower()
        self.local, self.domain = addresses.split(self.support)
        self.received = 0

    def ours(self, address: str) -> bool:
        local, domain = addresses.split(address.lower())
        return domain == self.domain and (local == self.local
                                          or local.startswith(f"{self.local}+"))

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if not self.ours(address):
            return "550 5.1.1 no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        if not isinstance(raw, bytes):
            raw = str(raw).encode("utf-8", "surrogateescape")
        try:
            # The envelope's recipients count as addressed (a Bcc to a reply address).
            received = await deliver(asyncio.to_thread, self.app, _with_recipients(
                raw, envelope.rcpt_tos), self.support, self.storage, self.max_bytes)
        except Exception:
            log.exception("mail: could not store a mail")
            return "451 4.3.0 temporary failure, try again later"
        self.received += 1
        log.info("mail: %s (ticket %s)", received.outcome,
                 received.ticket_id)
        return "250 OK"


def _with_recipients(raw: bytes, recipients: list[str]) -> bytes:
    tagged = [r for r in recipients if "+" in r.partition("@")[0]]
    if not tagged:
        return raw
    return b"".join(b"X-Original-To: %s\r\n" % r.encode("ascii", "replace")
                    for r in tagged) + raw


async def serve(app: SavApplication, settings: Settings, stop: threading.Event,
                storage: Storage | None = None) -> None:
    """Until `stop`. `storage`: this loop's own blob store and scanner (their clients
    belong to one event loop; the API's are the API's)."""
    loop = asyncio.get_running_loop()
    handler = Handler(app, settings.mail_address, storage, settings.max_attachment_bytes)
    server = await loop.create_server(
        lambda: SMTP(handler, data_size_limit=MAX_MAIL_BYTES, hostname="sav",
                     enable_SMTPUTF8=True),
        host=settings.inbound_smtp_host, port=settings.inbound_smtp_port,
        # `sav serve --workers N` runs a listener in each process: they share the port.
        reuse_port=True)
    log.info("mail: listening on %s:%d", settings.inbound_smtp_host,
             settings.inbound_smtp_port)
    try:
        while not stop.is_set():
            await asyncio.sleep(0.2)
    finally:
        server.close()
        await server.wait_closed()
        if storage is not None:
            await storage.close()


def run(app: SavApplication, settings: Settings, stop: threading.Event,
        storage: Callable[[], Storage] | None = None) -> None:
    """`storage()` builds the listener's own storage, inside its event loop."""
    async def main() -> None:
        await serve(app, settings, stop, storage() if storage is not None else None)

    try:
        asyncio.run(main())
    except OSError:
        log.exception("mail: cannot listen on %s:%d", settings.inbound_smtp_host,
                      settings.inbound_smtp_port)
        raise
