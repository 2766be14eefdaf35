"""The global event feed: every stored event as the message published to RabbitMQ plus
its global position, `{"position", "message_id", "event", "timestamp", "data"}`.

`GET /events`, the export (HTTP and `sav events export`) and the publisher all read the
store through `EventFeed`, which builds each entry with the publisher's wire format
(`sav.workers.routing`, pure functions of an event): one envelope, so a field the broker
never gets (`routing.NEVER_PUBLISHED`, the access token's hash) leaves by no other door.
"""

from __future__ import annotations

import csv
import io
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.application import Application
from eventsourcing.persistence import Mapper, Notification, StoredEvent
from eventsourcing.utils import get_topic
from sqlalchemy import select

from sav.events.catalog import ALL_EVENTS
from sav.eventstore.recorder import SqlApplicationRecorder
from sav.eventstore.schema import stored_events
from sav.projections.schema import iso
from sav.workers.routing import OutgoingMessage, build_message, identity_of, routing_key

BATCH = 1000
EXPORT_FORMATS = ("jsonl", "csv")
CSV_COLUMNS = ("position", "message_id", "event", "timestamp", "data")
IDENTITIES_KEPT = 50_000
_IN_LIST = 500  # stream ids per `IN (…)` when looking up first events

_ENVELOPE = {"originator_id", "originator_version", "timestamp", "originator_topic"}


def _topics_by_event() -> dict[str, tuple[str, ...]]:
    found: dict[str, list[str]] = {}
    for event_class in ALL_EVENTS:
        found.setdefault(routing_key(event_class), []).append(get_topic(event_class))
    return {key: tuple(topics) for key, topics in sorted(found.items())}


# Routing key -> the stored topics published under it (`?type=` filters in SQL).
TOPICS_BY_EVENT = _topics_by_event()
EVENT_TYPES = tuple(TOPICS_BY_EVENT)


def event_record(notification: Notification, event: Any) -> dict[str, Any]:
    """One stored event as a plain record: what `routing.build_message` is built from."""
    data = {
        key: (iso(value) if isinstance(value, datetime) else value)
        for key, value in event.__dict__.items()
        if key not in _ENVELOPE
    }
    return {
        "position": notification.id,
        "type": type(event).__qualname__,
        "stream_id": str(notification.originator_id),
        "version": notification.originator_version,
        "timestamp": iso(event.timestamp),
        "data": data,
    }


def feed_entry(message: OutgoingMessage) -> dict[str, Any]:
    """The published body with its position and message id in front."""
    return {"position": message.position, "message_id": message.message_id,
            **orjson.loads(message.body)}


@dataclass(frozen=True)
class Selection:
    """Which events a read returns: those published under routing key `event`, of
    stream `stream_id` (a ticket's or an agent's id), or all of them."""

    event: str | None = None
    stream_id: str | None = None

    def __post_init__(self) -> None:
        if self.event is not None and self.event not in TOPICS_BY_EVENT:
            raise ValueError(f"unknown event type {self.event!r}")


EVERYTHING = Selection()


@dataclass(frozen=True)
class Page:
    """Entries in position order, and the position the read covered: every selected
    event up to `scanned` has been returned (a waiter waits for the head to pass it)."""

    entries: list[dict[str, Any]]
    scanned: int


class EventFeed:
    """Reads the event store as feed entries (or published messages), in position order.

    The store's positions are visible in order (`SqlApplicationRecorder`), so reading
    `> after` in order is gapless. A stream's identity (`ticket_number`, `agent_id`)
    comes from its first event; it never changes, so it is remembered (bounded)."""

    def __init__(self, recorder: SqlApplicationRecorder, mapper: Mapper[Any],
                 identities_kept: int = IDENTITIES_KEPT) -> None:
        self.recorder = recorder
        self.mapper = mapper
        self._identities: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._identities_kept = identities_kept
        self._lock = threading.Lock()  # reads run on several pool threads

    @classmethod
    def of(cls, app: Application[Any]) -> EventFeed:
        if not isinstance(app.recorder, SqlApplicationRecorder):
            raise TypeError("the event feed reads the SQL event store")
        return cls(app.recorder, app.mapper)

    def head(self) -> int:
        """The last position in the store (0 when empty)."""
        return self.recorder.max_notification_id() or 0

    def messages(self, after: int, limit: int, selection: Selection = EVERYTHING,
                 until: int | None = None) -> list[OutgoingMessage]:
        """Up to `limit` selected events after position `after` (and up to `until`)."""
        notifications = self._select(after, limit, selection, until)
        records = []
        for notification in notifications:
            event = self.mapper.to_domain_event(notification)
            records.append((type(event), event_record(notification, event)))
        identities = self._identities_of(records)
        return [build_message(event_class, record, identities.get(record["stream_id"], {}))
                for event_class, record in records]

    def entries(self, after: int, limit: int, selection: Selection = EVERYTHING,
                until: int | None = None) -> list[dict[str, Any]]:
        return [feed_entry(m) for m in self.messages(after, limit, selection, until)]

    def page(self, after: int, limit: int, selection: Selection = EVERYTHING) -> Page:
        """Entries after `after`, read up to the head as it was just before the read."""
        head = self.head()
        entries = self.entries(after, limit, selection, until=head)
        full = len(entries) == limit
        return Page(entries, entries[-1]["position"] if full else max(head, after))

    def _select(self, after: int, limit: int, selection: Selection,
                until: int | None) -> list[Notification]:
        topics = TOPICS_BY_EVENT[selection.event] if selection.event else ()
        if selection.stream_id is None:
            return self.recorder.select_notifications(after, limit, stop=until, topics=topics,
                                                      inclusive_of_start=False)
        t = stored_events.c
        query = (select(t.notification_id, t.originator_id, t.originator_version, t.topic,
                        t.state)
                 .where(t.originator_id == selection.stream_id, t.notification_id > after)
                 .order_by(t.notification_id).limit(limit))
        if until is not None:
            query = query.where(t.notification_id <= until)
        if topics:
            query = query.where(t.topic.in_(topics))
        with self.recorder.reader.connect() as conn:
            rows = conn.execute(query).all()
        return [Notification(id=row.notification_id, originator_id=UUID(row.originator_id),
                             originator_version=row.originator_version, topic=row.topic,
                             state=bytes(row.state)) for row in rows]

    def _identities_of(self, records: list[tuple[type, dict[str, Any]]]
                       ) -> dict[str, dict[str, Any]]:
        """The identity of each stream in `records`: from an opening event among them,
        else remembered, else looked up (one query for the whole batch)."""
        found: dict[str, dict[str, Any]] = {}
        for event_class, record in records:
            opening = identity_of(event_class, record["data"])
            if opening is not None:
                found[record["stream_id"]] = opening
        streams = {record["stream_id"] for _, record in records}
        with self._lock:
            for stream_id in streams - found.keys():
                if stream_id in self._identities:
                    found[stream_id] = self._identities[stream_id]
        missing = streams - found.keys()
        if missing:
            found.update(self._first_event_identities(missing))
        with self._lock:
            for stream_id, identity in found.items():
                self._identities[stream_id] = identity
                self._identities.move_to_end(stream_id)
            while len(self._identities) > self._identities_kept:
                self._identities.popitem(last=False)
        return found

    def _first_event_identities(self, stream_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        t = stored_events.c
        ids = sorted(stream_ids)
        found: dict[str, dict[str, Any]] = {}
        with self.recorder.reader.connect() as conn:
            for start in range(0, len(ids), _IN_LIST):
                rows = conn.execute(
                    select(t.originator_id, t.originator_version, t.topic, t.state)
                    .where(t.originator_id.in_(ids[start:start + _IN_LIST]),
                           t.originator_version == 1)).all()
                for row in rows:
                    event = self.mapper.to_domain_event(StoredEvent(
                        originator_id=UUID(row.originator_id),
                        originator_version=row.originator_version, topic=row.topic,
                        state=bytes(row.state)))
                    found[row.originator_id] = identity_of(type(event), event.__dict__) or {}
        return found


def export_chunks(feed: EventFeed, after: int = 0, fmt: str = "jsonl",
                  batch: int = BATCH) -> Iterator[bytes]:
    """The log after `after`, up to the head when the export starts, as JSON lines or
    CSV (header first): one chunk per `batch` events, so memory stays flat whatever
    the size of the log. `GET /events/export` and `sav events export` write these."""
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"format must be one of {', '.join(EXPORT_FORMATS)}")
    render = _jsonl if fmt == "jsonl" else _csv
    if fmt == "csv":
        yield _csv_rows([CSV_COLUMNS])
    head, position = feed.head(), after
    while position < head:
        entries = feed.entries(position, batch, until=head)
        if not entries:
            return
        yield render(entries)
        position = entries[-1]["position"]


def _jsonl(entries: list[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(entry, option=orjson.OPT_APPEND_NEWLINE) for entry in entries)


def _csv(entries: list[dict[str, Any]]) -> bytes:
    return _csv_rows([e["position"], e["message_id"], e["event"], e["timestamp"],
                      orjson.dumps(e["data"]).decode()] for e in entries)


def _csv_rows(rows: Iterable[Iterable[Any]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue().encode()
