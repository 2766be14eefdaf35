"""Structured JSON logs, and the event log: one line per ticket happening.

The event log is emitted by a projector of its own (tracking row `event_log`): it
tails the event store like the read model does, so each recorded event is logged once
by whichever process holds its lease, whatever process wrote it, and `sav replay`
does not log history again. Lines carry ids only: never message content, subjects,
names, e-mail addresses or file names.
"""

from __future__ import annotations

import logging
import sys
import threading
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import exc as sa_exc
from sqlalchemy import select

from sav.eventstore.db import write_transaction
from sav.eventstore.schema import tracking
from sav.projections.runner import Projector
from sav.projections.schema import Handler
from sav.runtime import Runtime
from sav.workers.lease import Lease

EVENT_LOG = "event_log"
events_log = logging.getLogger("sav.events")

# Standard LogRecord attributes; anything else passed with `extra=` is emitted as a field.
_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


def configure_logging(level: int = logging.INFO) -> None:
    """JSON lines on stderr for the whole process (`sav serve`, `sav worker`)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


# -- the event log ---------------------------------------------------------------------

STATUS_AFTER = {
    "Ticket.Started": "in_progress", "Ticket.MarkedWaitingOnCustomer": "waiting_customer",
    "Ticket.Resolved": "resolved", "Ticket.Closed": "closed",
}


def _emit(message: str, event: Any, position: int, **fields: Any) -> None:
    events_log.info(message, extra={
        "ticket_id": str(event.originator_id), "version": event.originator_version,
        "position": position, **fields})


def _created(conn: Any, event: Any, position: int) -> None:
    _emit("ticket.created", event, position, ticket_number=event.ticket_number,
          priority=event.priority, source=event.source, category=event.category,
          user_id=event.user_id, by=event.created_by)


SYSTEM_REASONS = {"auto_close", "customer_reply"}


def _reason(event: Any) -> str | None:
    """Reasons typed by people are free text: log only that one was given."""
    reason = getattr(event, "reason", None)
    if reason is None or reason in SYSTEM_REASONS:
        return reason
    return "given"


def _status(conn: Any, event: Any, position: int) -> None:
    name = type(event).__qualname__
    _emit("ticket.status_changed", event, position, status=STATUS_AFTER[name], by=event.by,
          reason=_reason(event))
    if name == "Ticket.Closed":
        _emit("ticket.closed", event, position, by=event.by, reason=_reason(event))


def _reopened(conn: Any, event: Any, position: int) -> None:
    _emit("ticket.status_changed", event, position, status="reopened", by=event.by,
          reason=_reason(event))


def _assigned(conn: Any, event: Any, position: int) -> None:
    _emit("ticket.assigned", event, position, agent_id=event.agent_id,
          previous_agent_id=event.previous, by=event.by)


def _message(conn: Any, event: Any, position: int) -> None:
    _emit("ticket.message_added", event, position, message_id=event.message_id,
          user_id=event.user_id, author_role=event.author_role, is_internal=event.is_internal)


def _attachment(conn: Any, event: Any, position: int) -> None:
    _emit("ticket.attachment_uploaded", event, position, attachment_id=event.attachment_id,
          message_id=event.message_id, user_id=event.user_id, mime_type=event.mime_type,
          file_size=event.file_size)


def _escalated(conn: Any, event: Any, position: int) -> None:
    events_log.warning("ticket.escalated", extra={
        "ticket_id": str(event.originator_id), "version": event.originator_version,
        "position": position, "reason": event.reason})


LOG_HANDLERS: dict[str, Handler] = {
    "Ticket.Created": _created,
    **dict.fromkeys(STATUS_AFTER, _status),
    "Ticket.Reopened": _reopened,
    "Ticket.Assigned": _assigned,
    "Ticket.MessagePosted": _message,
    "Ticket.AttachmentAdded": _attachment,
    "Ticket.Escalated": _escalated,
}


def start_at_head(runtime: Runtime) -> None:
    """A new deployment logs from now on, not the whole history."""
    head = runtime.app.recorder.max_notification_id() or 0
    try:
        with write_transaction(runtime.engine) as conn:
            exists = conn.execute(select(tracking.c.name).where(tracking.c.name == EVENT_LOG))
            if exists.first() is None:
                conn.execute(tracking.insert().values(
                    name=EVENT_LOG, position=head, updated_at=datetime.now(UTC).timestamp()))
    except sa_exc.IntegrityError:
        pass  # Another process started it first.


def event_log_projector(runtime: Runtime) -> Projector:
    start_at_head(runtime)
    return Projector(runtime.app.recorder, runtime.app.mapper, runtime.engine,
                     name=EVENT_LOG, handlers=[LOG_HANDLERS])


def run_event_log(runtime: Runtime, stop: threading.Event, poll: float = 0.5) -> None:
    """Tail the event store into the log; a lease keeps one process emitting."""
    lease = Lease(runtime.engine, f"projector:{EVENT_LOG}")
    projector: Projector | None = None
    while not stop.is_set():
        try:
            if not lease.acquire():
                stop.wait(lease.ttl / 3)
                continue
            projector = projector or event_log_projector(runtime)
            projector.run_once()
        except Exception:
            logging.getLogger("sav.events").exception("event log emitter failed; retrying")
        stop.wait(poll)
    lease.release()
