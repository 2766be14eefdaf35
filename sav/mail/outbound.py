"""The outbound half of `sav worker mail`: the event store is the outbox.

An event that is mailed (sav.mail.compose) is stored by its command in the command's
own transaction, so a mail is never decided outside the change it tells of, and nothing
is sent inside a request. This sender follows the store from its tracking row `mail`,
sends in order, and moves the row only past what the relay took: at-least-once, with
the same `Message-ID` each time. A relay that fails is retried with a growing delay
(up to RETRY_CAP_S); a recipient the relay refuses for good (5xx) is logged and passed.
Without SMTP_HOST the row stays where it is and mail waits. One active sender per
database, by the `mail` lease. The row is created at the store's head: turning mail on
never mails the past.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import threading
import time
from email.message import EmailMessage
from typing import Any

from eventsourcing.utils import get_topic
from sqlalchemy import Engine

from sav.commands.app import SavApplication
from sav.config import Settings
from sav.events.errors import NotFoundError
from sav.events.ticket import Ticket
from sav.eventstore import tracking
from sav.mail.compose import compose, needs_origin
from sav.mail.metrics import MAIL_COUNTS
from sav.workers.head import TAILER_IDLE_S, watch_store
from sav.workers.lease import run_while_leader

log = logging.getLogger("sav.mail")

TRACKING_NAME = "mail"
LEASE_NAME = "mail"
BATCH = 100
FIRST_RETRY_S = 1.0
RETRY_CAP_S = 300.0
SMTP_TIMEOUT_S = 30.0
MAILED_TOPICS = tuple(get_topic(cls) for cls in (
    Ticket.Created, Ticket.MessagePosted, Ticket.Resolved))


def send(settings: Settings, message: EmailMessage) -> None:
    """Hand one mail to the relay (blocking), with STARTTLS and AUTH when configured."""
    assert settings.smtp_host is not None
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port,
                      timeout=SMTP_TIMEOUT_S) as smtp:
        if settings.smtp_starttls:
            smtp.starttls(context=ssl.create_default_context())
        if settings.smtp_username:
            smtp.login(settings.smtp_username, settings.smtp_password)
        smtp.send_message(message)


def permanent(error: Exception) -> bool:
    """A refusal that sending again cannot change (a 5xx about this mail)."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in error.recipients.values())
    if isinstance(error, smtplib.SMTPSenderRefused | smtplib.SMTPDataError):
        return error.smtp_code >= 500
    return False


class MailSender:
    def __init__(self, app: SavApplication, engine: Engine, settings: Settings) -> None:
        self.app, self.engine, self.settings = app, engine, settings
        self.position: int | None = None
        self.sent = 0
        self.retry_at = 0.0
        self.delay = FIRST_RETRY_S

    def start(self) -> None:
        head = self.app.recorder.max_notification_id() or 0
        tracking.start_tracking(self.engine, TRACKING_NAME, head)

    def step(self) -> None:
        """Send what the store holds after the tracked position, in order."""
        if self.settings.smtp_host is None or time.monotonic() < self.retry_at:
            return  # no relay: mail waits in its outbox
        if self.position is None:
            self.start()
            self.position = tracking.read_position(self.engine, TRACKING_NAME)
        notifications = self.app.recorder.select_notifications(
            self.position, BATCH, topics=MAILED_TOPICS, inclusive_of_start=False)
        for notification in notifications:
            message = self._message(notification)
            if message is not None and not self._send(message):
                return
            tracking.set_position(self.engine, TRACKING_NAME, notification.id)
            self.position = notification.id

    def _message(self, notification: Any) -> EmailMessage | None:
        event = self.app.mapper.to_domain_event(notification)
        try:
            ticket = self.app.get_ticket(event.originator_id, include_deleted=True)
        except NotFoundError:
            return None
        return compose(event, ticket, self._origin(event, ticket), self.settings.mail_address)

    def _origin(self, event: Any, ticket: Ticket) -> dict[str, Any] | None:
        """The creation's `origin`: the event's own, else read only when the ticket's
        state lacks the opening mail (its thread is otherwise in the ticket just read)."""
        if isinstance(event, Ticket.Created):
            return event.origin
        if not needs_origin(ticket):
            return None
        created = next(iter(self.app.repository.event_store.get(event.originator_id,
                                                                lte=1)), None)
        return getattr(created, "origin", None)

    def _send(self, message: EmailMessage) -> bool:
        try:
            send(self.settings, message)
        except (smtplib.SMTPException, OSError) as error:
            if isinstance(error, smtplib.SMTPException) and permanent(error):
                log.warning("mail: %s refused for good (%r); not sent",
                            message["Message-ID"], error)
                return True
            log.warning("mail: relay unavailable (%r); retrying in %.0f s", error,
                        self.delay)
            self.retry_at = time.monotonic() + self.delay
            self.delay = min(self.delay * 2, RETRY_CAP_S)
            return False
        self.delay = FIRST_RETRY_S
        self.sent += 1
        MAIL_COUNTS.sent()
        return True

    def lost_lead(self, leading: bool) -> None:
        if not leading:
            self.position = None  # read the row again when leading again


def run(app: SavApplication, engine: Engine, settings: Settings,
        stop: threading.Event, poll: float = TAILER_IDLE_S) -> None:
    """The sender while this process holds the `mail` lease: woken by this process's
    appends and by the process's probe of the store's head (no poll of its own)."""
    sender = MailSender(app, engine, settings)
    wake = threading.Event()
    app.on_append(lambda _position: wake.set())
    watch_store(app, stop, lambda _head: wake.set())
    sender.start()
    run_while_leader(engine, LEASE_NAME, settings.worker_lease_ttl, stop, sender.step,
                     idle=poll, wake=wake, on_change=sender.lost_lead)
