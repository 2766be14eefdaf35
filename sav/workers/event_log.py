"""`sav worker event-log`: one JSON log line per ticket happening.

The event log is a projector of its own (tracking row `event_log`): it tails the event
store like the read model does, so each recorded event is logged once by whichever
process holds its lease, whatever process wrote it, and `sav replay` does not log
history again. Lines carry ids only: never message content, subjects, names, e-mail
addresses or file names.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from sqlalchemy import Engine

from sav.commands.app import SavApplication
from sav.commands.automations import AUTO_CLOSE_REASON
from sav.events.agent import Agent
from sav.events.macro import MACRO_EVENTS
from sav.events.privacy import Erasure
from sav.events.sla import CONFIG_EVENTS
from sav.events.ticket import STATUS_AFTER, Ticket
from sav.events.webhook import Webhook
from sav.eventstore.tracking import start_tracking
from sav.projections.runner import Projector
from sav.projections.schema import Handlers, ignored
from sav.workers.head import TAILER_IDLE_S, watch_store
from sav.workers.lease import run_while_leader

EVENT_LOG = "event_log"
events_log = logging.getLogger("sav.events")

SYSTEM_REASONS = {AUTO_CLOSE_REASON, "customer_reply"}
# A log line may wait this long after its append: under load, one transaction (read,
# tracking row, commit) logs the appends of a burst, not one each (issue 21: at one
# create at a time, an append's own log transaction was a third of a create's CPU).
SETTLE_S = 0.1


def _emit(message: str, event: Ticket.Event, position: int, **fields: Any) -> None:
    events_log.info(message, extra={
        "ticket_id": str(event.originator_id), "version": event.originator_version,
        "position": position, **fields})


def _reason(reason: str | None) -> str | None:
    """Reasons typed by people are free text: log only that one was given."""
    if reason is None or reason in SYSTEM_REASONS:
        return reason
    return "given"


def _created(conn: Any, event: Ticket.Created, position: int) -> None:
    _emit("ticket.created", event, position, ticket_number=event.ticket_number,
          priority=event.priority, source=event.source, category=event.category,
          user_id=event.user_id, by=event.created_by)


def _status(conn: Any, event: Ticket.Started | Ticket.MarkedWaitingOnCustomer
            | Ticket.Resolved, position: int) -> None:
    _emit("ticket.status_changed", event, position, status=STATUS_AFTER[type(event)].value,
          by=event.by, reason=None)


def _closed(conn: Any, event: Ticket.Closed, position: int) -> None:
    reason = _reason(event.reason)
    _emit("ticket.status_changed", event, position, status=STATUS_AFTER[Ticket.Closed].value,
          by=event.by, reason=reason)
    _emit("ticket.closed", event, position, by=event.by, reason=reason)


def _reopened(conn: Any, event: Ticket.Reopened, position: int) -> None:
    _emit("ticket.status_changed", event, position, status="reopened", by=event.by,
          reason=_reason(event.reason))


def _assigned(conn: Any, event: Ticket.Assigned, position: int) -> None:
    _emit("ticket.assigned", event, position, agent_id=event.agent_id,
          previous_agent_id=event.previous, by=event.by)


def _unassigned(conn: Any, event: Ticket.Unassigned, position: int) -> None:
    _emit("ticket.status_changed", event, position,
          status=STATUS_AFTER[Ticket.Unassigned].value, by=event.by)
    _emit("ticket.unassigned", event, position, previous_agent_id=event.previous, by=event.by)


def _message(conn: Any, event: Ticket.MessagePosted, position: int) -> None:
    _emit("ticket.message_added", event, position, message_id=event.message_id,
          user_id=event.user_id, author_role=event.author_role, is_internal=event.is_internal)


def _attachment(conn: Any, event: Ticket.AttachmentAdded, position: int) -> None:
    _emit("ticket.attachment_uploaded", event, position, attachment_id=event.attachment_id,
          message_id=event.message_id, user_id=event.user_id, mime_type=event.mime_type,
          file_size=event.file_size)


def _escalated(conn: Any, event: Ticket.Escalated, position: int) -> None:
    events_log.warning("ticket.escalated", extra={
        "ticket_id": str(event.originator_id), "version": event.originator_version,
        "position": position, "reason": event.reason})


def _sla_breached(conn: Any, event: Ticket.SlaBreached, position: int) -> None:
    events_log.warning("ticket.sla_breached", extra={
        "ticket_id": str(event.originator_id), "version": event.originator_version,
        "position": position, "metric": event.metric, "due_at": event.due_at,
        "policy": event.policy})


LOG_HANDLERS: Handlers = {
    Ticket.Created: _created,
    Ticket.Started: _status,
    Ticket.MarkedWaitingOnCustomer: _status,
    Ticket.Resolved: _status,
    Ticket.Closed: _closed,
    Ticket.Reopened: _reopened,
    Ticket.Assigned: _assigned,
    Ticket.Unassigned: _unassigned,
    Ticket.MessagePosted: _message,
    Ticket.AttachmentAdded: _attachment,
    Ticket.Escalated: _escalated,
    # The log records the lifecycle and the conversation's shape, one line per step a
    # person would look for; edits, reads, ratings and the roster are in the event store.
    **ignored(Ticket.Updated, Ticket.Deleted, Ticket.Restored, Ticket.LinkedToUser,
              Ticket.MessageEdited,
              Ticket.MessageRemoved, Ticket.MessagesRead, Ticket.AttachmentRemoved,
              Ticket.SatisfactionRated, Ticket.SurveyRequested, Agent.Registered,
              Agent.Changed, Erasure.SubjectErased, Webhook.Created, Webhook.Updated,
              Webhook.Paused, Webhook.Resumed, Webhook.Disabled, Webhook.Deleted,
              Ticket.SlaApplied, Ticket.SlaPaused, Ticket.SlaResumed, Ticket.SlaClockStarted,
              Ticket.SlaMet, Ticket.SlaStopped, *CONFIG_EVENTS,
              *MACRO_EVENTS, Ticket.MacroApplied,
              Ticket.Linked, Ticket.Unlinked, Ticket.Merged),
    Ticket.SlaBreached: _sla_breached,
}


def event_log_projector(app: SavApplication, engine: Engine) -> Projector:
    """A new deployment logs from now on, not the whole history."""
    start_tracking(engine, EVENT_LOG, app.recorder.max_notification_id() or 0)
    return Projector(app.recorder, app.mapper, engine, name=EVENT_LOG, handlers=[LOG_HANDLERS])


def run(app: SavApplication, engine: Engine, lease_ttl: float, stop: threading.Event,
        poll: float = TAILER_IDLE_S) -> None:
    """Tail the event store into the log while this process holds the lease: woken by
    this process's appends and by the process's probe of the store's head."""
    projector: Projector | None = None
    wake = threading.Event()
    app.on_append(lambda _position: wake.set())
    watch_store(app, stop, lambda _head: wake.set())

    def step() -> None:
        nonlocal projector
        projector = projector or event_log_projector(app, engine)
        projector.run_once()

    run_while_leader(engine, f"projector:{EVENT_LOG}", lease_ttl, stop, step, idle=poll,
                     wake=wake, settle=SETTLE_S)
